#!/usr/bin/python3
"""kafka_python_test: kafka-python 2.0.2 against a real sluice-server.

kafka-python probes the broker with ApiVersions v0 + Metadata v0 pipelined, infers a Kafka
release from the advertised versions and hard-codes its request versions from that (Produce v7,
Fetch v4, Metadata v1...).
Admin: KafkaAdminClient create_topics (2 partitions), describe_topics, delete_topics, list_topics.
Producer: acks 1 and 'all' x compression none/gzip/snappy/lz4/zstd (zstd only if the inferred
release is >= 2.1, as kafka-python asserts) with keys, headers (repeated names, null and empty
values), explicit timestamps; every future must give its offset, contiguous per partition.
Consumer: group_id=None, assign + seek_to_beginning; every record is compared byte for byte.
"""
import logging
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

from kafka import KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402
from kafka.admin import KafkaAdminClient, NewTopic  # noqa: E402
from kafka.errors import TopicAlreadyExistsError  # noqa: E402

logging.basicConfig(level=logging.ERROR)
# A consumer closed with a fetch in flight logs "Fetch ... failed: Cancelled"; real fetch errors
# show up as missing or wrong records.
logging.getLogger("kafka.consumer.fetcher").setLevel(logging.CRITICAL)


def make_messages(rng, n, nparts, ts_base):
    special = [
        # send() takes only bytes header values: null ones are covered by the librdkafka tests.
        (b"k0", b"first", [("h1", b"a"), ("h1", b"b"), ("empty", b""), ("bin", bytes(range(256)))]),
        (None, b"null key", []),
        (b"null value", None, [("h", b"x")]),  # kafka-python refuses only key=None with value=None
        (b"empty value", b"", []),
        (b"", b"empty key", []),
        (bytes(range(256)), bytes(range(256)) * 4, [("\u00fcn\u00ef", "\u00df".encode())]),
        (b"big-random", rng.randbytes(300 * 1024), []),
        (b"big-repetitive", b"sluice " * 70000, []),
    ]
    msgs = []
    for i in range(len(special) + n):
        if i < len(special):
            k, v, h = special[i]
        else:
            k = None if rng.random() < 0.1 else b"key-%d" % i
            size = rng.choice([0, 1, 10, 100, 1000, 5000])
            v = rng.randbytes(size) if rng.random() < 0.5 else (b"%d," % i) * (size // 4 + 1)
            h = [("hdr%d" % j, rng.randbytes(rng.randrange(0, 20))) for j in range(rng.randrange(0, 4))]
        msgs.append({"partition": i % nparts, "key": k, "value": v, "headers": h,
                     "ts": ts_base + i * 10 + rng.randrange(-3000, 3000)})
    return msgs


def produce(ck, bootstrap, topic, msgs, acks, compression):
    p = KafkaProducer(bootstrap_servers=bootstrap, acks=acks, compression_type=compression,
                      linger_ms=5, batch_size=64 * 1024, max_request_size=2 * 1024 * 1024,
                      request_timeout_ms=30000)
    try:
        nparts = len(p.partitions_for(topic))  # waits for metadata (auto-creates the topic)
        futures = [p.send(topic, value=m["value"], key=m["key"], headers=m["headers"],
                          partition=m["partition"] % nparts, timestamp_ms=m["ts"]) for m in msgs]
        p.flush(timeout=60)
        nxt = {}
        for m, f in zip(msgs, futures):
            m["partition"] %= nparts
            md = f.get(timeout=30)
            m["offset"] = nxt.get(m["partition"], 0)
            nxt[m["partition"]] = m["offset"] + 1
            ck.eq((md.topic, md.partition, md.offset), (topic, m["partition"], m["offset"]),
                  "%s: record metadata" % topic)
        return {q: nxt.get(q, 0) for q in range(nparts)}
    finally:
        p.close(timeout=10)


def consume_check(ck, bootstrap, topic, msgs, ends):
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                      auto_offset_reset="earliest", fetch_max_wait_ms=100,
                      max_partition_fetch_bytes=2 * 1024 * 1024)
    try:
        tps = [TopicPartition(topic, p) for p in ends]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        got = {p: [] for p in ends}
        deadline = time.monotonic() + 60
        while any(len(got[p]) < ends[p] for p in ends):
            ck.ok(time.monotonic() < deadline, "%s: consumed %s of %s within 60 s"
                  % (topic, {p: len(v) for p, v in got.items()}, ends))
            for tp, recs in c.poll(timeout_ms=500).items():
                got[tp.partition].extend(recs)
        # Anything past the produced messages would show up now.
        for tp, recs in c.poll(timeout_ms=300).items():
            got[tp.partition].extend(recs)
    finally:
        c.close()
    for p in ends:
        want = [m for m in msgs if m["partition"] == p]
        ck.eq(len(got[p]), len(want), "%s[%d]: number of records" % (topic, p))
        for r, m in zip(got[p], want):
            w = "%s[%d] offset %d" % (topic, p, m["offset"])
            ck.eq((r.topic, r.partition, r.offset), (topic, p, m["offset"]), w + ": position")
            ck.eq(r.key, m["key"], w + ": key")
            ck.eq(r.value, m["value"], w + ": value")
            ck.eq(list(r.headers), m["headers"], w + ": headers")
            ck.eq((r.timestamp_type, r.timestamp), (0, m["ts"]), w + ": timestamp (type 0 = create time)")


