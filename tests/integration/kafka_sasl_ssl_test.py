#!/usr/bin/python3
"""kafka_sasl_ssl_test: SASL_SSL (kafka_tls with kafka_sasl_mechanisms) and SSL with real clients.

Certificates come from the openssl CLI (tls_test.make_certs): a CA, a server certificate for
localhost/127.0.0.1 and a client certificate, plus a second CA with its own client certificate.

Broker A, SASL_SSL with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512: kcat (PLAIN in, SCRAM-SHA-512
out), confluent-kafka-python, kafka-python (SaslHandshake v0, raw tokens under TLS), kafkajs
(kafka_tls_kafkajs.js) and sarama 1.22 (kafka_tls_sarama.go, PLAIN at v0 and v1, both SCRAMs with
Debian's xdg-go/scram) each with PLAIN and SCRAM-SHA-512: produce, then consume, every offset and byte
compared; a wrong password refused with each client's error; a client speaking TLS without SASL
closed at Metadata; a plaintext client closed; half a ClientHello closed by the TLS timeout while
another client is served.

Broker B, SSL with tls_verify (mTLS): kafka-python, kafkajs and sarama with the client certificate,
content-exact; a client whose certificate comes from the other CA, and one without a certificate,
fail the handshake, and the broker serves the next client.
"""
import os
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from tls_test import make_certs, read_until_close  # noqa: E402

GOCODE = "/usr/share/gocode"


def run(args, timeout=60, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)


def build_sarama(tmp):
    """kafka_tls_sarama.go in GOPATH mode against Debian's sarama and xdg-go/scram; None if missing."""
    if not shutil.which("go"):
        return None, "go not installed"
    for pkg in ("github.com/Shopify/sarama", "github.com/xdg-go/scram"):
        if not os.path.isdir(os.path.join(GOCODE, "src", pkg)):
            return None, "%s missing (scripts/setup.sh)" % pkg
    gopath = os.path.join(tmp, "gopath")
    os.makedirs(os.path.join(gopath, "src", "sluice_tls_sarama"))
    shutil.copy(os.path.join(HERE, "kafka_tls_sarama.go"), os.path.join(gopath, "src", "sluice_tls_sarama", "main.go"))
    env = dict(os.environ, GO111MODULE="off", GOFLAGS="", GOPATH=gopath + ":" + GOCODE,
               CGO_CFLAGS="-O2 -Wno-deprecated-declarations",
               GOCACHE=os.environ.get("GOCACHE", os.path.join(tmp, "go-cache")))
    out = os.path.join(tmp, "kafka_tls_sarama")
    r = run(["go", "build", "-o", out, "sluice_tls_sarama"], timeout=240, env=env, cwd=gopath)
    if r.returncode != 0:
        raise harness.CheckFailed("go build: %s" % r.stderr[-2000:])
    return out, None


def ck_conf(boot, d, mech=None, user=None, pw=None):
    c = {"bootstrap.servers": boot, "ssl.ca.location": d + "/ca.pem"}
    if mech:
        c.update({"security.protocol": "SASL_SSL", "sasl.mechanisms": mech, "sasl.username": user,
                  "sasl.password": pw})
    else:
        c["security.protocol"] = "SSL"
    return c


def confluent_roundtrip(ck, conf, topic, label, n=25):
    from confluent_kafka import Consumer, Producer, TopicPartition
    msgs = [(b"k%d" % i, os.urandom(1 + (i * 7919) % 40000)) for i in range(n)]
    p = Producer(dict(conf, **{"acks": "all", "linger.ms": 5}))
    reports = []
    for k, v in msgs:
        p.produce(topic, v, k, partition=0, on_delivery=lambda e, m: reports.append((e, m.offset() if m else None)))
    ck.eq(p.flush(30), 0, "%s: messages left unflushed" % label)
    ck.ok(all(e is None for e, _ in reports), "%s: delivery errors %s" % (label, [e for e, _ in reports if e]))
    offs = [o for _, o in reports]
    ck.eq(offs, list(range(offs[0], offs[0] + n)), "%s: offsets of the deliveries" % label)
    c = Consumer(dict(conf, **{"group.id": harness.unique("g"), "enable.auto.commit": False}))
    c.assign([TopicPartition(topic, 0, offs[0])])
    got = []
    deadline = time.monotonic() + 30
    while len(got) < n and time.monotonic() < deadline:
        m = c.poll(1.0)
        if m is not None:
            ck.ok(m.error() is None, "%s: consume error %s" % (label, m.error()))
            got.append((m.offset(), m.key(), m.value()))
    c.close()
    ck.eq(got, [(offs[0] + i, k, v) for i, (k, v) in enumerate(msgs)], "%s: consumed (offset, key, value)" % label)


