#!/usr/bin/python3
"""js_pending_test.py: CONSUMER.INFO's num_pending / num_ack_pending stay exact while messages leave
the stream for every reason, on raw sockets, as nats-server 2.9.10 counts them: limits (max_msgs
pushing the oldest out, several per publish burst), STREAM.PURGE, STREAM.MSG.DELETE, and the
consumers' own acks on a work queue (another consumer's acks must not move a filtered consumer's
count) and on an interest stream.

Runs against sluice-server --jetstream (default), nats-server -js (SLUICE_NATS_REFERENCE=1) or
a running server (SLUICE_EXTERNAL_NATS=host:port, with JetStream and no streams named LIM, WQP,
INTP). Every read has a deadline."""
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "nats"))
import natsh  # noqa: E402
from natsh import Raw, CheckFailed  # noqa: E402

CONNECT = b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true}\r\n'


class Client:
    """API replies on _R.<n> (sid 1), pull inboxes _N.<x> (sid 2)."""

    def __init__(self, t):
        self.r = Raw(t)
        self.n = 0
        self.r.send(CONNECT + b"SUB _R.* 1\r\nSUB _N.* 2\r\nPING\r\n")
        line = self.r.read_line()
        if line != b"PONG\r\n":
            raise CheckFailed("CONNECT: %s" % natsh.show(line))

    def api(self, subj, body=b""):
        if isinstance(body, dict):
            body = json.dumps(body, separators=(",", ":")).encode()
        self.n += 1
        inbox = b"_R.%d" % self.n
        self.r.send(b"PUB %s %s %d\r\n%s\r\n" % (subj.encode(), inbox, len(body), body))
        line, data = self.r.read_msg()
        if line.split()[:2] != [b"MSG", inbox]:
            raise CheckFailed("reply to %s: %s %s" % (subj, natsh.show(line), natsh.show(data)))
        return json.loads(data)

    def ok(self, ck, subj, body=b""):
        got = self.api(subj, body)
        ck.ok("error" not in got, "%s: %s" % (subj, natsh.show(got)))
        return got

    def publish_many(self, subj, n):
        """n publishes with acks in one write; waits for every PubAck."""
        self.r.send(b"".join(b"PUB %s _R.p %d\r\nm-%d\r\n" % (subj.encode(), len(b"m-%d" % i), i)
                             for i in range(n)))
        for _ in range(n):
            line, data = self.r.read_msg()
            if line.split()[:2] != [b"MSG", b"_R.p"] or b"error" in data:
                raise CheckFailed("PubAck on %s: %s %s" % (subj, natsh.show(line), natsh.show(data)))

    def pull_ack(self, consumer, n):
        """Pulls n messages (batch n, no_wait) and acks each; returns their stream sequences."""
        body = json.dumps({"batch": n, "no_wait": True}).encode()
        self.r.send(b"PUB $JS.API.CONSUMER.MSG.NEXT.%s _N.x %d\r\n%s\r\n" % (consumer.encode(), len(body), body))
        seqs = []
        for _ in range(n):
            line, data = self.r.read_msg()
            p = line.split()
            if p[0] != b"MSG" or len(p) != 5:
                raise CheckFailed("pull %s: %s %s" % (consumer, natsh.show(line), natsh.show(data)))
            seqs.append(int(p[3].split(b".")[5]))
            self.r.send(b"PUB %s 0\r\n\r\n" % p[3])
        return seqs

    def counts(self, consumer):
        info = self.api("$JS.API.CONSUMER.INFO.%s" % consumer)
        return (info["num_pending"], info["num_ack_pending"], info["delivered"]["stream_seq"],
                info["ack_floor"]["stream_seq"])

    def wait_counts(self, ck, consumer, want, what, seconds=5.0):
        """Acks are asynchronous: polls CONSUMER.INFO until it shows want (bounded)."""
        deadline = time.monotonic() + seconds
        got = self.counts(consumer)
        while got != want and time.monotonic() < deadline:
            time.sleep(0.02)
            got = self.counts(consumer)
        ck.eq(got, want, "%s: (num_pending, num_ack_pending, delivered.stream_seq, ack_floor.stream_seq)" % what)


