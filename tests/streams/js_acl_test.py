#!/usr/bin/python3
"""js_acl_test: the Kafka ACLs applied to JetStream streams on the NATS side (Sluice only).

One sluice-server with JetStream, Kafka SASL PLAIN users admin, alice and bob, the authorizer on
(kafka_authorizer, kafka_super_users User:admin) and NATS users of the same names and passwords
in `authorization { users = [...] }`, plus one nkey user. The super user makes the ACLs with
kafka-python's KafkaAdminClient (CreateAcls/DeleteAcls); the NATS side speaks the protocol on raw
sockets (tests/streams/jsraw.py) so every answer is compared byte for byte:
- alice creates her stream, publishes (PubAcks with their sequences) and consumes through a
  durable pull consumer, every payload and sequence compared; she produces to the same topic
  from Kafka (kafka-python) and reads the record back on the NATS side;
- bob, without ACLs, gets the 403 / err_code 10403 answer on STREAM.CREATE, INFO, DELETE,
  MSG.GET, CONSUMER.CREATE, a 403 status on MSG.NEXT, and the PubAck error on a publish with a
  reply; without a reply his publish is dropped and counted, and a core NATS subscriber of the
  subject still gets it;
- STREAM.NAMES and STREAM.LIST show only the streams the principal may DESCRIBE, and
  $JS.API.INFO counts only those (streams, their consumers and bytes);
- a prefixed ACL allows names under it and nothing beside; a DENY WRITE beats an ALLOW ALL and
  leaves reading allowed; the super user may do everything;
- an ACL created or deleted while bob's connection is open takes effect at his next request;
- the nkey user's principal is User:<public key>;
- a durable consumer's name is a GROUP resource, as a Kafka consumer group: carol, with READ on
  the stream only, creates, pulls from, lists and deletes ephemerals; a durable needs READ on
  its group to be created (DURABLE.CREATE or CREATE with a durable_name) and pulled from,
  DESCRIBE for INFO, DELETE for DELETE; a prefixed group ACL, a DENY beside it, a name that is
  no consumer refused before "not found", NAMES/LIST and the consumer counts showing only the
  durables whose group she may DESCRIBE, and a group ACL granted and deleted while her
  connection stays open;
- with 10,000 ACLs a stream's publishes are answered from the connection's kept verdicts (one
  scan, counted in /metrics), and the test prints the publish rate with 10 and 10,000 ACLs.
nats-server has no such ACLs, so there is no peer half; the subject permissions in front of
JetStream are peer-tested by nats/nats_users_test and nats/nats_nkey_test.
"""
import base64
import json
import os
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "nats"))
import natsh  # noqa: E402
import jsraw  # noqa: E402
from natsh import Raw, CheckFailed  # noqa: E402

API = "$JS.API."
TYPE = "io.nats.jetstream.api.v1."


# ---- nkeys: an ed25519 key pair and its public key text (base32 of prefix, key, CRC16) ---------

def crc16(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021 if crc & 0x8000 else crc << 1) & 0xFFFF
    return crc


def nkey_pair():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives import serialization
    key = Ed25519PrivateKey.generate()
    pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    raw = bytes([20 << 3]) + pub
    raw += crc16(raw).to_bytes(2, "little")
    return key, base64.b32encode(raw).decode().rstrip("=")


# ---- a raw JetStream connection as a user ------------------------------------------------------

