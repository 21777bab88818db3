#!/usr/bin/python3
"""kafka_confluent_test: confluent-kafka-python 1.7.0 (librdkafka 2.0.2) against a real sluice-server.

Admin: CreateTopics (3 partitions with retention.ms and segment.bytes), metadata, a second create
(TOPIC_ALREADY_EXISTS), DescribeConfigs, AlterConfigs + DescribeConfigs again, messages on all 3
partitions, DeleteTopics and the topic gone from metadata.
Producer: every compression (none, gzip, snappy, lz4, zstd) x acks (0, 1, all), plus
enable.idempotence: keys, null/empty keys and values, headers (repeated names, null and empty
values), explicit timestamps, big values. Delivery reports must carry contiguous offsets (acks=0:
no offsets, but the messages must be stored). A consumer (assign + offsets, no group) reads every
partition back and each message is compared field by field; then seek() re-reads from the middle.
On our own broker, the stored batches are also checked: codec in the attributes (librdkafka
silently drops zstd when the broker's versions are too low) and the producer id when idempotent.
"""
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import ckutil  # noqa: E402

from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic  # noqa: E402


def make_messages(rng, n, nparts, ts_base):
    """Special cases first, then n random ones; partition i % nparts in produce order."""
    special = [
        (b"k0", b"first", [("h1", b"a"), ("h1", b"b"), ("nullh", None), ("empty", b""),
                           ("bin", bytes(range(256)))]),
        (None, b"null key", []),
        (b"null value", None, [("h", b"x")]),
        (b"empty value", b"", []),
        (b"", b"empty key", []),
        (bytes(range(256)), bytes(range(256)) * 4, [("\u00fcn\u00ef", "\u00df".encode())]),
        (b"big-random", rng.randbytes(300 * 1024), []),
        (b"big-repetitive", b"sluice " * 70000, [("h", b"y" * 1000)]),
    ]
    msgs = []
    for i in range(len(special) + n):
        if i < len(special):
            k, v, h = special[i]
        else:
            k = None if rng.random() < 0.1 else b"key-%d" % i
            size = rng.choice([0, 1, 10, 100, 1000, 5000])
            v = (rng.randbytes(size) if rng.random() < 0.5 else (b"%d," % i) * (size // 4 + 1))
            h = [("hdr%d" % j, rng.randbytes(rng.randrange(0, 20))) for j in range(rng.randrange(0, 4))]
        # Explicit create times, not in order: record timestamp deltas may be negative.
        msgs.append({"partition": i % nparts, "key": k, "value": v, "headers": h,
                     "ts": ts_base + i * 10 + rng.randrange(-3000, 3000)})
    return msgs


def produce(ck, bootstrap, topic, msgs, conf):
    """Produces msgs in order; returns the delivery reports [(err, partition, offset)]."""
    p = Producer(dict({"bootstrap.servers": bootstrap, "linger.ms": 5, "batch.num.messages": 40,
                       "message.timeout.ms": 30000}, **conf))
    reports = [None] * len(msgs)

    def cb(i):
        return lambda err, m: reports.__setitem__(i, (err, m.partition(), m.offset()))

    for i, m in enumerate(msgs):
        for _ in range(1000):  # bounded retry while the local queue is full
            try:
                p.produce(topic, value=m["value"], key=m["key"], partition=m["partition"],
                          headers=m["headers"] or None, timestamp=m["ts"], on_delivery=cb(i))
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    left = p.flush(60)
    ck.eq(left, 0, "%s: messages not delivered within 60 s" % topic)
    for i, r in enumerate(reports):
        ck.ok(r is not None, "%s: no delivery report for message %d" % (topic, i))
        ck.ok(r[0] is None, "%s: delivery of message %d failed: %s" % (topic, i, r[0]))
        ck.eq(r[1], msgs[i]["partition"], "%s: reported partition of message %d" % (topic, i))
    return reports


def assign_offsets(ck, topic, msgs, reports, nparts, acks):
    """Gives each message its expected offset (position in its partition) and checks the
    delivery reports against it."""
    nxt = [0] * nparts
    for m, r in zip(msgs, reports):
        m["offset"] = nxt[m["partition"]]
        nxt[m["partition"]] += 1
        if acks == "0":
            # No response to acks=0, so no offset: librdkafka reports OFFSET_INVALID (-1001,
            # None in Python), or the real one from a broker that answers anyway (the mock).
            ck.ok(r[2] in (None, -1001, m["offset"]), "%s acks=0: reported offset %s"
                  % (topic, r[2]))
        else:
            ck.eq(r[2], m["offset"], "%s: reported offset of message (partition %d)"
                  % (topic, m["partition"]))
    return {p: nxt[p] for p in range(nparts)}


def verify(ck, broker, topic, msgs, ends, codec=None, idempotent=False):
    got = ckutil.consume(broker.bootstrap, topic, ends)
    for p in ends:
        ckutil.compare(ck, got[p], [m for m in msgs if m["partition"] == p],
                       "%s[%d]" % (topic, p))
    # seek() back into the middle of partition 0 and re-read a few.
    if ends.get(0, 0) > 5:
        mid = ends[0] // 2
        c = ckutil.consumer(broker.bootstrap)
        try:
            c.assign([TopicPartition(topic, 0, 0)])
            first = None
            for _ in range(200):  # until the assignment is active and one message arrived
                first = c.poll(0.1)
                if first is not None and not first.error():
                    break
            ck.ok(first is not None and not first.error(), "%s: nothing read before seek" % topic)
            c.seek(TopicPartition(topic, 0, mid))
            again = []
            deadline = time.monotonic() + 30
            while len(again) < 3 and time.monotonic() < deadline:
                m = c.poll(0.2)
                if m is not None and not m.error():
                    again.append(m)
            want = [m for m in msgs if m["partition"] == 0][mid:mid + 3]
            ck.eq([(m.offset(), m.key(), m.value()) for m in again],
                  [(m["offset"], m["key"], m["value"]) for m in want], "%s: after seek to %d"
                  % (topic, mid))
        finally:
            c.close()
    if broker.external is None and codec is not None:
        for p in ends:
            batches = harness.disk_batches(broker.data_dir, topic, p)
            ck.eq(sum(b[1] for b in batches), ends[p], "%s[%d]: records in stored batches"
                  % (topic, p))
            harness.check_codecs(ck, batches, codec, "%s[%d]" % (topic, p))
            ck.ok(all((b[3] >= 0) == idempotent for b in batches),
                  "%s[%d]: producer ids of stored batches %s (idempotent=%s)"
                  % (topic, p, sorted({b[3] for b in batches}), idempotent))


def admin_section(ck, broker, rng):
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    topic = harness.unique("ck-admin")
    cfg = {"retention.ms": "3600000", "segment.bytes": "1048576"}
    fs = a.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1, config=cfg)],
                         operation_timeout=10, request_timeout=30)
    fs[topic].result(timeout=30)
    md = a.list_topics(timeout=10)
    ck.eq(len(md.brokers), 1, "brokers in metadata")
    (bid, bmd), = md.brokers.items()
    ck.eq((bmd.host, bmd.port), (broker.host, broker.kafka_port), "broker host:port")
    ck.ok(md.controller_id in md.brokers, "controller id %d is not a listed broker" % md.controller_id)
    ck.ok(topic in md.topics, "created topic not in metadata")
    parts = md.topics[topic].partitions
    ck.eq(sorted(parts), [0, 1, 2], "partitions of the created topic")
    for p in parts.values():
        ck.eq((p.leader, p.replicas, p.isrs), (bid, [bid], [bid]), "partition %d leader" % p.id)

    fs = a.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)],
                         request_timeout=30)
    try:
        fs[topic].result(timeout=30)
        raise harness.CheckFailed("creating an existing topic succeeded")
    except KafkaException as e:
        ck.eq(e.args[0].code(), KafkaError.TOPIC_ALREADY_EXISTS, "second create: error")

    def describe():
        res = ConfigResource("topic", topic)
        entries = a.describe_configs([res], request_timeout=30)[res].result(timeout=30)
        return {k: v.value for k, v in entries.items()}

    got = describe()
    for k, v in cfg.items():
        ck.eq(got.get(k), v, "describe_configs %s" % k)
    res = ConfigResource("topic", topic, set_config={"retention.ms": "7200000",
                                                     "segment.bytes": "1048576"})
    a.alter_configs([res], request_timeout=30)[res].result(timeout=30)
    got = describe()
    ck.eq(got.get("retention.ms"), "7200000", "retention.ms after alter_configs")
    ck.eq(got.get("segment.bytes"), "1048576", "segment.bytes after alter_configs")

    msgs = make_messages(rng, 30, 3, int(time.time() * 1000) - 60000)
    reports = produce(ck, broker.bootstrap, topic, msgs, {"acks": "all"})
    ends = assign_offsets(ck, topic, msgs, reports, 3, "all")
    verify(ck, broker, topic, msgs, ends)

    a.delete_topics([topic], operation_timeout=10, request_timeout=30)[topic].result(timeout=30)
    deadline = time.monotonic() + 10
    while topic in a.list_topics(timeout=10).topics:  # all topics: asking for it would create it
        ck.ok(time.monotonic() < deadline, "deleted topic still in metadata after 10 s")
        time.sleep(0.2)
    ck.ok(True, "topic gone")


