"""ckutil.py: confluent-kafka-python (librdkafka 2.0.2) helpers shared by the integration tests.

Messages are dicts: partition, offset, key, value, headers ([(str, bytes|None)], [] for none),
ts (ms). Also a command line used by tests in other languages to read a topic back:
    python3 ckutil.py dump BOOTSTRAP TOPIC   -> one JSON object per partition on stdout:
    {"partition": P, "messages": [{"offset", "key", "value", "headers": [[name, value]], "ts",
     "ts_type"}]} with key/value/header values base64 (null stays null), read from offset 0 to
    the high watermark.
"""
import base64
import json
import os
import sys
import time

from confluent_kafka import TIMESTAMP_CREATE_TIME, Consumer, KafkaError, TopicPartition

class Failure(AssertionError):
    pass


def wait_topic(client, topic, timeout=15.0, partitions=None):
    """Asks for the topic's metadata (which auto-creates it) until it has partitions with
    leaders; returns the partition count. client: Producer, Consumer or AdminClient."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        md = client.list_topics(topic=topic, timeout=5)
        t = md.topics.get(topic)
        if t is not None and t.error is None and t.partitions and \
                all(p.leader >= 0 for p in t.partitions.values()) and \
                (partitions is None or len(t.partitions) == partitions):
            return len(t.partitions)
        last = t.error if t is not None else "absent"
        time.sleep(0.2)
    raise Failure("topic %s not ready within %.0f s (%s)" % (topic, timeout, last))


def consumer(bootstrap, extra=None):
    # group.id is required by the Python binding; assign() with explicit offsets never uses it
    # (no join, no OffsetFetch, and auto commit is off).
    conf = {"bootstrap.servers": bootstrap, "group.id": "sluice-it-unused",
            "enable.auto.commit": False, "enable.partition.eof": True,
            "auto.offset.reset": "error", "fetch.wait.max.ms": 50}
    conf.update(extra or {})
    return Consumer(conf)


def _rec(m):
    tstype, ts = m.timestamp()
    return {"partition": m.partition(), "offset": m.offset(), "key": m.key(), "value": m.value(),
            "headers": list(m.headers() or []), "ts": ts, "ts_type": tstype}


def consume(bootstrap, topic, ends, start=None, timeout=60.0, c=None):
    """Reads partitions {p: end_offset} from start[p] (default 0) until each reaches its end
    offset (partition EOF at or past it). Returns {p: [messages]}. Fails on errors, on timeout
    and on messages past the end."""
    own = c is None
    c = c or consumer(bootstrap)
    start = start or {}
    got = {p: [] for p in ends}
    done = set()
    eof = {}  # partition -> offset of its last end-of-partition event
    try:
        c.assign([TopicPartition(topic, p, start.get(p, 0)) for p in ends])
        deadline = time.monotonic() + timeout
        progress = time.monotonic()
        while len(done) < len(ends):
            now = time.monotonic()
            # Every partition at its end but some short, and nothing new for 5 s: fail now.
            if now > deadline or (len(eof) == len(ends) and now - progress > 5):
                raise Failure("consume %s: read %s of %s; ends seen at %s" % (
                    topic, {p: len(v) for p, v in got.items()}, ends, eof))
            m = c.poll(0.5)
            if m is None:
                continue
            progress = time.monotonic()
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    eof[m.partition()] = m.offset()
                    if m.offset() >= ends[m.partition()]:
                        done.add(m.partition())
                    continue
                raise Failure("consume %s: %s" % (topic, m.error()))
            got[m.partition()].append(_rec(m))
    finally:
        if own:
            c.close()
    return got


def high_watermarks(bootstrap, topic, partitions, timeout=10.0):
    c = consumer(bootstrap)
    try:
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)[1]
                for p in range(partitions)}
    finally:
        c.close()


def compare(ck, got, expected, what, check_ts=True):
    """got/expected: lists of messages of one partition, in offset order."""
    ck.eq(len(got), len(expected), "%s: number of messages" % what)
    for g, e in zip(got, expected):
        w = "%s offset %d" % (what, e["offset"])
        ck.eq(g["offset"], e["offset"], w + ": offset")
        ck.eq(g["key"], e["key"], w + ": key")
        ck.eq(g["value"], e["value"], w + ": value")
        ck.eq(g["headers"], e["headers"], w + ": headers")
        if check_ts:
            ck.eq((g["ts_type"], g["ts"]), (TIMESTAMP_CREATE_TIME, e["ts"]), w + ": timestamp")


def _b64(v):
    return None if v is None else base64.b64encode(v).decode()


def _dump(bootstrap, topic):
    c = consumer(bootstrap)
    try:
        n = wait_topic(c, topic)
        ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(n)}
        got = consume(bootstrap, topic, ends, c=c)
    finally:
        c.close()
    for p in sorted(got):
        msgs = [{"offset": m["offset"], "key": _b64(m["key"]), "value": _b64(m["value"]),
                 "headers": [[k, _b64(v)] for k, v in m["headers"]], "ts": m["ts"],
                 "ts_type": m["ts_type"]} for m in got[p]]
        print(json.dumps({"partition": p, "messages": msgs}))


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "dump":
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    _dump(sys.argv[2], sys.argv[3])
    sys.stdout.flush()
    os._exit(0)
