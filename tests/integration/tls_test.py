"""tls_test.py: TLS on the Kafka, NATS and monitoring ports with real clients.

Certificates are made by the openssl CLI into a temporary directory: a CA, a server certificate
for localhost/127.0.0.1 and a client certificate. NATS behaviour (INFO in the clear with
tls_required, then the handshake; a plaintext client closed; mTLS refusing a client without a
certificate) is checked against nats-server 2.9.10 first, then against Sluice. Kafka over SSL with
kcat and confluent-kafka-python, content-exact, with a 5 MB Fetch (more than the connection's
64 KiB encryption batches); monitoring over https with curl; garbage on each TLS port closes that
connection and the broker stays up; SIGHUP reloads the certificate.
"""
import json
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

ck = harness.Checker("tls")


def sh(args, **kw):
    return subprocess.run(args, check=True, capture_output=True, timeout=60, **kw)


def make_certs(d, cn_suffix=""):
    sh(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", d + "/ca.key", "-out",
        d + "/ca.pem", "-days", "2", "-subj", "/CN=sluice-test-ca" + cn_suffix])
    with open(d + "/ext", "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for name in ("server", "client"):
        sh(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "%s/%s.key" % (d, name), "-out",
            "%s/%s.csr" % (d, name), "-subj", "/CN=" + ("localhost" if name == "server" else "client")])
        sh(["openssl", "x509", "-req", "-in", "%s/%s.csr" % (d, name), "-CA", d + "/ca.pem", "-CAkey",
            d + "/ca.key", "-CAcreateserial", "-out", "%s/%s.pem" % (d, name), "-days", "2", "-extfile", d + "/ext"])


def recv_line(s, timeout=5.0):
    s.settimeout(timeout)
    buf = b""
    while not buf.endswith(b"\r\n"):
        d = s.recv(1)
        if not d:
            raise harness.CheckFailed("connection closed before a line: %r" % buf)
        buf += d
    return buf


def read_until_close(s, timeout=5.0):
    """Bytes until EOF; fails if the peer keeps the connection open past timeout (a hang)."""
    s.settimeout(timeout)
    out = b""
    t0 = time.monotonic()
    try:
        while True:
            d = s.recv(65536)
            if not d:
                return out
            out += d
    except ConnectionResetError:
        return out
    except socket.timeout:
        raise harness.CheckFailed("connection still open after %.1f s (got %r)" % (time.monotonic() - t0, out[:80]))


def client_ctx(d, cert=True):
    ctx = ssl.create_default_context(cafile=d + "/ca.pem")
    if cert:
        ctx.load_cert_chain(d + "/client.pem", d + "/client.key")
    return ctx


def nats_tls_session(port, d, cert, verify):
    """INFO in the clear, handshake, then a round trip through the server (SUB, PUB, MSG)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    info = recv_line(s)
    ck.ok(info.startswith(b"INFO "), "INFO first, in the clear: %r" % info[:40])
    j = json.loads(info[5:].strip())
    ck.eq(j.get("tls_required"), True, "INFO tls_required")
    ck.eq(j.get("tls_verify", False), verify, "INFO tls_verify")
    t = client_ctx(d, cert).wrap_socket(s, server_hostname="localhost")
    payload = os.urandom(100000)
    t.sendall(b'CONNECT {"verbose":false,"pedantic":false,"tls_required":true}\r\nSUB t.x 1\r\n'
              b"PUB t.x %d\r\n" % len(payload) + payload + b"\r\nPING\r\n")
    buf = b""
    t.settimeout(5)
    deadline = time.monotonic() + 5
    while b"PONG\r\n" not in buf and time.monotonic() < deadline:
        d_ = t.recv(65536)
        if not d_:
            break
        buf += d_
    want = b"MSG t.x 1 %d\r\n" % len(payload) + payload + b"\r\nPONG\r\n"
    ck.ok(buf == want, "MSG over TLS, every byte (%d bytes back, want %d)" % (len(buf), len(want)))
    t.close()


def nats_refused_without_cert(port, d):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    recv_line(s)
    try:
        t = client_ctx(d, cert=False).wrap_socket(s, server_hostname="localhost")
        # TLS 1.3: the server's refusal arrives after the client's side of the handshake ended.
        t.sendall(b"CONNECT {}\r\nPING\r\n")
        got = read_until_close(t)
        ck.ok(b"PONG" not in got, "no PONG without a client certificate: %r" % got[:80])
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        pass


def nats_plaintext_closed(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    recv_line(s)
    s.sendall(b"CONNECT {}\r\nPING\r\n")
    got = read_until_close(s)
    ck.ok(b"PONG" not in got, "a plaintext client gets no PONG: %r" % got[:80])


GO_BIN = None


def build_go(tmp):
    """Builds tls_nats_go.go in GOPATH mode against Debian's nats.go; None if Go is missing."""
    gocode = "/usr/share/gocode"
    if not shutil.which("go") or not os.path.isdir(gocode + "/src/github.com/nats-io/nats.go"):
        return None
    gopath = tmp + "/gopath"
    os.makedirs(gopath + "/src/sluice_tls_go")
    shutil.copy(os.path.join(os.path.dirname(os.path.abspath(__file__)), "tls_nats_go.go"),
                gopath + "/src/sluice_tls_go/main.go")
    env = dict(os.environ, GO111MODULE="off", GOFLAGS="", GOPATH=gopath + ":" + gocode,
               GOCACHE=os.environ.get("GOCACHE", tmp + "/go-cache"))
    subprocess.run(["go", "build", "-o", tmp + "/tls_nats_go", "sluice_tls_go"], check=True, env=env,
                   timeout=110, cwd=gopath)
    return tmp + "/tls_nats_go"


