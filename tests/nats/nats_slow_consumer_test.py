#!/usr/bin/python3
"""nats_slow_consumer_test.py: a subscriber that never reads is cut off, and broker memory stays
bounded (nats-subset.md §8, trap 24).

Server with max_pending 8MB. A raw-socket subscriber with a small receive buffer subscribes and
then never reads. A publisher pushes 200 MB (3,200 x 64 KiB) to the same subject, keeping at most
8 MiB in flight to a second, healthy subscriber (so only the stalled one can fall behind). Checks:
the stalled connection is closed by the server (EOF once drained, well before 200 MB arrived);
the healthy subscriber got every message byte for byte in order; the publisher is still served
(PING answered, a new message delivered); the server's VmRSS (sampled every 20 ms from
/proc/PID/status) stays under SLUICE_NATS_RSS_MB (default 150). Against an external server the
limits cannot be set: the test skips."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import natsh  # noqa: E402
from natsh import Raw, CheckFailed  # noqa: E402

QUIET = b'CONNECT {"verbose":false,"pedantic":false}\r\n'
MSG_SIZE = 64 * 1024
TOTAL = 200 * 1024 * 1024
COUNT = TOTAL // MSG_SIZE
IN_FLIGHT = 8 * 1024 * 1024
RSS_LIMIT_MB = int(os.environ.get("SLUICE_NATS_RSS_MB", "150"))


def payload(i):
    return (b"%08d" % i) * (MSG_SIZE // 8)


class Reader(threading.Thread):
    """Reads MSGs from a raw connection, checks them against payload(i) in order, counts."""

    def __init__(self, conn, subject, sid):
        super().__init__(daemon=True)
        self.conn, self.want_line = conn, b"MSG %s %s %d" % (subject, sid, MSG_SIZE)
        self.count = 0
        self.error = None
        self.stop = False

    def run(self):
        try:
            while not self.stop and self.count < COUNT:
                line, data = self.conn.read_msg(timeout=30)
                if line != self.want_line:
                    raise CheckFailed("healthy subscriber: message %d line %r" % (self.count, line))
                if data != payload(self.count):
                    raise CheckFailed("healthy subscriber: message %d payload differs (starts %r)"
                                      % (self.count, data[:16]))
                self.count += 1
        except Exception as e:  # noqa: B902 - reported by the main thread
            self.error = e


def body(ck):
    os.environ["ASAN_OPTIONS"] = ":".join(
        x for x in (os.environ.get("ASAN_OPTIONS"), "quarantine_size_mb=16") if x)
    t = natsh.start_nats(max_pending="8MB", write_deadline="2s")
    if not t.configured:
        natsh.skip("needs a server started with max_pending 8MB (SLUICE_EXTERNAL_NATS is set)")
    print("target: %s %s pid %s" % (t.kind, t.url, t.pid))
    rss = {"max": 0, "samples": 0}
    sampling = [True]

    def sample():
        while sampling[0]:
            v = t.rss_kb()
            if v:
                rss["max"] = max(rss["max"], v)
                rss["samples"] += 1
            time.sleep(0.02)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start_rss = t.rss_kb()

    subj = b"slow.t"
    slow = Raw(t, rcvbuf=16 * 1024)
    slow.send(QUIET + b"SUB slow.t 1\r\nPING\r\n")
    ck.eq(slow.read_line(), b"PONG\r\n", "stalled subscriber PONG")
    good = Raw(t, timeout=30)
    good.send(QUIET + b"SUB slow.t 2\r\nPING\r\n")
    ck.eq(good.read_line(), b"PONG\r\n", "healthy subscriber PONG")
    reader = Reader(good, subj, b"2")
    reader.start()
    pub = Raw(t, timeout=30)
    pub.send(QUIET + b"PING\r\n")
    ck.eq(pub.read_line(), b"PONG\r\n", "publisher PONG")

    with ck.section("publish 200 MB while one subscriber never reads"):
        t0 = time.monotonic()
        deadline = t0 + 120
        head = b"PUB slow.t %d\r\n" % MSG_SIZE
        batch = 32  # 2 MiB per sendall
        i = 0
        while i < COUNT:
            while (i - reader.count) * MSG_SIZE > IN_FLIGHT and reader.error is None:
                if time.monotonic() > deadline:
                    raise CheckFailed("healthy subscriber stuck at %d of %d published"
                                      % (reader.count, i))
                time.sleep(0.001)
            if reader.error:
                raise reader.error
            n = min(batch, COUNT - i)
            pub.send(b"".join(head + payload(i + k) + b"\r\n" for k in range(n)))
            i += n
        pub.send(b"PING\r\n")
        ck.eq(pub.read_line(timeout=60), b"PONG\r\n", "publisher PONG after 200 MB")
        reader.join(timeout=max(1, deadline - time.monotonic()))
        if reader.error:
            raise reader.error
        ck.eq(reader.count, COUNT, "healthy subscriber: messages received in order, byte-exact")
        el = time.monotonic() - t0
        print("     %d MB in %.1f s (%.0f MB/s)" % (TOTAL >> 20, el, TOTAL / el / 1e6))

    with ck.section("the stalled subscriber was closed by the server"):
        got, closed = slow.read_until_close(timeout=20, limit=TOTAL + (1 << 20))
        ck.ok(closed, "stalled subscriber still open after draining %d bytes for 20 s "
              "(the server must close a slow consumer)" % len(got))
        ck.ok(len(got) < TOTAL // 2, "stalled subscriber received %d of %d bytes before the close: "
              "the server buffered far more than max_pending" % (len(got), TOTAL))
        print("     the stalled subscriber got %.1f MB before the close" % (len(got) / 1e6))
        slow.close()

    with ck.section("publisher and healthy subscriber keep working"):
        pub.send(b"PUB slow.t 5\r\nafter\r\nPING\r\n")
        ck.eq(pub.read_line(), b"PONG\r\n", "publisher PONG")
        ck.eq(good.read_msg(timeout=10), (b"MSG slow.t 2 5", b"after"), "healthy subscriber")
        fresh = Raw(t)
        fresh.send(QUIET + b"SUB slow.t 3\r\nPING\r\n")
        ck.eq(fresh.read_line(), b"PONG\r\n", "new connection PONG")
        pub.send(b"PUB slow.t 3\r\nnew\r\n")
        ck.eq(fresh.read_msg(), (b"MSG slow.t 3 3", b"new"), "new subscriber")
        ck.eq(good.read_msg(), (b"MSG slow.t 2 3", b"new"), "healthy subscriber again")
        for c in (fresh, good, pub):
            c.close()

    sampling[0] = False
    sampler.join(timeout=2)
    with ck.section("server RSS stayed under %d MB" % RSS_LIMIT_MB):
        if not rss["samples"]:
            natsh.skip("no /proc/PID/status for the server (set SLUICE_EXTERNAL_NATS_PID)")
        print("     VmRSS start %.1f MB, max %.1f MB (%d samples)"
              % ((start_rss or 0) / 1024, rss["max"] / 1024, rss["samples"]))
        ck.ok(rss["max"] < RSS_LIMIT_MB * 1024, "server VmRSS reached %.1f MB (limit %d MB)"
              % (rss["max"] / 1024, RSS_LIMIT_MB))


if __name__ == "__main__":
    natsh.run("nats_slow_consumer_test", body, time_limit=240)
