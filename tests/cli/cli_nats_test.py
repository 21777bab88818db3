#!/usr/bin/python3
"""cli_nats_test: the sluice CLI's NATS commands against sluice-server --jetstream (default) or
the reference nats-server 2.9.10 -js (SLUICE_NATS_REFERENCE=1), started by tests/nats/natsh.py.
What the CLI sends and what it reports are checked on a raw socket of our own (the NATS text
protocol and $JS.API JSON read directly), never through the CLI itself.

- pub: DATA with two headers and stdin lines arrive byte for byte on a raw subscriber (HMSG/MSG).
- sub --count 2 --json prints exactly the raw publishes (subject, reply, data, headers).
- req/reply: a reply TEXT, --echo, no responders (exit 2), a silent subject (exit 3, bounded).
- stream add (subjects, max-msgs, max-age, storage, discard) as $JS.API.STREAM.INFO sees it;
  info/list --json after 5 publishes; consumer add/info/list/next (data exact, acks seen in
  the ack floor)/delete; purge; delete; unknown stream and consumer exit 2.
- dlq (Sluice only, its native dead-letter queue): three messages past max_deliver land in
  WORK_DLQ; `dlq list --json` shows them with their origin; `dlq replay` puts them back into
  WORK (data and headers exact, no Sluice-Dlq-* headers) and empties WORK_DLQ.
- stream add --dlq SUBJECT: on Sluice the config's "dlq" is set ($JS.API.STREAM.INFO), `stream
  info` shows it, and a message past max_deliver lands in the stream holding SUBJECT, not in
  the default {stream}_DLQ; nats-server ignores the field, so add exits 4 and says so.
- an unreachable server exits 3 within the timeout.
"""
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "nats"))
sys.path.insert(0, HERE)
import natsh  # noqa: E402
from natsh import Raw, CheckFailed  # noqa: E402
import cliutil  # noqa: E402

CONNECT = b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true}\r\n'


class RawClient:
    def __init__(self, t):
        self.r = Raw(t)
        self.n = 0
        self.r.send(CONNECT + b"SUB _R.* 1\r\nPING\r\n")
        line = self.r.read_line()
        if line != b"PONG\r\n":
            raise CheckFailed("CONNECT: %r" % line)

    def sync(self):
        self.r.send(b"PING\r\n")
        while self.r.read_line() != b"PONG\r\n":
            pass

    def read_msg(self):
        """The next MSG/HMSG: (subject, reply, header block bytes or None, payload)."""
        line = self.r.read_line().decode().split()
        if line[0] == "MSG":
            subj, reply, size = line[1], (line[3] if len(line) == 5 else None), int(line[-1])
            data = self.r.read_exact(size + 2)[:-2]
            return subj, reply, None, data
        if line[0] == "HMSG":
            subj, reply = line[1], (line[3] if len(line) == 6 else None)
            hlen, total = int(line[-2]), int(line[-1])
            blob = self.r.read_exact(total + 2)[:total]
            return subj, reply, blob[:hlen], blob[hlen:]
        raise CheckFailed("expected MSG/HMSG, got %r" % line)

    def api(self, subj, body=b""):
        self.n += 1
        inbox = b"_R.%d" % self.n
        self.r.send(b"PUB %s %s %d\r\n%s\r\n" % (subj.encode(), inbox, len(body), body))
        for _ in range(100):
            _, reply, _, data = self.read_msg()
            return json.loads(data)
        raise CheckFailed("no API reply")


def cli(t, args, stdin=b"", timeout=30):
    return cliutil.sluice(["--server", t.url] + list(args), stdin, timeout)


def ok(ck, t, args, stdin=b""):
    rc, out, err, _ = cli(t, args, stdin)
    ck.eq(rc, 0, "%s: exit code (stderr: %s)" % (" ".join(args[:3]), err.strip()))
    return out


def background(t, args):
    """Starts the CLI listening (sub/reply) and waits (bounded) for its 'listening on' line."""
    e = dict(os.environ)
    e.pop("SLUICE_SERVER", None)
    p = subprocess.Popen([cliutil.cli_binary(), "--server", t.url] + args, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=e)
    line = b""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not line.startswith(b"listening on"):
        line = p.stderr.readline()
        if not line and p.poll() is not None:
            break
    if not line.startswith(b"listening on"):
        p.kill()
        raise CheckFailed("%s: did not start listening (%r)" % (args, line))
    return p


