#!/usr/bin/python3
"""kafka_crash_test: a kill -9 campaign under real Kafka clients, as our users run them.

One broker with `fsync group` (KCRASH_FSYNC=none|group|append picks another policy: a kill -9 is
not a power loss, so none must lose nothing either), one topic of 3 partitions, and for the whole
run:
  - one confluent-kafka producer with our users' settings (idempotence, acks=all, batches of up to
    512 KiB, snappy), producing unique ids at about 2,000 messages/s. It lives through every
    crash: librdkafka retries what was in flight with the same producer id and sequence numbers,
    which the restarted broker must recognise from its recovered producer state;
  - one consumer in group "kc" (session 6 s, heartbeat 2 s, cooperative-sticky, manual commits
    every 100 messages), also living through every crash.
KCRASH_CYCLES times (default 20): run 0.3-2.5 s, kill -9 the broker, start it again on the same
data dir and ports. After each restart the group's committed offsets are read: they never go back
below an offset whose commit was acknowledged.

At the end the producer is flushed and every partition is read from offset 0: every id whose
delivery was acknowledged is there exactly once (0 lost), no id appears twice (0 duplicates: a
retried batch that was already stored is answered as a duplicate, not stored again), and each
acknowledged message is at the partition and offset its delivery report gave.
KCRASH_CYCLES=100 is the long run (about 4 minutes), once per policy:
    for m in none group append; do KCRASH_FSYNC=$m KCRASH_CYCLES=100 /usr/bin/python3 tests/crash/kafka_crash_test.py; done
"""
import os
import random
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import harness  # noqa: E402

CYCLES = int(os.environ.get("KCRASH_CYCLES", "20"))
FSYNC = os.environ.get("KCRASH_FSYNC", "group")
TOPIC = "kcrash"
PARTITIONS = 3
RATE = 2000  # messages per second


class Run:
    def __init__(self):
        self.lock = threading.Lock()
        self.acked = {}      # id -> (partition, offset)
        self.failed = {}     # id -> error text (never acknowledged)
        self.sent = 0
        self.committed = {}  # partition -> highest offset whose commit was acknowledged
        self.consumed = 0
        self.stop = threading.Event()
        self.errors = []


def producer_loop(run, bootstrap):
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                  "linger.ms": 5, "batch.size": 524288, "compression.type": "snappy",
                  "message.timeout.ms": 120000, "reconnect.backoff.ms": 50,
                  "reconnect.backoff.max.ms": 500, "log_level": 2})

    def report(err, m):
        mid = m.value().decode()
        with run.lock:
            if err is None:
                run.acked[mid] = (m.partition(), m.offset())
            else:
                run.failed[mid] = str(err)

    try:
        n = 0
        t0 = time.monotonic()
        while not run.stop.is_set():
            mid = "m%07d" % n
            try:
                p.produce(TOPIC, key=mid.encode(), value=mid.encode(), on_delivery=report)
                n += 1
                with run.lock:
                    run.sent = n
            except BufferError:
                pass
            p.poll(0)
            ahead = n / RATE - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(min(ahead, 0.05))
        left = p.flush(120)
        if left:
            run.errors.append("producer: %d messages undelivered 120 s after the last crash" % left)
    except Exception as e:  # noqa: B902 - reported by the main thread
        run.errors.append("producer: %r" % e)


def consumer_loop(run, bootstrap):
    from confluent_kafka import Consumer, KafkaException
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "kc", "enable.auto.commit": False,
                  "auto.offset.reset": "earliest", "session.timeout.ms": 6000,
                  "heartbeat.interval.ms": 2000, "partition.assignment.strategy": "cooperative-sticky",
                  "reconnect.backoff.ms": 50, "reconnect.backoff.max.ms": 500, "log_level": 2})
    c.subscribe([TOPIC])
    try:
        since = 0
        while not run.stop.is_set():
            m = c.poll(0.2)
            if m is None or m.error():
                continue
            with run.lock:
                run.consumed += 1
            since += 1
            if since < 100:
                continue
            since = 0
            try:
                done = c.commit(asynchronous=False)
            except KafkaException:
                continue  # the broker is down or the group is rebalancing: the next one commits
            with run.lock:
                for tp in done or []:
                    if tp.error is None and tp.offset >= 0:
                        run.committed[tp.partition] = max(run.committed.get(tp.partition, -1), tp.offset)
    except Exception as e:  # noqa: B902
        run.errors.append("consumer: %r" % e)
    finally:
        c.close()