def kp_roundtrip(ck, conf, topic, label, n=20):
    import kafka
    vals = [os.urandom(1 + (i * 4099) % 30000) for i in range(n)]
    p = kafka.KafkaProducer(acks="all", **conf)
    offs = [p.send(topic, v, partition=0).get(timeout=20).offset for v in vals]
    p.close()
    ck.eq(offs, list(range(offs[0], offs[0] + n)), "%s: offsets" % label)
    c = kafka.KafkaConsumer(consumer_timeout_ms=5000, **conf)
    tp = kafka.TopicPartition(topic, 0)
    c.assign([tp])
    c.seek(tp, offs[0])
    got = []
    for m in c:
        got.append((m.offset, m.value))
        if len(got) == n:
            break
    c.close()
    ck.eq(got, list(zip(offs, vals)), "%s: consumed (offset, value)" % label)


def node_ok():
    return shutil.which("node") and os.path.exists(os.path.join(HERE, "node_modules", "kafkajs"))


def kafkajs(ck, args, label):
    r = run(["node", os.path.join(HERE, "kafka_tls_kafkajs.js")] + args, timeout=90)
    print("     " + r.stdout.strip().replace("\n", "\n     "))
    ck.eq(r.returncode, 0, "kafkajs %s: %s" % (label, r.stderr[-600:]))


def sarama(ck, prog, args, label):
    r = run([prog] + args, timeout=60)
    print("     sarama %s: %s" % (label, r.stdout.strip()))
    ck.eq(r.returncode, 0, "sarama %s: %s" % (label, r.stderr[-600:]))


def api_versions_frame():
    body = b"\x00\x12\x00\x00\x00\x00\x00\x01\x00\x01x"  # ApiVersions v0, correlation 1, client "x"
    return struct.pack(">i", len(body)) + body


def metadata_frame():
    body = struct.pack(">hhih", 3, 1, 2, 1) + b"x" + struct.pack(">i", -1)  # Metadata v1, all topics
    return struct.pack(">i", len(body)) + body


def tls_client(port, ctx):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    return ctx.wrap_socket(s, server_hostname="localhost")


def recv_frame(t):
    head = b""
    while len(head) < 4:
        d = t.recv(4 - len(head))
        if not d:
            return None
        head += d
    n = struct.unpack(">i", head)[0]
    buf = b""
    while len(buf) < n:
        d = t.recv(n - len(buf))
        if not d:
            return None
        buf += d
    return buf