def body(ck):
    t = natsh.start_nats(jetstream=True)
    print("target: %s %s" % (t.kind, t.url))
    c = Client(t)

    with ck.section("limits: max_msgs, purge and MSG.DELETE move num_pending"):
        c.ok(ck, "$JS.API.STREAM.CREATE.LIM", {"name": "LIM", "subjects": ["lim.*"], "max_msgs": 10})
        c.ok(ck, "$JS.API.CONSUMER.CREATE.LIM.C", {"stream_name": "LIM", "config": {
            "durable_name": "C", "ack_policy": "explicit"}})
        c.publish_many("lim.a", 25)
        c.wait_counts(ck, "LIM.C", (10, 0, 0, 0), "25 published, max_msgs 10")
        ck.eq(c.pull_ack("LIM.C", 3), [16, 17, 18], "the 3 oldest kept")
        c.wait_counts(ck, "LIM.C", (7, 0, 18, 18), "3 pulled and acked")
        c.publish_many("lim.a", 5)
        c.wait_counts(ck, "LIM.C", (10, 0, 18, 18), "5 more: the 5 oldest (3 delivered ones) pushed out")
        c.ok(ck, "$JS.API.STREAM.MSG.DELETE.LIM", {"seq": 25})
        c.wait_counts(ck, "LIM.C", (9, 0, 18, 18), "MSG.DELETE of an undelivered message")
        c.ok(ck, "$JS.API.STREAM.PURGE.LIM")
        c.wait_counts(ck, "LIM.C", (0, 0, 30, 30), "after PURGE")
        c.ok(ck, "$JS.API.STREAM.DELETE.LIM")

    with ck.section("work queue: one filtered consumer's acks leave the other's num_pending alone"):
        c.ok(ck, "$JS.API.STREAM.CREATE.WQP", {"name": "WQP", "subjects": ["wqp.*"], "retention": "workqueue"})
        for name, f in (("A", "wqp.a"), ("B", "wqp.b")):
            c.ok(ck, "$JS.API.CONSUMER.CREATE.WQP.%s" % name, {"stream_name": "WQP", "config": {
                "durable_name": name, "ack_policy": "explicit", "filter_subject": f}})
        c.publish_many("wqp.a", 40)
        c.publish_many("wqp.b", 20)
        c.wait_counts(ck, "WQP.B", (20, 0, 0, 0), "B before A acks")
        ck.eq(c.pull_ack("WQP.A", 30), list(range(1, 31)), "A's 30 oldest")
        c.wait_counts(ck, "WQP.A", (10, 0, 30, 30), "A after 30 acks")
        c.wait_counts(ck, "WQP.B", (20, 0, 0, 0), "B after A's 30 acks")
        ck.eq(c.pull_ack("WQP.B", 5), list(range(41, 46)), "B's 5 oldest")
        c.wait_counts(ck, "WQP.B", (15, 0, 45, 45), "B after 5 acks")
        c.wait_counts(ck, "WQP.A", (10, 0, 30, 30), "A after B's acks")
        info = c.api("$JS.API.STREAM.INFO.WQP")
        ck.eq((info["state"]["messages"], info["state"]["first_seq"]), (25, 31), "WQP state")
        c.ok(ck, "$JS.API.STREAM.DELETE.WQP")

    with ck.section("interest: a message leaves once both consumers acked it"):
        c.ok(ck, "$JS.API.STREAM.CREATE.INTP", {"name": "INTP", "subjects": ["intp.*"], "retention": "interest"})
        for name in ("A", "B"):
            c.ok(ck, "$JS.API.CONSUMER.CREATE.INTP.%s" % name, {"stream_name": "INTP", "config": {
                "durable_name": name, "ack_policy": "explicit"}})
        c.publish_many("intp.x", 20)
        ck.eq(c.pull_ack("INTP.A", 12), list(range(1, 13)), "A's 12")
        c.wait_counts(ck, "INTP.A", (8, 0, 12, 12), "A after 12 acks")
        c.wait_counts(ck, "INTP.B", (20, 0, 0, 0), "B before acking")
        ck.eq(c.pull_ack("INTP.B", 15), list(range(1, 16)), "B's 15")
        c.wait_counts(ck, "INTP.B", (5, 0, 15, 15), "B after 15 acks")
        c.wait_counts(ck, "INTP.A", (8, 0, 12, 12), "A after B's acks")
        info = c.api("$JS.API.STREAM.INFO.INTP")
        ck.eq((info["state"]["messages"], info["state"]["first_seq"]), (8, 13), "INTP state: 1..12 gone")
        c.ok(ck, "$JS.API.STREAM.DELETE.INTP")


if __name__ == "__main__":
    natsh.run("js_pending_test", body, time_limit=120)