def committed_now(bootstrap):
    """The group's committed offsets, read with OffsetFetch from outside the group."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "kc", "enable.auto.commit": False,
                  "log_level": 2})
    try:
        got = c.committed([TopicPartition(TOPIC, p) for p in range(PARTITIONS)], timeout=20)
        return {tp.partition: tp.offset for tp in got}
    finally:
        c.close()


def read_all(bootstrap):
    """Every message of every partition from offset 0: {partition: [(offset, value)]}."""
    from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "kc-verify", "enable.auto.commit": False,
                  "enable.partition.eof": True})
    c.assign([TopicPartition(TOPIC, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
    out = {p: [] for p in range(PARTITIONS)}
    eof = set()
    end = time.monotonic() + 120
    while len(eof) < PARTITIONS and time.monotonic() < end:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() == -191:  # _PARTITION_EOF
                eof.add(m.partition())
            continue
        out[m.partition()].append((m.offset(), m.value().decode()))
    c.close()
    if len(eof) < PARTITIONS:
        raise harness.CheckFailed("read_all: only %s of %d partitions read to the end in 120 s"
                                  % (sorted(eof), PARTITIONS))
    return out


def body(ck):
    if FSYNC not in ("none", "group", "append"):
        raise harness.CheckFailed("KCRASH_FSYNC must be none, group or append, not %r" % FSYNC)
    print("     fsync %s, %d cycles" % (FSYNC, CYCLES), flush=True)
    b = harness.start_broker(["--fsync", FSYNC, "--auto_create_topics=false"])
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])[TOPIC].result(20)
    del admin
    run = Run()
    rng = random.Random(int(os.environ.get("KCRASH_SEED", str(int(time.time())))))
    threads = [threading.Thread(target=producer_loop, args=(run, b.bootstrap)),
               threading.Thread(target=consumer_loop, args=(run, b.bootstrap))]
    for t in threads:
        t.start()
    try:
        with ck.section("%d cycles: produce and consume, kill -9 at a random moment, restart" % CYCLES):
            for cycle in range(1, CYCLES + 1):
                time.sleep(rng.uniform(0.3, 2.5))
                with run.lock:
                    before = dict(run.committed)
                    acked, sent = len(run.acked), run.sent
                b.kill9()
                b.start()
                now = committed_now(b.bootstrap)
                for p, off in before.items():
                    ck.ok(now.get(p, -1) >= off, "cycle %d: partition %d committed offset went back "
                          "from %d to %s" % (cycle, p, off, now.get(p)))
                print("     cycle %2d: %d sent, %d acked, committed %s" % (
                    cycle, sent, acked, {p: now[p] for p in sorted(now)}))
    finally:
        run.stop.set()
        for t in threads:
            t.join(180)
    ck.eq(run.errors, [], "client threads")
    ck.ok(not any(t.is_alive() for t in threads), "client threads ended")

    with ck.section("every acknowledged message exactly once, where its delivery report put it"):
        stored = read_all(b.bootstrap)
        where = {}
        dups = []
        for p, msgs in stored.items():
            offsets = [o for o, _ in msgs]
            ck.eq(offsets, list(range(offsets[0], offsets[0] + len(offsets))) if offsets else [],
                  "partition %d: offsets without gaps" % p)
            for o, v in msgs:
                if v in where:
                    dups.append(v)
                where[v] = (p, o)
        lost = [mid for mid in run.acked if mid not in where]
        moved = [mid for mid, at in run.acked.items() if mid in where and where[mid] != at]
        print("     %d sent, %d acknowledged, %d failed, %d stored, %d consumed by the group"
              % (run.sent, len(run.acked), len(run.failed), len(where), run.consumed))
        ck.eq(lost[:10], [], "acknowledged but lost (first 10 of %d)" % len(lost))
        ck.eq(dups[:10], [], "stored twice (first 10 of %d)" % len(dups))
        ck.eq(moved[:10], [], "not at the offset their delivery report gave (first 10 of %d)" % len(moved))
        ck.eq(sorted(run.failed.items())[:5], [], "deliveries that failed")
        ck.ok(len(run.acked) >= CYCLES * 300, "at least 300 messages acknowledged per cycle (%d)" % len(run.acked))
    b.stop()


if __name__ == "__main__":
    harness.run("kafka_crash_test", body, modules=("confluent_kafka",), time_limit=600)
