#!/usr/bin/python3
"""nats_tls_test.py: NATS auth over TLS with real clients, against nats-server 2.9.10 first, then
sluice-server, each started from the same nats-server config file (a tls { } block and an
authorization { } block). Certificates come from the openssl CLI (tests/integration/tls_test.py's
make_certs): a CA with server and client certificates, and another CA with its own client.

- users (a bcrypt password and an nkey): nats.js (nats_tls_js.js) with user/password and with the
  nkey, nats.go (tests/integration/tls_nats_go.go) with the nkey; wrong password and an unknown
  nkey refused with an authorization error;
- token: nats.js and nats.go with the token, a wrong token refused;
- mTLS (verify: true) with users: nats.js and nats.go with the client certificate and a password;
  nats.js and a raw ssl client with a certificate from the other CA are refused by the handshake;
- a truncated ClientHello: that connection is closed by the TLS timeout while another client is
  served meanwhile, and the server stays up.
Every round trip checks every byte and the order (see the client files)."""
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import natsh  # noqa: E402  (puts tests/integration first in sys.path)
import harness  # noqa: E402
import tls_test  # noqa: E402  (certificates, nats.go build, raw TLS helpers)

ALICE_HASH = "$2b$04$9RsH3nZfxDR5pybBGTCmp.t9PmaUG0Yt7VdIi59DH1HGDEPbMg3Re"  # bcrypt of "s3cret"
JS = os.path.join(HERE, "nats_tls_js.js")


def tls_block(d, verify):
    return 'tls {\n  cert_file: "%s/server.pem"\n  key_file: "%s/server.key"\n  ca_file: "%s/ca.pem"\n%s}\n' % (
        d, d, d, "  verify: true\n" if verify else "")


class Server:
    """nats-server or sluice-server from one config text on a free loopback port."""

    def __init__(self, kind, d, text):
        self.kind, self.dir = kind, tempfile.mkdtemp(prefix="sluice-nats-tls-", dir=d)
        self.conf = os.path.join(self.dir, "server.conf")
        if kind == "nats-server":
            self.port = harness.free_ports(1)[0]
            with open(self.conf, "w") as f:
                f.write("listen: 127.0.0.1:%d\n%s" % (self.port, text))
            self.log = open(os.path.join(self.dir, "server.log"), "wb")
            self.proc = subprocess.Popen([shutil.which("nats-server"), "-c", self.conf], stdout=self.log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            self.broker = None
        else:
            with open(self.conf, "w") as f:
                f.write(text)
            self.broker = harness.start_broker(["--config", self.conf])
            self.proc, self.port = self.broker.proc, self.broker.nats_port
        if not harness.wait_port("127.0.0.1", self.port, 10, self.proc):
            raise harness.CheckFailed("%s: NATS port %d not open" % (kind, self.port))

    @property
    def url(self):
        return "tls://localhost:%d" % self.port

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.broker:
            self.broker.stop()
        else:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.log.close()


def node(ck, args, label, env=None):
    r = subprocess.run(["node", JS] + args, capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, **(env or {})))
    print("     nats.js %s" % r.stdout.strip().replace("\n", "\n     nats.js "))
    ck.eq(r.returncode, 0, "nats.js %s: %s" % (label, (r.stdout + r.stderr)[-600:]))


def gocli(ck, go_bin, args, label, env):
    if not go_bin:
        print("     nats.go: skipped (go or nats.go missing)")
        return
    r = subprocess.run([go_bin] + args, capture_output=True, text=True, timeout=60, env=dict(os.environ, **env))
    print("     nats.go %s: %s" % (label, r.stdout.strip()))
    ck.eq(r.returncode, 0, "nats.go %s: %s" % (label, (r.stdout + r.stderr)[-600:]))


