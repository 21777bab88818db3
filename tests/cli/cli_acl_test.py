#!/usr/bin/python3
"""cli_acl_test: `sluice acl list|create|delete` (librdkafka's ACL Admin API) against a real broker
with kafka_authorizer on, SASL PLAIN, super user admin; the effect checked with confluent-kafka as
the user the ACLs name.

- a super user (--kafka-config SASL) creates ACLs for alice: WRITE and DESCRIBE on topic orders, ALL
  on topics prefixed logs., DENY WRITE on logs.audit, READ on group g1; the CLI prints each binding;
- list (table and --json), with filters (principal, resource type, MATCH on a name) returns exactly
  the expected bindings;
- confluent-kafka as alice produces to orders and logs.app, is refused on other and on logs.audit
  (TOPIC_AUTHORIZATION_FAILED);
- delete of the prefixed ACL prints it and alice is refused on logs.app; delete without a filter is a
  usage error;
- alice running `acl create` gets exit 4 (CLUSTER_AUTHORIZATION_FAILED); bad flags exit 1.
"""
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from cliutil import sluice  # noqa: E402

from confluent_kafka import KafkaError, Producer  # noqa: E402


def sasl(user, pw):
    return ["--kafka-config", "security.protocol=SASL_PLAINTEXT", "--kafka-config", "sasl.mechanisms=PLAIN",
            "--kafka-config", "sasl.username=" + user, "--kafka-config", "sasl.password=" + pw]


def produce(b, topic, user="alice", pw="alice-pw"):
    """One record as user: None if acknowledged, else the delivery error code."""
    p = Producer({"bootstrap.servers": b.bootstrap, "security.protocol": "SASL_PLAINTEXT", "sasl.mechanisms": "PLAIN",
                  "sasl.username": user, "sasl.password": pw, "message.timeout.ms": 8000,
                  "allow.auto.create.topics": False})
    out = []
    p.produce(topic, b"v-" + os.urandom(8), on_delivery=lambda e, m: out.append(e))
    p.flush(15)
    return out[0].code() if out and out[0] else (None if out else "no report")


