#!/usr/bin/python3
"""cluster_secure_test: a cluster whose Kafka ports speak only SASL_SSL (kafka_tls,
kafka_sasl_mechanisms SCRAM-SHA-512 and PLAIN) replicates: the brokers' replica fetches go over
TLS (the leader's certificate verified against tls_ca) and log in with the cluster's own SCRAM
user (cluster_sasl_mechanism, _username, _password: broker/kafka/peer_login.c; broker 1 with
SCRAM-SHA-512, 2 with SCRAM-SHA-256, 3 with PLAIN), with real
clients (confluent-kafka on librdkafka, SASL_SSL) against three sluice-server processes in one
Raft group on 127.0.0.1. Certificates come from the openssl CLI (tls_test.make_certs).

(a) Three brokers agree; a topic with replication factor 3 and min.insync.replicas 2, made over
    SASL_SSL.
(b) An idempotent acks=all producer writes 200 records: every delivery report has the next offset
    (the high watermark passes them only once a follower has them, so each answer says the
    followers fetched over TLS and SASL); each follower counts fetches and no fetch errors, and
    each broker's segment bytes are the leader's.
(c) kill -9 of the leader: a follower leads, and a consumer over SASL_SSL reads the 200 records,
    every offset, key and byte.
(d) A fourth broker configured with the wrong cluster password (added through the API, a
    replica of each partition of a new 4-partition topic) is refused by the leaders'
    SaslAuthenticate: it logs why and no fetch of it succeeds, while acks=1 records go on.
Every wait is bounded.
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import harness  # noqa: E402
from tls_test import make_certs  # noqa: E402
import cluster_topics_test as ct  # noqa: E402
import cluster_replication_test as crt  # noqa: E402

N = 200


# Each broker logs in to the others with its own mechanism, so the three are all exercised.
MECHS = {1: "SCRAM-SHA-512", 2: "SCRAM-SHA-256", 3: "PLAIN", 4: "SCRAM-SHA-512"}


def secure_args(d, node_id, password="broker-secret"):
    with open(d + "/users", "w") as f:
        f.write("broker:broker-secret\n")
    return ["--kafka_tls", "--tlscert", d + "/server.pem", "--tlskey", d + "/server.key", "--tlscacert", d + "/ca.pem",
            "--kafka_sasl_mechanisms", "SCRAM-SHA-512,SCRAM-SHA-256,PLAIN", "--kafka_sasl_users_file", d + "/users",
            "--kafka_sasl_scram_bootstrap",
            "SCRAM-SHA-512=admin:admin-secret,SCRAM-SHA-512=broker:broker-secret,SCRAM-SHA-256=broker:broker-secret",
            "--cluster_sasl_mechanism", MECHS[node_id], "--cluster_sasl_username", "broker",
            "--cluster_sasl_password", password]


def start_node(node_id, nodes, d, password="broker-secret"):
    args = ["--node-id", str(node_id), "--cluster-nodes", ",".join("%d@%s" % kv for kv in sorted(nodes.items())),
            "--http-token", ct.TOKEN, "--advertised-host", "127.0.0.1", "--replica_lag_time_max_ms", "3000",
            "--broker_session_timeout_ms", "1500"] + secure_args(d, node_id, password)
    b = harness.Broker(args)
    b.node_id = node_id
    return b.start()


def conf(brokers, d):
    return {"bootstrap.servers": ",".join(b.bootstrap for b in brokers if b.alive()), "ssl.ca.location": d + "/ca.pem",
            "security.protocol": "SASL_SSL", "sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": "admin",
            "sasl.password": "admin-secret"}


def leader_of(brokers, d, topic, not_id=0, timeout=30.0):
    """The partition's leader as a SASL_SSL client's metadata names it (not not_id)."""
    from confluent_kafka.admin import AdminClient
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            md = AdminClient(conf(brokers, d)).list_topics(topic, timeout=5)
            t = md.topics.get(topic)
            if t and not t.error and 0 in t.partitions:
                last = t.partitions[0].leader
                if last > 0 and last != not_id:
                    return last, t.partitions[0].isrs
        except Exception as e:  # noqa: BLE001 - retried until the deadline
            last = e
        time.sleep(0.2)
    raise harness.CheckFailed("no leader of %s other than %d within %.0f s (last %s)" % (topic, not_id, timeout, last))


def body(ck):
    harness.needs_own_broker("starts a cluster of its own brokers")
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic
    with harness.scratch_dir("sluice-cluster-secure-") as d:
        make_certs(d)
        raft_ports = harness.free_ports(4)
        nodes = {i + 1: "127.0.0.1:%d" % raft_ports[i] for i in range(3)}
        topic = harness.unique("secure")

        with ck.section("(a) three SASL_SSL brokers, a topic with replication factor 3"):
            brokers = [start_node(i, nodes, d) for i in (1, 2, 3)]
            ct.wait_agreed(brokers)
            a = AdminClient(conf(brokers, d))  # alive until the future is done
            fs = a.create_topics([NewTopic(topic, 1, 3, config={"min.insync.replicas": "2"})], operation_timeout=15)
            fs[topic].result(timeout=30)
            leader, isr = leader_of(brokers, d, topic)
            print("     leader %d, ISR %s" % (leader, isr))
        by_id = {b.node_id: b for b in brokers}

        msgs = [(b"k%03d" % i, os.urandom(1 + (i * 7919) % 3000)) for i in range(N)]
        with ck.section("(b) acks=all over SASL_SSL: answered only once the followers fetched over TLS and SASL"):
            p = Producer(dict(conf(brokers, d), **{"acks": "all", "enable.idempotence": True, "linger.ms": 5}))
            reports = []
            for k, v in msgs:
                p.produce(topic, v, k, partition=0,
                          on_delivery=lambda e, m: reports.append((e and e.str(), m.offset() if m else None)))
            ck.eq(p.flush(60), 0, "records left unflushed")
            ck.eq(reports, [(None, i) for i in range(N)], "delivery reports: no error, offsets 0..%d" % (N - 1))
            for b in brokers:
                if b.node_id == leader:
                    continue
                ck.ok(ct.metric(b, 'sluice_replica_fetches_total{outcome="ok"}') > 0, "fetches of node %d" % b.node_id)
                ck.eq(ct.metric(b, 'sluice_replica_fetches_total{outcome="error"}'), 0,
                      "failed fetches of node %d" % b.node_id)
            crt.wait_same_copies(ck, brokers, topic, 1, "after the acks=all records")

        with ck.section("(c) kill -9 of the leader: a consumer over SASL_SSL reads every record from the new one"):
            by_id[leader].kill9()
            new_leader, _ = leader_of(brokers, d, topic, not_id=leader)
            print("     node %d leads after the kill" % new_leader)
            c = Consumer(dict(conf(brokers, d), **{"group.id": harness.unique("g"), "enable.auto.commit": False}))
            c.assign([TopicPartition(topic, 0, 0)])
            got = []
            deadline = time.monotonic() + 30
            while len(got) < N and time.monotonic() < deadline:
                m = c.poll(0.5)
                if m is not None and not m.error():
                    got.append((m.offset(), m.key(), m.value()))
            c.close()
            ck.eq(got, [(i, k, v) for i, (k, v) in enumerate(msgs)], "consumed (offset, key, value)")
            by_id[leader].restart()

        with ck.section("(d) a broker with the wrong cluster password replicates nothing"):
            nodes4 = dict(nodes)
            nodes4[4] = "127.0.0.1:%d" % raft_ports[3]
            # Node 4 joins through the API (started first, as cluster_test's node 4), then gets a
            # replica of a new topic (replication factor 4 over the 4 brokers).
            b4 = harness.Broker(["--node-id", "4", "--cluster-nodes", ",".join("%d@%s" % kv for kv in sorted(nodes.items())),
                                 "--cluster_raft_addr", nodes4[4], "--http-token", ct.TOKEN,
                                 "--advertised-host", "127.0.0.1", "--replica_lag_time_max_ms", "3000",
                                 "--broker_session_timeout_ms", "1500"] + secure_args(d, 4, password="wrong"))
            b4.node_id = 4
            b4.start()
            raft_leader = by_id[ct.wait_agreed(brokers)]
            st, res = ct.call(raft_leader.http_port, "POST", "/v1/cluster/nodes",
                              '{"id": 4, "address": "%s"}' % nodes4[4], timeout=30.0)
            ck.eq(st, 200, "node 4 added: %s" % res)
            four = brokers + [b4]
            ct.wait_agreed(four, timeout=30)
            t4 = harness.unique("secure4")
            a = AdminClient(conf(brokers, d))
            # Four partitions over the four brokers: node 4 follows at least three of them.
            fs = a.create_topics([NewTopic(t4, 4, 4)], operation_timeout=15)
            fs[t4].result(timeout=30)
            p = Producer(dict(conf(brokers, d), **{"acks": 1}))
            for i in range(20):
                p.produce(t4, b"v%d" % i, partition=i % 4)
            ck.eq(p.flush(30), 0, "acks=1 records to %s" % t4)
            log = b4.log_text(b"SaslAuthenticate", timeout=15)
            ck.ok(b"SaslAuthenticate" in log and b"Authentication failed" in log,
                  "node 4 logs the refused login: %s" % log[-300:])
            ck.eq(ct.metric(b4, 'sluice_replica_fetches_total{outcome="ok"}'), 0, "fetches node 4 made")
            ck.ok(ct.metric(b4, 'sluice_replica_fetches_total{outcome="error"}') > 0, "failed fetches of node 4")
            for b in four:
                b.stop()


if __name__ == "__main__":
    harness.run("cluster_secure_test", body, modules=["confluent_kafka"], time_limit=240)