def raw_session(port, ctx, connect):
    """INFO in the clear, the handshake with ctx, CONNECT + PING: (INFO, True if PONG came)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    info = tls_test.recv_line(s)
    t = ctx.wrap_socket(s, server_hostname="localhost")
    t.sendall(b"CONNECT %s\r\nPING\r\n" % json.dumps(connect).encode())
    buf, deadline = b"", time.monotonic() + 5
    t.settimeout(5)
    while b"PONG\r\n" not in buf and time.monotonic() < deadline:
        chunk = t.recv(4096)
        if not chunk:
            break
        buf += chunk
    t.close()
    return json.loads(info[5:]), b"PONG\r\n" in buf


def refused_by_handshake(port, ctx):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    tls_test.recv_line(s)
    try:
        t = ctx.wrap_socket(s, server_hostname="localhost")
        t.sendall(b'CONNECT {"user":"alice","pass":"s3cret"}\r\nPING\r\n')
        return b"PONG" not in tls_test.read_until_close(t)
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        return True


def truncated_client_hello(port):
    """A socket that got INFO and then half of a real ClientHello, and nothing more."""
    ctx = ssl.create_default_context()
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = out.read()
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    tls_test.recv_line(s)
    s.sendall(hello[:len(hello) // 2])
    return s


def checks(ck, kind, d, go_bin, keys):
    (seed, pub), (other_seed, _) = keys
    seed_file = os.path.join(d, "user.nk")
    other_file = os.path.join(d, "other.nk")
    ca = d + "/ca.pem"

    with ck.section("%s: TLS with users (bcrypt password, nkey): nats.js, nats.go, refusals" % kind):
        users = 'authorization {\n  users = [\n    {user: alice, password: "%s"}\n    {nkey: %s}\n  ]\n}\n' % (
            ALICE_HASH, pub)
        srv = Server(kind, d, tls_block(d, False) + users)
        try:
            node(ck, [srv.url, ca, "user", "alice", "s3cret"], "user/password")
            node(ck, [srv.url, ca, "nkey", seed], "nkey")
            node(ck, [srv.url, ca, "refused", "user", "alice", "wrong"], "wrong password")
            node(ck, [srv.url, ca, "refused", "nkey", other_seed], "unknown nkey")
            gocli(ck, go_bin, [srv.url, ca], "nkey", {"NATS_TLS_NKEY_SEED": seed_file})
            gocli(ck, go_bin, [srv.url, ca, "-auth-refused"], "unknown nkey", {"NATS_TLS_NKEY_SEED": other_file})
            ck.ok(srv.alive(), "%s alive" % kind)
        finally:
            srv.stop()

    with ck.section("%s: TLS with a token: nats.js, nats.go, a wrong token refused" % kind):
        srv = Server(kind, d, tls_block(d, False) + 'authorization {\n  token: "t0k-3n_secret"\n}\n')
        try:
            node(ck, [srv.url, ca, "token", "t0k-3n_secret"], "token")
            node(ck, [srv.url, ca, "refused", "token", "t0k-3n_wrong"], "wrong token")
            gocli(ck, go_bin, [srv.url, ca], "token", {"NATS_TLS_TOKEN": "t0k-3n_secret"})
            gocli(ck, go_bin, [srv.url, ca, "-auth-refused"], "wrong token", {"NATS_TLS_TOKEN": "nope"})
        finally:
            srv.stop()

    with ck.section("%s: mTLS with users: the right certificate served, another CA's refused; truncated "
                    "ClientHello closed while others are served" % kind):
        srv = Server(kind, d, tls_block(d, True) + 'authorization {\n  users = [\n    {user: alice, password: "%s"}\n'
                     '  ]\n}\n' % ALICE_HASH)
        try:
            cert = {"NATS_TLS_CERT": d + "/client.pem", "NATS_TLS_KEY": d + "/client.key"}
            other = {"NATS_TLS_CERT": d + "/other/client.pem", "NATS_TLS_KEY": d + "/other/client.key"}
            node(ck, [srv.url, ca, "user", "alice", "s3cret"], "mTLS + user/password", cert)
            node(ck, [srv.url, ca, "refused-tls", "user", "alice", "s3cret"], "another CA's certificate", other)
            node(ck, [srv.url, ca, "refused-tls", "user", "alice", "s3cret"], "no certificate")
            gocli(ck, go_bin, [srv.url, ca, d + "/client.pem", d + "/client.key"], "mTLS + user/password",
                  {"NATS_TLS_USER": "alice", "NATS_TLS_PASS": "s3cret"})
            octx = ssl.create_default_context(cafile=ca)
            octx.load_cert_chain(d + "/other/client.pem", d + "/other/client.key")
            ck.ok(refused_by_handshake(srv.port, octx), "raw client with another CA's certificate refused")
            t0 = time.monotonic()
            half = truncated_client_hello(srv.port)
            good = ssl.create_default_context(cafile=ca)
            good.load_cert_chain(d + "/client.pem", d + "/client.key")
            info, got = raw_session(srv.port, good, {"user": "alice", "pass": "s3cret", "verbose": False})
            ck.ok(got, "a session with PONG while a handshake hangs half done")
            ck.eq(info.get("tls_verify"), True, "INFO tls_verify")
            try:
                rest = tls_test.read_until_close(half, timeout=8)
            except ConnectionResetError:
                rest = b""
            waited = time.monotonic() - t0
            ck.ok(waited < 8, "the truncated handshake closed after %.1f s" % waited)
            ck.ok(b"PONG" not in rest, "no PONG on the truncated handshake")
            print("     truncated ClientHello closed after %.1f s" % waited)
            node(ck, [srv.url, ca, "user", "alice", "s3cret"], "mTLS after the truncated handshake", cert)
            ck.ok(srv.alive(), "%s alive" % kind)
        finally:
            srv.stop()


def body(ck):
    if os.environ.get("SLUICE_EXTERNAL_NATS"):
        natsh.skip("needs its own configuration")
    if not shutil.which("node") or not os.path.isdir(os.path.join(HERE, "node_modules", "nats")):
        natsh.skip("node or node_modules/nats missing (scripts/setup.sh)")
    if not shutil.which("nats-server"):
        natsh.skip("nats-server 2.9.10 missing (scripts/setup.sh)")
    d = tempfile.mkdtemp(prefix="sluice-nats-tls-")
    try:
        tls_test.make_certs(d)
        os.mkdir(d + "/other")
        tls_test.make_certs(d + "/other", "-other")
        go_bin = tls_test.build_go(d)
        keys = []
        for name in ("user.nk", "other.nk"):
            r = subprocess.run(["node", JS, "keys"], capture_output=True, text=True, timeout=30, check=True)
            seed, pub = r.stdout.split()
            with open(os.path.join(d, name), "w") as f:
                f.write(seed + "\n")
            keys.append((seed, pub))
        for kind in ("nats-server", "sluice"):
            checks(ck, kind, d, go_bin, keys)
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    natsh.run("nats_tls_test", body, time_limit=110)
