#!/usr/bin/python3
"""nats_badinput_test.py: the NATS client protocol on raw sockets, as nats-server 2.9.10 speaks it
(/work/shared/docs/nats-subset.md §1-§7, §19): INFO shape, every -ERR text of §7 and whether the
server closes or stays, verbose +OK, echo:false, header pass-through byte for byte, headers
stripped for a headers:false subscriber, UNSUB with max, no-responders, argument whitespace. After
every bad input a witness connection must be unaffected (PING answered, a message delivered).

Runs against sluice-server (default), nats-server (SLUICE_NATS_REFERENCE=1) or a running server
(SLUICE_EXTERNAL_NATS=host:port). Every read has a deadline."""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import natsh  # noqa: E402
from natsh import Raw, CheckFailed  # noqa: E402

QUIET = b'CONNECT {"verbose":false,"pedantic":false}\r\n'
HDRS = b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true}\r\n'
CLOSE_WAIT = 3.0   # a fatal error must close the connection within this
OPEN_WAIT = 0.3    # and a non-fatal one must still be open after this


def parse_version(v):
    m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)(?:[-+].*)?", v)
    if not m:
        raise CheckFailed("INFO version %r is not semver" % v)
    return tuple(int(x) for x in m.groups())


def body(ck):
    t = natsh.start_nats()
    print("target: %s %s" % (t.kind, t.url))

    # Witness: one subscriber and one publisher that stay connected through every bad input.
    wsub = Raw(t)
    wsub.send(QUIET + b"SUB witness.> 1\r\nPING\r\n")
    ck.eq(wsub.read_line(), b"PONG\r\n", "witness subscriber PONG")
    wpub = Raw(t)
    wpub.send(QUIET + b"PING\r\n")
    ck.eq(wpub.read_line(), b"PONG\r\n", "witness publisher PONG")
    wn = [0]

    def witness(after):
        wn[0] += 1
        payload = b"w%d" % wn[0]
        subj = b"witness.%d" % wn[0]
        wpub.send(b"PUB %s %d\r\n%s\r\nPING\r\n" % (subj, len(payload), payload))
        ck.eq(wpub.read_line(), b"PONG\r\n", "witness publisher PONG after %s" % after)
        ck.eq(wsub.read_msg(), (b"MSG %s 1 %d" % (subj, len(payload)), payload),
              "witness message after %s" % after)
        wsub.send(b"PING\r\n")
        ck.eq(wsub.read_line(), b"PONG\r\n", "witness subscriber PONG after %s" % after)

    with ck.section("INFO: first line, space before CRLF, fields, version in [2.9.4, 2.10)"):
        r = Raw(t)
        line = r.info_line
        ck.ok(line.startswith(b"INFO {") and line.endswith(b"} \r\n"),
              "INFO line must be 'INFO {...} \\r\\n' (space before CRLF): %s" % natsh.show(line))
        info = json.loads(line[5:-3])
        for k in ("server_id", "server_name", "version"):
            ck.ok(isinstance(info.get(k), str) and info[k] != "", "INFO.%s non-empty string: %r"
                  % (k, info.get(k)))
        ck.eq(info.get("proto"), 1, "INFO.proto")
        ck.eq(info.get("headers"), True, "INFO.headers")
        ck.ok(isinstance(info.get("max_payload"), int), "INFO.max_payload is an int")
        if t.max_payload is not None:
            ck.eq(info["max_payload"], t.max_payload, "INFO.max_payload")
        t.max_payload = info["max_payload"]
        ver = parse_version(info["version"])
        if t.kind == "nats-server":
            ck.eq(info["version"], "2.9.10", "nats-server version")
        ck.ok((2, 9, 4) <= ver < (2, 10, 0), "INFO.version %s must be in [2.9.4, 2.10)"
              % info["version"])
        ck.ok("auth_required" not in info or info["auth_required"] is False,
              "no auth_required without auth: %r" % info.get("auth_required"))
        ck.ok(info.get("jetstream") in (None, False),
              "INFO.jetstream without -js: %r" % info.get("jetstream"))
        r.send(QUIET + b"PING\r\n")
        ck.eq(r.read_line(), b"PONG\r\n", "PONG after CONNECT")
        r.close()

    def fatal(name, data, want, connect=QUIET):
        """data after connect must produce exactly `want` (b'' = nothing) and a close."""
        with ck.section("fatal: %s -> %s + close" % (name, want.strip().decode() or "(no -ERR)")):
            r = Raw(t)
            r.send(connect + data)
            got, closed = r.read_until_close(CLOSE_WAIT)
            ck.eq(got, want, "%s: bytes before the close" % name)
            ck.ok(closed, "%s: server must close the connection (still open after %.0f s)"
                  % (name, CLOSE_WAIT))
            r.close()
            witness(name)

    def stays(name, data, want, connect=QUIET):
        """data + PING after connect must produce exactly want + PONG, and the connection stays."""
        with ck.section("stays open: %s" % name):
            r = Raw(t)
            r.send(connect + data + b"PING\r\n")
            got = b""
            while got.count(b"PONG\r\n") <= want.count(b"PONG\r\n") and len(got) < 4096:
                got += r.read_line()
            ck.eq(got, want + b"PONG\r\n", "%s: reply" % name)
            extra = r.read_for(OPEN_WAIT)
            ck.eq(extra, b"", "%s: nothing more" % name)
            ck.ok(not r.eof, "%s: connection must stay open" % name)
            r.send(b"PING\r\n")
            ck.eq(r.read_line(), b"PONG\r\n", "%s: PING answered afterwards" % name)
            r.close()
            witness(name)

    UNKNOWN = b"-ERR 'Unknown Protocol Operation'\r\n"
    fatal("unknown verb", b"FOO bar\r\n", UNKNOWN)
    fatal("client sends MSG", b"MSG foo 1 2\r\nhi\r\n", UNKNOWN)
    fatal("binary garbage", bytes([0x00, 0x01, 0x02, 0xff, 0xfe, 0x80, 0x0d, 0x0a]), UNKNOWN)
    fatal("PUB size mismatch (payload longer)", b"PUB foo 3\r\nabcdef\r\n", UNKNOWN)
    fatal("PUB size mismatch (payload shorter)", b"PUB foo 5\r\nab\r\nPING\r\n", UNKNOWN)
    fatal("control line > 4096 with CRLF", b"SUB " + b"a" * 5000 + b" 1\r\n",
          b"-ERR 'maximum control line exceeded'\r\n")
    fatal("control line > 4096 without CRLF", b"PUB " + b"a" * 5000,
          b"-ERR 'maximum control line exceeded'\r\n")
    fatal("PUB over max_payload", b"PUB foo %d\r\n" % (t.max_payload + 1),
          b"-ERR 'Maximum Payload Violation'\r\n")
    fatal("HPUB over max_payload", b"HPUB foo 12 %d\r\n" % (t.max_payload + 1),
          b"-ERR 'Maximum Payload Violation'\r\n", connect=HDRS)
    fatal("CONNECT protocol 2", b"", b"-ERR 'invalid client protocol'\r\n",
          connect=b'CONNECT {"verbose":false,"pedantic":false,"protocol":2}\r\n')
    fatal("no_responders without headers", b"",
          b"-ERR 'no responders requires headers support'\r\n",
          connect=b'CONNECT {"verbose":false,"pedantic":false,"no_responders":true,"headers":false}\r\n')
    fatal("PUB size not a number", b"PUB foo x\r\n", b"")
    fatal("SUB without sid", b"SUB foo\r\n", b"")
    fatal("malformed CONNECT JSON", b"", b"", connect=b"CONNECT {bad\r\n")
    stays("SUB a..b", b"SUB a..b 1\r\n", b"-ERR 'Invalid Subject'\r\n")
    stays("SUB a.>.b", b"SUB a.>.b 2\r\n", b"-ERR 'Invalid Subject'\r\n")
    stays("UNSUB of an unknown sid", b"UNSUB 99\r\nUNSUB 98 5\r\n", b"")
    stays("lower-case verbs", b"sub lc 1\r\npub lc 1\r\nx\r\nping\r\n",
          b"MSG lc 1 1\r\nx\r\nPONG\r\n")

    with ck.section("max_payload: exactly max_payload bytes are delivered"):
        n = t.max_payload
        s = Raw(t)
        s.send(QUIET + b"SUB big 1\r\nPING\r\n")
        ck.eq(s.read_line(), b"PONG\r\n", "sub PONG")
        p = Raw(t)
        data = bytes((i * 7 + 3) & 0xff for i in range(256)) * (n // 256) + b"z" * (n % 256)
        p.send(QUIET + b"PUB big %d\r\n" % n + data + b"\r\nPING\r\n")
        ck.eq(p.read_line(timeout=10), b"PONG\r\n", "pub PONG")
        ck.eq(s.read_msg(timeout=10), (b"MSG big 1 %d" % n, data), "max_payload message")
        s.close()
        p.close()
        witness("max_payload")

    with ck.section("verbose: +OK after CONNECT, SUB, PUB, HPUB, UNSUB; none after PING"):
        r = Raw(t)
        r.send(b'CONNECT {"verbose":true,"pedantic":false,"headers":true}\r\n'
               b"SUB vb.a 1\r\nPUB vb.z 2\r\nhi\r\nHPUB vb.z 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"
               b"UNSUB 1\r\nPING\r\n")
        got = [r.read_line() for _ in range(6)]
        ck.eq(got, [b"+OK\r\n"] * 5 + [b"PONG\r\n"], "verbose replies")
        r.send(b"PING\r\n")
        ck.eq(r.read_line(), b"PONG\r\n", "PING -> PONG only")
        ck.eq(r.read_for(OPEN_WAIT), b"", "nothing after PONG")
        r.close()
        # A CONNECT without "verbose" means verbose:true (server default), trap 2.
        r = Raw(t)
        r.send(b"CONNECT {}\r\nPING\r\n")
        ck.eq([r.read_line(), r.read_line()], [b"+OK\r\n", b"PONG\r\n"], "CONNECT {} is verbose")
        r.close()

    with ck.section("verbose: a PUB's +OK comes before the MSG it produced (own echo)"):
        r = Raw(t)
        r.send(b'CONNECT {"verbose":true,"echo":true}\r\n')
        ck.eq(r.read_line(), b"+OK\r\n", "+OK for CONNECT")
        r.send(b"SUB foo 1\r\nPUB foo 2\r\nhi\r\n")
        want = b"+OK\r\n" + b"+OK\r\n" + b"MSG foo 1 2\r\nhi\r\n"
        ck.eq(r.read_exact(len(want)), want, "+OK (SUB), +OK (PUB), then MSG, byte for byte")
        r.send(b"PING\r\n")
        ck.eq(r.read_line(), b"PONG\r\n", "then PONG, nothing in between")
        r.close()

    # pedantic (the CONNECT default): a PUB/HPUB subject with an empty or wildcard token gets a
    # non-fatal -ERR, after which nats-server 2.9.10 still routes the message and sends +OK;
    # a form feed inside a token passes. SUB refuses empty tokens with or without pedantic.
    PED = b'CONNECT {"verbose":false,"pedantic":true,"headers":true}\r\n'
    PEDV = b'CONNECT {"verbose":true,"pedantic":true,"headers":true}\r\n'
    BADPUB = b"-ERR 'Invalid Publish Subject'\r\n"
    BADSUB = b"-ERR 'Invalid Subject'\r\n"
    for subj in (b"a..b", b".a", b"a.", b".", b"a.b.", b"..", b"a.*", b"a.>", b">", b"*"):
        stays("pedantic PUB %s" % subj.decode(), b"PUB %s 1\r\nx\r\n" % subj, BADPUB, connect=PED)
        stays("pedantic HPUB %s" % subj.decode(), b"HPUB %s 12 12\r\nNATS/1.0\r\n\r\n\r\n" % subj, BADPUB,
              connect=PED)
    stays("pedantic PUB with a form feed", b"PUB a\x0cb 1\r\nx\r\n", b"", connect=PED)
    stays("pedantic PUB with a reply a..b", b"PUB a.b rep..ly 1\r\nx\r\n", b"", connect=PED)
    stays("pedantic PUB a.b.c", b"PUB a.b.c 1\r\nx\r\n", b"", connect=PED)
    stays("non-pedantic PUB a..b", b"PUB a..b 1\r\nx\r\n", b"")
    for subj in (b"a..b", b".a", b"a.", b".", b"a.>.b"):
        stays("pedantic SUB %s" % subj.decode(), b"SUB %s 1\r\n" % subj, BADSUB, connect=PED)
        stays("SUB %s" % subj.decode(), b"SUB %s 1\r\n" % subj, BADSUB)
    stays("queue name with a wildcard", b"SUB qn.t q.* 1\r\nPUB qn.t 1\r\nx\r\n",
          b"MSG qn.t 1 1\r\nx\r\n", connect=PED)
    stays("queue name with an empty token", b"SUB qn.u a..b 1\r\nPUB qn.u 1\r\ny\r\n",
          b"MSG qn.u 1 1\r\ny\r\n", connect=PED)
    stays("pedantic: -ERR, then the message is still routed", b"SUB pw.> 1\r\nPUB pw.> 1\r\nx\r\n",
          BADPUB + b"MSG pw.> 1 1\r\nx\r\n", connect=PED)
    stays("pedantic HPUB to a.>: -ERR, then HMSG", b"SUB ph.> 1\r\nHPUB ph.> 12 13\r\nNATS/1.0\r\n\r\nz\r\n",
          BADPUB + b"HMSG ph.> 1 12 13\r\nNATS/1.0\r\n\r\nz\r\n", connect=PED)
    stays("pedantic + verbose: -ERR, +OK, then MSG", b"SUB pv.> 1\r\nPUB pv.> 1\r\nx\r\n",
          b"+OK\r\n+OK\r\n" + BADPUB + b"+OK\r\nMSG pv.> 1 1\r\nx\r\n", connect=PEDV)
    stays("pedantic + verbose PUB a..b: -ERR then +OK", b"PUB a..b 1\r\nx\r\n",
          b"+OK\r\n" + BADPUB + b"+OK\r\n", connect=PEDV)
    stays("verbose SUB a..b: -ERR and no +OK", b"SUB a..b 1\r\n", b"+OK\r\n" + BADSUB, connect=PEDV)

    with ck.section("echo:false suppresses own messages, others still get them"):
        other = Raw(t)
        other.send(QUIET + b"SUB echo.t 7\r\nPING\r\n")
        ck.eq(other.read_line(), b"PONG\r\n", "other PONG")
        r = Raw(t)
        r.send(b'CONNECT {"verbose":false,"pedantic":false,"echo":false}\r\n'
               b"SUB echo.t 1\r\nPUB echo.t 3\r\nabc\r\nPING\r\n")
        ck.eq(r.read_line(), b"PONG\r\n", "echo:false: only PONG, no own MSG")
        ck.eq(other.read_msg(), (b"MSG echo.t 7 3", b"abc"), "other subscriber gets it")
        ck.eq(r.read_for(OPEN_WAIT), b"", "echo:false: nothing later either")
        # echo:true (default) delivers to itself
        e = Raw(t)
        e.send(QUIET + b"SUB echo.u 1\r\nPUB echo.u 3\r\nxyz\r\nPING\r\n")
        ck.eq(e.read_msg(), (b"MSG echo.u 1 3", b"xyz"), "echo:true: own MSG")
        ck.eq(e.read_line(), b"PONG\r\n", "echo:true: PONG after the MSG")
        for c in (other, r, e):
            c.close()

    with ck.section("argument whitespace: SUB s  1, UNSUB 1 , tabs, PUB with reply, zero bytes"):
        s = Raw(t)
        s.send(QUIET + b"SUB ws.a  1\r\nSUB\tws.b\t\t2\r\nSUB ws.c 3\r\nUNSUB 3 \r\nPING\r\n")
        ck.eq(s.read_line(), b"PONG\r\n", "PONG")
        p = Raw(t)
        p.send(QUIET + b"PUB ws.a 0\r\n\r\nPUB  ws.b   rep.ly   2\r\nhi\r\nPUB ws.c 1\r\nc\r\nPING\r\n")
        ck.eq(p.read_line(), b"PONG\r\n", "pub PONG")
        ck.eq(s.read_msg(), (b"MSG ws.a 1 0", b""), "zero-byte message")
        ck.eq(s.read_msg(), (b"MSG ws.b 2 rep.ly 2", b"hi"), "message with reply")
        s.send(b"PING\r\n")
        ck.eq(s.read_line(), b"PONG\r\n", "nothing for the unsubscribed ws.c")
        s.close()
        p.close()

    with ck.section("several matching subs on one connection: one MSG per sid"):
        s = Raw(t)
        s.send(QUIET + b"SUB multi.x 1\r\nSUB multi.* 2\r\nSUB multi.> 3\r\nPING\r\n")
        ck.eq(s.read_line(), b"PONG\r\n", "PONG")
        p = Raw(t)
        p.send(QUIET + b"PUB multi.x 2\r\nmm\r\nPING\r\n")
        ck.eq(p.read_line(), b"PONG\r\n", "pub PONG")
        got = sorted(s.read_msg() for _ in range(3))
        ck.eq(got, [(b"MSG multi.x %d 2" % i, b"mm") for i in (1, 2, 3)], "three MSGs")
        s.send(b"PING\r\n")
        ck.eq(s.read_line(), b"PONG\r\n", "no fourth MSG")
        s.close()
        p.close()

    with ck.section("headers: HMSG header block equals the HPUB one byte for byte"):
        hdr = (b"NATS/1.0\r\nX-Multi: one\r\nx-multi: two\r\nX-Multi:  three  \r\n"
               b"lower-case: v\r\nMiXeD-CaSe: a:b:c\r\nX-Multi: four\r\nEmpty:\r\n\r\n")
        payload = b"body\x00\xff\r\nend"
        s = Raw(t)
        s.send(HDRS + b"SUB hd.t 4\r\nPING\r\n")
        ck.eq(s.read_line(), b"PONG\r\n", "sub PONG")
        plain = Raw(t)  # headers:false subscriber: body only, as a plain MSG
        plain.send(QUIET + b"SUB hd.t 5\r\nPING\r\n")
        ck.eq(plain.read_line(), b"PONG\r\n", "plain sub PONG")
        p = Raw(t)
        p.send(HDRS + b"HPUB hd.t rep.to %d %d\r\n" % (len(hdr), len(hdr) + len(payload))
               + hdr + payload + b"\r\nPING\r\n")
        ck.eq(p.read_line(), b"PONG\r\n", "pub PONG")
        line, data = s.read_msg()
        ck.eq(line, b"HMSG hd.t 4 rep.to %d %d" % (len(hdr), len(hdr) + len(payload)),
              "HMSG control line")
        ck.eq(data[:len(hdr)], hdr, "header block byte for byte")
        ck.eq(data[len(hdr):], payload, "payload after the headers")
        ck.eq(plain.read_msg(), (b"MSG hd.t 5 rep.to %d" % len(payload), payload),
              "headers:false subscriber gets a plain MSG with the body only")
        # Status-line header and an empty payload pass unchanged too.
        hdr2 = b"NATS/1.0 503\r\n\r\n"
        p.send(b"HPUB hd.t %d %d\r\n" % (len(hdr2), len(hdr2)) + hdr2 + b"\r\nPING\r\n")
        ck.eq(p.read_line(), b"PONG\r\n", "pub PONG 2")
        ck.eq(s.read_msg(), (b"HMSG hd.t 4 16 16", hdr2), "status header, empty body")
        ck.eq(plain.read_msg(), (b"MSG hd.t 5 0", b""), "plain: empty body")
        for c in (s, plain, p):
            c.close()

    with ck.section("UNSUB with max: the server delivers exactly max, then removes the sub"):
        s = Raw(t)
        s.send(QUIET + b"SUB um.t 1\r\nUNSUB 1 3\r\nSUB um.t 2\r\nPING\r\n")
        ck.eq(s.read_line(), b"PONG\r\n", "PONG")
        p = Raw(t)
        p.send(QUIET + b"".join(b"PUB um.t 2\r\nm%d\r\n" % i for i in range(6)) + b"PING\r\n")
        ck.eq(p.read_line(), b"PONG\r\n", "pub PONG")
        s.send(b"PING\r\n")
        got = []
        for _ in range(40):
            line = s.read_line()
            if line == b"PONG\r\n":
                break
            n = int(line.split()[-1])
            got.append((line[:-2], s.read_exact(n + 2)[:-2]))
        want = []
        for i in range(6):
            if i < 3:
                want.append((b"MSG um.t 1 2", b"m%d" % i))
            want.append((b"MSG um.t 2 2", b"m%d" % i))
        ck.eq(sorted(got), sorted(want), "deliveries with UNSUB 1 3")
        ck.eq([g for g in got if g[0].split()[2] == b"1"],
              [(b"MSG um.t 1 2", b"m%d" % i) for i in range(3)], "sid 1: m0..m2 in order")
        # UNSUB max below what was already delivered removes the sub at once.
        s.send(b"SUB um.u 9\r\nPING\r\n")
        ck.eq(s.read_line(), b"PONG\r\n", "PONG 2")
        p.send(b"PUB um.u 1\r\na\r\nPUB um.u 1\r\nb\r\nPING\r\n")
        ck.eq(p.read_line(), b"PONG\r\n", "pub PONG 2")
        ck.eq([s.read_msg(), s.read_msg()], [(b"MSG um.u 9 1", b"a"), (b"MSG um.u 9 1", b"b")],
              "two on um.u")
        s.send(b"UNSUB 9 1\r\nPING\r\n")
        ck.eq(s.read_line(), b"PONG\r\n", "PONG 3")
        p.send(b"PUB um.u 1\r\nc\r\nPING\r\n")
        ck.eq(p.read_line(), b"PONG\r\n", "pub PONG 3")
        s.send(b"PING\r\n")
        ck.eq(s.read_line(), b"PONG\r\n", "nothing after UNSUB 9 1 with 2 already delivered")
        s.close()
        p.close()

    with ck.section("no responders: exact 503 HMSG to the requester; nothing without the flag"):
        r = Raw(t)
        r.send(HDRS + b"SUB _INBOX.nr.* 5\r\nPUB nobody.here _INBOX.nr.1 2\r\nhi\r\nPING\r\n")
        ck.eq(r.read_msg(), (b"HMSG _INBOX.nr.1 5 16 16", b"NATS/1.0 503\r\n\r\n"), "503 status")
        ck.eq(r.read_line(), b"PONG\r\n", "PONG after the 503")
        r.close()
        # headers without no_responders: no status message
        r = Raw(t)
        r.send(b'CONNECT {"verbose":false,"pedantic":false,"headers":true}\r\n'
               b"SUB _INBOX.nr2 5\r\nPUB nobody.here _INBOX.nr2 2\r\nhi\r\nPING\r\n")
        ck.eq(r.read_line(), b"PONG\r\n", "no 503 without no_responders")
        ck.eq(r.read_for(OPEN_WAIT), b"", "nothing later")
        r.close()
        # a PUB without reply to nobody: nothing
        r = Raw(t)
        r.send(HDRS + b"PUB nobody.here 2\r\nhi\r\nPING\r\n")
        ck.eq(r.read_line(), b"PONG\r\n", "no 503 without a reply subject")
        r.close()

    with ck.section("witness connections survived everything"):
        witness("the whole suite")
        wsub.close()
        wpub.close()

    if t.kind == "sluice":
        with ck.section("-js: INFO advertises JetStream (served since streams), and only with -js"):
            b = natsh.harness.Broker(["--jetstream=true"])
            b.start()  # waits for the Kafka port; the NATS one may open a moment later
            ck.ok(natsh.wait_port(b.host, b.nats_port, natsh.NATS_START_TIMEOUT, b.proc), "-js NATS port open")
            sock = _connect(b.host, b.nats_port)
            line = sock.read_line(answer_pings=False)
            info = json.loads(line[5:-3])
            ck.eq(info.get("jetstream"), True, "INFO.jetstream with -js")
            sock.send(QUIET + b"PING\r\n")
            ck.eq(sock.read_line(), b"PONG\r\n", "-js server answers PING")
            sock.close()
            sock = _connect(t.host, t.port)
            info = json.loads(sock.read_line(answer_pings=False)[5:-3])
            ck.ok("jetstream" not in info, "INFO without -js has no jetstream key: %r" % info.get("jetstream"))
            sock.close()
            b.stop()


class _Addr:
    def __init__(self, host, port):
        self.host, self.port = host, port


def _connect(host, port):
    return Raw(_Addr(host, port), read_info=False)


if __name__ == "__main__":
    natsh.run("nats_badinput_test", body, time_limit=240)
