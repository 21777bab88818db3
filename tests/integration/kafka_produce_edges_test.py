#!/usr/bin/python3
"""kafka_produce_edges_test: Produce v7 edge cases on raw frames, answered with Kafka's exact
error codes, and nothing of a refused batch stored.

Which Kafka behaviour each case matches:
- Idempotence (ProducerAppendInfo.checkSequence, Kafka 2.5+ / KIP-360): a producer id the broker
  has no state for is accepted at any first sequence (its state may have gone with retention), so
  an unknown producer starting at sequence 5 is appended (error 0). After that: the next sequence
  appends; the same batch again is a duplicate answered with the original base offset (error 0,
  nothing stored twice); a gap is OUT_OF_ORDER_SEQUENCE_NUMBER (45); a new epoch must start at
  sequence 0, else 45; an older epoch is INVALID_PRODUCER_EPOCH (47, Kafka 2.7+).
- Transactional bit set with a null transactional id (KafkaApis.handleProduceRequest,
  RequestUtils.hasTransactionalRecords): TRANSACTIONAL_ID_AUTHORIZATION_FAILED (53) for every
  partition of the request, also a plain batch beside it; nothing appended.
- Control bit from a client, or a producer id with sequence -1 (LogValidator.validateBatch):
  INVALID_RECORD (87).
- A record whose length is negative, or runs past the batch, or a record count that does not
  match the records (DefaultRecord.readFrom, "Found invalid record structure" / "Invalid record
  size"), with a correct CRC: INVALID_RECORD (87).
- min.insync.replicas above the replicas (Partition.appendRecordsToLeader): an acks=all batch
  is NOT_ENOUGH_REPLICAS (19) before it is appended; acks=1 is appended.
Finally librdkafka reads the partitions back: exactly the accepted batches, at their offsets.
"""
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from kafka_badinput_test import (API_PRODUCE, crc32c, frame, header, i8, i16, i32, i64,  # noqa: E402
                                 metadata_req, parse_metadata, parse_produce_v7, read_response,
                                 record, string, varint)

NONE, OUT_OF_ORDER, INVALID_EPOCH, TXN_ID_AUTH, INVALID_RECORD = 0, 45, 47, 53, 87
ATTR_TRANSACTIONAL, ATTR_CONTROL = 0x10, 0x20


def batch(values, base_ts, pid=-1, epoch=-1, seq=-1, attrs=0, records=None, count=None):
    """A RecordBatch v2 with a correct CRC; records/count override the encoded records."""
    recs = records if records is not None else b"".join(
        record(i, i, b"k", v) for i, v in enumerate(values))
    n = len(values) if count is None else count
    after_crc = (i16(attrs) + i32(len(values) - 1) + i64(base_ts) + i64(base_ts + len(values) - 1)
                 + i64(pid) + i16(epoch) + i32(seq) + i32(n) + recs)
    after_len = i32(-1) + i8(2) + struct.pack(">I", crc32c(after_crc)) + after_crc
    return i64(0) + i32(len(after_len)) + after_len


def produce_req(corr, parts, txn_id=None, acks=-1):
    """parts: [(topic, partition, records)], one topic entry per (topic, partition)."""
    body = string(txn_id) + i16(acks) + i32(10000) + i32(len(parts))
    for topic, p, recs in parts:
        body += string(topic) + i32(1) + i32(p) + i32(len(recs)) + recs
    return frame(header(API_PRODUCE, 7, corr, "sluice-edges") + body)


class Conn:
    def __init__(self, broker):
        self.s = socket.create_connection((broker.host, broker.kafka_port), timeout=10)
        self.corr = 0

    def call(self, req_fn, *args, **kw):
        self.corr += 1
        self.s.sendall(req_fn(self.corr, *args, **kw))
        return read_response(self.s, self.corr)

    def produce(self, parts, txn_id=None):
        """[(error, base_offset)] per (topic, partition) sent."""
        topics = parse_produce_v7(self.call(produce_req, parts, txn_id))
        return [(p["error"], p["base_offset"]) for _, ps in topics for p in ps]

    def create(self, topic):
        for _ in range(50):
            md = parse_metadata(self.call(metadata_req, 1, [topic]), 1)
            t = md["topics"][0]
            if t["error"] == 0 and t["partitions"]:
                return
            time.sleep(0.1)
        raise harness.CheckFailed("topic %s not auto-created" % topic)


def idempotence(ck, c, topic, now):
    pid = 424242

    def send(seq, epoch=0, values=(b"a", b"b")):
        return c.produce([(topic, 0, batch(list(values), now, pid, epoch, seq))])[0]

    ck.eq(send(5), (NONE, 0), "unknown producer id starting at sequence 5 (accepted, as Kafka 2.5+)")
    ck.eq(send(7), (NONE, 2), "next sequence 7")
    ck.eq(send(7), (NONE, 2), "sequence 7 again: duplicate, the original's offset")
    ck.eq(send(10)[0], OUT_OF_ORDER, "sequence 10 after 8: a gap")
    ck.eq(send(3, epoch=1)[0], OUT_OF_ORDER, "new epoch 1 starting at sequence 3")
    ck.eq(send(0, epoch=1), (NONE, 4), "new epoch 1 at sequence 0")
    ck.eq(send(9, epoch=0)[0], INVALID_EPOCH, "old epoch 0 after epoch 1")
    ck.eq(send(2, epoch=1), (NONE, 6), "epoch 1 sequence 2")
    return [(b"a", 0), (b"b", 1), (b"a", 2), (b"b", 3), (b"a", 4), (b"b", 5), (b"a", 6), (b"b", 7)]