def core(ck, t):
    raw = RawClient(t)
    raw.r.send(b"SUB cli.> 7\r\n")
    raw.sync()
    ok(ck, t, ["pub", "cli.a", "hello \u00e9 world", "--header", "K1=v1", "--header", "K2=v 2"])
    subj, reply, hdr, data = raw.read_msg()
    ck.eq((subj, reply, data), ("cli.a", None, "hello \u00e9 world".encode()), "pub DATA")
    lines = sorted(hdr.decode().split("\r\n")[1:-2])
    ck.eq((hdr[:10], lines), (b"NATS/1.0\r\n", ["K1: v1", "K2: v 2"]), "pub headers")
    ok(ck, t, ["pub", "cli.lines"], b"one\ntwo two\n\nfour")
    got = [raw.read_msg() for _ in range(4)]
    ck.eq([(g[0], g[3]) for g in got], [("cli.lines", b"one"), ("cli.lines", b"two two"),
                                        ("cli.lines", b""), ("cli.lines", b"four")], "pub stdin lines")
    ok(ck, t, ["pub", "cli.r", "x", "--reply", "my.inbox"])
    ck.eq(raw.read_msg()[:2], ("cli.r", "my.inbox"), "pub --reply")

    p = background(t, ["--json", "sub", "cli.s.*", "--count", "2"])
    raw.r.send(b"PUB cli.s.1 rep.1 5\r\nfirst\r\n")
    h = b"NATS/1.0\r\nA: b\r\n\r\n"
    raw.r.send(b"HPUB cli.s.2 %d %d\r\n%s%s\r\n" % (len(h), len(h) + 6, h, b"second"))
    raw.sync()
    out, _ = p.communicate(timeout=15)
    ck.eq(p.returncode, 0, "sub: exit code")
    ck.eq([json.loads(x) for x in out.decode().splitlines()],
          [{"subject": "cli.s.1", "reply": "rep.1", "data": "first", "headers": []},
           {"subject": "cli.s.2", "reply": None, "data": "second", "headers": [["A", "b"]]}],
          "sub --json")

    p = background(t, ["reply", "svc.time", "it is noon", "--count", "1"])
    ck.eq(ok(ck, t, ["req", "svc.time", "what time?"]), b"it is noon\n", "req/reply TEXT")
    p.wait(timeout=10)
    ck.eq(p.returncode, 0, "reply --count 1: exit code")
    p = background(t, ["reply", "svc.echo", "--echo", "--count", "1"])
    ck.eq(ok(ck, t, ["req", "svc.echo", "echo \u00fc me"]), "echo \u00fc me\n".encode(), "req/reply --echo")
    p.wait(timeout=10)
    rc, _, err, _ = cli(t, ["req", "svc.none", "x"])
    ck.eq(rc, 2, "req without responders: exit code (%s)" % err.strip())
    ck.ok("no responders" in err, "req without responders: message %r" % err)
    # A subscriber that never answers: the request times out (exit 3) within the timeout.
    raw.r.send(b"SUB svc.silent 9\r\n")
    raw.sync()
    rc, _, err, secs = cli(t, ["--timeout", "1s", "req", "svc.silent", "x"])
    ck.eq(rc, 3, "req to a silent subscriber: exit code (%s)" % err.strip())
    ck.ok(secs < 5, "req timeout took %.1f s" % secs)


def wait_msgs(ck, raw, stream, want):
    deadline = time.monotonic() + 10
    info = None
    while time.monotonic() < deadline:
        info = raw.api("$JS.API.STREAM.INFO." + stream)
        if info.get("state", {}).get("messages") == want:
            return info
        time.sleep(0.05)
    raise CheckFailed("stream %s: %s messages, want %d" % (stream, info, want))