def body(ck):
    harness.needs_own_broker("needs its own broker with SASL and the authorizer")
    users = tempfile.mktemp(prefix="sluice-cliacl-")
    with open(users, "w") as f:
        f.write("admin:admin-pw\nalice:alice-pw\n")
    b = harness.start_broker(["--kafka_sasl_mechanisms", "PLAIN", "--kafka_sasl_users_file", users,
                              "--kafka_authorizer", "true", "--kafka_super_users", "User:admin"])
    admin = ["--brokers", b.bootstrap, "--timeout", "10s"] + sasl("admin", "admin-pw")

    def cli(*args):
        return sluice(admin + list(args), timeout=60)

    for t in ("orders", "other", "logs.app", "logs.audit"):
        rc, _, err, _ = cli("topic", "create", t)
        ck.eq(rc, 0, "topic create %s: %s" % (t, err))

    with ck.section("acl create as the super user prints each binding"):
        rc, out, err, _ = cli("acl", "create", "--principal", "User:alice", "--operation", "write", "--operation",
                              "describe", "--resource-type", "topic", "--resource-name", "orders")
        ck.eq(rc, 0, "create orders: %s" % err)
        ck.eq([line.split() for line in out.decode().splitlines()],
              [["TYPE", "NAME", "PATTERN", "PRINCIPAL", "HOST", "OPERATION", "PERMISSION"],
               ["topic", "orders", "literal", "User:alice", "*", "write", "allow"],
               ["topic", "orders", "literal", "User:alice", "*", "describe", "allow"]], "create output")
        for args in (["--operation", "all", "--resource-type", "topic", "--resource-name", "logs.", "--pattern",
                      "prefixed"],
                     ["--operation", "write", "--resource-type", "topic", "--resource-name", "logs.audit",
                      "--permission", "deny"],
                     ["--operation", "read", "--resource-type", "group", "--resource-name", "g1"]):
            rc, _, err, _ = cli("acl", "create", "--principal", "User:alice", *args)
            ck.eq(rc, 0, "create %s: %s" % (args, err))

    def row(t, n, pat, op, perm="allow"):
        return {"resource_type": t, "resource_name": n, "pattern": pat, "principal": "User:alice", "host": "*",
                "operation": op, "permission": perm}
    every = [row("topic", "orders", "literal", "write"), row("topic", "orders", "literal", "describe"),
             row("topic", "logs.", "prefixed", "all"), row("topic", "logs.audit", "literal", "write", "deny"),
             row("group", "g1", "literal", "read")]
    key = lambda r: json.dumps(r, sort_keys=True)  # noqa: E731

    with ck.section("acl list: every binding, and filtered"):
        rc, out, err, _ = cli("--json", "acl", "list")
        ck.eq(rc, 0, "list: %s" % err)
        ck.eq(sorted(json.loads(out), key=key), sorted(every, key=key), "list --json")
        rc, out, _, _ = cli("acl", "list", "--resource-type", "group")
        ck.eq([line.split() for line in out.decode().splitlines()][1:],
              [["group", "g1", "literal", "User:alice", "*", "read", "allow"]], "list groups (table)")
        rc, out, _, _ = cli("--json", "acl", "list", "--resource-type", "topic", "--resource-name", "logs.audit",
                            "--pattern", "match")
        ck.eq(sorted(json.loads(out), key=key), sorted([every[2], every[3]], key=key), "MATCH logs.audit")
        rc, out, _, _ = cli("--json", "acl", "list", "--principal", "User:bob")
        ck.eq(json.loads(out), [], "nothing for bob")

    with ck.section("the ACLs hold for alice (confluent-kafka)"):
        ck.eq(produce(b, "orders"), None, "alice writes orders")
        ck.eq(produce(b, "logs.app"), None, "alice writes logs.app (prefixed ALL)")
        ck.eq(produce(b, "other"), KafkaError.TOPIC_AUTHORIZATION_FAILED, "alice on other")
        ck.eq(produce(b, "logs.audit"), KafkaError.TOPIC_AUTHORIZATION_FAILED, "alice on logs.audit (deny wins)")

    with ck.section("acl delete prints what it removed; then alice is refused"):
        rc, out, err, _ = cli("--json", "acl", "delete", "--resource-type", "topic", "--resource-name", "logs.",
                              "--pattern", "prefixed")
        ck.eq((rc, json.loads(out or b"null")), (0, [every[2]]), "delete the prefixed ACL: %s" % err)
        ck.eq(produce(b, "logs.app"), KafkaError.TOPIC_AUTHORIZATION_FAILED, "alice on logs.app after the delete")
        rc, out, _, _ = cli("--json", "acl", "list")
        ck.eq(sorted(json.loads(out), key=key), sorted([every[0], every[1], every[3], every[4]], key=key),
              "list after the delete")
        rc, _, err, _ = cli("acl", "delete")
        ck.eq(rc, 1, "delete without a filter: exit 1 (%s)" % err.strip())

    with ck.section("errors: a user who may not alter the cluster, bad flags"):
        rc, _, err, _ = sluice(["--brokers", b.bootstrap, "--timeout", "10s"] + sasl("alice", "alice-pw") +
                               ["acl", "create", "--principal", "User:alice", "--operation", "all",
                                "--resource-type", "topic", "--resource-name", "x"], timeout=60)
        ck.eq(rc, 4, "alice creates an ACL: exit 4 (%s)" % err.strip())
        ck.ok("authorization" in err.lower(), "says why: %r" % err)
        for bad in (["--operation", "fly"], ["--resource-type", "broker"], ["--pattern", "regex"],
                    ["--permission", "maybe"]):
            rc, _, err, _ = cli("acl", "list", *bad)
            ck.eq(rc, 1, "acl list %s: exit 1" % bad)
        rc, _, err, _ = cli("acl", "create", "--principal", "User:alice", "--operation", "read")
        ck.eq(rc, 1, "create without a resource: exit 1")
        rc, _, err, _ = sluice(["--kafka-config", "nonsense", "acl", "list"])
        ck.eq(rc, 1, "--kafka-config without =: exit 1")
    os.unlink(users)


if __name__ == "__main__":
    harness.run("cli_acl_test", body, modules=["confluent_kafka"], time_limit=200)