def producer_section(ck, broker, rng, codec, acks, idempotent=False):
    topic = harness.unique("ck-%s-%s%s" % (codec, acks, "-idem" if idempotent else ""))
    conf = {"compression.type": codec, "acks": acks, "enable.idempotence": idempotent}
    probe = Producer({"bootstrap.servers": broker.bootstrap})
    nparts = ckutil.wait_topic(probe, topic)
    probe.flush(1)
    msgs = make_messages(rng, 150, nparts, int(time.time() * 1000) - 86400000)
    reports = produce(ck, broker.bootstrap, topic, msgs, conf)
    ends = assign_offsets(ck, topic, msgs, reports, nparts, acks)
    verify(ck, broker, topic, msgs, ends, codec=codec, idempotent=idempotent)


def body(ck):
    rng = random.Random(0xc0f1)
    broker = harness.start_broker()
    with ck.section("admin: create, describe/alter configs, produce to 3 partitions, delete"):
        admin_section(ck, broker, rng)
    for codec in ("none", "gzip", "snappy", "lz4", "zstd"):
        for acks in ("0", "1", "all"):
            with ck.section("producer compression=%s acks=%s" % (codec, acks)):
                producer_section(ck, broker, rng, codec, acks)
    for codec in ("none", "zstd"):
        with ck.section("idempotent producer compression=%s" % codec):
            producer_section(ck, broker, rng, codec, "all", idempotent=True)


if __name__ == "__main__":
    harness.run("kafka_confluent_test", body, modules=["confluent_kafka"])