def check_errors(ck, resp, what):
    # CreateTopicsResponse has topic_errors, DeleteTopicsResponse topic_error_codes.
    errors = getattr(resp, "topic_errors", None) or getattr(resp, "topic_error_codes")
    ck.ok(len(errors) == 1, "%s: %d topic results" % (what, len(errors)))
    for t in errors:
        ck.eq(t[1], 0, "%s %s: error code (%s)" % (what, t[0], t[2:]))


def admin_section(ck, broker, rng):
    a = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=30000)
    try:
        print("     inferred broker version: %s" % (a.config["api_version"],))
        topic = harness.unique("kp-admin")
        check_errors(ck, a.create_topics([NewTopic(name=topic, num_partitions=2, replication_factor=1)],
                                         timeout_ms=10000), "create_topics")
        ck.ok(topic in a.list_topics(), "created topic not listed")
        (t,) = a.describe_topics([topic])
        ck.eq(t["error_code"], 0, "describe_topics error")
        ck.eq(sorted(p["partition"] for p in t["partitions"]), [0, 1], "partitions")
        cluster = a.describe_cluster()
        ids = [b["node_id"] for b in cluster["brokers"]]
        ck.eq([(b["host"], b["port"]) for b in cluster["brokers"]], [(broker.host, broker.kafka_port)],
              "brokers in metadata")
        for p in t["partitions"]:
            ck.eq((p["error_code"], p["leader"], p["replicas"], p["isr"]), (0, ids[0], ids, ids),
                  "partition %d" % p["partition"])
        try:
            a.create_topics([NewTopic(name=topic, num_partitions=2, replication_factor=1)], timeout_ms=10000)
            raise harness.CheckFailed("creating an existing topic succeeded")
        except TopicAlreadyExistsError:
            ck.ok(True, "second create: TOPIC_ALREADY_EXISTS")

        msgs = make_messages(rng, 20, 2, int(time.time() * 1000) - 60000)
        ends = produce(ck, broker.bootstrap, topic, msgs, "all", None)
        ck.eq(len(ends), 2, "producer sees 2 partitions")
        consume_check(ck, broker.bootstrap, topic, msgs, ends)

        check_errors(ck, a.delete_topics([topic], timeout_ms=10000), "delete_topics")
        deadline = time.monotonic() + 10
        while topic in a.list_topics():
            ck.ok(time.monotonic() < deadline, "deleted topic still listed after 10 s")
            time.sleep(0.2)
    finally:
        a.close()


def producer_section(ck, broker, rng, acks, compression):
    topic = harness.unique("kp-%s-%s" % (compression or "none", acks))
    msgs = make_messages(rng, 150, 64, int(time.time() * 1000) - 86400000)
    ends = produce(ck, broker.bootstrap, topic, msgs, acks, compression)
    consume_check(ck, broker.bootstrap, topic, msgs, ends)
    if broker.external is None:
        for p in ends:
            batches = harness.disk_batches(broker.data_dir, topic, p)
            ck.eq(sum(b[1] for b in batches), ends[p], "%s[%d]: records on disk" % (topic, p))
            harness.check_codecs(ck, batches, compression or "none", "%s[%d]" % (topic, p))


def body(ck):
    rng = random.Random(0x9e7)
    broker = harness.start_broker()
    with ck.section("admin: create (2 partitions), describe, produce/consume, delete"):
        admin_section(ck, broker, rng)
    probe = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None)
    version = probe.config["api_version"]
    probe.close()
    print("---- kafka-python inferred broker version %s" % (version,))
    for compression in (None, "gzip", "snappy", "lz4", "zstd"):
        for acks in (1, "all"):
            with ck.section("producer acks=%s compression=%s" % (acks, compression)):
                if compression == "zstd" and version < (2, 1, 0):
                    harness.skip("kafka-python sends zstd only to brokers >= 2.1 (inferred %s)"
                                 % (version,))
                producer_section(ck, broker, rng, acks, compression)


if __name__ == "__main__":
    harness.run("kafka_python_test", body, modules=["kafka", "snappy", "lz4", "zstandard"])