def streams(ck, t):
    raw = RawClient(t)
    out = ok(ck, t, ["--json", "stream", "add", "CLIS", "--subjects", "clis.a,clis.b.*",
                     "--subjects", "clis.c", "--max-msgs", "1000", "--max-age", "1h",
                     "--storage", "file", "--discard", "old", "--dupe-window", "30s"])
    ck.eq(json.loads(out)["config"]["subjects"], ["clis.a", "clis.b.*", "clis.c"], "add --json: subjects")
    cfg = raw.api("$JS.API.STREAM.INFO.CLIS")["config"]
    ck.eq((cfg["subjects"], cfg["retention"], cfg["max_msgs"], cfg["max_age"], cfg["storage"],
           cfg["discard"], cfg["duplicate_window"]),
          (["clis.a", "clis.b.*", "clis.c"], "limits", 1000, 3600 * 10**9, "file", "old", 30 * 10**9),
          "stream as the server sees it")
    rc, _, err, _ = cli(t, ["stream", "add", "CLIS2", "--subjects", "clis.a"])
    ck.eq(rc, 4, "overlapping subjects: exit code (%s)" % err.strip())
    payloads = [b"m%d \xc3\xa9" % i for i in range(5)]
    for i, p in enumerate(payloads):
        ok(ck, t, ["pub", "clis.b.%d" % i, p.decode()])
    info = wait_msgs(ck, raw, "CLIS", 5)
    d = json.loads(ok(ck, t, ["--json", "stream", "info", "CLIS"]))
    ck.eq((d["state"]["messages"], d["state"]["bytes"], d["state"]["first_seq"], d["state"]["last_seq"]),
          (5, info["state"]["bytes"], 1, 5), "stream info --json state")
    names = [s["config"]["name"] for s in json.loads(ok(ck, t, ["--json", "stream", "list"]))]
    ck.ok("CLIS" in names, "stream list has CLIS: %s" % names)
    text = ok(ck, t, ["stream", "info", "CLIS"]).decode()
    ck.ok("Messages: 5" in text, "stream info text: %r" % text)

    ok(ck, t, ["consumer", "add", "CLIS", "w", "--filter", "clis.b.*", "--max-deliver", "4",
               "--ack-wait", "20s", "--max-ack-pending", "50"])
    ci = raw.api("$JS.API.CONSUMER.INFO.CLIS.w")
    ck.eq((ci["config"]["durable_name"], ci["config"]["filter_subject"], ci["config"]["max_deliver"],
           ci["config"]["ack_wait"], ci["config"]["max_ack_pending"], ci["config"]["ack_policy"]),
          ("w", "clis.b.*", 4, 20 * 10**9, 50, "explicit"), "consumer as the server sees it")
    out = ok(ck, t, ["consumer", "next", "CLIS", "w", "--count", "3"])
    ck.eq(out, b"".join(p + b"\n" for p in payloads[:3]), "consumer next --count 3: data")
    ci = raw.api("$JS.API.CONSUMER.INFO.CLIS.w")
    ck.eq((ci["ack_floor"]["stream_seq"], ci["num_ack_pending"], ci["num_pending"]), (3, 0, 2),
          "acks of next seen by the server")
    out = ok(ck, t, ["--json", "consumer", "next", "CLIS", "w", "--count", "1", "--no-ack"])
    m = json.loads(out)
    ck.eq((m["subject"], m["data"]), ("clis.b.3", payloads[3].decode()), "next --json --no-ack")
    d = json.loads(ok(ck, t, ["--json", "consumer", "info", "CLIS", "w"]))
    ck.eq((d["num_ack_pending"], d["ack_floor_stream_seq"], d["delivered_stream_seq"], d["num_pending"]),
          (1, 3, 4, 1), "consumer info --json")
    lst = json.loads(ok(ck, t, ["--json", "consumer", "list", "CLIS"]))
    ck.eq([c["name"] for c in lst], ["w"], "consumer list")
    ok(ck, t, ["consumer", "delete", "CLIS", "w"])
    rc, _, err, _ = cli(t, ["consumer", "info", "CLIS", "w"])
    ck.eq(rc, 2, "info of a deleted consumer: exit code (%s)" % err.strip())

    ok(ck, t, ["stream", "purge", "CLIS"])
    info = raw.api("$JS.API.STREAM.INFO.CLIS")
    ck.eq((info["state"]["messages"], info["state"]["first_seq"]), (0, 6), "after purge")
    ok(ck, t, ["stream", "delete", "CLIS"])
    ck.eq(raw.api("$JS.API.STREAM.INFO.CLIS").get("error", {}).get("err_code"), 10059, "deleted")
    for args in (["stream", "info", "CLIS"], ["stream", "purge", "CLIS"], ["stream", "delete", "CLIS"],
                 ["consumer", "add", "CLIS", "x"], ["consumer", "next", "NOPE", "x"]):
        rc, _, err, _ = cli(t, args)
        ck.eq(rc, 2, "%s of an unknown stream: exit code (%s)" % (" ".join(args[:2]), err.strip()))
    # A work queue: retention and the next/ack removal.
    ok(ck, t, ["stream", "add", "CLIWQ", "--subjects", "cliwq.>", "--retention", "workqueue"])
    ok(ck, t, ["pub", "cliwq.x"], b"a\nb\n")
    wait_msgs(ck, raw, "CLIWQ", 2)
    ok(ck, t, ["consumer", "add", "CLIWQ", "wq"])
    ck.eq(ok(ck, t, ["consumer", "next", "CLIWQ", "wq", "--count", "5", "--timeout", "2s"]), b"a\nb\n",
          "work queue next (2 of up to 5)")
    wait_msgs(ck, raw, "CLIWQ", 0)
    ok(ck, t, ["stream", "delete", "CLIWQ"])


