#!/usr/bin/python3
"""kafka_fetch_ids_test: Fetch v13-v17, where topics go by id (KIP-516), on raw frames.

Metadata v12 gives the topic's id; librdkafka produces 5 messages (no compression); then Fetch
v12 by name and Fetch v13, v14, v15 (no ReplicaId), v16 and v17 (each partition with the tagged
ReplicaDirectoryId a follower sends, which a broker skips) by id must all return the same records
(keys, values, offsets 0..4), the high watermark 5, and from v13 the topic id in the response in
place of the name. A topic id the broker does not know answers UNKNOWN_TOPIC_ID (100) on each
partition with its id echoed; a known id with a missing partition answers
UNKNOWN_TOPIC_OR_PARTITION (3); after the topic is deleted and created again under its name, the
old id is UNKNOWN_TOPIC_ID and the new one serves the new, empty topic. ApiVersions advertises
Fetch up to 17. (No client here sends Fetch v13: librdkafka 2.0.2 stops at v11, as does kafkajs.)
"""
import os
import socket
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from kafka_badinput_test import (Reader, api_versions_req, compact_string, frame, header, i8,  # noqa: E402
                                 i32, i64, parse_api_versions, read_response, uvarint)

API_FETCH, API_METADATA = 1, 3
UNKNOWN_TOPIC_OR_PARTITION, UNKNOWN_TOPIC_ID = 3, 100
COUNT = 5


class FlexReader(Reader):
    def cstr(self):
        n = self.uvarint()
        return None if n == 0 else self.take(n - 1).decode()

    def cbytes(self):
        n = self.uvarint()
        return None if n == 0 else self.take(n - 1)

    def carray(self, fn):
        n = self.uvarint()
        return None if n == 0 else [fn() for _ in range(n - 1)]

    def uuid(self):
        return self.take(16)

    def varint_(self):  # zigzag, as in records
        v = shift = 0
        while True:
            b = self.take(1)[0]
            v |= (b & 0x7F) << shift
            if not b & 0x80:
                return (v >> 1) ^ -(v & 1)
            shift += 7


def flex_response(sock, corr):
    """A flexible response: header v1 (correlation id, tags); returns a reader on the body."""
    r = FlexReader(b"\x00\x00\x00\x00" + read_response(sock, corr))
    r.take(4)
    r.tagged()
    return r


def metadata_v12(corr, topic):
    body = (uvarint(2) + b"\x00" * 16 + compact_string(topic) + uvarint(0)  # Topics: [{id 0, name}]
            + i8(1) + i8(0) + uvarint(0))  # AllowAutoTopicCreation, IncludeTopicAuthorizedOperations
    return frame(header(API_METADATA, 12, corr, flexible=True) + body)


def parse_metadata_v12(r):
    r.i32()  # ThrottleTimeMs
    r.carray(lambda: (r.i32(), r.cstr(), r.i32(), r.cstr(), r.tagged()))  # Brokers
    r.cstr()
    r.i32()

    def part():
        p = (r.i16(), r.i32())
        r.i32(), r.i32()
        for _ in range(3):
            r.carray(r.i32)
        r.tagged()
        return p

    def topic():
        t = {"error": r.i16(), "name": r.cstr(), "id": r.uuid(), "internal": r.i8(), "parts": r.carray(part)}
        r.i32()
        r.tagged()
        return t

    topics = r.carray(topic)
    r.tagged()
    r.end("Metadata v12 response")
    return topics


def fetch_req(corr, version, topics):
    """topics: [(name or 16-byte id, [partitions])], fetching from offset 0."""
    body = b""
    if version <= 14:
        body += i32(-1)  # ReplicaId
    body += i32(100) + i32(1) + i32(1 << 20) + i8(0) + i32(0) + i32(-1)
    body += uvarint(len(topics) + 1)
    for t, parts in topics:
        body += t if version >= 13 else compact_string(t)
        body += uvarint(len(parts) + 1)
        for p in parts:
            body += i32(p) + i32(-1) + i64(0) + i32(-1) + i64(-1) + i32(1 << 20)
            # v17: the tagged ReplicaDirectoryId (tag 0, a uuid), as a follower would send it.
            body += uvarint(1) + uvarint(0) + uvarint(16) + b"\x5a" * 16 if version >= 17 else uvarint(0)
        body += uvarint(0)
    body += uvarint(1) + compact_string("") + uvarint(0)  # ForgottenTopicsData [], RackId "", tags
    return frame(header(API_FETCH, version, corr, flexible=True) + body)


def parse_fetch(r, version):
    r.i32()
    top = (r.i16(), r.i32())

    def part():
        p = {"index": r.i32(), "error": r.i16(), "hw": r.i64()}
        r.i64(), r.i64()
        r.carray(lambda: (r.i64(), r.i64(), r.tagged()))
        r.i32()
        p["records"] = r.cbytes()
        r.tagged()
        return p

    def topic():
        t = (r.uuid() if version >= 13 else r.cstr(), r.carray(part))
        r.tagged()
        return t

    topics = r.carray(topic)
    r.tagged()
    r.end("Fetch v%d response" % version)
    return top, topics