class Conn(jsraw.Js):
    """jsraw.Js logged in: user/password, or an nkey signing INFO's nonce. Every connection has
    inboxes of its own (the users share one account): replies _R<k>.<n> (sid 1), PubAcks _P<k>
    (sid 2), pulls _N<k>.* (sid 3)."""
    count = 0

    def __init__(self, t, user=None, password=None, nkey=None):
        self.r = Raw(t)
        self.n = 0
        Conn.count += 1
        self.k = b"%d" % Conn.count
        opts = {"verbose": False, "pedantic": False, "headers": True, "no_responders": True}
        if user:
            opts.update(user=user, **{"pass": password})
        if nkey:
            key, pub = nkey
            nonce = json.loads(self.r.info_line[5:])["nonce"].encode()
            opts.update(nkey=pub, sig=base64.urlsafe_b64encode(key.sign(nonce)).decode().rstrip("="))
        self.r.send(b"CONNECT " + json.dumps(opts).encode() + b"\r\nSUB _R%s.* 1\r\nSUB _P%s 2\r\nSUB _N%s.* 3\r\nPING\r\n"
                    % (self.k, self.k, self.k))
        line = self.r.read_line()
        if line != b"PONG\r\n":
            raise CheckFailed("CONNECT as %s: %s" % (user or "nkey", natsh.show(line)))

    def request(self, subj, body=b""):
        if isinstance(body, (dict, list)):
            body = json.dumps(body, separators=(",", ":")).encode()
        self.n += 1
        inbox = b"_R%s.%d" % (self.k, self.n)
        self.r.send(b"PUB %s %s %d\r\n%s\r\n" % (subj.encode(), inbox, len(body), body))
        line, data = self.r.read_msg()
        if line.split()[:2] != [b"MSG", inbox]:
            raise CheckFailed("reply to %s: %s (want MSG %s)" % (subj, natsh.show(line), inbox))
        return line, data

    def publish(self, subj, data, hdrs=None):
        self.r.send(jsraw.pub_bytes(subj, b"_P" + self.k, data, hdrs))
        line, ack = self.r.read_msg()
        if line.split()[:3] != [b"MSG", b"_P" + self.k, b"2"]:
            raise CheckFailed("PubAck for %s: %s" % (subj, natsh.show(line)))
        return line, ack

    def inbox(self, x):
        return b"_N%s.%s" % (self.k, x)

    def raw_api(self, op, body=b""):
        return self.request(API + op, body)[1]

    def send(self, data):
        self.r.send(data)

    def pub_nothing(self, subj, data):
        """A publish without a reply, then a PING round trip: it has been processed."""
        self.r.send(jsraw.pub_bytes(subj, None, data) + b"PING\r\n")
        line = self.r.read_line()
        if line != b"PONG\r\n":
            raise CheckFailed("publish without reply: %s" % natsh.show(line))


def denied(kind, who, op, stream):
    return ('{"type":"%s%s_response","error":{"code":403,"err_code":10403,'
            '"description":"%s is not authorized to %s stream %s"}}' % (TYPE, kind, who, op, stream)).encode()


def group_denied(kind, who, op, group):
    return ('{"type":"%s%s_response","error":{"code":403,"err_code":10403,'
            '"description":"%s is not authorized to %s group %s"}}' % (TYPE, kind, who, op, group)).encode()


def not_found(kind):
    return ('{"type":"%s%s_response","error":{"code":404,"err_code":10014,"description":"consumer not found"}}'
            % (TYPE, kind)).encode()


def pull_status(c, stream, consumer, x):
    """A pull answered with a status message only: (its first three words, its headers)."""
    c.send(b"PUB $JS.API.CONSUMER.MSG.NEXT.%s.%s %s 11\r\n{\"batch\":1}\r\n" % (stream.encode(), consumer.encode(),
                                                                             c.inbox(x)))
    line, data = c.r.read_msg()
    return line.split()[:3], data


def pub_denied(who, stream):
    return ('{"error":{"code":403,"err_code":10403,"description":"%s is not authorized to WRITE stream %s"},'
            '"stream":"%s","seq":0}' % (who, stream, stream)).encode()


def create(c, name, subject):
    return json.loads(c.raw_api("STREAM.CREATE." + name, {"name": name, "subjects": [subject]}))


def names(c):
    return json.loads(c.raw_api("STREAM.NAMES"))["streams"] or []


def metric(t, name):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % t.broker.http_port, timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return int(float(line.split()[1]))
    raise CheckFailed("no %s in /metrics" % name)


def pull(c, stream, consumer, n):
    """n deliveries of one pull request: [(subject, ack reply, payload)]."""
    inbox = c.inbox(b"1")
    body = json.dumps({"batch": n, "expires": 5000000000}).encode()
    c.send(b"PUB $JS.API.CONSUMER.MSG.NEXT.%s.%s %s %d\r\n%s\r\n" % (stream.encode(), consumer.encode(), inbox,
                                                                     len(body), body))
    out = []
    for _ in range(n):
        line, data = c.r.read_msg()
        p = line.split()
        if p[0] != b"MSG" or p[2] != b"3":
            raise CheckFailed("pull %s.%s: %s %s" % (stream, consumer, natsh.show(line), natsh.show(data)))
        out.append((p[1], p[3], data))
    return out


