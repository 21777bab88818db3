#!/usr/bin/python3
"""kafka_sasl_test: SASL_PLAINTEXT on the Kafka port with real clients, and the SCRAM credential APIs.

A broker with kafka_sasl_mechanisms PLAIN,SCRAM-SHA-256,SCRAM-SHA-512, PLAIN users from a file (one
plain, one {PBKDF2-SHA512} hashed) and a bootstrapped SCRAM user:
- confluent-kafka (librdkafka: SaslHandshake v1 + SaslAuthenticate) with PLAIN, SCRAM-SHA-256 and
  SCRAM-SHA-512, kafka-python (SaslHandshake v0: raw tokens) with PLAIN and SCRAM-SHA-512, and kcat:
  produce and consume, every byte compared;
- wrong passwords: each client reports its authentication error (librdkafka _AUTHENTICATION with the
  broker's message; kafka-python's closed connection);
- a client without SASL: ApiVersions works, anything else closes the connection;
- AlterUserScramCredentials / DescribeUserScramCredentials over the wire (confluent-kafka 1.7 has no
  admin call for them), Kafka's error codes, then a login with the new credential, which survives kill -9;
- malformed SASL (garbage, truncated client-first, wrong nonce, wrong proof, a huge token, requests out
  of order, an unknown mechanism): an error code and a close, and the broker stays up.
"""
import base64
import hashlib
import hmac
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import kafka_badinput_test as kb  # noqa: E402

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition  # noqa: E402

SASL_HANDSHAKE, SASL_AUTHENTICATE, API_VERSIONS, METADATA = 17, 36, 18, 3
DESCRIBE_SCRAM, ALTER_SCRAM = 50, 51
UNSUPPORTED_SASL_MECHANISM, ILLEGAL_SASL_STATE, SASL_AUTHENTICATION_FAILED = 33, 34, 58
RESOURCE_NOT_FOUND, DUPLICATE_RESOURCE, UNACCEPTABLE_CREDENTIAL = 91, 92, 93
SHA256, SHA512 = 1, 2


# ---- a minimal wire client -------------------------------------------------------------------

class Wire:
    def __init__(self, broker):
        self.s = socket.create_connection((broker.host, broker.kafka_port), timeout=10)
        self.corr = 0

    def send_raw(self, payload):
        self.s.sendall(struct.pack(">i", len(payload)) + payload)

    def recv_frame(self):
        head = self._read(4)
        if head is None:
            return None
        n = struct.unpack(">i", head)[0]
        return self._read(n)

    def _read(self, n):
        buf = b""
        while len(buf) < n:
            try:
                chunk = self.s.recv(n - len(buf))
            except (ConnectionResetError, socket.timeout):
                return None
            if not chunk:
                return None
            buf += chunk
        return buf

    def request(self, key, version, body, flex=False):
        """Sends a request, returns the response body (after the header) or None if closed."""
        self.corr += 1
        hdr = struct.pack(">hhih", key, version, self.corr, 4) + b"test" + (b"\x00" if flex else b"")
        self.send_raw(hdr + body)
        r = self.recv_frame()
        if r is None:
            return None
        assert struct.unpack(">i", r[:4])[0] == self.corr
        return r[5:] if flex else r[4:]

    def closed(self):
        self.s.settimeout(5)
        try:
            return self.s.recv(1) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def close(self):
        self.s.close()


def kbytes(b):
    return kb.i32(len(b)) + b


def handshake(w, mech, version=1):
    r = w.request(SASL_HANDSHAKE, version, kb.string(mech))
    if r is None:
        return None, []
    rd = kb.Reader(r)
    err = rd.i16()
    mechs = rd.array(rd.string)
    rd.end("SaslHandshake response")
    return err, mechs


def authenticate(w, token, version=1):
    """SaslAuthenticate v0/v1: (error, message, auth_bytes) or None if closed."""
    r = w.request(SASL_AUTHENTICATE, version, kbytes(token))
    if r is None:
        return None
    rd = kb.Reader(r)
    err, msg = rd.i16(), rd.string()
    auth = rd.take(rd.i32())
    if version >= 1:
        rd.i64()  # SessionLifetimeMs
    rd.end("SaslAuthenticate response")
    return err, msg, auth


