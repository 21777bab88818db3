#!/usr/bin/python3
"""nats_users_test.py: authorization { users = [...] } from a nats-server config file, on raw
sockets, against sluice-server or (SLUICE_NATS_REFERENCE=1) nats-server 2.9.10 with the same
file: a bcrypt user connects, a wrong password or unknown user gets -ERR 'Authorization
Violation' and a close, as does a user whose allowed_connection_types leave out STANDARD; publish and subscribe permissions (allow, deny wins, wildcards, queue
groups) answer nats-server's exact -ERR and the connection stays open; a JetStream API call is a
publish like any other; malformed auth fields in CONNECT are refused, never a crash; SIGHUP
applies new permissions to connected clients."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import natsh  # noqa: E402
import harness  # noqa: E402
from natsh import Raw  # noqa: E402

# bcrypt of "s3cret" at cost 4 (libxcrypt's crypt with a $2b$ salt).
ALICE_HASH = "$2b$04$9RsH3nZfxDR5pybBGTCmp.t9PmaUG0Yt7VdIi59DH1HGDEPbMg3Re"
# bcrypt of "slowpw" at cost 13: about 0.4 s a check here.
SLOW_HASH = "$2b$13$TzZW9zcedw/Xxei7K8VAze9rb8I4iFLXRn78xAKFZuIxK5QmP5Fpy"


def conf(bob_publish, bob_subscribe='["orders.*", "q.> workers", "_INBOX.>"]'):
    return """
