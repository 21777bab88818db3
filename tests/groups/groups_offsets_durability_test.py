"""groups_offsets_durability_test: committed offsets (the internal __consumer_offsets log) survive
a clean restart and SIGKILL of a real sluice-server.

A 6-partition topic with 50 messages per partition. Offsets are committed by three writers:
confluent-kafka 1.7 (partitions 0-1; its TopicPartition has no metadata field), kafka-python
2.0.2 (2-3, OffsetAndMetadata with metadata strings) and a raw OffsetCommit v2 (4-5, a long
metadata string and a null one, which Kafka stores and returns as ""), plus a second group
with other values.
  (a) clean restart (SIGTERM, start): OffsetFetch returns exactly the committed offsets and
      metadata for both groups; a confluent-kafka consumer subscribing in the group starts every
      partition exactly at its committed offset and reads the rest content-exact.
  (b) 10 rounds with random timing (seeded, printed): commit random offsets synchronously
      (confluent-kafka for one group, raw OffsetCommit with random metadata for another, a burst of
      1-5 commits of which the last counts), wait 0-30 ms or not at all, SIGKILL, start: every
      acknowledged commit is there, exactly.
"""
import os
import random
import time

import gproto
from gproto import harness

NAME = "groups_offsets_durability_test"
PARTITIONS = 6
PER_PARTITION = 50


def fetch(broker, group, topic):
    c = gproto.Conn(broker.host, broker.kafka_port)
    try:
        r = c.call(gproto.req_offset_fetch(group, {topic: list(range(PARTITIONS))}))
    finally:
        c.close()
    return {p: (o, m, e) for p, (o, m, e) in r["topics"][topic].items()}


def raw_commit(broker, group, topic, offsets):
    """offsets: {p: (offset, metadata)}; simple commit (generation -1, no member)."""
    c = gproto.Conn(broker.host, broker.kafka_port)
    try:
        r = c.call(gproto.req_offset_commit(group, -1, "", {topic: [
            (p, o, m) for p, (o, m) in sorted(offsets.items())]}))
    finally:
        c.close()
    errs = r["topics"].get(topic, {})
    if set(errs) != set(offsets) or any(errs.values()):
        raise harness.CheckFailed("raw OffsetCommit %s: errors %s" % (group, errs))


def ck_commit(bootstrap, group, topic, offsets):
    """confluent-kafka synchronous commit; offsets: {p: offset}."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        res = c.commit(offsets=[TopicPartition(topic, p, o) for p, o in sorted(offsets.items())],
                       asynchronous=False)
        bad = [tp for tp in res if tp.error is not None]
        if bad:
            raise harness.CheckFailed("confluent commit %s: %s" % (group, bad))
    finally:
        c.close()


def kp_commit(bootstrap, group, topic, offsets):
    """kafka-python synchronous commit with metadata; offsets: {p: (offset, metadata)}."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        c.commit({TopicPartition(topic, p): OffsetAndMetadata(o, m) for p, (o, m) in offsets.items()})
    finally:
        c.close()