def nats_go(port, d, verify):
    if not GO_BIN:
        harness.skip("go or nats.go not installed")
    url = "tls://localhost:%d" % port
    r = subprocess.run([GO_BIN, url, d + "/ca.pem", d + "/client.pem", d + "/client.key"], capture_output=True,
                       timeout=60)
    ck.ok(r.returncode == 0, "nats.go over TLS: %s %s" % (r.stdout.decode()[-300:], r.stderr.decode()[-300:]))
    if verify:
        r = subprocess.run([GO_BIN, url, d + "/ca.pem", "-nocert-refused"], capture_output=True, timeout=60)
        ck.ok(r.returncode == 0, "nats.go refused without a certificate: %s" % r.stderr.decode()[-300:])


def nats_checks(port, d, verify, who):
    with ck.section("%s: NATS over TLS (verify=%s)" % (who, verify)):
        nats_tls_session(port, d, cert=True, verify=verify)
    with ck.section("%s: nats.go over TLS (verify=%s)" % (who, verify)):
        nats_go(port, d, verify)
    with ck.section("%s: plaintext client on the TLS port is closed" % who):
        nats_plaintext_closed(port)
    if verify:
        with ck.section("%s: mTLS refuses a client without a certificate" % who):
            nats_refused_without_cert(port, d)


def wait_port(port, proc):
    if not harness.wait_port("127.0.0.1", port, 10, proc):
        raise harness.CheckFailed("port %d not open" % port)


def reference(d, verify):
    binary = shutil.which("nats-server")
    if not binary:
        harness.skip("nats-server not installed")
    port = harness.free_ports(1)[0]
    args = [binary, "-a", "127.0.0.1", "-p", str(port), "--tls", "--tlscert", d + "/server.pem", "--tlskey",
            d + "/server.key", "--tlscacert", d + "/ca.pem"] + (["--tlsverify"] if verify else [])
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, proc)
        nats_checks(port, d, verify, "nats-server")
    finally:
        proc.kill()
        proc.wait(timeout=10)


def garbage(port, proc):
    rnd = random.Random(15)
    for i in range(20):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        data = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 3000)))
        if i % 4 == 0:
            data = b"\x16\x03\x01\x02\x00" + data  # a handshake record header, then nonsense
        try:
            s.sendall(data)
            read_until_close(s)
        except (ConnectionResetError, BrokenPipeError):
            pass
        s.close()
    ck.ok(proc.poll() is None, "broker still running after garbage on port %d" % port)


