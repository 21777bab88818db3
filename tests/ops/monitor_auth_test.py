#!/usr/bin/python3
"""monitor_auth_test: access control on the monitoring port of a real sluice-server.

(a) http_token (from a config file): every route but /healthz needs `Authorization: Bearer
    <token>`. Without it 401 with `WWW-Authenticate: Bearer realm="sluice"`; with a wrong token,
    a Basic header, two Authorization headers or a 2,000-byte value 401 with
    error="invalid_token"; an unknown path is 401 too (and 404 with the token); the scheme is
    case-insensitive; a header dripped over many TCP segments still counts; a 401 keeps the
    connection (keep-alive, pipelined requests answered in order); /healthz answers without it.
(b) the token never shows: not in /varz, /connz, /metrics, /jsz, nor in the broker's debug log.
(c) SIGHUP with a new token in the file: the old one is refused, the new one served.
(c2) http_read_token beside it (SIGHUP): the read routes with either token, an admin route with the
    read token 403 (with the admin token 200); equal tokens refuse to start.
(d) https_port with tls_verify (mTLS, certificates from the openssl CLI): curl with the client
    certificate and the token is served; without a certificate, or with one from another CA, the
    handshake fails; with the certificate but no token, 401; half a ClientHello is closed by the
    TLS timeout while curl is served.
"""
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import harness  # noqa: E402
from tls_test import make_certs  # noqa: E402

TOKEN = "mon-T0ken_4f9c2a71e0b3d6"
TOKEN2 = "mon-T0ken_second_88a1c5d"
READ_TOKEN = "mon-read-T0ken_c3e9017b"