def transactional(ck, c, topic, other, now):
    txn = batch([b"t"], now, pid=77, epoch=0, seq=0, attrs=ATTR_TRANSACTIONAL)
    plain = batch([b"p"], now)
    got = c.produce([(topic, 0, plain), (other, 0, txn)])
    ck.eq(got, [(TXN_ID_AUTH, -1), (TXN_ID_AUTH, -1)],
          "transactional batch without a transactional id, beside a plain one")
    got = c.produce([(other, 0, batch([b"t"], now, attrs=ATTR_TRANSACTIONAL))])
    ck.eq(got, [(TXN_ID_AUTH, -1)], "transactional bit without a producer id")
    got = c.produce([(other, 0, batch([b"c"], now, attrs=ATTR_CONTROL))])
    ck.eq(got[0][0], INVALID_RECORD, "control batch from a client")
    got = c.produce([(other, 0, batch([b"s"], now, pid=78, epoch=0, seq=-1))])
    ck.eq(got[0][0], INVALID_RECORD, "producer id with sequence -1")
    ck.eq(c.produce([(other, 0, plain)]), [(NONE, 0)], "a plain batch after the refusals")


def record_lengths(ck, c, topic, now):
    one = record(0, 0, b"k", b"value")  # varint length + body
    body = one[1:]
    cases = [
        ("record length -1", varint(-1) + body),
        ("record length -100", varint(-100) + body),
        ("record length past the batch", varint(len(body) + 20) + body),
        ("record length short of its fields", varint(3) + body[:3]),
        ("trailing bytes after the last record", one + b"\x00\x00"),
    ]
    for what, recs in cases:
        got = c.produce([(topic, 0, batch([b"value"], now, records=recs))])
        ck.eq(got[0][0], INVALID_RECORD, what)
    got = c.produce([(topic, 0, batch([b"value"], now, records=one, count=2))])
    ck.eq(got[0][0], INVALID_RECORD, "record count 2 with one record")
    got = c.produce([(topic, 0, batch([b"value"], now, records=one, count=-1))])
    ck.eq(got[0][0], INVALID_RECORD, "record count -1")
    ck.eq(c.produce([(topic, 0, batch([b"v"], now))]), [(NONE, 0)], "a good batch after them")


def min_insync(ck, broker, c, now):
    """min.insync.replicas above the one replica a single broker holds: an acks=all batch is
    refused before it is appended with NOT_ENOUGH_REPLICAS (19), as Kafka refuses it; acks=1 is
    taken. Returns the topic and what it holds."""
    from confluent_kafka.admin import AdminClient, NewTopic
    t = harness.unique("minisr")
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    a.create_topics([NewTopic(t, 1, 1, config={"min.insync.replicas": "2"})])[t].result(timeout=15)

    def send(value, acks):
        topics = parse_produce_v7(c.call(produce_req, [(t, 0, batch([value], now))], None, acks=acks))
        return [(p["error"], p["base_offset"]) for _, ps in topics for p in ps]
    ck.eq(send(b"refused", -1), [(19, -1)], "acks=all with min.insync.replicas 2 on one broker")
    ck.eq(send(b"taken", 1), [(NONE, 0)], "acks=1 on the same topic: appended at offset 0")
    ck.eq(send(b"refused again", -1), [(19, -1)], "acks=all again: refused, nothing appended")
    return t, [(b"taken", 0)]


def read_back(ck, broker, want):
    import ckutil
    for topic, msgs in want.items():
        got = ckutil.consume(broker.bootstrap, topic, {0: len(msgs)})[0]
        ck.eq([(m["value"], m["offset"]) for m in got], msgs, "%s read back" % topic)


def body(ck):
    broker = harness.start_broker()
    now = int(time.time() * 1000)
    c = Conn(broker)
    idem, txn, other, lens = (harness.unique(n) for n in ("idem", "txn", "other", "lens"))
    for t in (idem, txn, other, lens):
        c.create(t)
    want = {}
    with ck.section("idempotent producer sequences"):
        want[idem] = idempotence(ck, c, idem, now)
    with ck.section("transactional and control bits"):
        transactional(ck, c, txn, other, now)
        want[txn], want[other] = [], [(b"p", 0)]
    with ck.section("record lengths"):
        record_lengths(ck, c, lens, now)
        want[lens] = [(b"v", 0)]
    with ck.section("min.insync.replicas: NOT_ENOUGH_REPLICAS"):
        t, held = min_insync(ck, broker, c, now)
        want[t] = held
    with ck.section("read back"):
        read_back(ck, broker, {k: v for k, v in want.items() if v})
        ck.eq(c.produce([(txn, 0, batch([b"x"], now))]), [(NONE, 0)], "the txn topic is still empty")


if __name__ == "__main__":
    harness.run("kafka_produce_edges_test", body, modules=["confluent_kafka"])