def ack_seqs(reply):
    tok = reply.split(b".")
    return int(tok[5]), int(tok[6])  # stream sequence, consumer sequence


def publish_many(c, subj, n):
    """n publishes with replies pipelined; seconds until the last PubAck."""
    t0 = time.monotonic()
    c.send(b"".join(jsraw.pub_bytes(subj, b"_P" + c.k, b"m%06d" % i) for i in range(n)))
    for i in range(n):
        line, ack = c.r.read_msg()
        if b'"seq"' not in ack or b"error" in ack:
            raise CheckFailed("PubAck %d: %s" % (i, natsh.show(ack)))
    return time.monotonic() - t0


def body(ck):
    if os.environ.get("SLUICE_EXTERNAL_NATS") or natsh.reference_binary():
        natsh.skip("Sluice only: nats-server has no ACLs on streams, and the test needs its own config")
    try:
        from kafka import KafkaProducer
        from kafka.admin import (ACL, ACLFilter, ACLOperation, ACLPermissionType, ACLResourcePatternType,
                                 KafkaAdminClient, ResourcePattern, ResourcePatternFilter, ResourceType)
        nkey = nkey_pair()
    except ImportError as e:
        natsh.skip("kafka-python or python3-cryptography missing: %s" % e)
    tmp = os.environ.get("TMPDIR", "/tmp")
    users = os.path.join(tmp, "sluice-jsacl-users-%d" % os.getpid())
    with open(users, "w") as f:
        f.write("admin:admin-secret\nalice:alice-secret\nbob:bob-secret\ncarol:carol-secret\n")
    conf = """
kafka_sasl_mechanisms = PLAIN
kafka_sasl_users_file = "%s"
kafka_authorizer = true
kafka_super_users = "User:admin"
authorization {
  users = [
    {user: admin, password: admin-secret}
    {user: alice, password: alice-secret}
    {user: bob, password: bob-secret}
    {user: carol, password: carol-secret}
    {nkey: %s}
  ]
}
""" % (users, nkey[1])
    srv = natsh.ConfNats(conf, jetstream=True)
    t = srv.start()
    bootstrap = "127.0.0.1:%d" % t.broker.kafka_port

    def kp(user):
        return dict(bootstrap_servers=bootstrap, security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN",
                    sasl_plain_username=user, sasl_plain_password=user + "-secret")

    u = "ACL_%d_%04x" % (os.getpid() % 100000, int.from_bytes(os.urandom(2), "big"))
    OK, PRE, PREA, PREX, DENY, HIDDEN = u + "_OK", u + "_PRE_", u + "_PRE_A", u + "_PREX", u + "_DENY", u + "_HIDDEN"
    s_ok, s_pre, s_deny, s_hidden = u + ".ok", u + ".pre", u + ".deny", u + ".hidden"
    LIT, PFX = ACLResourcePatternType.LITERAL, ACLResourcePatternType.PREFIXED
    A, D = ACLPermissionType.ALLOW, ACLPermissionType.DENY
    TOPIC, GROUP = ResourceType.TOPIC, ResourceType.GROUP
    alice, bob, carol, nk = "User:alice", "User:bob", "User:carol", "User:" + nkey[1]
    bindings = [
        ACL(alice, "*", ACLOperation.CREATE, A, ResourcePattern(TOPIC, OK, LIT)),
        ACL(alice, "*", ACLOperation.WRITE, A, ResourcePattern(TOPIC, OK, LIT)),
        ACL(alice, "*", ACLOperation.READ, A, ResourcePattern(TOPIC, OK, LIT)),
        ACL(alice, "*", ACLOperation.READ, A, ResourcePattern(GROUP, "W", LIT)),
        ACL(carol, "*", ACLOperation.READ, A, ResourcePattern(TOPIC, OK, LIT)),
        ACL(carol, "*", ACLOperation.READ, A, ResourcePattern(GROUP, "C_", PFX)),
        ACL(carol, "*", ACLOperation.READ, D, ResourcePattern(GROUP, "C_DENIED", LIT)),
        ACL(carol, "*", ACLOperation.DELETE, A, ResourcePattern(GROUP, "C_DEL", LIT)),
        ACL(carol, "*", ACLOperation.DESCRIBE, A, ResourcePattern(GROUP, "D_ONLY", LIT)),
        ACL(alice, "*", ACLOperation.ALL, A, ResourcePattern(TOPIC, PRE, PFX)),
        ACL(alice, "*", ACLOperation.ALL, A, ResourcePattern(TOPIC, DENY, LIT)),
        ACL(alice, "*", ACLOperation.WRITE, D, ResourcePattern(TOPIC, DENY, LIT)),
        ACL(nk, "*", ACLOperation.READ, A, ResourcePattern(TOPIC, OK, LIT)),
    ]
    admin = KafkaAdminClient(**kp("admin"))
    res = admin.create_acls(bindings)
    ck.eq((len(res["succeeded"]), res["failed"]), (len(bindings), []), "create_acls as the super user")

    ca, cb, cs = Conn(t, "alice", "alice-secret"), Conn(t, "bob", "bob-secret"), Conn(t, "admin", "admin-secret")
    msgs = [os.urandom(1 + i * 37) for i in range(10)]

    with ck.section("alice: create, publish with PubAcks, consume byte for byte with sequences"):
        r = create(ca, OK, s_ok + ".>")
        ck.eq((r.get("error"), r["config"]["name"]), (None, OK), "STREAM.CREATE %s" % OK)
        for i, m in enumerate(msgs):
            ck.eq(ca.pub_ack(s_ok + ".a", m), b'{"stream":"%s", "seq":%d}' % (OK.encode(), i + 1), "PubAck %d" % i)
        r = json.loads(ca.raw_api("CONSUMER.DURABLE.CREATE.%s.W" % OK,
                                  {"stream_name": OK, "config": {"durable_name": "W", "ack_policy": "explicit"}}))
        ck.eq((r.get("error"), r.get("name")), (None, "W"), "durable consumer W")
        got = pull(ca, OK, "W", len(msgs))
        ck.eq([(s, ack_seqs(a), d) for s, a, d in got],
              [((s_ok + ".a").encode(), (i + 1, i + 1), m) for i, m in enumerate(msgs)], "every delivery")
        for _, a, _ in got:
            ca.send(b"PUB %s 4\r\n+ACK\r\n" % a)
        info = json.loads(ca.raw_api("CONSUMER.INFO.%s.W" % OK))
        ck.eq(info.get("ack_floor", {}).get("stream_seq"), len(msgs), "her acks need no further check")

    with ck.section("bob without ACLs: every request refused with 403 / 10403"):
        ck.eq(cb.raw_api("STREAM.CREATE." + u + "_BOB", {"name": u + "_BOB", "subjects": [u + ".bob"]}),
              denied("stream_create", bob, "CREATE", u + "_BOB"), "STREAM.CREATE")
        ck.eq(cb.raw_api("STREAM.INFO." + OK), denied("stream_info", bob, "DESCRIBE", OK), "STREAM.INFO")
        ck.eq(cb.raw_api("STREAM.UPDATE." + OK, {"name": OK, "subjects": [s_ok + ".>"]}),
              denied("stream_update", bob, "ALTER", OK), "STREAM.UPDATE")
        ck.eq(cb.raw_api("STREAM.DELETE." + OK), denied("stream_delete", bob, "DELETE", OK), "STREAM.DELETE")
        ck.eq(cb.raw_api("STREAM.PURGE." + OK), denied("stream_purge", bob, "DELETE", OK), "STREAM.PURGE")
        ck.eq(cb.raw_api("STREAM.MSG.GET." + OK, {"seq": 1}), denied("stream_msg_get", bob, "READ", OK),
              "STREAM.MSG.GET")
        ck.eq(cb.raw_api("STREAM.MSG.DELETE." + OK, {"seq": 1}), denied("stream_msg_delete", bob, "DELETE", OK),
              "STREAM.MSG.DELETE")
        ck.eq(cb.raw_api("CONSUMER.CREATE.%s.B" % OK, {"stream_name": OK, "config": {"name": "B"}}),
              denied("consumer_create", bob, "READ", OK), "CONSUMER.CREATE")
        ck.eq(cb.raw_api("CONSUMER.INFO.%s.W" % OK), denied("consumer_info", bob, "READ", OK), "CONSUMER.INFO")
        ck.eq(cb.raw_api("CONSUMER.DELETE.%s.W" % OK), denied("consumer_delete", bob, "READ", OK), "CONSUMER.DELETE")
        ck.eq(cb.raw_api("CONSUMER.NAMES." + OK), denied("consumer_names", bob, "READ", OK), "CONSUMER.NAMES")
        cb.send(b"PUB $JS.API.CONSUMER.MSG.NEXT.%s.W %s 11\r\n{\"batch\":1}\r\n" % (OK.encode(), cb.inbox(b"b")))
        line, data = cb.r.read_msg()
        ck.eq((line.split()[:3], data), ([b"HMSG", cb.inbox(b"b"), b"3"],
                                         b"NATS/1.0 403 User:bob is not authorized to READ stream %s\r\n\r\n"
                                         % OK.encode()), "MSG.NEXT: a 403 status")
        ck.eq(cb.pub_ack(s_ok + ".b", b"from-bob"), pub_denied(bob, OK), "publish with a reply: PubAck error")
        core = Raw(t)
        core.send(b'CONNECT {"verbose":false,"user":"alice","pass":"alice-secret"}\r\nSUB %s.> 1\r\nPING\r\n'
                  % s_ok.encode())
        ck.eq(core.read_line(), b"PONG\r\n", "a core subscriber of the stream's subjects")
        before = metric(t, "sluice_nats_js_publishes_denied_total")
        cb.pub_nothing(s_ok + ".c", b"no-reply")
        ck.eq(core.read_msg(), (b"MSG %s.c 1 8" % s_ok.encode(), b"no-reply"), "the core subscriber still gets it")
        core.close()
        ck.eq(metric(t, "sluice_nats_js_publishes_denied_total") - before, 1, "the dropped publish is counted")
        st = json.loads(ca.raw_api("STREAM.INFO." + OK))["state"]
        ck.eq((st["messages"], st["last_seq"]), (len(msgs), len(msgs)), "nothing of bob's was stored")
        ck.eq(names(cb), [], "STREAM.NAMES: bob sees no stream")
        acct = json.loads(cb.raw_api("INFO"))
        ck.eq((acct["streams"], acct["consumers"], acct["storage"]), (0, 0, 0),
              "$JS.API.INFO: bob's counts hold nothing of the streams he may not describe")

    with ck.section("the super user; STREAM.NAMES / LIST show only what the principal may DESCRIBE"):
        ck.eq(create(cs, HIDDEN, s_hidden).get("error"), None, "admin creates %s" % HIDDEN)
        ck.eq(create(cs, DENY, s_deny).get("error"), None, "admin creates %s" % DENY)
        ck.eq(cs.pub_ack(s_deny, b"from-admin"), b'{"stream":"%s", "seq":1}' % DENY.encode(), "admin publishes")
        r = create(ca, PREA, s_pre + ".>")
        ck.eq((r.get("error"), r["config"]["name"]), (None, PREA), "alice creates %s under the prefix" % PREA)
        ck.eq(ca.raw_api("STREAM.CREATE." + PREX, {"name": PREX, "subjects": [u + ".prex"]}),
              denied("stream_create", alice, "CREATE", PREX), "%s is beside the prefix" % PREX)
        ck.eq(ca.pub_ack(s_pre + ".x", b"pre"), b'{"stream":"%s", "seq":1}' % PREA.encode(), "publish under the prefix")
        mine = [n for n in names(ca) if n.startswith(u)]
        ck.eq(mine, sorted([OK, PREA, DENY]), "alice's STREAM.NAMES")
        lst = json.loads(ca.raw_api("STREAM.LIST"))
        ck.eq(sorted(s["config"]["name"] for s in lst["streams"] if s["config"]["name"].startswith(u)),
              sorted([OK, PREA, DENY]), "alice's STREAM.LIST")
        ck.ok({OK, PREA, DENY, HIDDEN} <= set(names(cs)), "the super user sees every stream")
        ck.eq(json.loads(cs.raw_api("STREAM.MSG.GET." + OK, {"seq": 1}))["message"]["seq"], 1, "and reads any")

    with ck.section("deny wins: ALLOW ALL and DENY WRITE"):
        ck.eq(ca.pub_ack(s_deny, b"from-alice"), pub_denied(alice, DENY), "alice may not write %s" % DENY)
        m = json.loads(ca.raw_api("STREAM.MSG.GET." + DENY, {"seq": 1}))["message"]
        ck.eq((m["seq"], base64.b64decode(m["data"])), (1, b"from-admin"), "alice still reads it")
        ck.eq(ca.raw_api("STREAM.DELETE." + OK), denied("stream_delete", alice, "DELETE", OK),
              "alice has no DELETE on %s" % OK)

    with ck.section("Kafka write, NATS read: one topic, one principal, the same ACLs"):
        p = KafkaProducer(max_block_ms=10000, **kp("alice"))
        md = p.send(OK, key=(s_ok + ".kafka").encode(), value=b"from-kafka").get(timeout=15)
        p.close()
        ck.eq(md.offset, len(msgs), "alice produces to %s through Kafka (offset = sequence - 1)" % OK)
        m = json.loads(ca.raw_api("STREAM.MSG.GET." + OK, {"seq": md.offset + 1}))["message"]
        ck.eq((m["subject"], base64.b64decode(m["data"])), (s_ok + ".kafka", b"from-kafka"), "alice's MSG.GET")
        got = pull(ca, OK, "W", 1)
        ck.eq([(s, ack_seqs(a)[0], d) for s, a, d in got], [((s_ok + ".kafka").encode(), md.offset + 1,
                                                              b"from-kafka")], "and her consumer W")

    with ck.section("an ACL change takes effect on bob's open connection"):
        ck.eq(cb.raw_api("STREAM.INFO." + OK), denied("stream_info", bob, "DESCRIBE", OK), "before")
        grant = ACL(bob, "*", ACLOperation.READ, A, ResourcePattern(TOPIC, OK, LIT))
        ck.eq(admin.create_acls([grant])["failed"], [], "admin grants bob READ on %s" % OK)
        r = json.loads(cb.raw_api("STREAM.INFO." + OK))
        ck.eq((r.get("error"), r["config"]["name"]), (None, OK), "STREAM.INFO on the same connection")
        m = json.loads(cb.raw_api("STREAM.MSG.GET." + OK, {"seq": 1}))["message"]
        ck.eq(base64.b64decode(m["data"]), msgs[0], "MSG.GET")
        ck.eq(names(cb), [OK], "STREAM.NAMES")
        acct, st = json.loads(cb.raw_api("INFO")), r["state"]
        ck.eq((acct["streams"], acct["consumers"], acct["storage"]), (1, st["consumer_count"], st["bytes"]),
              "$JS.API.INFO: bob's counts are %s's" % OK)
        ck.eq(cb.pub_ack(s_ok + ".b", b"x"), pub_denied(bob, OK), "still no WRITE")
        admin.delete_acls([ACLFilter(bob, None, ACLOperation.ANY, ACLPermissionType.ANY,
                                     ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY))])
        ck.eq(cb.raw_api("STREAM.INFO." + OK), denied("stream_info", bob, "DESCRIBE", OK), "after the delete")

    with ck.section("an nkey user is User:<public key>"):
        cn = Conn(t, nkey=nkey)
        m = json.loads(cn.raw_api("STREAM.MSG.GET." + OK, {"seq": 2}))["message"]
        ck.eq(base64.b64decode(m["data"]), msgs[1], "READ allowed to %s" % nk)
        ck.eq(cn.pub_ack(s_ok + ".n", b"x"), pub_denied(nk, OK), "WRITE refused, naming the nkey")
        cn.close()

    with ck.section("a durable consumer's name is a group: READ to create and pull, DESCRIBE, DELETE"):
        cc = Conn(t, "carol", "carol-secret")

        def durable(c, name, form="DURABLE.CREATE"):
            return c.raw_api("CONSUMER.%s.%s.%s" % (form, OK, name), {
                "stream_name": OK, "config": {"durable_name": name, "ack_policy": "explicit"}})

        def refused_pull(c, x, group):
            return ([b"HMSG", c.inbox(x), b"3"],
                    b"NATS/1.0 403 User:carol is not authorized to READ group %s\r\n\r\n" % group.encode())

        def first(c, consumer, n):
            return [(s, ack_seqs(a), d) for s, a, d in pull(c, OK, consumer, n)]

        want = [((s_ok + ".a").encode(), (i + 1, i + 1), m) for i, m in enumerate(msgs[:2])]
        # Ephemerals: the stream's READ is all they need.
        r = json.loads(cc.raw_api("CONSUMER.CREATE." + OK, {"stream_name": OK, "config": {"ack_policy": "explicit"}}))
        eph = r.get("name", "")
        ck.eq((r.get("error"), len(eph), r["config"].get("durable_name")), (None, 8, None), "an ephemeral")
        ck.eq(first(cc, eph, 2), want, "pulled from the ephemeral, byte for byte")
        r = json.loads(cc.raw_api("CONSUMER.CREATE.%s.X2" % OK, {"stream_name": OK, "config": {"name": "X2"}}))
        ck.eq((r.get("error"), r.get("name")), (None, "X2"), "a named ephemeral (no durable_name) needs no group")
        ck.eq(json.loads(cc.raw_api("CONSUMER.INFO.%s.%s" % (OK, eph))).get("name"), eph, "its INFO")
        # Durables under her prefixed group ACL.
        r = json.loads(durable(cc, "C_1"))
        ck.eq((r.get("error"), r.get("name"), r["config"].get("durable_name")), (None, "C_1", "C_1"),
              "DURABLE.CREATE C_1 (READ on groups C_*)")
        ck.eq(first(cc, "C_1", 2), want, "pulled from C_1, byte for byte")
        ck.eq(json.loads(cc.raw_api("CONSUMER.INFO.%s.C_1" % OK)).get("name"), "C_1",
              "INFO C_1 (READ implies DESCRIBE)")
        r = json.loads(durable(cc, "C_2", "CREATE"))
        ck.eq((r.get("error"), r.get("name")), (None, "C_2"), "CREATE.<stream>.C_2 with a durable_name")
        # Refused: no group ACL, a DENY beside the prefix, someone else's durable.
        ck.eq(durable(cc, "X1"), group_denied("consumer_create", carol, "READ", "X1"), "DURABLE.CREATE X1")
        ck.eq(durable(cc, "X1", "CREATE"), group_denied("consumer_create", carol, "READ", "X1"),
              "CREATE.<stream>.X1 with a durable_name")
        ck.eq(durable(cc, "C_DENIED"), group_denied("consumer_create", carol, "READ", "C_DENIED"),
              "DENY READ on C_DENIED beats the prefix")
        ck.eq(cc.raw_api("CONSUMER.INFO.%s.W" % OK), group_denied("consumer_info", carol, "DESCRIBE", "W"),
              "INFO of alice's W")
        ck.eq(pull_status(cc, OK, "W", b"w"), refused_pull(cc, b"w", "W"), "MSG.NEXT on W: a 403 status")
        ck.eq(cc.raw_api("CONSUMER.DELETE.%s.W" % OK), group_denied("consumer_delete", carol, "DELETE", "W"),
              "DELETE of alice's W")
        ck.eq(cc.raw_api("CONSUMER.DELETE.%s.C_1" % OK), group_denied("consumer_delete", carol, "DELETE", "C_1"),
              "DELETE C_1: READ is not DELETE")
        ck.eq(cc.raw_api("CONSUMER.INFO.%s.NOPE" % OK), group_denied("consumer_info", carol, "DESCRIBE", "NOPE"),
              "a name that is no consumer: refused, not 'not found'")
        ck.eq(cc.raw_api("CONSUMER.INFO.%s.C_MISSING" % OK), not_found("consumer_info"),
              "under her prefix: consumer not found")
        # DESCRIBE only, and DELETE.
        r = json.loads(durable(cs, "D_ONLY"))
        ck.eq((r.get("error"), r.get("name")), (None, "D_ONLY"), "the super user creates D_ONLY")
        ck.eq(json.loads(cc.raw_api("CONSUMER.INFO.%s.D_ONLY" % OK)).get("name"), "D_ONLY", "INFO D_ONLY (DESCRIBE)")
        ck.eq(pull_status(cc, OK, "D_ONLY", b"d"), refused_pull(cc, b"d", "D_ONLY"),
              "MSG.NEXT on D_ONLY: DESCRIBE is not READ")
        ck.eq(json.loads(durable(cc, "C_DEL")).get("name"), "C_DEL", "DURABLE.CREATE C_DEL")
        ck.eq(cc.raw_api("CONSUMER.DELETE.%s.C_DEL" % OK),
              ('{"type":"%sconsumer_delete_response","success":true}' % TYPE).encode(), "DELETE C_DEL (DELETE on it)")
        ck.eq(cc.raw_api("CONSUMER.DELETE.%s.%s" % (OK, eph)),
              ('{"type":"%sconsumer_delete_response","success":true}' % TYPE).encode(), "DELETE of her ephemeral")
        # NAMES / LIST: the durables whose group she may DESCRIBE, and the ephemerals.
        mine = sorted(["C_1", "C_2", "D_ONLY", "X2"])
        ck.eq(json.loads(cc.raw_api("CONSUMER.NAMES." + OK)),
              {"type": TYPE + "consumer_names_response", "total": 4, "offset": 0, "limit": 1024, "consumers": mine},
              "CONSUMER.NAMES: not alice's W")
        lst = json.loads(cc.raw_api("CONSUMER.LIST." + OK))
        ck.eq((lst["total"], [c["name"] for c in lst["consumers"]]), (4, mine), "CONSUMER.LIST: the same")
        ck.eq(json.loads(cs.raw_api("CONSUMER.NAMES." + OK))["consumers"], sorted(mine + ["W"]),
              "the super user's CONSUMER.NAMES: all of them")
        ck.eq(json.loads(ca.raw_api("CONSUMER.NAMES." + OK))["consumers"], ["W", "X2"],
              "alice's: her W and the ephemeral")
        ck.eq(json.loads(cc.raw_api("STREAM.INFO." + OK))["state"]["consumer_count"], 4,
              "STREAM.INFO's consumer_count: what she may see")
        ck.eq(json.loads(cc.raw_api("INFO"))["consumers"], 4, "$JS.API.INFO's consumers: the same")
        ck.eq(json.loads(cs.raw_api("STREAM.INFO." + OK))["state"]["consumer_count"], 5,
              "the super user's consumer_count: all of them")
        # A group ACL granted while carol's connection stays open.
        grant = ACL(carol, "*", ACLOperation.READ, A, ResourcePattern(GROUP, "D_ONLY", LIT))
        ck.eq(admin.create_acls([grant])["failed"], [], "admin grants carol READ on group D_ONLY")
        ck.eq(first(cc, "D_ONLY", 2), want, "MSG.NEXT on D_ONLY now delivers, byte for byte")
        admin.delete_acls([ACLFilter(carol, None, ACLOperation.READ, A, ResourcePatternFilter(GROUP, "D_ONLY", LIT))])
        ck.eq(pull_status(cc, OK, "D_ONLY", b"e"), refused_pull(cc, b"e", "D_ONLY"),
              "and is refused again once the ACL is deleted")
        cc.close()

    with ck.section("10,000 ACLs: a stream's publishes use the kept verdict"):
        n = 2000
        small = publish_many(ca, s_ok + ".p", n)
        fillers = [ACL("User:filler%d" % (i % 50), "*", ACLOperation.READ, A,
                       ResourcePattern(TOPIC, "filler-%d" % i, LIT)) for i in range(10000 - len(bindings))]
        for i in range(0, len(fillers), 1000):
            ck.eq(admin.create_acls(fillers[i:i + 1000])["failed"], [], "filler ACLs %d.." % i)
        scans = metric(t, "sluice_nats_js_acl_scans_total")
        large = publish_many(ca, s_ok + ".p", n)
        ck.ok(metric(t, "sluice_nats_js_acl_scans_total") - scans <= 1,
              "%d publishes under a new generation: at most one scan" % n)
        print("     publish + PubAck of %d messages: %.0f msgs/s with %d ACLs, %.0f msgs/s with 10,000"
              % (n, n / small, len(bindings), n / large))
    admin.close()
    for c in (ca, cb, cs):
        c.close()


if __name__ == "__main__":
    natsh.run("js_acl_test", body, time_limit=200)
