#!/usr/bin/python3
"""kafka_compact_test: compacted topics (cleanup.policy=compact) with real clients.

A topic created by confluent-kafka's AdminClient with cleanup.policy=compact, 64 KiB segments,
segment.ms 1 s, min.cleanable.dirty.ratio 0.01 and delete.retention.ms 1 h. confluent-kafka
(snappy, so the cleaner rewrites compressed batches) and kafka-python (gzip) write 100,000
records over 1,000 keys, a tenth of them tombstones, some of those two hours old. One more
record after segment.ms rolls the last segment, so every earlier record is in a sealed segment
the cleaner may clean. Then, read from the beginning by confluent-kafka and by kafka-python,
the topic must become exactly: every key's newest record at the offset its producer was told,
byte for byte, except the tombstones older than delete.retention.ms, plus the roll record; in
offset order. A keyless record is refused (INVALID_RECORD), as Kafka refuses it.

Then 20 cycles of: 2,000 more updates (acks=all), restart the broker, kill -9 it while its
cleaner runs (a restart makes the whole log dirty again, so a pass starts at once). After the
last start the same exact check holds for everything ever acknowledged, and no cleaner temp
file is left.

librdkafka's mock cluster has no log cleaner, so this test runs against Sluice only.
"""
import glob
import os
import random
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import ckutil  # noqa: E402

from confluent_kafka import KafkaException, Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

KEYS = 1000
RECORDS = 100000
CYCLES = int(os.environ.get("SLUICE_COMPACT_CYCLES", "20"))
HOUR_MS = 3600 * 1000


def make_records(rng, n, now_ms, tag):
    out = []
    for i in range(n):
        key = b"key-%04d" % rng.randrange(KEYS)
        if rng.random() < 0.1:
            ts = now_ms - 2 * HOUR_MS if rng.random() < 0.3 else now_ms
            out.append((key, None, ts))
        else:
            out.append((key, b"%s-%d-" % (tag, i) + os.urandom(rng.randrange(1, 40)).hex().encode(), now_ms))
    return out


def produce_confluent(ck, bootstrap, topic, recs, extra=None):
    """Returns [(offset, key, value, ts)] in the order the records were given."""
    conf = {"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
            "compression.type": "snappy", "linger.ms": 20, "batch.size": 512 * 1024}
    conf.update(extra or {})
    p = Producer(conf)
    got = [None] * len(recs)
    errors = []

    def report(i):
        def cb(err, msg):
            if err:
                errors.append(err)
            else:
                got[i] = msg.offset()
        return cb

    for i, (k, v, ts) in enumerate(recs):
        while True:
            try:
                p.produce(topic, key=k, value=v, timestamp=ts, on_delivery=report(i))
                break
            except BufferError:
                p.poll(0.05)
    left = p.flush(60)
    ck.eq(left, 0, "confluent producer: messages left after flush")
    ck.eq(errors, [], "confluent producer: delivery errors")
    return [(got[i], k, v, ts) for i, (k, v, ts) in enumerate(recs)]


def produce_kafka_python(ck, bootstrap, topic, recs):
    from kafka import KafkaProducer
    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all", compression_type="gzip", linger_ms=20,
                      batch_size=256 * 1024, api_version=(2, 5, 0))
    futs = [p.send(topic, key=k, value=v, timestamp_ms=ts) for k, v, ts in recs]
    p.flush(60)
    out = []
    for f, (k, v, ts) in zip(futs, recs):
        md = f.get(timeout=60)
        out.append((md.offset, k, v, ts))
    p.close(10)
    return out


def expected_view(written, now_ms, tail):
    """The compacted topic: each key's newest record, minus expired tombstones, plus the
    records of the active segment (tail), in offset order."""
    newest = {}
    for off, k, v, ts in written:
        if k not in newest or newest[k][0] < off:
            newest[k] = (off, k, v, ts)
    keep = [r for r in newest.values() if not (r[2] is None and r[3] + HOUR_MS < now_ms)]
    return sorted(keep + tail)


def read_confluent(bootstrap, topic):
    end = ckutil.high_watermarks(bootstrap, topic, 1)[0]
    got = ckutil.consume(bootstrap, topic, {0: end})[0]
    return [(m["offset"], m["key"], m["value"], m["ts"]) for m in got]