def body(ck):
    from confluent_kafka import Consumer, Producer
    import gutil
    seed = int(os.environ.get("SLUICE_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    print("seed %d (SLUICE_SEED=%d reproduces the timing choices)" % (seed, seed))
    broker = harness.start_broker()
    bs = broker.bootstrap
    topic = harness.unique("grp-dur")
    gutil.create_topic(bs, topic, PARTITIONS)
    p = Producer({"bootstrap.servers": bs, "acks": "all"})
    sent = {}

    def dr(err, m):
        if err is None:
            sent[(m.partition(), m.offset())] = (m.key(), m.value())
    for i in range(PARTITIONS * PER_PARTITION):
        p.produce(topic, key=b"dk-%d" % i, value=b"dv-%d-" % i + bytes([i % 256]) * (i % 40),
                  partition=i % PARTITIONS, on_delivery=dr)
    ck.eq(p.flush(30), 0, "messages left unflushed")
    ck.eq(len(sent), PARTITIONS * PER_PARTITION, "delivered")

    g1, g2 = harness.unique("g-dur1"), harness.unique("g-dur2")
    long_meta = "m" * 300 + "-end"
    # What OffsetFetch must return: {p: (offset, metadata, error)}
    want1 = {0: (7, "", 0), 1: (23, "", 0), 2: (0, "kafka-python meta \u00fc\u2713", 0),
             3: (50, "", 0), 4: (31, long_meta, 0), 5: (12, "", 0)}
    want2 = {p: (PER_PARTITION - p, "g2-%d" % p, 0) for p in range(PARTITIONS)}

    with ck.section("commit with three clients, then OffsetFetch"):
        ck_commit(bs, g1, topic, {0: 7, 1: 23})
        kp_commit(bs, g1, topic, {2: (0, want1[2][1]), 3: (50, "")})
        raw_commit(broker, g1, topic, {4: (31, long_meta), 5: (12, None)})
        raw_commit(broker, g2, topic, {p: (o, m) for p, (o, m, e) in want2.items()})
        ck.eq(fetch(broker, g1, topic), want1, "group 1 offsets before restart")
        ck.eq(fetch(broker, g2, topic), want2, "group 2 offsets before restart")

    with ck.section("(a) clean restart: offsets and metadata exact"):
        broker.stop()
        broker.start()
        gproto.wait_ready(broker)
        ck.eq(fetch(broker, g1, topic), want1, "group 1 offsets after a clean restart")
        ck.eq(fetch(broker, g2, topic), want2, "group 2 offsets after a clean restart")

    with ck.section("(a) a group member resumes exactly at the committed offsets"):
        c = Consumer({"bootstrap.servers": bs, "group.id": g1, "enable.auto.commit": False,
                      "auto.offset.reset": "earliest", "session.timeout.ms": 6000,
                      "heartbeat.interval.ms": 2000, "enable.partition.eof": True})
        got = {q: [] for q in range(PARTITIONS)}
        eof = set()
        try:
            c.subscribe([topic])
            deadline = time.monotonic() + 30
            while len(eof) < PARTITIONS and time.monotonic() < deadline:
                m = c.poll(0.2)
                if m is None:
                    continue
                if m.error():
                    ck.ok(m.error().code() == -191, "consumer error %s" % m.error())  # _PARTITION_EOF
                    if m.offset() >= PER_PARTITION:
                        eof.add(m.partition())
                    continue
                got[m.partition()].append((m.offset(), m.key(), m.value()))
            ck.eq(sorted(eof), list(range(PARTITIONS)), "partitions read to their end")
            for q in range(PARTITIONS):
                start = want1[q][0]
                ck.eq(got[q], [(o,) + sent[(q, o)] for o in range(start, PER_PARTITION)],
                      "partition %d from committed offset %d" % (q, start))
            c.commit(asynchronous=False)
        finally:
            c.close()
        ck.eq(fetch(broker, g1, topic), {q: (PER_PARTITION, "", 0) for q in range(PARTITIONS)},
              "group 1 offsets after the member read everything and committed")

    with ck.section("(b) SIGKILL right after acknowledged commits, 10 rounds"):
        want_a = fetch(broker, g1, topic)
        want_b = want2
        for rnd in range(10):
            bursts = rng.randint(1, 5)
            for _ in range(bursts):
                offs = {q: rng.randint(0, PER_PARTITION) for q in range(PARTITIONS)}
                ck_commit(bs, g1, topic, offs)
                want_a = {q: (o, "", 0) for q, o in offs.items()}
                meta = {q: "r%d-%s" % (rnd, "x" * rng.randint(0, 40)) for q in range(PARTITIONS)}
                offs_b = {q: (rng.randint(0, PER_PARTITION), meta[q]) for q in range(PARTITIONS)}
                raw_commit(broker, g2, topic, offs_b)
                want_b = {q: (o, m, 0) for q, (o, m) in offs_b.items()}
            delay = rng.choice([0, 0, rng.uniform(0, 0.03)])
            if delay:
                time.sleep(delay)
            gproto.kill9_and_restart(broker)
            ck.eq(fetch(broker, g1, topic), want_a, "round %d (%d commits, kill after %.1f ms): "
                  "group 1" % (rnd, bursts, delay * 1000))
            ck.eq(fetch(broker, g2, topic), want_b, "round %d: group 2" % rnd)
        print("     10 rounds: every acknowledged commit survived SIGKILL")


if __name__ == "__main__":
    harness.run(NAME, body, modules=("confluent_kafka", "kafka"), time_limit=200)