def records_of(data):
    """[(offset, key, value)] of uncompressed RecordBatch v2 bytes."""
    out = []
    r = FlexReader(data or b"")
    while r.p + 61 <= len(r.d):
        base = r.i64()
        blen = r.i32()
        end = r.p + blen
        r.take(4 + 1 + 4)  # leader epoch, magic, crc
        attrs = r.i16()
        if attrs & 7:
            raise harness.CheckFailed("compressed batch (attributes %d)" % attrs)
        r.take(4 + 8 + 8 + 8 + 2 + 4)
        n = r.i32()
        for _ in range(n):
            r.varint_()
            r.i8()
            r.varint_()
            delta = r.varint_()
            k = r.varint_()
            key = r.take(k) if k >= 0 else None
            v = r.varint_()
            val = r.take(v) if v >= 0 else None
            for _ in range(r.varint_()):
                r.take(r.varint_())
                hv = r.varint_()
                if hv >= 0:
                    r.take(hv)
            out.append((base + delta, key, val))
        r.p = end
    return out


def body(ck):
    broker = harness.start_broker()
    topic = harness.unique("ids")
    s = socket.create_connection((broker.host, broker.kafka_port), timeout=10)
    corr = [0]

    def call(req_fn, *args):
        corr[0] += 1
        s.sendall(req_fn(corr[0], *args))
        return corr[0]

    with ck.section("ApiVersions"):
        c = call(api_versions_req, 0)
        err, keys = parse_api_versions(read_response(s, c), 0)
        ck.eq(keys.get(API_FETCH), (4, 17), "Fetch versions advertised")
    with ck.section("topic id from Metadata v12"):
        tid = None
        for _ in range(50):
            topics = parse_metadata_v12(flex_response(s, call(metadata_v12, topic)))
            t = topics[0]
            if t["error"] == 0 and t["parts"]:
                tid = t["id"]
                break
            time.sleep(0.1)
        ck.ok(tid is not None and tid != b"\x00" * 16, "topic %s has an id" % topic)
    with ck.section("produce with librdkafka"):
        from confluent_kafka import Producer
        p = Producer({"bootstrap.servers": broker.bootstrap, "compression.type": "none", "linger.ms": 0})
        for i in range(COUNT):
            p.produce(topic, key=b"k%d" % i, value=b"value %d" % i, partition=0)
            p.flush(10)
        ck.eq(len(p), 0, "all delivered")
    want = [(i, b"k%d" % i, b"value %d" % i) for i in range(COUNT)]
    with ck.section("Fetch by name (v12) and by id (v13-v16)"):
        for v in (12, 13, 14, 15, 16, 17):
            key = tid if v >= 13 else topic
            top, topics = parse_fetch(flex_response(s, call(fetch_req, v, [(key, [0])])), v)
            ck.eq(top, (0, 0), "Fetch v%d top-level error and session" % v)
            ck.eq(len(topics), 1, "Fetch v%d topics" % v)
            ck.eq(topics[0][0], key, "Fetch v%d topic %s" % (v, "id" if v >= 13 else "name"))
            part = topics[0][1][0]
            ck.eq((part["index"], part["error"], part["hw"]), (0, 0, COUNT), "Fetch v%d partition" % v)
            ck.eq(records_of(part["records"]), want, "Fetch v%d records" % v)
    with ck.section("unknown topic id, missing partition"):
        unknown = uuid.uuid4().bytes
        for v in (13, 16, 17):
            top, topics = parse_fetch(flex_response(s, call(fetch_req, v, [(unknown, [0, 1]), (tid, [0, 7])])), v)
            ck.eq(top, (0, 0), "Fetch v%d top-level" % v)
            got = [(t, [(p["index"], p["error"]) for p in parts]) for t, parts in topics]
            ck.eq(got, [(unknown, [(0, UNKNOWN_TOPIC_ID), (1, UNKNOWN_TOPIC_ID)]),
                        (tid, [(0, 0), (7, UNKNOWN_TOPIC_OR_PARTITION)])],
                  "Fetch v%d with an unknown id and a missing partition" % v)
    with ck.section("a topic deleted and created again has a new id"):
        from confluent_kafka.admin import AdminClient, NewTopic
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        admin.delete_topics([topic], request_timeout=30)[topic].result(timeout=30)
        fs = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)], request_timeout=30)
        fs[topic].result(timeout=30)
        t = parse_metadata_v12(flex_response(s, call(metadata_v12, topic)))[0]
        ck.ok(t["error"] == 0 and t["id"] != tid, "the new topic has a new id")
        top, topics = parse_fetch(flex_response(s, call(fetch_req, 13, [(tid, [0]), (t["id"], [0])])), 13)
        got = [(i, [(p["index"], p["error"], p["hw"]) for p in parts]) for i, parts in topics]
        ck.eq(got, [(tid, [(0, UNKNOWN_TOPIC_ID, -1)]), (t["id"], [(0, 0, 0)])],
              "Fetch v13 with the old id and the new one")
    s.close()


if __name__ == "__main__":
    harness.run("kafka_fetch_ids_test", body, modules=["confluent_kafka"])