def plain_login(broker, user, pw):
    w = Wire(broker)
    err, _ = handshake(w, "PLAIN")
    assert err == 0, err
    res = authenticate(w, b"\0" + user.encode() + b"\0" + pw.encode())
    assert res and res[0] == 0, res
    return w


def compact_bytes(b):
    return kb.uvarint(len(b) + 1) + b


def compact_nstring(rd):
    n = rd.uvarint()
    return None if n == 0 else rd.take(n - 1).decode()


def alter_scram(w, deletions, upsertions):
    body = kb.uvarint(len(deletions) + 1)
    for name, mech in deletions:
        body += kb.compact_string(name) + kb.i8(mech) + b"\x00"
    body += kb.uvarint(len(upsertions) + 1)
    for name, mech, it, salt, salted in upsertions:
        body += kb.compact_string(name) + kb.i8(mech) + kb.i32(it) + compact_bytes(salt)
        body += compact_bytes(salted) + b"\x00"
    body += b"\x00"
    rd = kb.Reader(w.request(ALTER_SCRAM, 0, body, flex=True))
    rd.i32()  # throttle

    def result():
        user, err, msg = compact_nstring(rd), rd.i16(), compact_nstring(rd)
        rd.tagged()
        return user, (err, msg)
    out = dict(rd.compact_array(result) or [])
    rd.tagged()
    rd.end("AlterUserScramCredentials response")
    return out


def describe_scram(w, users):
    body = (b"\x00" if users is None
            else kb.uvarint(len(users) + 1) + b"".join(kb.compact_string(u) + b"\x00" for u in users))
    body += b"\x00"
    rd = kb.Reader(w.request(DESCRIBE_SCRAM, 0, body, flex=True))
    rd.i32()  # throttle
    top = rd.i16()
    compact_nstring(rd)  # top-level message

    def info():
        mech, it = rd.i8(), rd.i32()
        rd.tagged()
        return mech, it

    def result():
        user, err = compact_nstring(rd), rd.i16()
        compact_nstring(rd)
        infos = rd.compact_array(info) or []
        rd.tagged()
        return user, (err, sorted(infos))
    out = dict(rd.compact_array(result) or [])
    rd.tagged()
    rd.end("DescribeUserScramCredentials response")
    return top, out


def salted_password(pw, salt, it, mech):
    return hashlib.pbkdf2_hmac("sha256" if mech == SHA256 else "sha512", pw.encode(), salt, it)


# ---- client helpers ------------------------------------------------------------------------------

def ck_conf(broker, mech, user, pw):
    return {"bootstrap.servers": broker.bootstrap, "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanisms": mech, "sasl.username": user, "sasl.password": pw}


def ck_roundtrip(ck, broker, mech, user, pw, topic, n=20):
    msgs = [(b"k%d" % i, os.urandom(1 + i * 37)) for i in range(n)]
    p = Producer(dict(ck_conf(broker, mech, user, pw), **{"acks": "all"}))
    reports = []
    for k, v in msgs:
        p.produce(topic, v, k, on_delivery=lambda e, m: reports.append((e, m.offset() if m else None)))
    left = p.flush(30)
    ck.eq(left, 0, "%s: messages left unflushed" % mech)
    ck.ok(all(e is None for e, _ in reports), "%s: delivery errors %s" % (mech, [e for e, _ in reports if e]))
    c = Consumer(dict(ck_conf(broker, mech, user, pw), **{"group.id": harness.unique("g"),
                                                            "enable.auto.commit": False}))
    first = min(o for _, o in reports)
    c.assign([TopicPartition(topic, 0, first)])
    got = []
    deadline = time.monotonic() + 30
    while len(got) < n and time.monotonic() < deadline:
        m = c.poll(1.0)
        if m is not None and not m.error():
            got.append((m.key(), m.value()))
    c.close()
    ck.eq(got, msgs, "%s: consumed records" % mech)