def kafka_checks(b, d):
    boot = b.bootstrap
    topic = harness.unique("tls")
    with ck.section("kcat over SSL: produce and consume, content-exact"):
        if not shutil.which("kcat"):
            harness.skip("kcat not installed")
        ssl_args = ["-X", "security.protocol=SSL", "-X", "ssl.ca.location=" + d + "/ca.pem"]
        lines = ["line-%04d-%s" % (i, "x" * (i % 50)) for i in range(500)]
        sh(["kcat", "-b", boot, "-P", "-t", topic, "-p", "0"] + ssl_args, input=("\n".join(lines) + "\n").encode())
        out = sh(["kcat", "-b", boot, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q"] + ssl_args).stdout
        ck.eq(out.decode().splitlines(), lines, "kcat consumed lines")
    with ck.section("confluent-kafka over SSL: 5 MB produced and fetched, every byte"):
        try:
            import confluent_kafka
        except ImportError:
            harness.skip("confluent_kafka not installed")
        conf = {"bootstrap.servers": boot, "security.protocol": "SSL", "ssl.ca.location": d + "/ca.pem"}
        t2 = harness.unique("tls-big")
        p = confluent_kafka.Producer(dict(conf, **{"linger.ms": 5}))
        rnd = random.Random(7)
        values = [bytes(rnd.getrandbits(8) for _ in range(1024)) * 64 for _ in range(80)]  # 80 x 64 KiB
        for i, v in enumerate(values):
            p.produce(t2, value=v, key=b"k%d" % i, partition=0)
        ck.eq(p.flush(30), 0, "messages left unflushed")
        c = confluent_kafka.Consumer(dict(conf, **{"group.id": harness.unique("g"), "auto.offset.reset": "earliest",
                                                   "fetch.max.bytes": 8 << 20, "max.partition.fetch.bytes": 8 << 20,
                                                   "enable.auto.commit": False}))
        c.assign([confluent_kafka.TopicPartition(t2, 0, 0)])
        got = []
        deadline = time.monotonic() + 30
        while len(got) < len(values) and time.monotonic() < deadline:
            m = c.poll(1.0)
            if m is None:
                continue
            ck.ok(m.error() is None, "consume error: %s" % m.error())
            got.append((m.offset(), m.key(), m.value()))
        c.close()
        ck.eq(len(got), len(values), "messages consumed")
        for i, (off, k, v) in enumerate(got):
            ck.eq(off, i, "offset")
            ck.eq(k, b"k%d" % i, "key")
            ck.ok(v == values[i], "value %d differs" % i)
    with ck.section("a plaintext Kafka client on the SSL port is closed"):
        s = socket.create_connection(("127.0.0.1", b.kafka_port), timeout=5)
        # ApiVersions v0 request: length, api key 18, version 0, correlation 1, client id "x"
        body = b"\x00\x12\x00\x00\x00\x00\x00\x01\x00\x01x"
        s.sendall(len(body).to_bytes(4, "big") + body)
        try:
            got = read_until_close(s)
            ck.ok(not got.startswith(b"\x00\x00"), "no Kafka answer in the clear: %r" % got[:20])
        except ConnectionResetError:
            pass


def main():
    d = tempfile.mkdtemp(prefix="sluice-tls-")
    try:
        make_certs(d)
        global GO_BIN
        GO_BIN = build_go(d)
        with ck.section("nats-server 2.9.10 reference"):
            reference(d, verify=False)
            reference(d, verify=True)
        https = harness.free_ports(1)[0]
        tls_args = ["--tls", "--kafka-tls", "--tlscert", d + "/server.pem", "--tlskey", d + "/server.key",
                    "--tlscacert", d + "/ca.pem", "-ms", str(https)]
        b = harness.start_broker(tls_args)
        # The harness waits for the Kafka port; the NATS and https ports open right after it.
        wait_port(b.nats_port, b.proc)
        wait_port(https, b.proc)
        try:
            nats_checks(b.nats_port, d, False, "sluice")
            kafka_checks(b, d)
            with ck.section("monitoring over https with curl"):
                out = sh(["curl", "-sS", "--max-time", "10", "--cacert", d + "/ca.pem",
                          "https://localhost:%d/varz" % https]).stdout
                j = json.loads(out)
                ck.eq(j.get("https_port"), https, "varz https_port")
                ck.eq(j.get("tls_required"), True, "varz tls_required")
                r = subprocess.run(["curl", "-sS", "--max-time", "5", "http://127.0.0.1:%d/varz" % https],
                                   capture_output=True, timeout=30)
                ck.ok(r.returncode != 0, "plain http on the https port answers nothing")
            with ck.section("garbage on every TLS port: that connection closes, the broker stays"):
                for port in (b.nats_port, b.kafka_port, https):
                    garbage(port, b.proc)
                nats_tls_session(b.nats_port, d, cert=True, verify=False)
            with ck.section("handshake counters in /metrics"):
                out = sh(["curl", "-sS", "--max-time", "10", "--cacert", d + "/ca.pem",
                          "https://localhost:%d/metrics" % https]).stdout.decode()
                vals = {}
                for line in out.splitlines():
                    if line.startswith("sluice_tls_handshakes_total{"):
                        k, v = line.rsplit(" ", 1)
                        vals[k] = int(v)
                ck.ok(vals.get('sluice_tls_handshakes_total{port="nats",result="ok"}', 0) >= 2, "nats ok: %s" % vals)
                ck.ok(vals.get('sluice_tls_handshakes_total{port="nats",result="failed"}', 0) >= 20,
                      "nats failed: %s" % vals)
                ck.ok(vals.get('sluice_tls_handshakes_total{port="kafka",result="ok"}', 0) >= 2, "kafka ok: %s" % vals)
            with ck.section("a silent client is closed at the handshake timeout"):
                s = socket.create_connection(("127.0.0.1", b.kafka_port), timeout=5)
                t0 = time.monotonic()
                read_until_close(s, timeout=6)
                ck.ok(time.monotonic() - t0 < 4, "closed within tls_timeout (2 s) plus a sweep")
            with ck.section("SIGHUP reloads the certificate: new connections see the new one"):
                d2 = d + "/new"
                os.mkdir(d2)
                make_certs(d2, "-2")
                for f in ("server.pem", "server.key"):
                    shutil.copy(d2 + "/" + f, d + "/" + f)
                b.proc.send_signal(signal.SIGHUP)
                time.sleep(0.5)
                ctx = ssl.create_default_context(cafile=d2 + "/ca.pem")
                with socket.create_connection(("127.0.0.1", b.kafka_port), timeout=5) as s:
                    with ctx.wrap_socket(s, server_hostname="localhost") as t:
                        issuer = dict(x[0] for x in t.getpeercert()["issuer"])
                        ck.eq(issuer.get("commonName"), "sluice-test-ca-2", "issuer after reload")
            b.stop()
            # mTLS: the client certificate is required and verified against the CA.
            shutil.copy(d2 + "/ca.pem", d + "/ca.pem")
            for f in ("client.pem", "client.key"):
                shutil.copy(d2 + "/" + f, d + "/" + f)
            b2 = harness.start_broker(tls_args + ["--tlsverify"])
            wait_port(b2.nats_port, b2.proc)
            nats_checks(b2.nats_port, d, True, "sluice")
            with ck.section("kcat with a client certificate under tls_verify"):
                if not shutil.which("kcat"):
                    harness.skip("kcat not installed")
                out = sh(["kcat", "-b", b2.bootstrap, "-L", "-X", "security.protocol=SSL", "-X",
                          "ssl.ca.location=" + d + "/ca.pem", "-X", "ssl.certificate.location=" + d + "/client.pem",
                          "-X", "ssl.key.location=" + d + "/client.key"]).stdout
                ck.ok(b"1 brokers" in out, "metadata over mTLS: %r" % out[:80])
                r = subprocess.run(["kcat", "-b", b2.bootstrap, "-L", "-m", "3", "-X", "security.protocol=SSL", "-X",
                                    "ssl.ca.location=" + d + "/ca.pem"], capture_output=True, timeout=30)
                ck.ok(r.returncode != 0, "kcat without a certificate is refused")
            b2.stop()
        except Exception:
            print(b.log_tail())
            raise
    finally:
        shutil.rmtree(d, ignore_errors=True)
    print("tls: %d checks, %d failed sections" % (ck.checks, ck.fail_count()))
    return 1 if ck.fail_count() else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except harness.Skip as e:
        print("SKIP: %s" % e)
        sys.exit(harness.SKIP)
    finally:
        for br in harness._brokers:
            br.cleanup()
