#!/usr/bin/python3
"""kafka_restart_test: a broker restarted under a running confluent-kafka producer keeps every
acknowledged message at its offset, byte for byte.

Phase 1: 500 messages (acks=all) over about a second; after 250, another thread sends the broker
SIGTERM (it must exit 0) and starts it again on the same data dir and ports while messages keep
coming and the producer retries. Every message must be delivered exactly once: offsets 0..499, no gap, no
duplicate, each message at the offset its delivery report gave.
Phase 2: 500 more (acks=all), with kill -9 after 250. Every delivery report must be true
(the message at that offset), the log has no gap, phase 1 is untouched, messages acked before the
kill appear exactly once and the log holds nothing but our messages (a batch written but not
acked before the kill may be stored twice after the producer's retry: allowed and counted).
Finally a clean restart and everything is read again, identical.
"""
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import ckutil  # noqa: E402

from confluent_kafka import Producer  # noqa: E402

PER_PHASE = 500


def make(rng, first, n):
    ts = int(time.time() * 1000) - 3600 * 1000
    return [{"partition": 0, "key": b"m%05d" % i, "headers": [("i", b"%d" % i)], "ts": ts + i,
             "value": rng.randbytes(rng.choice([0, 10, 100, 1000, 4000]))} for i in range(first, first + n)]


def produce_with(ck, broker, topic, msgs, interrupt):
    """Produces msgs; after half of them, interrupt() runs in another thread while producing
    goes on. Returns delivery reports [(err, offset, acked_before_interrupt)]."""
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 2,
                  "batch.num.messages": 20, "message.timeout.ms": 90000,
                  "reconnect.backoff.ms": 50, "reconnect.backoff.max.ms": 500,
                  "enable.idempotence": False})
    reports = [None] * len(msgs)
    phase = {"before": True}

    def cb(i):
        return lambda err, m: reports.__setitem__(i, (err, m.offset(), phase["before"]))

    worker = None
    errors = []

    def run_interrupt():
        try:
            interrupt()
        except BaseException as e:  # noqa: B902 - reported by the main thread
            errors.append(e)

    for i, m in enumerate(msgs):
        if i == len(msgs) // 2:
            p.poll(0)
            phase["before"] = False  # reports polled from here on may come after the stop
            acked = sum(1 for r in reports if r is not None)
            print("     interrupting with %d of %d messages acked" % (acked, i))
            worker = threading.Thread(target=run_interrupt)
            worker.start()
        p.produce(topic, key=m["key"], value=m["value"], headers=m["headers"], partition=0,
                  timestamp=m["ts"], on_delivery=cb(i))
        p.poll(0)
        time.sleep(0.002)  # ~1 s of producing, the restart in the middle of it
    worker.join(60)
    ck.ok(not worker.is_alive(), "%s: restart did not finish within 60 s" % topic)
    if errors:
        raise errors[0]
    ck.eq(p.flush(90), 0, "%s: messages still undelivered 90 s after the restart" % topic)
    for i, r in enumerate(reports):
        ck.ok(r is not None and r[0] is None, "%s: delivery of %s failed: %s"
              % (topic, msgs[i]["key"], r and r[0]))
    return reports


def read_all(ck, broker, topic):
    end = ckutil.high_watermarks(broker.bootstrap, topic, 1)[0]
    got = ckutil.consume(broker.bootstrap, topic, {0: end})[0]
    ck.eq([g["offset"] for g in got], list(range(end)), "%s: offsets (no gaps)" % topic)
    return got


def same(ck, g, m, what):
    ck.eq((g["key"], g["value"], g["headers"], g["ts"]), (m["key"], m["value"], m["headers"], m["ts"]),
          what)


def body(ck):
    rng = random.Random(0x2e57a27)
    broker = harness.start_broker()
    if broker.external:
        harness.skip("restarts its own broker (SLUICE_EXTERNAL_KAFKA is set)")
    topic = harness.unique("restart")
    probe = Producer({"bootstrap.servers": broker.bootstrap})
    ckutil.wait_topic(probe, topic)
    probe.flush(1)

    phase1 = make(rng, 0, PER_PHASE)
    with ck.section("phase 1: SIGTERM restart while producing"):
        reports = produce_with(ck, broker, topic, phase1, lambda: broker.restart())
        ck.eq(sorted(r[1] for r in reports), list(range(PER_PHASE)),
              "phase 1: reported offsets (each exactly once)")
        got = read_all(ck, broker, topic)
        ck.eq(len(got), PER_PHASE, "phase 1: messages in the log")
        for m, r in zip(phase1, reports):
            same(ck, got[r[1]], m, "phase 1: message %s at its reported offset %d" % (m["key"], r[1]))

    phase2 = make(rng, PER_PHASE, PER_PHASE)
    with ck.section("phase 2: kill -9 and start while producing (acks=all)"):
        reports = produce_with(ck, broker, topic, phase2, lambda: broker.restart(kill=True))
        got = read_all(ck, broker, topic)
        for i, m in enumerate(phase1):
            same(ck, got[i], m, "phase 2: phase-1 message at offset %d" % i)
        for m, r in zip(phase2, reports):
            ck.ok(PER_PHASE <= r[1] < len(got), "phase 2: %s reported at offset %d, log ends at %d"
                  % (m["key"], r[1], len(got)))
            same(ck, got[r[1]], m, "phase 2: message %s at its reported offset %d" % (m["key"], r[1]))
        by_key = {m["key"]: m for m in phase2}
        seen = {}
        for g in got[PER_PHASE:]:
            ck.ok(g["key"] in by_key, "phase 2: unknown record at offset %d: key %s"
                  % (g["offset"], g["key"]))
            same(ck, g, by_key[g["key"]], "phase 2: record at offset %d" % g["offset"])
            seen[g["key"]] = seen.get(g["key"], 0) + 1
        for m, r in zip(phase2, reports):
            if r[2]:
                ck.eq(seen.get(m["key"]), 1, "phase 2: copies of %s (acked before the kill)" % m["key"])
        dups = sum(n - 1 for n in seen.values())
        print("     %d records after phase 2; %d duplicates from retries of unacked batches"
              % (len(got), dups))

    with ck.section("clean restart: everything reads back the same"):
        before = read_all(ck, broker, topic)
        broker.restart()
        after = read_all(ck, broker, topic)
        ck.eq(len(after), len(before), "records after the clean restart")
        for a, b in zip(after, before):
            ck.eq((a["key"], a["value"], a["headers"], a["ts"]), (b["key"], b["value"], b["headers"], b["ts"]),
                  "offset %d after the clean restart" % b["offset"])


if __name__ == "__main__":
    harness.run("kafka_restart_test", body, modules=["confluent_kafka"])
