#!/usr/bin/python3
"""cli_user_test: Kafka SCRAM credentials managed with `sluice user` through the broker's admin HTTP
API (/v1/security/users on the monitoring port), checked with real Kafka clients.

A broker with SASL (PLAIN for the wire checks, SCRAM-SHA-256 and SCRAM-SHA-512) and an http_token:
- the admin API refuses without the token (403 with a JSON error), with a wrong one, and on a port
  with neither a token nor mTLS even though /varz is open there; bad bodies get 400 (not JSON,
  unknown fields, missing or empty fields, a NUL, a bad algorithm, iterations outside
  4096-16384 as Kafka's AlterUserScramCredentials refuses them), a 10 MB Content-Length or an
  endless chunked body 413 and a close, another method 405 with Allow; the broker stays up;
- `sluice user create` (password on stdin) makes a SCRAM-SHA-512 user; confluent-kafka produces
  and consumes with it byte for byte; `user list` (table and --json) shows it; neither the
  password nor the stored salt, salted password, StoredKey or ServerKey (the salt read from the
  broker's own server-first message) appear in the CLI's output, the HTTP list, /varz, /metrics
  or the broker's log;
- create again with a new password: the old one fails, the new one works;
- a credential stored with AlterUserScramCredentials over the wire shows in `user list`, and one
  made by the CLI shows in DescribeUserScramCredentials; a CLI delete is seen by both;
- delete: the login fails; the credentials survive kill -9;
- https_port with tls_verify and no token: the CLI with a client certificate manages users,
  without one it cannot reach the port.
"""
import http.client
import json
import os
import shutil
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
sys.path.insert(0, HERE)
import harness  # noqa: E402
import kafka_sasl_test as ks  # noqa: E402
from cliutil import sluice  # noqa: E402

TOKEN = "adm-T0ken_7c1e9b24f0"
PW1 = "Pw-one_5a1f9e0c8d"
PW2 = "Pw-two_b77e3c2a91"


def req(port, method, path, body=None, token=TOKEN, headers=None):
    """One request on a fresh connection: (status, headers dict, parsed JSON or raw bytes)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    h = dict(headers or {})
    if token:
        h["Authorization"] = "Bearer " + token
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    try:
        data = json.loads(data)
    except ValueError:
        pass
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


def raw(port, data, timeout=5.0):
    """Sends bytes, returns everything until the server closes (or the timeout)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            d = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not d:
            break
        out += d
    s.close()
    return out


def cli(b, args, stdin=b"", token=TOKEN, extra=()):
    base = ["--admin", "http://127.0.0.1:%d" % b.http_port] + list(extra)
    env = {"SLUICE_ADMIN_TOKEN": token} if token else {}
    return sluice(base + list(args), stdin, timeout=60, env=env)


