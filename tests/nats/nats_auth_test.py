#!/usr/bin/python3
"""nats_auth_test.py: user/password and token authentication on the NATS port, with
nats-server's texts (nats-subset.md §7): INFO says auth_required; a CONNECT with wrong or no
credentials, or any operation before CONNECT, gets -ERR 'Authorization Violation' and the
connection closes; no CONNECT within auth_timeout gets -ERR 'Authentication Timeout'; the right
credentials connect and route messages. Sluice only: the flags are Sluice's (nats-server takes
them from a config file), so a reference or external target skips."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import natsh  # noqa: E402
from natsh import Raw  # noqa: E402


def info_of(conn):
    line = conn.info_line
    assert line.startswith(b"INFO ") and line.endswith(b" \r\n"), line
    return json.loads(line[5:].strip())


def expect_violation(ck, t, what, first):
    c = Raw(t)
    ck.ok(info_of(c).get("auth_required") is True, "%s: INFO has auth_required" % what)
    c.send(first)
    ck.eq(c.read_line(answer_pings=False), b"-ERR 'Authorization Violation'\r\n", what)
    ck.eq(c.read_until_close(), (b"", True), "%s: then the connection closes" % what)
    c.close()


def good_connection(ck, t, connect):
    a, b = Raw(t), Raw(t)
    for c in (a, b):
        c.send(connect + b"PING\r\n")
        ck.eq(c.read_line(), b"PONG\r\n", "authenticated connection answers PING")
    a.send(b"SUB auth.x 1\r\nPING\r\n")
    ck.eq(a.read_line(), b"PONG\r\n", "SUB accepted")
    b.send(b"PUB auth.x 5\r\nhello\r\n")
    ck.eq(a.read_msg(), (b"MSG auth.x 1 5", b"hello"), "message routed between authenticated clients")
    a.close()
    b.close()


def body(ck):
    if os.environ.get("SLUICE_EXTERNAL_NATS") or natsh.reference_binary():
        natsh.skip("authentication flags are Sluice's; run against sluice-server")
    base = b'CONNECT {"verbose":false,"pedantic":false%s}\r\n'

    with ck.section("user and password"):
        srv = natsh.SluiceNats({"user": "alice", "pass": "s3cret", "auth_timeout": "1s"}).start()
        expect_violation(ck, srv, "wrong password", base % b',"user":"alice","pass":"nope"')
        expect_violation(ck, srv, "no credentials", base % b"")
        expect_violation(ck, srv, "PUB before CONNECT", b"PUB a 1\r\nx\r\n")
        expect_violation(ck, srv, "token instead of a password", base % b',"auth_token":"s3cret"')
        c = Raw(srv)
        ck.eq(c.read_line(timeout=5, answer_pings=False), b"-ERR 'Authentication Timeout'\r\n",
              "no CONNECT within auth_timeout")
        ck.eq(c.read_until_close(), (b"", True), "then the connection closes")
        c.close()
        good_connection(ck, srv, base % b',"user":"alice","pass":"s3cret"')
        srv.broker.stop()

    with ck.section("token"):
        srv = natsh.SluiceNats({"auth": "t0ken"}).start()
        expect_violation(ck, srv, "wrong token", base % b',"auth_token":"other"')
        expect_violation(ck, srv, "user/pass instead of the token", base % b',"user":"t0ken","pass":"t0ken"')
        good_connection(ck, srv, base % b',"auth_token":"t0ken"')
        srv.broker.stop()

    with ck.section("no auth configured: INFO does not ask for it"):
        srv = natsh.SluiceNats({}).start()
        c = Raw(srv)
        ck.ok("auth_required" not in info_of(c), "no auth_required")
        c.send(b"PING\r\n")
        ck.eq(c.read_line(), b"PONG\r\n", "operations before CONNECT are fine without auth")
        c.close()
        srv.broker.stop()


if __name__ == "__main__":
    natsh.run("nats_auth_test", body, time_limit=120)