def dlq(ck, t):
    if t.kind != "sluice":
        raise natsh.Skip("the native dead-letter queue is Sluice's own")
    raw = RawClient(t)
    ok(ck, t, ["stream", "add", "WORK", "--subjects", "work.orders", "--retention", "workqueue"])
    ok(ck, t, ["stream", "add", "WORK_DLQ", "--subjects", "dead.work"])
    data = [b"order 1", b"order 2 \xc3\xbc", b"order 3"]
    ok(ck, t, ["pub", "work.orders", "--header", "Trace=abc"], b"\n".join(data) + b"\n")
    wait_msgs(ck, raw, "WORK", 3)
    ok(ck, t, ["consumer", "add", "WORK", "w", "--max-deliver", "1", "--ack-wait", "500ms"])
    ck.eq(ok(ck, t, ["consumer", "next", "WORK", "w", "--count", "3", "--no-ack"]),
          b"".join(d + b"\n" for d in data), "deliveries left unacked")
    # Past its ack wait with max_deliver 1, each message is dead-lettered (Sluice checks when
    # a pull asks for more: this one finds nothing to deliver and times out, exit 3).
    time.sleep(0.7)
    rc, _, err, _ = cli(t, ["--timeout", "1s", "consumer", "next", "WORK", "w"])
    ck.eq(rc, 3, "nothing left to deliver (%s)" % err.strip())
    wait_msgs(ck, raw, "WORK_DLQ", 3)
    lst = json.loads(ok(ck, t, ["--json", "dlq", "list", "WORK_DLQ"]))
    ck.eq([(m["seq"], m["data"].encode()) for m in lst], [(1, data[0]), (2, data[1]), (3, data[2])],
          "dlq list: data")
    for i, m in enumerate(lst):
        h = dict((k, v) for k, v in m["headers"])
        ck.eq((h.get("Trace"), h.get("Sluice-Dlq-Stream"), h.get("Sluice-Dlq-Sequence"),
               h.get("Sluice-Dlq-Consumer"), h.get("Sluice-Dlq-Reason")),
              ("abc", "WORK", str(i + 1), "w", "max_deliveries"), "dlq list: headers of %d" % i)
    text = ok(ck, t, ["dlq", "list", "WORK_DLQ"]).decode()
    ck.ok("max_deliveries" in text and "order 3" in text, "dlq list table: %r" % text)
    ck.eq(ok(ck, t, ["dlq", "replay", "WORK_DLQ"]), b"replayed 3 dead letters from WORK_DLQ\n", "replay")
    wait_msgs(ck, raw, "WORK_DLQ", 0)
    info = wait_msgs(ck, raw, "WORK", 3)
    ck.eq((info["state"]["first_seq"], info["state"]["last_seq"]), (4, 6), "replayed into WORK as 4..6")
    out = ok(ck, t, ["--json", "consumer", "next", "WORK", "w", "--count", "3"])
    got = [json.loads(x) for x in out.decode().splitlines()]
    ck.eq([(m["subject"], m["data"].encode(), m["headers"]) for m in got],
          [("work.orders", d, [["Trace", "abc"]]) for d in data], "replayed messages: exact")
    wait_msgs(ck, raw, "WORK", 0)
    rc, _, err, _ = cli(t, ["dlq", "list", "NOPE_DLQ"])
    ck.eq(rc, 2, "dlq list of an unknown stream: exit code (%s)" % err.strip())
    ok(ck, t, ["stream", "delete", "WORK"])
    ok(ck, t, ["stream", "delete", "WORK_DLQ"])


