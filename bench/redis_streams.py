#!/usr/bin/python3
"""redis_streams.py: a work queue on Redis 7 streams, what a redis-py user sees (Debian's
python3-redis), the Redis row of bench/run.sh's work-queue table.

    /usr/bin/python3 bench/redis_streams.py --port P [--size 128] [--seconds 2] [--stream NAME]

A publisher thread XADDs --size byte payloads in pipelines of 256 for --seconds while a consumer
(its own connection, consumer group "wq") reads with XREADGROUP COUNT 256 BLOCK 100 and XACKs
each batch; after the publisher stops the consumer drains. Rate = messages consumed and acked /
(first XADD -> last XACK). Fails (exit 1) unless every message was read exactly once, in order.
Prints one line: RESULT mode=workqueue msgs=N consumed=N secs=S rate=R.
"""
import argparse
import sys
import threading
import time

import redis

PIPE = 256


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--stream", default="wq")
    a = ap.parse_args()
    pub = redis.Redis(host="127.0.0.1", port=a.port, socket_timeout=10)
    sub = redis.Redis(host="127.0.0.1", port=a.port, socket_timeout=10)
    pub.delete(a.stream)
    pub.xgroup_create(a.stream, "wq", id="0", mkstream=True)
    payload = b"x" * a.size
    published = [0]
    done = threading.Event()

    def publish():
        end = time.monotonic() + a.seconds
        n = 0
        while time.monotonic() < end:
            p = pub.pipeline(transaction=False)
            for i in range(PIPE):
                p.xadd(a.stream, {b"n": str(n + i).encode(), b"v": payload})
            p.execute()
            n += PIPE
        published[0] = n
        done.set()

    t0 = time.monotonic()
    th = threading.Thread(target=publish)
    th.start()
    consumed, expect = 0, 0
    deadline = t0 + a.seconds + 30
    while time.monotonic() < deadline:
        if done.is_set() and consumed >= published[0]:
            break
        r = sub.xreadgroup("wq", "c1", {a.stream: ">"}, count=PIPE, block=100)
        if not r:
            continue
        ids = []
        for _, entries in r:
            for mid, fields in entries:
                if int(fields[b"n"]) != expect:
                    sys.exit("redis_streams: got message %s, expected %d" % (fields[b"n"], expect))
                expect += 1
                ids.append(mid)
        sub.xack(a.stream, "wq", *ids)
        consumed += len(ids)
    el = time.monotonic() - t0
    th.join()
    if consumed != published[0]:
        sys.exit("redis_streams: consumed %d of %d" % (consumed, published[0]))
    pending = sub.xpending(a.stream, "wq")["pending"]
    if pending:
        sys.exit("redis_streams: %d messages left unacked" % pending)
    pub.delete(a.stream)
    print("RESULT mode=workqueue msgs=%d consumed=%d secs=%.3f rate=%.0f" % (published[0], consumed, el, consumed / el))


if __name__ == "__main__":
    main()