def read_kafka_python(bootstrap, topic):
    from kafka import KafkaConsumer, TopicPartition
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, api_version=(2, 5, 0),
                      consumer_timeout_ms=3000)
    tp = TopicPartition(topic, 0)
    c.assign([tp])
    c.seek_to_beginning(tp)
    end = c.end_offsets([tp])[tp]
    out = []
    deadline = time.monotonic() + 60
    while c.position(tp) < end and time.monotonic() < deadline:
        for m in c.poll(timeout_ms=500, max_records=5000).get(tp, []):
            out.append((m.offset, m.key, m.value, m.timestamp))
    c.close()
    return out


def wait_compacted(ck, bootstrap, topic, want, what, timeout=90):
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = read_confluent(bootstrap, topic)
        if got == want:
            return got
        time.sleep(1)
    ck.eq(len(got), len(want), "%s: records left" % what)
    for g, w in zip(got, want):
        ck.eq(g, w, "%s: record" % what)
    ck.eq(got, want, what)


def metric(broker, name):
    body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % broker.http_port, timeout=10).read().decode()
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def roll(ck, broker, topic, tag):
    """Waits past segment.ms and appends one record, which starts a new active segment."""
    time.sleep(1.2)
    return produce_confluent(ck, broker.bootstrap, topic, [(b"roll-" + tag, b"r", int(time.time() * 1000))])


def body(ck):
    rng = random.Random(0xc0a1)
    broker = harness.start_broker()
    if broker.external:
        harness.skip("kills its own broker (SLUICE_EXTERNAL_KAFKA is set)")
    topic = harness.unique("compact")
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    cfg = {"cleanup.policy": "compact", "segment.bytes": "65536", "segment.ms": "1000",
           "min.cleanable.dirty.ratio": "0.01", "delete.retention.ms": str(HOUR_MS)}
    admin.create_topics([NewTopic(topic, 1, 1, config=cfg)])[topic].result(timeout=30)
    ckutil.wait_topic(admin, topic)
    written = []

    with ck.section("keyless record refused"):
        p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "retries": 0})
        errs = []
        p.produce(topic, value=b"no key", on_delivery=lambda err, msg: errs.append(err))
        p.flush(30)
        ck.eq(len(errs), 1, "one delivery report")
        ck.ok(errs[0] is not None and errs[0].code() == 87, "keyless: INVALID_RECORD, got %s" % errs[0])
        del p

    with ck.section("100,000 records, two clients, cleaned to the newest per key"):
        now_ms = int(time.time() * 1000)
        written += produce_confluent(ck, broker.bootstrap, topic, make_records(rng, RECORDS // 2, now_ms, b"ck"))
        written += produce_kafka_python(ck, broker.bootstrap, topic,
                                        make_records(rng, RECORDS // 2, now_ms, b"kp"))
        ck.eq(sorted(w[0] for w in written), list(range(RECORDS)), "offsets reported, each once")
        tail = roll(ck, broker, topic, b"1")
        want = expected_view(written, now_ms, tail)
        wait_compacted(ck, broker.bootstrap, topic, want, "after the cleaner")
        ck.eq(read_kafka_python(broker.bootstrap, topic), want, "kafka-python reads the compacted topic")
        removed = metric(broker, "sluice_cleaner_removed_records_total")
        ck.ok(removed and removed >= RECORDS - len(want), "cleaner metrics: %s records removed" % removed)
        print("     %d records written, %d left; %s bytes reclaimed" % (
            RECORDS, len(want), metric(broker, "sluice_cleaner_reclaimed_bytes_total")))
        written += tail

    with ck.section("%d kill -9 cycles while cleaning" % CYCLES):
        for cycle in range(CYCLES):
            now_ms = int(time.time() * 1000)
            written += produce_confluent(ck, broker.bootstrap, topic,
                                         make_records(rng, 2000, now_ms, b"c%d" % cycle))
            broker.restart(kill=rng.random() < 0.5)
            time.sleep(rng.uniform(0.0, 0.6))
            broker.kill9()
            broker.start()
        now_ms = int(time.time() * 1000)
        tail = roll(ck, broker, topic, b"2")
        want = expected_view(written, now_ms, tail)
        wait_compacted(ck, broker.bootstrap, topic, want, "after %d kills" % CYCLES)
        left = glob.glob(os.path.join(broker.data_dir, "%s-0" % topic, "*.tmp"))
        ck.eq(left, [], "cleaner temp files left")
        print("     %d records acknowledged in all, %d left" % (len(written) + len(tail), len(want)))

    broker.stop()


if __name__ == "__main__":
    harness.run("kafka_compact_test", body, modules=["confluent_kafka", "kafka"], time_limit=280)