def dlq_flag(ck, t):
    raw = RawClient(t)
    if t.kind != "sluice":
        rc, _, err, _ = cli(t, ["stream", "add", "WORK3", "--subjects", "work3.x", "--dlq", "dead3.x"])
        ck.eq(rc, 4, "--dlq on a server without dead-letter streams: exit code")
        ck.ok("ignored --dlq" in err, "--dlq ignored: message %r" % err)
        ok(ck, t, ["stream", "delete", "WORK3"])
        return
    ok(ck, t, ["stream", "add", "DEAD", "--subjects", "dead.other"])
    ck.eq(ok(ck, t, ["stream", "add", "WORK2", "--subjects", "work2.x", "--retention", "workqueue",
                     "--dlq", "dead.other"]), b"created stream WORK2, dead letters to dead.other\n", "add --dlq")
    info = wait_msgs(ck, raw, "WORK2", 0)
    ck.eq(info["config"].get("dlq"), "dead.other", "the stream config's dlq, as $JS.API sees it")
    ck.ok(b"Dead letters: the stream holding dead.other" in ok(ck, t, ["stream", "info", "WORK2"]),
          "stream info shows the dead-letter subject")
    ck.eq(json.loads(ok(ck, t, ["--json", "stream", "info", "WORK2"]))["config"]["dlq"], "dead.other",
          "stream info --json")
    ok(ck, t, ["pub", "work2.x", "poison \x01"])
    wait_msgs(ck, raw, "WORK2", 1)
    ok(ck, t, ["consumer", "add", "WORK2", "w", "--max-deliver", "1", "--ack-wait", "500ms"])
    ck.eq(ok(ck, t, ["consumer", "next", "WORK2", "w", "--no-ack"]), b"poison \x01\n", "delivered once")
    time.sleep(0.7)
    rc, _, _, _ = cli(t, ["--timeout", "1s", "consumer", "next", "WORK2", "w"])
    ck.eq(rc, 3, "nothing left to deliver")
    wait_msgs(ck, raw, "DEAD", 1)
    lst = json.loads(ok(ck, t, ["--json", "dlq", "list", "DEAD"]))
    ck.eq([(m["data"], dict(m["headers"]).get("Sluice-Dlq-Stream")) for m in lst], [("poison \x01", "WORK2")],
          "the dead letter is in DEAD, from WORK2")
    rc, _, _, _ = cli(t, ["stream", "info", "WORK2_DLQ"])
    ck.eq(rc, 2, "no default WORK2_DLQ was used")
    ok(ck, t, ["stream", "delete", "WORK2"])
    ok(ck, t, ["stream", "delete", "DEAD"])


def errors(ck, t):
    dead = "nats://127.0.0.1:%d" % natsh.free_ports(1)[0]
    for args in (["pub", "a", "b"], ["stream", "list"], ["sub", "x", "--count", "1"]):
        rc, _, err, secs = cliutil.sluice(["--server", dead, "--timeout", "2s"] + args, timeout=30)
        ck.eq(rc, 3, "unreachable %s: exit code" % args[0])
        ck.ok("cannot reach" in err and dead in err, "unreachable: message %r" % err)
        ck.ok(secs < 6, "unreachable %s took %.1f s" % (args[0], secs))
    for args in (["stream", "add"], ["consumer", "next", "S"], ["pub"], ["stream", "add", "S", "--retention", "x"]):
        rc, _, _, _ = cli(t, args)
        ck.eq(rc, 1, "usage %s: exit code" % args)


def body(ck):
    t = natsh.start_nats(jetstream=True)
    print("server: %s %s" % (t.kind, t.url))
    with ck.section("core NATS: pub, sub, req, reply"):
        core(ck, t)
    with ck.section("JetStream: stream and consumer commands"):
        streams(ck, t)
    with ck.section("dlq: list and replay dead letters"):
        dlq(ck, t)
    with ck.section("stream add --dlq"):
        dlq_flag(ck, t)
    with ck.section("errors: unreachable, usage"):
        errors(ck, t)


if __name__ == "__main__":
    natsh.run("cli_nats_test", body, time_limit=110)