# users for nats_users_test.py
authorization {
  timeout: 10  # cost-13 bcrypt checks queue up on a loaded machine
  users = [
    {user: alice, password: "%s"}
    {user: slow, password: "%s"}
    {user: std, password: stdpw, allowed_connection_types: ["standard", "WEBSOCKET"]}
    {user: wsonly, password: wspw, allowed_connection_types: ["WEBSOCKET", "MQTT"]}
    {user: one, password: onepw, clients: "STANDARD"}
    {user: svc, password: svcpw, permissions: { subscribe: ["svc.>"], allow_responses: true }}
    {user: svc2, password: svcpw, permissions: {
      publish: ["log.>"], subscribe: "svc2.>", allow_responses: { max: 2, expires: "1s" } }}
    {user: bob, password: bobpw, permissions: {
      publish: { allow: %s, deny: ["orders.secret.>"] }
      subscribe: { allow: %s, deny: "orders.secret" }
    }}
  ]
}
""" % (ALICE_HASH, SLOW_HASH, bob_publish, bob_subscribe)


def connect(t, user, pw):
    c = Raw(t)
    c.send(b'CONNECT %s\r\nPING\r\n' % json.dumps({"verbose": False, "pedantic": False, "user": user,
                                                  "pass": pw}).encode())
    return c


def refused(ck, t, first, what):
    c = Raw(t)
    c.send(first)
    ck.eq(c.read_line(answer_pings=False), b"-ERR 'Authorization Violation'\r\n", what)
    ck.eq(c.read_until_close()[1], True, "%s: then the connection closes" % what)
    c.close()


def perm_err(kind, subj, queue=None):
    q = b' using queue "%s"' % queue if queue else b""
    return b"-ERR 'Permissions Violation for %s to \"%s\"%s'\r\n" % (kind, subj, q)


def bad_configs(ck):
    """Sluice only: a malformed file is refused at start with file:line and exit status 2."""
    import subprocess
    import tempfile
    d = tempfile.mkdtemp(prefix="sluice-badconf-")
    cases = (
        ("authorization {\n  users = [\n    {user: a, password: b\n  ]\n}\n", ":4: expected 'key = value' or 'key: value'"),
        ("authorization {\n  users = [ {user: a, password: b, permissions: {publish: \"a..b\"}} ]\n}\n",
         ":2: authorization.users[0].permissions.publish: 'a..b' is not a valid subject"),
        ("authorization {\n  users = [ {user: a, password: \"$2a$04$short\"} ]\n}\n", "not a valid one"),
        ("include other.conf\n", ":1: include is not supported"),
        ("authorization {\n  users = [ {nkey: UNOTAKEY} ]\n}\n", "is not a user nkey"),
        ("authorization {\n  users = [ {user: a, password: b, permissions: {allow_responses: maybe}} ]\n}\n",
         "allow_responses: expected a boolean or a map"),
        ("authorization {\n  users = [ {user: a, password: b, permissions: {allow_responses: {expires: 5}}} ]\n}\n",
         "'5' is not a duration"),
        ("authorization {\n  users = [ {user: a, password: b, allowed_connection_types: [\"BOGUS\"]} ]\n}\n",
         ':2: authorization.users[0].allowed_connection_types: unknown connection type "BOGUS"'),
    )
    for i, (text, want) in enumerate(cases):
        path = os.path.join(d, "bad%d.conf" % i)
        with open(path, "w") as f:
            f.write(text)
        r = subprocess.run([harness.server_binary(), "-c", path, "-t"], capture_output=True, text=True, timeout=30)
        ck.eq(r.returncode, 2, "bad config %d: exit status 2 (%s)" % (i, r.stderr.strip()))
        ck.ok(path + ":" in r.stderr and want in r.stderr, "bad config %d names file and line: %s" % (i, r.stderr))
    import shutil
    shutil.rmtree(d, ignore_errors=True)


def body(ck):
    if os.environ.get("SLUICE_EXTERNAL_NATS"):
        natsh.skip("needs its own configuration")
    if not natsh.reference_binary():
        with ck.section("malformed configs"):
            bad_configs(ck)
    srv = natsh.ConfNats(conf('["orders.>", "$JS.API.INFO"]'), jetstream=True)
    t = srv.start()

    with ck.section("passwords"):
        c = Raw(t)
        info = json.loads(c.info_line[5:].strip())
        ck.eq(info.get("auth_required"), True, "INFO says auth_required")
        ck.ok("nonce" not in info, "no nonce without nkey users")
        c.close()
        a = connect(t, "alice", "s3cret")
        ck.eq(a.read_line(), b"PONG\r\n", "bcrypt user connects")
        refused(ck, t, b'CONNECT {"verbose":false,"user":"alice","pass":"s3cret!"}\r\nPING\r\n', "wrong password")
        refused(ck, t, b'CONNECT {"verbose":false,"user":"carol","pass":"x"}\r\nPING\r\n', "unknown user")
        refused(ck, t, b'CONNECT {"verbose":false,"user":"alice"}\r\nPING\r\n', "no password")
        # allowed_connection_types: STANDARD (any case, a list or one string) lets a client in; a
        # user allowed only websocket and MQTT is refused as a wrong password is.
        for user, pw in (("std", "stdpw"), ("one", "onepw")):
            c = connect(t, user, pw)
            ck.eq(c.read_line(), b"PONG\r\n", "%s (allowed_connection_types with STANDARD) connects" % user)
            c.close()
        refused(ck, t, b'CONNECT {"verbose":false,"user":"wsonly","pass":"wspw"}\r\nPING\r\n',
                "allowed_connection_types without STANDARD")
        refused(ck, t, b'CONNECT {"verbose":false,"nkey":"UXYZ","sig":"!!"}\r\nPING\r\n', "a bogus nkey")
        # A field of the wrong type is a CONNECT nats-server cannot decode: it closes without a word.
        for bad in (b'"user":5,"pass":true', b'"user":"bob","pass":"bobpw","nkey":[1]', b'"auth_token":{}'):
            c = Raw(t)
            c.send(b'CONNECT {"verbose":false,%s}\r\nPING\r\n' % bad)
            ck.eq(c.read_until_close(), (b"", True), "CONNECT with %s: closed" % bad.decode())
            c.close()

    with ck.section("bcrypt checks do not hold up other clients"):
        # Four CONNECTs whose checks cost ~0.4 s each are read first; a connected client's
        # PING is answered meanwhile (on the loop it would wait at least for the one in hand), and
        # what each slow client sent after its CONNECT is read once its check is done.
        slow = []
        for i in range(4):
            c = Raw(t)
            c.send(b'CONNECT {"verbose":false,"pedantic":false,"user":"slow","pass":"slowpw"}\r\n'
                   b'SUB s.%d 1\r\nPUB s.%d 2\r\nhi\r\nPING\r\n' % (i, i))
            slow.append(c)
        wrong = Raw(t)
        wrong.send(b'CONNECT {"verbose":false,"user":"slow","pass":"slowpx"}\r\nPING\r\n')
        gone = Raw(t)
        gone.send(b'CONNECT {"verbose":false,"user":"slow","pass":"slowpw"}\r\nPING\r\n')
        gone.close()  # closed while its check runs: the verdict finds no one
        time.sleep(0.05)
        t0 = time.monotonic()
        a.send(b"PING\r\n")
        ck.eq(a.read_line(), b"PONG\r\n", "PING during the checks")
        rtt = time.monotonic() - t0
        print("     PING round trip while 4 cost-13 checks run: %.1f ms" % (rtt * 1000))
        ck.ok(rtt < 0.15, "PING answered in %.0f ms while bcrypt checks ran (want < 150)" % (rtt * 1000))
        for i, c in enumerate(slow):
            ck.eq(c.read_msg(), (b"MSG s.%d 1 2" % i, b"hi"), "slow client %d: SUB and PUB after CONNECT" % i)
            ck.eq(c.read_line(), b"PONG\r\n", "slow client %d: PONG" % i)
            c.close()
        line = wrong.read_line(answer_pings=False)
        for _ in range(3):  # nats-server's first PING may come while the check runs
            if line != b"PING\r\n":
                break
            line = wrong.read_line(answer_pings=False)
        ck.eq(line, b"-ERR 'Authorization Violation'\r\n", "wrong slow password")
        ck.eq(wrong.read_until_close()[1], True, "then the connection closes")
        wrong.close()

    with ck.section("permissions"):
        b = connect(t, "bob", "bobpw")
        ck.eq(b.read_line(), b"PONG\r\n", "bob connects")
        a.send(b"SUB orders.> 1\r\nPING\r\n")
        ck.eq(a.read_line(), b"PONG\r\n", "alice (no permissions) subscribes to anything")
        b.send(b"PUB orders.new 2\r\nok\r\nPING\r\n")
        ck.eq(b.read_line(), b"PONG\r\n", "allowed publish")
        ck.eq(a.read_msg(), (b"MSG orders.new 1 2", b"ok"), "delivered")
        for subj in (b"orders.secret.x", b"billing.x"):
            b.send(b"PUB %s 2\r\nno\r\nPING\r\n" % subj)
            ck.eq(b.read_line(), perm_err(b"Publish", subj), "publish to %s refused" % subj.decode())
            ck.eq(b.read_line(), b"PONG\r\n", "the connection stays open")
        for subj, queue in ((b"orders.secret", None), (b"billing.x", None), (b"orders.a.b", None),
                            (b"q.a", None), (b"q.a", b"others")):
            b.send(b"SUB %s %s 7\r\nPING\r\n" % (subj, queue or b""))
            ck.eq(b.read_line(), perm_err(b"Subscription", subj, queue),
                  "subscription to %s %s refused" % (subj.decode(), queue))
            ck.eq(b.read_line(), b"PONG\r\n", "the connection stays open")
        b.send(b"SUB orders.* 8\r\nSUB q.a workers 9\r\nPING\r\n")
        ck.eq(b.read_line(), b"PONG\r\n", "allowed subscriptions, plain and queue")
        a.send(b"PUB orders.x 1\r\nA\r\nPUB orders.secret 1\r\nS\r\nPUB q.a 1\r\nQ\r\n")
        ck.eq(b.read_msg(), (b"MSG orders.x 8 1", b"A"), "bob receives on orders.*")
        # orders.secret is denied to bob: nats-server keeps it from his orders.* subscription.
        ck.eq(b.read_msg(), (b"MSG q.a 9 1", b"Q"), "queue subscription receives, orders.secret not delivered")
        b.send(b"PUB $JS.API.STREAM.CREATE.S _INBOX.r 2\r\n{}\r\nPING\r\n")
        ck.eq(b.read_line(), perm_err(b"Publish", b"$JS.API.STREAM.CREATE.S"), "no stream without $JS.API publish")
        ck.eq(b.read_line(), b"PONG\r\n", "still open")

    with ck.section("allow_responses"):
        rq = connect(t, "alice", "s3cret")  # the requester: alice may publish anything
        ck.eq(rq.read_line(), b"PONG\r\n", "requester connects")
        svc = connect(t, "svc", "svcpw")
        ck.eq(svc.read_line(), b"PONG\r\n", "svc connects")
        svc.send(b"SUB svc.req 1\r\nPING\r\n")
        ck.eq(svc.read_line(), b"PONG\r\n", "svc subscribes")
        rq.send(b"SUB _INBOX.r1 5\r\nSUB _INBOX.r2 6\r\nPUB svc.req _INBOX.r1 3\r\nreq\r\nPING\r\n")
        ck.eq(rq.read_line(), b"PONG\r\n", "request sent")
        ck.eq(svc.read_msg(), (b"MSG svc.req 1 _INBOX.r1 3", b"req"), "svc gets the request with its reply subject")
        svc.send(b"PUB _INBOX.r1 3\r\nans\r\nPING\r\n")
        ck.eq(svc.read_line(), b"PONG\r\n", "the answer is allowed")
        ck.eq(rq.read_msg(), (b"MSG _INBOX.r1 5 3", b"ans"), "the requester gets it")
        for subj, what in ((b"_INBOX.r1", "a second answer (max 1)"), (b"_INBOX.r2", "a reply subject never delivered"),
                           (b"svc.other", "any other subject (no publish list: nothing else)")):
            svc.send(b"PUB %s 1\r\nx\r\nPING\r\n" % subj)
            ck.eq(svc.read_line(), perm_err(b"Publish", subj), what + ": refused")
            ck.eq(svc.read_line(), b"PONG\r\n", what + ": the connection stays open")
        svc2 = connect(t, "svc2", "svcpw")
        ck.eq(svc2.read_line(), b"PONG\r\n", "svc2 connects")
        svc2.send(b"SUB svc2.req 1\r\nPUB log.x 1\r\nL\r\nPING\r\n")
        ck.eq(svc2.read_line(), b"PONG\r\n", "svc2 keeps its publish list")
        rq.send(b"PUB svc2.req _INBOX.r2 1\r\nq\r\nPING\r\n")
        ck.eq(rq.read_line(), b"PONG\r\n", "second request sent")
        ck.eq(svc2.read_msg(), (b"MSG svc2.req 1 _INBOX.r2 1", b"q"), "svc2 gets it")
        svc2.send(b"PUB _INBOX.r2 2\r\nA1\r\nPUB _INBOX.r2 2\r\nA2\r\nPUB _INBOX.r2 2\r\nA3\r\nPING\r\n")
        ck.eq(svc2.read_line(), perm_err(b"Publish", b"_INBOX.r2"), "a third answer (max 2): refused")
        ck.eq(svc2.read_line(), b"PONG\r\n", "open")
        ck.eq(rq.read_msg(), (b"MSG _INBOX.r2 6 2", b"A1"), "first answer delivered")
        ck.eq(rq.read_msg(), (b"MSG _INBOX.r2 6 2", b"A2"), "second answer delivered")
        rq.send(b"PUB svc2.req _INBOX.r2 1\r\nq\r\nPING\r\n")
        ck.eq(rq.read_line(), b"PONG\r\n", "third request sent")
        ck.eq(svc2.read_msg(), (b"MSG svc2.req 1 _INBOX.r2 1", b"q"), "svc2 gets it")
        time.sleep(1.3)
        svc2.send(b"PUB _INBOX.r2 2\r\nA4\r\nPING\r\n")
        ck.eq(svc2.read_line(), perm_err(b"Publish", b"_INBOX.r2"), "an answer after expires (1s): refused")
        ck.eq(svc2.read_line(), b"PONG\r\n", "open")
        rq.close()
        svc.close()
        svc2.close()

    with ck.section("reload"):
        srv.rewrite(conf('["billing.>"]', '["q.> workers"]'))
        deadline = time.monotonic() + 10
        got = None
        sub_errs = []
        while time.monotonic() < deadline:
            b.send(b"PUB billing.x 1\r\nB\r\nPING\r\n")
            got = b.read_line()
            while got.startswith(b"-ERR 'Permissions Violation for Subscription"):
                sub_errs.append(got)
                got = b.read_line()
            if got == b"PONG\r\n":
                break
            ck.eq(got, perm_err(b"Publish", b"billing.x"), "before the reload lands")
            ck.eq(b.read_line(), b"PONG\r\n", "open")
            time.sleep(0.1)
        ck.eq(got, b"PONG\r\n", "after SIGHUP bob may publish to billing.x on his open connection")
        ck.eq(sub_errs, [b"-ERR 'Permissions Violation for Subscription to \"orders.*\" (sid \"8\")'\r\n"],
              "his orders.* subscription is dropped, said once with its sid")
        a.send(b"UNSUB 1\r\nPUB orders.y 1\r\nY\r\nPING\r\n")
        time.sleep(0.3)
        b.send(b"PING\r\n")
        ck.eq(b.read_line(), b"PONG\r\n", "orders.y no longer reaches bob")
        b.send(b"PUB orders.new 1\r\nX\r\nPING\r\n")
        ck.eq(b.read_line(), perm_err(b"Publish", b"orders.new"), "and no longer to orders.new")
        ck.eq(b.read_line(), b"PONG\r\n", "open")
        n = connect(t, "bob", "bobpw")
        ck.eq(n.read_line(), b"PONG\r\n", "new connection")
        n.send(b"PUB orders.new 1\r\nX\r\nPING\r\n")
        ck.eq(n.read_line(), perm_err(b"Publish", b"orders.new"), "new connections get the new permissions")
        for c in (a, b, n):
            c.close()


if __name__ == "__main__":
    natsh.run("nats_users_test", body, time_limit=90)