def ck_auth_error(ck, broker, mech, user, pw, want_text):
    errors = []
    p = Producer(dict(ck_conf(broker, mech, user, pw), **{"error_cb": lambda e: errors.append(e)}))
    deadline = time.monotonic() + 15
    while not any(e.code() == KafkaError._AUTHENTICATION for e in errors) and time.monotonic() < deadline:
        p.poll(0.2)
    auth = [e for e in errors if e.code() == KafkaError._AUTHENTICATION]
    ck.ok(auth, "%s wrong password: no _AUTHENTICATION error (got %s)" % (mech, errors))
    ck.ok(want_text in auth[0].str(), "%s: error text %r lacks %r" % (mech, auth[0].str(), want_text))


def body(ck):
    data_dir_users = os.path.join(os.environ.get("TMPDIR", "/tmp"), "sluice-sasl-users-%d" % os.getpid())
    salt = os.urandom(16)
    with open(data_dir_users, "w") as f:
        f.write("# PLAIN users\nalice:alice-secret\nbob:{PBKDF2-SHA512}4096:%s:%s\n"
                % (salt.hex(), hashlib.pbkdf2_hmac("sha512", b"bob-secret", salt, 4096).hex()))
    broker = harness.start_broker(["--kafka_sasl_mechanisms", "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
                                   "--kafka_sasl_users_file", data_dir_users,
                                   "--kafka_sasl_scram_bootstrap",
                                   "SCRAM-SHA-512=admin:admin-secret,SCRAM-SHA-256=admin:admin-secret"])
    if broker.external:
        harness.skip("needs its own SASL broker")
    topic = harness.unique("sasl")

    with ck.section("confluent-kafka: PLAIN (plain and hashed), SCRAM-SHA-256, SCRAM-SHA-512 round trips"):
        ck_roundtrip(ck, broker, "PLAIN", "alice", "alice-secret", topic)
        ck_roundtrip(ck, broker, "PLAIN", "bob", "bob-secret", topic)
        ck_roundtrip(ck, broker, "SCRAM-SHA-256", "admin", "admin-secret", topic)
        ck_roundtrip(ck, broker, "SCRAM-SHA-512", "admin", "admin-secret", topic)

    with ck.section("confluent-kafka: wrong passwords and unknown users are refused with the broker's message"):
        ck_auth_error(ck, broker, "PLAIN", "alice", "nope", "Invalid username or password")
        ck_auth_error(ck, broker, "SCRAM-SHA-512", "admin", "nope", "invalid credentials with SASL mechanism SCRAM-SHA-512")
        ck_auth_error(ck, broker, "SCRAM-SHA-256", "nobody", "x", "Invalid user credentials")

    with ck.section("kafka-python (SaslHandshake v0, raw tokens): PLAIN and SCRAM-SHA-512, wrong password"):
        try:
            import kafka
            from kafka.errors import KafkaError as KPError
        except ImportError as e:
            harness.skip("kafka-python missing: %s" % e)
        kt = harness.unique("saslkp")
        for mech, user, pw in (("PLAIN", "alice", "alice-secret"), ("SCRAM-SHA-512", "admin", "admin-secret")):
            conf = dict(bootstrap_servers=broker.bootstrap, security_protocol="SASL_PLAINTEXT",
                        sasl_mechanism=mech, sasl_plain_username=user, sasl_plain_password=pw)
            vals = [os.urandom(50 + i) for i in range(10)]
            p = kafka.KafkaProducer(acks="all", **conf)
            offs = [p.send(kt, v).get(timeout=20).offset for v in vals]
            p.close()
            c = kafka.KafkaConsumer(consumer_timeout_ms=5000, **conf)
            tp = kafka.TopicPartition(kt, 0)
            c.assign([tp])
            c.seek(tp, offs[0])
            got = []
            for m in c:
                got.append(m.value)
                if len(got) == len(vals):
                    break
            c.close()
            ck.eq(got, vals, "kafka-python %s records" % mech)
        raised = None
        try:
            p = kafka.KafkaProducer(bootstrap_servers=broker.bootstrap, security_protocol="SASL_PLAINTEXT",
                                    sasl_mechanism="SCRAM-SHA-512", sasl_plain_username="admin",
                                    sasl_plain_password="nope", api_version=(2, 0, 0), max_block_ms=5000)
            p.send(kt, b"x").get(timeout=5)
        except KPError as e:
            raised = e
        # kafka-python 2.0.2 authenticates after a v0 handshake: raw tokens have no error frame, so
        # the broker closes (as Kafka does) and the client times out reconnecting.
        ck.ok(isinstance(raised, kafka.errors.KafkaTimeoutError), "kafka-python wrong password: %r" % raised)
        print("     kafka-python with a wrong password: %s" % type(raised).__name__)

    with ck.section("kcat: SCRAM-SHA-512 produce and consume"):
        import subprocess
        import shutil
        if not shutil.which("kcat"):
            harness.skip("kcat missing")
        kt = harness.unique("saslkcat")
        sasl = ["-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=SCRAM-SHA-512",
                "-X", "sasl.username=admin", "-X", "sasl.password=admin-secret"]
        lines = ["line-%d-%s" % (i, os.urandom(8).hex()) for i in range(5)]
        subprocess.run(["kcat", "-b", broker.bootstrap, "-P", "-t", kt] + sasl, input="\n".join(lines) + "\n",
                       text=True, check=True, timeout=30)
        out = subprocess.run(["kcat", "-b", broker.bootstrap, "-C", "-t", kt, "-e", "-q"] + sasl,
                             capture_output=True, text=True, timeout=30)
        ck.eq(out.stdout.splitlines(), lines, "kcat consumed lines")

    with ck.section("kafkajs: PLAIN, SCRAM-SHA-512, SCRAM-SHA-256 round trips, wrong password"):
        import shutil
        import subprocess
        here = os.path.dirname(os.path.abspath(__file__))
        if not shutil.which("node") or not os.path.exists(os.path.join(here, "node_modules", "kafkajs")):
            harness.skip("node or node_modules/kafkajs missing (scripts/setup.sh)")
        out = subprocess.run(["node", os.path.join(here, "kafka_sasl_kafkajs.js")], capture_output=True, text=True,
                             timeout=90, env=dict(os.environ, SLUICE_KAFKA_BOOTSTRAP=broker.bootstrap))
        print("     " + out.stdout.strip().replace("\n", "\n     "))
        ck.eq(out.returncode, 0, "kafkajs: %s" % out.stderr[-500:])

    with ck.section("a client without SASL: ApiVersions lists the SASL APIs, Metadata closes the connection"):
        w = Wire(broker)
        r = w.request(API_VERSIONS, 0, b"")
        n = struct.unpack(">i", r[2:6])[0]
        keys = {struct.unpack(">h", r[6 + 6 * i:8 + 6 * i])[0] for i in range(n)}
        ck.ok({SASL_HANDSHAKE, SASL_AUTHENTICATE, DESCRIBE_SCRAM, ALTER_SCRAM} <= keys, "advertised keys %s" % keys)
        ck.eq(w.request(METADATA, 1, struct.pack(">i", -1)), None, "Metadata before authentication")
        w.close()
        plain = harness.start_broker()
        w = Wire(plain)
        r = w.request(API_VERSIONS, 0, b"")
        n = struct.unpack(">i", r[2:6])[0]
        keys = {struct.unpack(">h", r[6 + 6 * i:8 + 6 * i])[0] for i in range(n)}
        ck.ok(SASL_HANDSHAKE not in keys and SASL_AUTHENTICATE not in keys, "SASL APIs advertised without SASL")
        ck.eq(w.request(SASL_HANDSHAKE, 1, kb.string("PLAIN")), None, "SaslHandshake on a broker without SASL")
        w.close()
        plain.stop()

    with ck.section("AlterUserScramCredentials / DescribeUserScramCredentials, Kafka's error codes"):
        w = plain_login(broker, "alice", "alice-secret")
        s1, s2 = os.urandom(24), os.urandom(20)
        res = alter_scram(w, [("ghost", SHA512)], [
            ("carol", SHA512, 8192, s1, salted_password("carol-secret", s1, 8192, SHA512)),
            ("carol", SHA256, 4096, s2, salted_password("carol-256", s2, 4096, SHA256)),
            ("weak", SHA512, 100, s1, salted_password("x", s1, 100, SHA512)),
            ("odd", 0, 4096, s1, salted_password("x", s1, 4096, SHA512)),
            ("dup", SHA512, 4096, s1, salted_password("x", s1, 4096, SHA512)),
            ("dup", SHA512, 4096, s1, salted_password("x", s1, 4096, SHA512))])
        ck.eq(res["carol"], (0, None), "alter carol")
        ck.eq(res["ghost"][0], RESOURCE_NOT_FOUND, "delete a credential that does not exist")
        ck.eq(res["weak"][0], UNACCEPTABLE_CREDENTIAL, "100 iterations")
        ck.eq(res["odd"][0], UNSUPPORTED_SASL_MECHANISM, "mechanism 0")
        ck.eq(res["dup"][0], DUPLICATE_RESOURCE, "the same credential twice")
        top, d = describe_scram(w, ["carol", "admin", "weak"])
        ck.eq(top, 0, "describe: top-level error")
        ck.eq(d["carol"], (0, [(SHA256, 4096), (SHA512, 8192)]), "describe carol")
        ck.eq(d["admin"], (0, [(SHA256, 4096), (SHA512, 4096)]), "describe admin")
        ck.eq(d["weak"][0], RESOURCE_NOT_FOUND, "describe a user without credentials")
        top, d = describe_scram(w, None)
        ck.eq(sorted(d), ["admin", "carol"], "describe all users")
        w.close()
        ck_roundtrip(ck, broker, "SCRAM-SHA-512", "carol", "carol-secret", topic, n=5)
        ck_roundtrip(ck, broker, "SCRAM-SHA-256", "carol", "carol-256", topic, n=5)
        w = plain_login(broker, "alice", "alice-secret")
        ck.eq(alter_scram(w, [("carol", SHA256)], [])["carol"], (0, None), "delete carol's SCRAM-SHA-256")
        ck.eq(describe_scram(w, ["carol"])[1]["carol"], (0, [(SHA512, 8192)]), "carol after the deletion")
        w.close()
        ck_auth_error(ck, broker, "SCRAM-SHA-256", "carol", "carol-256", "Invalid user credentials")

    with ck.section("malformed SASL: an error code and a close, never a crash"):
        w = Wire(broker)
        ck.eq(authenticate(w, b"n,,n=admin,r=abc")[0], ILLEGAL_SASL_STATE, "SaslAuthenticate before a handshake")
        ck.ok(w.closed(), "closed after ILLEGAL_SASL_STATE")
        w = Wire(broker)
        err, mechs = handshake(w, "GSSAPI")
        ck.eq((err, mechs), (UNSUPPORTED_SASL_MECHANISM, ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]),
              "unknown mechanism")
        ck.ok(w.closed(), "closed after UNSUPPORTED_SASL_MECHANISM")
        bad_first = [b"", b"garbage", b"n,,n=admin", b"n,,n=admin,r=", b"p=tls,,n=admin,r=abc", b"n,,n=a=zz,r=abc",
                     b"n,,n=admin,r=" + b"x" * 100000, b"\xff" * 64]
        for tok in bad_first:
            w = Wire(broker)
            handshake(w, "SCRAM-SHA-512")
            res = authenticate(w, tok)
            ck.eq(res[0] if res else None, SASL_AUTHENTICATION_FAILED, "client-first %r" % tok[:30])
            ck.ok(w.closed(), "closed after a bad client-first %r" % tok[:30])
        # A well-formed exchange with a wrong nonce, then with a wrong proof.
        for what in ("nonce", "proof", "truncated"):
            w = Wire(broker)
            handshake(w, "SCRAM-SHA-512")
            err, _, sf = authenticate(w, b"n,,n=admin,r=clientnonce")
            ck.eq(err, 0, "client-first")
            attrs = dict(a.split("=", 1) for a in sf.decode().split(","))
            nonce = attrs["r"] if what != "nonce" else "clientnonceXYZ"
            final = ("c=biws,r=%s,p=%s" % (nonce, base64.b64encode(os.urandom(64)).decode())).encode()
            if what == "truncated":
                final = final[:12]
            res = authenticate(w, final)
            ck.eq(res[0] if res else None, SASL_AUTHENTICATION_FAILED, "client-final with a bad %s" % what)
            ck.ok(w.closed(), "closed after a bad %s" % what)
        # v0: raw tokens, a bad one is a close without an answer.
        w = Wire(broker)
        ck.eq(handshake(w, "PLAIN", version=0)[0], 0, "SaslHandshake v0")
        w.send_raw(b"\0alice\0wrong")
        ck.ok(w.recv_frame() is None, "raw PLAIN with a wrong password: closed")
        ck.ok(broker.alive(), "broker alive after the malformed exchanges")
        # A correct SCRAM exchange over the wire, server signature checked.
        w = Wire(broker)
        handshake(w, "SCRAM-SHA-256")
        bare = "n=admin,r=wirenonce"
        err, _, sf = authenticate(w, ("n,," + bare).encode())
        attrs = dict(a.split("=", 1) for a in sf.decode().split(","))
        sp = hashlib.pbkdf2_hmac("sha256", b"admin-secret", base64.b64decode(attrs["s"]), int(attrs["i"]))
        ckey = hmac.new(sp, b"Client Key", "sha256").digest()
        wo = "c=biws,r=" + attrs["r"]
        auth = (bare + "," + sf.decode() + "," + wo).encode()
        proof = bytes(a ^ b for a, b in zip(ckey, hmac.new(hashlib.sha256(ckey).digest(), auth, "sha256").digest()))
        err, _, sfin = authenticate(w, (wo + ",p=" + base64.b64encode(proof).decode()).encode())
        ck.eq(err, 0, "wire SCRAM-SHA-256")
        skey = hmac.new(sp, b"Server Key", "sha256").digest()
        ck.eq(sfin, b"v=" + base64.b64encode(hmac.new(skey, auth, "sha256").digest()), "server-final")
        ck.ok(w.request(METADATA, 1, struct.pack(">i", -1)) is not None, "Metadata after authentication")
        w.close()

    with ck.section("KIP-368: session lifetime, re-authentication on the live connection, expiry closes"):
        short = harness.start_broker(["--kafka_sasl_mechanisms", "PLAIN", "--kafka_sasl_users_file", data_dir_users,
                                      "--kafka_sasl_session_lifetime_ms", "1500"])
        w = Wire(short)
        handshake(w, "PLAIN")
        r = w.request(SASL_AUTHENTICATE, 1, kbytes(b"\0alice\0alice-secret"))
        ck.eq(struct.unpack(">hh", r[:4]), (0, -1), "SaslAuthenticate v1: no error, null message")
        ck.eq(struct.unpack(">q", r[-8:])[0], 1500, "SessionLifetimeMs")
        time.sleep(1.0)
        ck.eq(handshake(w, "PLAIN")[0], 0, "re-authentication handshake")
        ck.eq(authenticate(w, b"\0alice\0alice-secret")[0], 0, "re-authentication")
        time.sleep(1.0)
        ck.ok(w.request(METADATA, 1, struct.pack(">i", -1)) is not None, "Metadata inside the renewed session")
        handshake(w, "PLAIN")
        ck.eq(authenticate(w, b"\0bob\0bob-secret")[0], SASL_AUTHENTICATION_FAILED, "re-authentication as another user")
        ck.ok(w.closed(), "closed after a re-authentication as another user")
        w = plain_login(short, "alice", "alice-secret")
        time.sleep(1.7)
        ck.eq(w.request(METADATA, 1, struct.pack(">i", -1)), None, "Metadata after the session expired")
        short.stop()

    with ck.section("kill -9 keeps the SCRAM credentials"):
        broker.restart(kill=True)
        ck_roundtrip(ck, broker, "SCRAM-SHA-512", "carol", "carol-secret", topic, n=3)
        w = plain_login(broker, "alice", "alice-secret")
        ck.eq(describe_scram(w, ["carol"])[1]["carol"], (0, [(SHA512, 8192)]), "carol after kill -9")
        w.close()
    os.unlink(data_dir_users)


if __name__ == "__main__":
    harness.run("kafka_sasl_test", body, modules=["confluent_kafka"], time_limit=110)