def request(port, path, headers=(), timeout=5.0):
    """One HTTP/1.1 request on a fresh connection: (status, headers dict lower-cased, body)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    req = "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s\r\n" % (path, "".join(h + "\r\n" for h in headers))
    s.sendall(req.encode())
    return parse_all(read_all(s, timeout))[0]


def read_all(s, timeout):
    s.settimeout(timeout)
    buf = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            d = s.recv(65536)
        except ConnectionResetError:
            break
        if not d:
            break
        buf += d
    s.close()
    return buf


def parse_all(buf):
    """Responses back to back (Content-Length framed): [(status, headers, body)]."""
    out = []
    while buf:
        head, _, rest = buf.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        n = int(hdrs.get("content-length", "0"))
        out.append((status, hdrs, rest[:n]))
        buf = rest[n:]
    return out


def auth(token):
    return "Authorization: Bearer " + token


def body(ck):
    with harness.scratch_dir("sluice-monauth-") as d:
        run_all(ck, d)


def run_all(ck, d):
    harness.needs_own_broker("needs its own broker")
    conf = os.path.join(d, "sluice.conf")
    with open(conf, "w") as f:
        f.write('http_token: "%s"\n' % TOKEN)
    b = harness.start_broker(["--config", conf, "--log_level", "debug"])
    port = b.http_port
    if not harness.wait_port("127.0.0.1", port, 10, b.proc):
        raise harness.CheckFailed("monitoring port not open")

    with ck.section("http_token: 401 with WWW-Authenticate without it or with a wrong one; /healthz open"):
        st, h, body_ = request(port, "/healthz")
        ck.eq((st, json.loads(body_)), (200, {"status": "ok"}), "/healthz without a token")
        for path in ("/varz", "/connz", "/subsz", "/jsz", "/metrics", "/", "/nope"):
            st, h, body_ = request(port, path)
            ck.eq(st, 401, "%s without a token" % path)
            ck.eq(h.get("www-authenticate"), 'Bearer realm="sluice"', "%s: challenge" % path)
            ck.eq(json.loads(body_), {"error": "Unauthorized"}, "%s: body" % path)
        bad = [[auth("wrong")], [auth(TOKEN + "x")], [auth(TOKEN[:-1])], ["Authorization: Basic " + TOKEN],
               ["Authorization: " + TOKEN], [auth(TOKEN), auth(TOKEN)], [auth("x" * 2000)], ["Authorization: Bearer"]]
        for hdrs in bad:
            st, h, _ = request(port, "/varz", hdrs)
            ck.eq(st, 401, "refused: %s" % str(hdrs)[:60])
            ck.eq(h.get("www-authenticate"), 'Bearer realm="sluice", error="invalid_token"',
                  "challenge for a wrong token %s" % str(hdrs)[:60])

    with ck.section("http_token: the right token is served, whatever the scheme's case and the segments"):
        for path in ("/varz", "/connz", "/subsz", "/metrics", "/", "/healthz"):
            st, _, _ = request(port, path, [auth(TOKEN)])
            ck.eq(st, 200, "%s with the token" % path)
        ck.eq(request(port, "/jsz", [auth(TOKEN)])[0], 503, "/jsz with the token, JetStream off")
        ck.eq(request(port, "/nope", [auth(TOKEN)])[0], 404, "unknown path with the token")
        ck.eq(request(port, "/varz", ["authorization: bEaReR   " + TOKEN + "  "])[0], 200, "scheme case, spaces")
        ck.eq(request(port, "/varz", ["X-Authorization-Extra: Bearer " + TOKEN])[0], 401, "another header name")
        # The header in 3-byte segments: http-parser hands the name and value over in pieces.
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        req = ("GET /varz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s\r\n\r\n" % auth(TOKEN)).encode()
        for i in range(0, len(req), 3):
            s.sendall(req[i:i + 3])
            time.sleep(0.002)
        ck.eq(parse_all(read_all(s, 5))[0][0], 200, "token dripped in 3-byte segments")
        # Keep-alive: a 401 does not close; pipelined requests answered in order.
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(("GET /varz HTTP/1.1\r\nHost: x\r\n\r\nGET /varz HTTP/1.1\r\nHost: x\r\n%s\r\n\r\n"
                   "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % auth(TOKEN)).encode())
        ck.eq([r[0] for r in parse_all(read_all(s, 5))], [401, 200, 200], "pipelined: no token, token, /healthz")

    with ck.section("the token shows nowhere: /varz, /connz, /metrics, /jsz, the debug log"):
        for path in ("/varz", "/connz", "/metrics", "/jsz", "/subsz"):
            st, _, body_ = request(port, path, [auth(TOKEN)])
            ck.ok(TOKEN.encode() not in body_, "token in %s" % path)
        b.proc.send_signal(signal.SIGHUP)  # a reload logs what changed: names, never values
        time.sleep(0.3)
        log = b.log_text(b"reloaded the configuration")  # the reload's last line: its lines are all in
        ck.ok(TOKEN.encode() not in log, "token in the broker log")
        ck.ok(b"monitoring listening" in log, "the log is the broker's (%d bytes)" % len(log))

    with ck.section("SIGHUP: a new token in the file replaces the old one"):
        with open(conf, "w") as f:
            f.write('http_token: "%s"\n' % TOKEN2)
        b.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while request(port, "/varz", [auth(TOKEN2)])[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        ck.eq(request(port, "/varz", [auth(TOKEN2)])[0], 200, "the new token")
        ck.eq(request(port, "/varz", [auth(TOKEN)])[0], 401, "the old token")
        log = b.log_text(b"reload: http_token changed")
        ck.ok(b"reload: http_token changed" in log, "the reload names the key")
        ck.ok(TOKEN2.encode() not in log and TOKEN.encode() not in log, "no token in the log after the reload")

    with ck.section("http_read_token: reads with it, never an admin route; the admin token still reads"):
        with open(conf, "w") as f:
            f.write('http_token: "%s"\nhttp_read_token: "%s"\n' % (TOKEN2, READ_TOKEN))
        b.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while request(port, "/varz", [auth(READ_TOKEN)])[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        for path in ("/varz", "/connz", "/metrics", "/"):
            ck.eq(request(port, path, [auth(READ_TOKEN)])[0], 200, "%s with the read token" % path)
            ck.eq(request(port, path, [auth(TOKEN2)])[0], 200, "%s with the admin token" % path)
            ck.eq(request(port, path)[0], 401, "%s without a token" % path)
        ck.eq(request(port, "/varz", [auth(READ_TOKEN + "x")])[0], 401, "a wrong read token")
        ck.eq(request(port, "/nope", [auth(READ_TOKEN)])[0], 404, "unknown path with the read token")
        for path in ("/v1/security/users", "/v1/security/users/alice"):
            st, _, body_ = request(port, path, [auth(READ_TOKEN)])
            ck.eq(st, 403, "admin route %s with the read token: %s" % (path, body_[:120]))
            ck.ok(b"Forbidden" in body_, "its body says Forbidden")
        st, _, body_ = request(port, "/v1/security/users", [auth(TOKEN2)])
        ck.eq((st, json.loads(body_)), (200, []), "the same with the admin token: no users")
        for path in ("/varz", "/metrics"):
            ck.ok(READ_TOKEN.encode() not in request(port, path, [auth(TOKEN2)])[2], "read token in %s" % path)
        log = b.log_text(b"reload: http_read_token changed")
        ck.ok(b"reload: http_read_token changed" in log, "the reload names the key")
        ck.ok(READ_TOKEN.encode() not in log, "no read token in the log")
    b.stop()

    with ck.section("http_read_token equal to http_token refuses to start"):
        bad = os.path.join(d, "bad.conf")
        with open(bad, "w") as f:
            f.write('http_token: "%s"\nhttp_read_token: "%s"\n' % (TOKEN, TOKEN))
        p = subprocess.run([harness.server_binary(), "--config", bad, "--data-dir", os.path.join(d, "bad"),
                            "--kafka-port", "0", "--port", "0", "--http-port", "0"],
                           capture_output=True, text=True, timeout=10)
        ck.eq(p.returncode, 2, "exit code: %s" % (p.stdout + p.stderr).strip()[-200:])
        ck.ok("http_read_token: must differ from http_token" in p.stdout + p.stderr, "the message names the key")

    with ck.section("https_port with tls_verify: client certificate and token; without a certificate or with "
                    "another CA's, no answer"):
        if not shutil.which("curl"):
            harness.skip("curl missing")
        make_certs(d)
        os.mkdir(d + "/other")
        make_certs(d + "/other", "-other")
        https = harness.free_ports(1)[0]
        b2 = harness.start_broker(["-ms", str(https), "--tlscert", d + "/server.pem", "--tlskey", d + "/server.key",
                                   "--tlscacert", d + "/ca.pem", "--tlsverify", "--http_token", TOKEN])
        if not harness.wait_port("127.0.0.1", https, 10, b2.proc):
            raise harness.CheckFailed("https port not open")
        url = "https://localhost:%d/varz" % https

        def curl(*extra):
            return subprocess.run(["curl", "-sS", "--max-time", "10", "--cacert", d + "/ca.pem", "-o", "/dev/null",
                                   "-w", "%{http_code}"] + list(extra) + [url], capture_output=True, text=True,
                                  timeout=30)

        cert = ["--cert", d + "/client.pem", "--key", d + "/client.key"]
        r = curl(*(cert + ["-H", auth(TOKEN)]))
        ck.eq((r.returncode, r.stdout), (0, "200"), "mTLS + token: %s" % r.stderr)
        r = curl(*cert)
        ck.eq((r.returncode, r.stdout), (0, "401"), "mTLS without the token: %s" % r.stderr)
        r = curl("-H", auth(TOKEN))
        ck.ok(r.returncode != 0 and r.stdout in ("", "000"), "no client certificate: rc %d %r" % (r.returncode, r.stdout))
        r = curl("--cert", d + "/other/client.pem", "--key", d + "/other/client.key", "-H", auth(TOKEN))
        ck.ok(r.returncode != 0 and r.stdout in ("", "000"), "another CA's certificate: rc %d %r"
              % (r.returncode, r.stdout))
        # Half a ClientHello: closed by tls_timeout, while another client is served meanwhile.
        out = ssl.MemoryBIO()
        obj = ssl.create_default_context().wrap_bio(ssl.MemoryBIO(), out, server_hostname="localhost")
        try:
            obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        hello = out.read()
        t0 = time.monotonic()
        half = socket.create_connection(("127.0.0.1", https), timeout=5)
        half.sendall(hello[:len(hello) // 2])
        r = curl(*(cert + ["-H", auth(TOKEN)]))
        ck.eq((r.returncode, r.stdout), (0, "200"), "served while a handshake hangs: %s" % r.stderr)
        rest = read_all(half, 8)
        ck.ok(rest == b"" and time.monotonic() - t0 < 8, "truncated handshake closed: %r after %.1f s"
              % (rest[:20], time.monotonic() - t0))
        ck.ok(b2.alive(), "broker alive")
        b2.stop()


if __name__ == "__main__":
    harness.run("monitor_auth_test", body, tools=["curl"], time_limit=100)