def truncated_client_hello(port):
    """A socket that sent half of a real ClientHello, and nothing more."""
    out = ssl.MemoryBIO()
    obj = ssl.create_default_context().wrap_bio(ssl.MemoryBIO(), out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = out.read()
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(hello[:len(hello) // 2])
    return s


def refused_handshake(port, ctx):
    """True if a TLS client with ctx cannot get a Kafka answer: the handshake fails, or (TLS 1.3,
    where the client's side ends before the server has checked its certificate) the first read
    finds the connection closed."""
    try:
        t = tls_client(port, ctx)
        t.sendall(api_versions_frame())
        t.settimeout(5)
        return recv_frame(t) is None
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        return True


def body(ck):
    with harness.scratch_dir("sluice-sasl-ssl-") as d:
        run_all(ck, d)


def run_all(ck, d):
    harness.needs_own_broker("needs its own TLS brokers")
    make_certs(d)
    os.mkdir(d + "/other")
    make_certs(d + "/other", "-other")
    prog, why = build_sarama(d)
    users = d + "/users"
    with open(users, "w") as f:
        f.write("alice:alice-secret\n")
    tls = ["--kafka_tls", "--tlscert", d + "/server.pem", "--tlskey", d + "/server.key", "--tlscacert", d + "/ca.pem"]
    a = harness.start_broker(tls + ["--kafka_sasl_mechanisms", "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
                                    "--kafka_sasl_users_file", users, "--kafka_sasl_scram_bootstrap",
                                    "SCRAM-SHA-512=admin:admin-secret,SCRAM-SHA-256=admin:admin-256"])
    boot = a.bootstrap
    creds = (("PLAIN", "alice", "alice-secret"), ("SCRAM-SHA-512", "admin", "admin-secret"))

    with ck.section("kcat over SASL_SSL: produced with PLAIN, consumed with SCRAM-SHA-512, every line"):
        if not shutil.which("kcat"):
            harness.skip("kcat not installed")
        topic = harness.unique("kcat-sasl-ssl")
        x = ["-X", "security.protocol=SASL_SSL", "-X", "ssl.ca.location=" + d + "/ca.pem"]
        plain = x + ["-X", "sasl.mechanisms=PLAIN", "-X", "sasl.username=alice", "-X", "sasl.password=alice-secret"]
        scram = x + ["-X", "sasl.mechanisms=SCRAM-SHA-512", "-X", "sasl.username=admin", "-X",
                     "sasl.password=admin-secret"]
        lines = ["line-%03d-%s" % (i, os.urandom(1 + i * 13).hex()) for i in range(200)]
        r = run(["kcat", "-b", boot, "-P", "-t", topic, "-p", "0"] + plain, input="\n".join(lines) + "\n")
        ck.eq(r.returncode, 0, "kcat produce: %s" % r.stderr[-300:])
        r = run(["kcat", "-b", boot, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q", "-f", "%o %s\n"]
                + scram)
        ck.eq(r.stdout.splitlines(), ["%d %s" % (i, v) for i, v in enumerate(lines)], "kcat consumed offset + line")
        r = run(["kcat", "-b", boot, "-L", "-m", "5", "-X", "security.protocol=SASL_SSL", "-X",
                 "ssl.ca.location=" + d + "/ca.pem", "-X", "sasl.mechanisms=PLAIN", "-X", "sasl.username=alice",
                 "-X", "sasl.password=wrong"])
        ck.ok(r.returncode != 0 and "Invalid username or password" in r.stderr,
              "kcat with a wrong password: rc %d, %s" % (r.returncode, r.stderr[-300:]))

    with ck.section("confluent-kafka over SASL_SSL: PLAIN and SCRAM-SHA-512, every offset and byte; wrong password"):
        from confluent_kafka import KafkaError, Producer
        topic = harness.unique("ck-sasl-ssl")
        for mech, user, pw in creds:
            confluent_roundtrip(ck, ck_conf(boot, d, mech, user, pw), topic, "confluent " + mech)
        errors = []
        p = Producer(dict(ck_conf(boot, d, "SCRAM-SHA-512", "admin", "nope"), error_cb=errors.append))
        deadline = time.monotonic() + 15
        while not any(e.code() == KafkaError._AUTHENTICATION for e in errors) and time.monotonic() < deadline:
            p.poll(0.2)
        auth = [e for e in errors if e.code() == KafkaError._AUTHENTICATION]
        ck.ok(auth and "invalid credentials with SASL mechanism SCRAM-SHA-512" in auth[0].str(),
              "wrong SCRAM password over TLS: %s" % errors)
        del p  # destroys the client: it would go on retrying in the background

    with ck.section("kafka-python over SASL_SSL (SaslHandshake v0: raw tokens inside TLS): PLAIN and SCRAM-SHA-512"):
        try:
            import kafka  # noqa: F401
        except ImportError as e:
            harness.skip("kafka-python missing: %s" % e)
        topic = harness.unique("kp-sasl-ssl")
        for mech, user, pw in creds:
            conf = dict(bootstrap_servers=boot, security_protocol="SASL_SSL", ssl_cafile=d + "/ca.pem",
                        sasl_mechanism=mech, sasl_plain_username=user, sasl_plain_password=pw)
            kp_roundtrip(ck, conf, topic, "kafka-python " + mech)

    with ck.section("kafkajs over SASL_SSL: PLAIN and SCRAM-SHA-512, every offset and byte; wrong password"):
        if not node_ok():
            harness.skip("node or node_modules/kafkajs missing (scripts/setup.sh)")
        for mech, user, pw in creds:
            kafkajs(ck, [boot, "sasl", d + "/ca.pem", mech.lower(), user, pw], mech)
        kafkajs(ck, [boot, "sasl", d + "/ca.pem", "plain", "alice", "nope", "wrong"], "wrong password")

    with ck.section("sarama over SASL_SSL: PLAIN (v0 raw and v1), SCRAM-SHA-512, SCRAM-SHA-256; wrong password"):
        if not prog:
            harness.skip(why)
        topic = harness.unique("sarama-sasl-ssl")
        sarama(ck, prog, [boot, d + "/ca.pem", topic, "sasl", "PLAIN", "alice", "alice-secret", "0.11.0.0"], "PLAIN v0")
        sarama(ck, prog, [boot, d + "/ca.pem", topic, "sasl", "PLAIN", "alice", "alice-secret", "1.0.0"], "PLAIN v1")
        sarama(ck, prog, [boot, d + "/ca.pem", topic, "sasl", "SCRAM-SHA-512", "admin", "admin-secret", "1.0.0"],
               "SCRAM-SHA-512")
        sarama(ck, prog, [boot, d + "/ca.pem", topic, "sasl", "SCRAM-SHA-256", "admin", "admin-256", "1.0.0"],
               "SCRAM-SHA-256")
        sarama(ck, prog, [boot, d + "/ca.pem", topic, "refused", "SCRAM-SHA-512", "admin", "nope"], "wrong password")

    with ck.section("TLS without SASL is closed at Metadata; plaintext gets no answer; a truncated ClientHello is "
                    "closed by the TLS timeout while others are served"):
        t0 = time.monotonic()
        half = truncated_client_hello(a.kafka_port)
        ctx = ssl.create_default_context(cafile=d + "/ca.pem")
        t = tls_client(a.kafka_port, ctx)
        t.sendall(api_versions_frame())
        r = recv_frame(t)
        ck.ok(r is not None and r[:4] == b"\x00\x00\x00\x01", "ApiVersions over TLS before SASL is answered")
        t.sendall(metadata_frame())
        t.settimeout(5)
        try:
            ck.eq(recv_frame(t), None, "Metadata before authentication closes the connection")
        except (ssl.SSLError, ConnectionResetError):
            pass
        s = socket.create_connection(("127.0.0.1", a.kafka_port), timeout=5)
        s.sendall(api_versions_frame())
        try:
            got = read_until_close(s)
            ck.ok(not got.startswith(b"\x00\x00"), "no Kafka answer in the clear: %r" % got[:20])
        except ConnectionResetError:
            pass
        confluent_roundtrip(ck, ck_conf(boot, d, "PLAIN", "alice", "alice-secret"), harness.unique("ck-during"),
                            "confluent PLAIN while a handshake hangs", n=5)
        try:
            rest = read_until_close(half, timeout=8)
        except ConnectionResetError:
            rest = b""
        waited = time.monotonic() - t0
        ck.ok(rest == b"" and waited < 8, "truncated handshake: %r after %.1f s" % (rest[:20], waited))
        print("     truncated ClientHello closed after %.1f s" % waited)
        ck.ok(a.alive(), "broker A alive")
    a.stop()

    b = harness.start_broker(tls + ["--tlsverify"])
    boot = b.bootstrap
    with ck.section("mTLS: a certificate from another CA, or none, fails the handshake; the next client is served"):
        other = ssl.create_default_context(cafile=d + "/ca.pem")
        other.load_cert_chain(d + "/other/client.pem", d + "/other/client.key")
        ck.ok(refused_handshake(b.kafka_port, other), "a client certificate from another CA is refused")
        ck.ok(refused_handshake(b.kafka_port, ssl.create_default_context(cafile=d + "/ca.pem")),
              "a client without a certificate is refused")
        if shutil.which("kcat"):
            r = run(["kcat", "-b", boot, "-L", "-m", "3", "-X", "security.protocol=SSL", "-X",
                     "ssl.ca.location=" + d + "/ca.pem", "-X", "ssl.certificate.location=" + d + "/other/client.pem",
                     "-X", "ssl.key.location=" + d + "/other/client.key"])
            ck.ok(r.returncode != 0 and "1 brokers" not in r.stdout, "kcat with another CA's certificate refused")
        good = ssl.create_default_context(cafile=d + "/ca.pem")
        good.load_cert_chain(d + "/client.pem", d + "/client.key")
        t = tls_client(b.kafka_port, good)
        t.sendall(api_versions_frame())
        r = recv_frame(t)
        ck.ok(r is not None and r[:4] == b"\x00\x00\x00\x01", "the right certificate is served")
        t.close()
        ck.ok(b.alive(), "broker B alive")

    with ck.section("confluent-kafka over SSL with a client certificate (mTLS), every offset and byte"):
        conf = dict(ck_conf(boot, d), **{"ssl.certificate.location": d + "/client.pem",
                                         "ssl.key.location": d + "/client.key"})
        confluent_roundtrip(ck, conf, harness.unique("ck-mtls"), "confluent mTLS")

    with ck.section("kafka-python over SSL with a client certificate (mTLS), every offset and byte"):
        try:
            import kafka  # noqa: F401
        except ImportError as e:
            harness.skip("kafka-python missing: %s" % e)
        conf = dict(bootstrap_servers=boot, security_protocol="SSL", ssl_cafile=d + "/ca.pem",
                    ssl_certfile=d + "/client.pem", ssl_keyfile=d + "/client.key")
        kp_roundtrip(ck, conf, harness.unique("kp-ssl"), "kafka-python SSL")

    with ck.section("kafkajs over SSL with a client certificate (mTLS), every offset and byte"):
        if not node_ok():
            harness.skip("node or node_modules/kafkajs missing (scripts/setup.sh)")
        kafkajs(ck, [boot, "ssl", d + "/ca.pem", d + "/client.pem", d + "/client.key"], "ssl")

    with ck.section("sarama over SSL with a client certificate (mTLS), every offset and byte"):
        if not prog:
            harness.skip(why)
        sarama(ck, prog, [boot, d + "/ca.pem", harness.unique("sarama-ssl"), "ssl", d + "/client.pem",
                          d + "/client.key"], "SSL")
    ck.ok(b.alive(), "broker B alive at the end")


if __name__ == "__main__":
    harness.run("kafka_sasl_ssl_test", body, modules=["confluent_kafka"], time_limit=110)