def scram_secrets(b, user, pw):
    """What the broker stores for user's SCRAM-SHA-512 credential, in the forms it could leak:
    the salt (from the broker's server-first message), the salted password, StoredKey, ServerKey."""
    import base64
    import hashlib
    import hmac
    w = ks.Wire(b)
    ks.handshake(w, "SCRAM-SHA-512")
    err, _, sf = ks.authenticate(w, b"n,,n=%s,r=leakcheck" % user.encode())
    w.close()
    assert err == 0, err
    attrs = dict(a.split("=", 1) for a in sf.decode().split(","))
    salt = base64.b64decode(attrs["s"])
    salted = hashlib.pbkdf2_hmac("sha512", pw.encode(), salt, int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", "sha512").digest()
    secrets = [salt, salted, hashlib.sha512(client_key).digest(), hmac.new(salted, b"Server Key", "sha512").digest()]
    forms = []
    for s in secrets:
        forms += [s, s.hex().encode(), base64.b64encode(s), base64.b64encode(s).rstrip(b"=")]
    return forms


def wait_healthy(b, timeout=15.0):
    """The harness waits for the Kafka port; the monitoring port opens a little later."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if req(b.http_port, "GET", "/healthz", token=None)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise harness.CheckFailed("/healthz not 200 within %.0f s" % timeout)


def users(b):
    st, _, body = req(b.http_port, "GET", "/v1/security/users")
    assert st == 200, (st, body)
    return {u["username"]: sorted((m["algorithm"], m["iterations"]) for m in u["mechanisms"]) for u in body}


def body(ck):
    with harness.scratch_dir("sluice-cliuser-") as d:
        run_all(ck, d)


def run_all(ck, d):
    harness.needs_own_broker("needs its own broker")
    with open(d + "/plain", "w") as f:
        f.write("alice:alice-secret\n")
    b = harness.start_broker(["--kafka_sasl_mechanisms", "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
                              "--kafka_sasl_users_file", d + "/plain", "--http_token", TOKEN])
    port = b.http_port
    wait_healthy(b)
    topic = harness.unique("cliuser")

    with ck.section("the admin API refuses without the token, with a wrong one, and where no auth is set"):
        for method, path, body_ in (("GET", "/v1/security/users", None),
                                    ("POST", "/v1/security/users", {"username": "x", "password": "y",
                                                                    "algorithm": "SCRAM-SHA-512"}),
                                    ("DELETE", "/v1/security/users/x", None)):
            for token in (None, "wrong", TOKEN + "x"):
                st, h, js = req(port, method, path, body_, token=token)
                ck.eq(st, 403, "%s %s with token %r" % (method, path, token))
                ck.ok(isinstance(js, dict) and "Forbidden" in js.get("error", ""), "403 body %r" % js)
                ck.eq(h.get("content-type"), "application/json", "403 content type")
        ck.eq(users(b), {}, "nothing was created by the refused requests")
        open_ = harness.start_broker()  # no http_token, no https: /varz open, admin routes never
        wait_healthy(open_)
        ck.eq(req(open_.http_port, "GET", "/varz", token=None)[0], 200, "/varz on the open port")
        for method, path in (("GET", "/v1/security/users"), ("DELETE", "/v1/security/users/x")):
            ck.eq(req(open_.http_port, method, path, token=None)[0], 403, "%s on a port without auth" % method)
        st, _, _ = req(open_.http_port, "POST", "/v1/security/users",
                       {"username": "x", "password": "y", "algorithm": "SCRAM-SHA-512"}, token=None)
        ck.eq(st, 403, "POST on a port without auth")
        r = cli(open_, ["user", "list"], token=None)
        ck.eq(r[0], 4, "CLI on a port without auth: exit code (%s)" % r[2].strip())
        ck.ok("403" in r[2], "CLI says 403: %r" % r[2])
        open_.stop()

    with ck.section("bad requests: 400 with a JSON error, 413 and a close for large bodies, 404/405"):
        good = {"username": "bad", "password": "pw", "algorithm": "SCRAM-SHA-512"}
        bad_bodies = [b"", b"not json", b"[1,2]", b'"str"', b'{"username":', json.dumps(dict(good, extra=1)),
                      json.dumps({k: v for k, v in good.items() if k != "password"}),
                      json.dumps({k: v for k, v in good.items() if k != "username"}),
                      json.dumps({k: v for k, v in good.items() if k != "algorithm"}),
                      json.dumps(dict(good, username="")), json.dumps(dict(good, password="")),
                      json.dumps(dict(good, username="a\u0000b")), json.dumps(dict(good, password=7)),
                      json.dumps(dict(good, algorithm="SCRAM-SHA-1")), json.dumps(dict(good, algorithm="PLAIN")),
                      json.dumps(dict(good, iterations=4095)), json.dumps(dict(good, iterations=16385)),
                      json.dumps(dict(good, iterations=2 ** 40)), json.dumps(dict(good, iterations="4096")),
                      json.dumps(dict(good, username="u" * 300)), json.dumps(dict(good, password="p" * 2000)),
                      b'{"username":"a","username":"b","password":"p","algorithm":"SCRAM-SHA-512"}']
        for bb in bad_bodies:
            st, _, js = req(port, "POST", "/v1/security/users", bb)
            ck.eq(st, 400, "body %r" % (bb[:50],))
            ck.ok(isinstance(js, dict) and js.get("error"), "400 has a JSON error for %r: %r" % (bb[:40], js))
        for it, want in ((4096, 200), (16384, 200)):
            ck.eq(req(port, "POST", "/v1/security/users", dict(good, iterations=it))[0], want, "iterations %d" % it)
        ck.eq(req(port, "DELETE", "/v1/security/users/bad")[0], 200, "delete the user made by the bounds check")
        ck.eq(req(port, "DELETE", "/v1/security/users/bad?algorithm=SCRAM-SHA-1")[0], 400, "delete, bad algorithm")
        ck.eq(req(port, "DELETE", "/v1/security/users/bad%zz")[0], 400, "delete, bad %-escape")
        ck.eq(req(port, "DELETE", "/v1/security/users/a%00b")[0], 400, "delete, a NUL in the name")
        ck.eq(req(port, "DELETE", "/v1/security/users/nobody")[0], 404, "delete a user without credentials")
        st, h, _ = req(port, "PUT", "/v1/security/users", good)
        ck.eq((st, h.get("allow")), (405, "GET, HEAD, POST"), "PUT on the collection")
        ck.eq((lambda r: (r[0], r[1].get("allow")))(req(port, "GET", "/v1/security/users/x")), (405, "DELETE"),
              "GET on a user")
        ck.eq(req(port, "DELETE", "/v1/security/users")[0], 405, "DELETE on the collection")
        ck.eq(req(port, "GET", "/v1/security/nope")[0], 404, "unknown admin path with the token")
        auth = "Authorization: Bearer %s\r\n" % TOKEN
        out = raw(port, ("POST /v1/security/users HTTP/1.1\r\nHost: x\r\n%sContent-Length: 10000000\r\n\r\n"
                         % auth).encode())
        ck.ok(out.startswith(b"HTTP/1.1 413 "), "10 MB Content-Length: %r" % out[:40])
        out = raw(port, ("POST /v1/security/users HTTP/1.1\r\nHost: x\r\n%sTransfer-Encoding: chunked\r\n\r\n"
                         % auth).encode() + b"4000\r\n" + b"x" * 0x4000 + b"\r\n" + b"4000\r\n" + b"x" * 10)
        ck.ok(out.startswith(b"HTTP/1.1 413 "), "chunked body past 16 KiB: %r" % out[:40])
        out = raw(port, ("GET /varz HTTP/1.1\r\nHost: x\r\n%sContent-Length: 5\r\n\r\nhello" % auth).encode())
        ck.ok(out.startswith(b"HTTP/1.1 413 "), "a body on /varz: %r" % out[:40])
        ck.ok(b.alive(), "broker alive")
        ck.eq(req(port, "GET", "/varz")[0], 200, "/varz still served")
        ck.eq(users(b), {}, "no user left by the bad requests")

    with ck.section("sluice user create (SCRAM-SHA-512, password on stdin), then confluent-kafka with it"):
        rc, out, err, _ = cli(b, ["user", "create", "carol", "--password-stdin", "--mechanism", "SCRAM-SHA-512"],
                              stdin=(PW1 + "\n").encode())
        ck.eq(rc, 0, "create carol: %s" % err)
        ck.eq(out.decode(), "created user carol (SCRAM-SHA-512, 4096 iterations)\n", "create output")
        ks.ck_roundtrip(ck, b, "SCRAM-SHA-512", "carol", PW1, topic, n=10)

    with ck.section("user list shows carol; no secret in the CLI's output, the API, /varz, /metrics, the log"):
        rc, out, err, _ = cli(b, ["user", "list"])
        ck.eq(rc, 0, "list: %s" % err)
        ck.eq(out.decode().split("\n")[1].split(), ["carol", "SCRAM-SHA-512", "4096"], "list table")
        rc, jout, err, _ = cli(b, ["--json", "user", "list"])
        ck.eq(json.loads(jout), [{"username": "carol", "mechanisms": [{"algorithm": "SCRAM-SHA-512",
                                                                       "iterations": 4096}]}], "list --json")
        secrets = scram_secrets(b, "carol", PW1) + [PW1.encode()]
        seen = {"cli list": out + jout, "cli create": b"created user carol"}
        for path in ("/v1/security/users", "/varz", "/metrics", "/connz"):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", path, headers={"Authorization": "Bearer " + TOKEN})
            seen[path] = c.getresponse().read()
            c.close()
        with open(b.log_path, "rb") as f:
            seen["broker log"] = f.read()
        for where, text in seen.items():
            for s in secrets:
                ck.ok(s not in text, "a secret (%r...) in %s" % (s[:6], where))
        ck.ok(b"the SCRAM-SHA-512 credential of User:carol stored" in seen["broker log"], "the change is logged")
        ck.ok(b'sluice_scram_credential_changes_total{via="http",op="store"}' in seen["/metrics"], "metric")

    with ck.section("a new password: the old one fails, the new one works"):
        rc, out, err, _ = cli(b, ["user", "create", "carol", "--password", PW2, "--mechanism", "SCRAM-SHA-512",
                                  "--iterations", "8192"])
        ck.eq((rc, out.decode()), (0, "updated user carol (SCRAM-SHA-512, 8192 iterations)\n"), "update: %s" % err)
        ck.ok(PW2 not in out.decode() + err, "the password is not echoed")
        ks.ck_auth_error(ck, b, "SCRAM-SHA-512", "carol", PW1, "invalid credentials with SASL mechanism SCRAM-SHA-512")
        ks.ck_roundtrip(ck, b, "SCRAM-SHA-512", "carol", PW2, topic, n=5)
        ck.eq(users(b), {"carol": [("SCRAM-SHA-512", 8192)]}, "list after the update")

    with ck.section("the Kafka API and the admin API see the same store"):
        w = ks.plain_login(b, "alice", "alice-secret")
        salt = os.urandom(20)
        res = ks.alter_scram(w, [], [("dave", ks.SHA256, 6000, salt, ks.salted_password("dave-pw", salt, 6000, ks.SHA256))])
        ck.eq(res["dave"], (0, None), "AlterUserScramCredentials dave")
        ck.eq(users(b), {"carol": [("SCRAM-SHA-512", 8192)], "dave": [("SCRAM-SHA-256", 6000)]}, "HTTP list has dave")
        rc, out, err, _ = cli(b, ["user", "create", "erin", "--password-stdin"], stdin=b"erin-pw\n")
        ck.eq(rc, 0, "create erin (default mechanism): %s" % err)
        top, dsc = ks.describe_scram(w, ["erin", "dave", "carol"])
        ck.eq((top, dsc["erin"], dsc["dave"], dsc["carol"]),
              (0, (0, [(ks.SHA256, 4096)]), (0, [(ks.SHA256, 6000)]), (0, [(ks.SHA512, 8192)])),
              "DescribeUserScramCredentials sees the CLI's users")
        ks.ck_roundtrip(ck, b, "SCRAM-SHA-256", "dave", "dave-pw", topic, n=3)
        rc, out, err, _ = cli(b, ["user", "delete", "dave"])
        ck.eq((rc, out.decode()), (0, "deleted user dave (SCRAM-SHA-256)\n"), "CLI delete dave: %s" % err)
        ck.eq(ks.describe_scram(w, ["dave"])[1]["dave"][0], ks.RESOURCE_NOT_FOUND, "Kafka API after the CLI delete")
        ck.eq(ks.alter_scram(w, [("erin", ks.SHA256)], [])["erin"], (0, None), "Kafka API deletes erin")
        ck.eq(sorted(users(b)), ["carol"], "HTTP list after the Kafka delete")
        w.close()
        ks.ck_auth_error(ck, b, "SCRAM-SHA-256", "dave", "dave-pw", "Invalid user credentials")

    with ck.section("delete: the login fails; exit 2 for a user without credentials"):
        ck.eq(cli(b, ["user", "create", "gina", "--password", "gina-pw", "--mechanism", "SCRAM-SHA-512"])[0], 0, "gina")
        ck.eq(cli(b, ["user", "create", "gina", "--password", "gina-pw", "--mechanism", "SCRAM-SHA-256"])[0], 0, "gina")
        rc, out, err, _ = cli(b, ["user", "delete", "gina", "--mechanism", "SCRAM-SHA-256"])
        ck.eq((rc, out.decode()), (0, "deleted user gina (SCRAM-SHA-256)\n"), "delete one mechanism: %s" % err)
        ks.ck_roundtrip(ck, b, "SCRAM-SHA-512", "gina", "gina-pw", topic, n=2)
        rc, out, err, _ = cli(b, ["user", "delete", "gina"])
        ck.eq(rc, 0, "delete gina: %s" % err)
        ks.ck_auth_error(ck, b, "SCRAM-SHA-512", "gina", "gina-pw", "Invalid user credentials")
        rc, out, err, _ = cli(b, ["user", "delete", "gina"])
        ck.eq(rc, 2, "delete again: exit 2 (%s)" % err.strip())
        ck.eq(cli(b, ["user", "list"], token="wrong")[0], 4, "wrong token: exit 4")
        ck.eq(cli(b, ["user", "create", "x"])[0], 1, "create without a password: exit 1")
        ck.eq(cli(b, ["user", "create", "x", "--password", "p", "--iterations", "100"])[0], 1, "iterations 100: exit 1")

    with ck.section("kill -9 keeps what the admin API stored"):
        ck.eq(cli(b, ["user", "create", "hank", "--password", "hank-pw", "--mechanism", "SCRAM-SHA-512"])[0], 0, "hank")
        b.restart(kill=True)
        wait_healthy(b)
        ck.eq(users(b), {"carol": [("SCRAM-SHA-512", 8192)], "hank": [("SCRAM-SHA-512", 4096)]}, "after kill -9")
        ks.ck_roundtrip(ck, b, "SCRAM-SHA-512", "hank", "hank-pw", topic, n=2)
        ks.ck_roundtrip(ck, b, "SCRAM-SHA-512", "carol", PW2, topic, n=2)
    b.stop()

    with ck.section("https_port with tls_verify and no token: the CLI with a client certificate"):
        if not shutil.which("openssl"):
            harness.skip("openssl missing")
        from tls_test import make_certs
        make_certs(d)
        https = harness.free_ports(1)[0]
        b2 = harness.start_broker(["-ms", str(https), "--tlscert", d + "/server.pem", "--tlskey", d + "/server.key",
                                   "--tlscacert", d + "/ca.pem", "--tlsverify"])
        if not harness.wait_port("127.0.0.1", https, 10, b2.proc):
            raise harness.CheckFailed("https port not open")
        tls = ["--admin", "https://localhost:%d" % https, "--admin-tlscacert", d + "/ca.pem"]
        mtls = tls + ["--admin-tlscert", d + "/client.pem", "--admin-tlskey", d + "/client.key"]
        rc, out, err, _ = sluice(mtls + ["user", "create", "ivan", "--password", "ivan-pw", "--mechanism",
                                         "SCRAM-SHA-512"], env={"SLUICE_ADMIN_TOKEN": ""})
        ck.eq((rc, out.decode()), (0, "created user ivan (SCRAM-SHA-512, 4096 iterations)\n"), "mTLS create: %s" % err)
        rc, out, err, _ = sluice(mtls + ["--json", "user", "list"])
        ck.eq((rc, json.loads(out or b"null")), (0, [{"username": "ivan", "mechanisms": [
            {"algorithm": "SCRAM-SHA-512", "iterations": 4096}]}]), "mTLS list: %s" % err)
        rc, out, err, _ = sluice(tls + ["user", "list"])
        ck.ok(rc in (3, 4) and not out, "no client certificate: exit %d (%s)" % (rc, err.strip()))
        rc, out, err, _ = sluice(mtls + ["user", "delete", "ivan"])
        ck.eq(rc, 0, "mTLS delete: %s" % err)
        b2.stop()


if __name__ == "__main__":
    harness.run("cli_user_test", body, modules=["confluent_kafka"], time_limit=200)
