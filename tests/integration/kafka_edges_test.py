#!/usr/bin/python3
"""kafka_edges_test: what librdkafka's own test suite trips on, checked with confluent-kafka-python
1.7.0 (librdkafka 2.0.2) and, where that client cannot reach a field, hand-written frames (the
encoders of kafka_badinput_test.py).

- init_transactions() succeeds within 3 s (FindCoordinator for a transactional id answers this
  node; transactions themselves are kafka_txn_test's).
- ListOffsets v7 MAX_TIMESTAMP (-3): the offset and timestamp of the first record with the
  newest timestamp, not the end offset; -1 (empty partition: offset -1, timestamp -1).
- Kafka 3.9's versions: ListOffsets v8 EARLIEST_LOCAL (-4) is the log start (nothing is
  tiered), v9 LATEST_TIERED (-5) offset -1; OffsetFetch v9 (MemberId, MemberEpoch) returns the
  committed offsets and metadata; JoinGroup v9 (Reason in, SkipAssignment out) asks for a member
  id, then makes the joiner the leader of generation 1 with SkipAssignment false.
- OffsetCommit metadata with NUL and 0xff bytes comes back byte for byte from OffsetFetch, also
  after 12,000 more commits (the offsets log compacts), a clean restart and a kill -9.
- Every standard Kafka topic config: created with values, described with value, source and
  is_default; bad values refused with INVALID_CONFIG and Kafka's wording; a cleanup.policy outside [delete, compact]
  still refused; IncrementalAlterConfigs v0 SET/DELETE of them, and its refusals.
- DescribeConfigs BROKER lists Kafka's broker config names with Sluice's values (read-only,
  STATIC_BROKER_CONFIG when set by flag); AlterConfigs BROKER answers INVALID_REQUEST "Cannot
  update these configs dynamically"; GROUP resources describe Kafka 3.9's group configs.
- Authorized operations (Metadata v8, DescribeGroups v3, DescribeCluster v0/v1): Kafka's full
  bit sets when asked, INT32_MIN when not.
- The broker started with "--auto-create-topics false" (the value after a space) does not create
  topics on Metadata.

librdkafka's mock cluster has none of these (no DescribeConfigs, no MAX_TIMESTAMP, no
authorized operations), so this test runs against sluice only; with SLUICE_EXTERNAL_KAFKA it
skips.
"""
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import kafka_badinput_test as kb  # noqa: E402
from kafka_badinput_test import i8, i16, i32, i64, string, uvarint, compact_string, frame, header  # noqa: E402

from confluent_kafka import KafkaError, KafkaException, Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, NewPartitions, NewTopic  # noqa: E402

API_LIST_OFFSETS, API_METADATA, API_OFFSET_COMMIT, API_OFFSET_FETCH, API_JOIN_GROUP = 2, 3, 8, 9, 11
API_DESCRIBE_GROUPS, API_DESCRIBE_CONFIGS, API_INCREMENTAL_ALTER_CONFIGS, API_DESCRIBE_CLUSTER = 15, 32, 44, 60
INT32_MIN = -(1 << 31)
OPS_TOPIC, OPS_CLUSTER, OPS_GROUP = 3576, 8096, 3400  # Kafka's supported operations, as bits


class Reader(kb.Reader):
    def bytes_string(self):
        n = self.i16()
        return None if n < 0 else self.take(n)

    def compact_string(self):
        n = self.uvarint()
        return None if n == 0 else self.take(n - 1).decode()


class Conn:
    def __init__(self, broker):
        self.s = socket.create_connection((broker.host, broker.kafka_port), timeout=10)
        self.corr = 0

    def call(self, key, version, body, flexible=False):
        self.corr += 1
        self.s.sendall(frame(header(key, version, self.corr, "sluice-edges", flexible) + body))
        data = kb.read_response(self.s, self.corr)
        r = Reader(data)
        if flexible:
            r.tagged()
        return r

    def close(self):
        self.s.close()


# ---- transactions ---------------------------------------------------------------------------

def transactions(ck, broker):
    p = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": harness.unique("tx"),
                  "logger": lambda *a: None})
    t0 = time.monotonic()
    p.init_transactions(30)
    took = time.monotonic() - t0
    ck.ok(took < 3.0, "init_transactions() took %.1f s, want < 3 s" % took)


# ---- ListOffsets MAX_TIMESTAMP --------------------------------------------------------------

def list_offsets_v7(conn, topic, partition, ts, version=7):
    body = (i32(-1) + i8(0) + uvarint(2) + compact_string(topic) + uvarint(2) + i32(partition) + i32(-1)
            + i64(ts) + uvarint(0) + uvarint(0) + uvarint(0))
    r = conn.call(API_LIST_OFFSETS, version, body, flexible=True)
    r.i32()
    topics = r.compact_array(lambda: (r.compact_string(), r.compact_array(
        lambda: (r.i32(), r.i16(), r.i64(), r.i64(), r.i32(), r.tagged())[:5]), r.tagged())[:2])
    r.tagged()
    r.end("ListOffsets v7")
    _, parts = topics[0]
    _, err, got_ts, off, _ = parts[0]
    return err, off, got_ts


def max_timestamp(ck, broker):
    topic = harness.unique("maxts")
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    a.create_topics([NewTopic(topic, 2, 1)])[topic].result(timeout=30)
    base = int(time.time() * 1000) - 3600000
    offsets = [5, 50, 20, 50, 10, 49]  # the newest time twice: the first one is the answer
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
    for i, d in enumerate(offsets):
        p.produce(topic, b"v%d" % i, partition=0, timestamp=base + d)
        p.flush(10)  # one batch per record
    ck.eq(p.flush(10), 0, "all delivered")
    conn = Conn(broker)
    ck.eq(list_offsets_v7(conn, topic, 0, -3), (0, 1, base + 50), "MAX_TIMESTAMP (err, offset, ts)")
    ck.eq(list_offsets_v7(conn, topic, 0, -1)[:2], (0, 6), "LATEST")
    ck.eq(list_offsets_v7(conn, topic, 0, base + 30), (0, 1, base + 50), "first at or after base+30")
    ck.eq(list_offsets_v7(conn, topic, 1, -3), (0, -1, -1), "MAX_TIMESTAMP on an empty partition")
    ck.eq(list_offsets_v7(conn, topic, 0, -4, 8), (0, 0, -1), "v8 EARLIEST_LOCAL: the log start")
    ck.eq(list_offsets_v7(conn, topic, 0, -4, 9), (0, 0, -1), "v9 EARLIEST_LOCAL")
    ck.eq(list_offsets_v7(conn, topic, 0, -5, 9), (0, -1, -1), "v9 LATEST_TIERED: nothing is tiered")
    ck.eq(list_offsets_v7(conn, topic, 0, -1, 9)[:2], (0, 6), "v9 LATEST")
    conn.close()


def compact_nbytes(b):
    return uvarint(0) if b is None else uvarint(len(b) + 1) + b


def offset_fetch_v9(conn, group, topic, partitions, member=None, epoch=-1):
    body = (uvarint(2) + compact_string(group) + compact_nbytes(member and member.encode()) + i32(epoch)
            + uvarint(2) + compact_string(topic) + uvarint(len(partitions) + 1)
            + b"".join(i32(p) for p in partitions) + uvarint(0) + uvarint(0) + i8(0) + uvarint(0))
    r = conn.call(API_OFFSET_FETCH, 9, body, flexible=True)
    r.i32()

    def part():
        p, o, _, n = r.i32(), r.i64(), r.i32(), r.uvarint()
        m = None if n == 0 else r.take(n - 1)
        e = r.i16()
        r.tagged()
        return p, o, m, e

    groups = r.compact_array(lambda: (r.compact_string(), r.compact_array(
        lambda: (r.compact_string(), r.compact_array(part), r.tagged())[:2]), r.i16(), r.tagged())[:3])
    r.tagged()
    r.end("OffsetFetch v9")
    (g, topics, err), = groups
    return g, err, {p: (o, m, e) for _, ps in topics for p, o, m, e in ps}


def join_group_v9(conn, group, member_id):
    body = (compact_string(group) + i32(6000) + i32(30000) + compact_string(member_id) + uvarint(0)
            + compact_string("consumer") + uvarint(2) + compact_string("range") + compact_nbytes(b"\x00\x01meta")
            + uvarint(0) + compact_string("joining for the test") + uvarint(0))
    r = conn.call(API_JOIN_GROUP, 9, body, flexible=True)
    out = {"throttle": r.i32(), "error": r.i16(), "generation": r.i32(), "protocol_type": r.compact_string(),
           "protocol_name": r.compact_string(), "leader": r.compact_string(), "skip": r.i8(),
           "member_id": r.compact_string()}

    def member():
        m, inst, n = r.compact_string(), r.compact_string(), r.uvarint()
        meta = None if n == 0 else r.take(n - 1)
        r.tagged()
        return m, inst, meta

    out["members"] = r.compact_array(member)
    r.tagged()
    r.end("JoinGroup v9")
    return out


def kafka_39_groups(ck, broker):
    topic, group = harness.unique("v9"), harness.unique("v9-group")
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    a.create_topics([NewTopic(topic, 2, 1)])[topic].result(timeout=30)
    conn = Conn(broker)
    ck.eq(offset_commit(conn, group, topic, [(0, 11, METADATA), (1, 4, b"")]), [0, 0], "commit errors")
    ck.eq(offset_fetch_v9(conn, group, topic, [0, 1, 2]),
          (group, 0, {0: (11, METADATA, 0), 1: (4, b"", 0), 2: (-1, b"", 0)}), "OffsetFetch v9, no member")
    ck.eq(offset_fetch_v9(conn, group, topic, [0], member="m-1", epoch=3)[2], {0: (11, METADATA, 0)},
          "OffsetFetch v9 with a member id and epoch (a classic group does not check them)")
    jg = harness.unique("v9-join")
    first = join_group_v9(conn, jg, "")
    ck.eq((first["error"], bool(first["member_id"])), (79, True), "JoinGroup v9: MEMBER_ID_REQUIRED with an id")
    second = join_group_v9(conn, jg, first["member_id"])
    ck.eq((second["error"], second["generation"], second["protocol_type"], second["protocol_name"],
           second["leader"], second["skip"], second["member_id"]),
          (0, 1, "consumer", "range", first["member_id"], 0, first["member_id"]), "JoinGroup v9: the leader")
    ck.eq(second["members"], [(first["member_id"], None, b"\x00\x01meta")], "JoinGroup v9: the members")
    conn.close()


# ---- committed metadata bytes ---------------------------------------------------------------

METADATA = b"state\x00with\x00nul\xff\x01\x00end"


def offset_commit(conn, group, topic, items):
    """OffsetCommit v2 without a member (a simple commit); items: [(partition, offset, metadata)]."""
    parts = b"".join(i32(p) + i64(o) + string(m) for p, o, m in items)
    body = string(group) + i32(-1) + string("") + i64(-1) + i32(1) + string(topic) + i32(len(items)) + parts
    r = conn.call(API_OFFSET_COMMIT, 2, body)
    res = r.array(lambda: (r.string(), r.array(lambda: (r.i32(), r.i16()))))
    return [e for _, ps in res for _, e in ps]


def offset_fetch(conn, group, topic, partitions):
    body = string(group) + i32(1) + string(topic) + i32(len(partitions)) + b"".join(i32(p) for p in partitions)
    r = conn.call(API_OFFSET_FETCH, 1, body)
    res = r.array(lambda: (r.string(), r.array(lambda: (r.i32(), r.i64(), r.bytes_string(), r.i16()))))
    r.end("OffsetFetch v1")
    return {p: (o, m, e) for _, ps in res for p, o, m, e in ps}


def commit_metadata(ck, broker):
    if broker.external:
        harness.skip("restarts the broker")
    topic, group = harness.unique("md"), harness.unique("md-group")
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    a.create_topics([NewTopic(topic, 2, 1)])[topic].result(timeout=30)
    conn = Conn(broker)
    ck.eq(offset_commit(conn, group, topic, [(0, 7, METADATA), (1, 3, b"")]), [0, 0], "commit errors")
    want = {0: (7, METADATA, 0), 1: (3, b"", 0)}
    ck.eq(offset_fetch(conn, group, topic, [0, 1]), want, "fetched right after the commit")
    # 12,000 more commits of another group: past the offsets log's compaction threshold (10,000
    # records and 4x the live entries), pipelined 200 at a time.
    other = harness.unique("md-other")
    for start in range(0, 12000, 200):
        frames = b""
        for i in range(start, start + 200):
            conn.corr += 1
            body = (string(other) + i32(-1) + string("") + i64(-1) + i32(1) + string(topic) + i32(1)
                    + i32(0) + i64(i) + string(b"x"))
            frames += frame(header(API_OFFSET_COMMIT, 2, conn.corr, "sluice-edges") + body)
        conn.s.sendall(frames)
        for c in range(conn.corr - 199, conn.corr + 1):
            kb.read_response(conn.s, c)
    ck.eq(offset_fetch(conn, group, topic, [0, 1]), want, "fetched after 12,000 more commits")
    conn.close()
    for how in ("SIGTERM", "SIGKILL"):
        broker.restart(kill=how == "SIGKILL")
        ck.eq(fetch_retrying(broker, group, topic), want, "fetched after a restart (%s)" % how)


def fetch_retrying(broker, group, topic):
    """OffsetFetch on a fresh connection, retried for a while on a reset: after a kill -9 the old
    process's listening socket (held by its io_uring until the kernel tears the ring down) may
    still accept and then reset connections while the new process recovers."""
    deadline = time.monotonic() + 15
    while True:
        try:
            conn = Conn(broker)
            try:
                return offset_fetch(conn, group, topic, [0, 1])
            finally:
                conn.close()
        except (ConnectionError, harness.CheckFailed):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


# ---- topic configs --------------------------------------------------------------------------

# Every standard Kafka topic config with a value that is not its default.
TOPIC_CONFIGS = {
    "cleanup.policy": "delete", "compression.type": "zstd", "delete.retention.ms": "3600000",
    "file.delete.delay.ms": "1000", "flush.messages": "1000", "flush.ms": "60000",
    "follower.replication.throttled.replicas": "0:1", "index.interval.bytes": "8192",
    "leader.replication.throttled.replicas": "*", "local.retention.bytes": "1048576",
    "local.retention.ms": "600000", "max.compaction.lag.ms": "86400000", "max.message.bytes": "2097152",
    "message.downconversion.enable": "false", "message.format.version": "2.8",
    "message.timestamp.after.max.ms": "3600000", "message.timestamp.before.max.ms": "7200000",
    "message.timestamp.difference.max.ms": "7200000", "message.timestamp.type": "LogAppendTime",
    "min.cleanable.dirty.ratio": "0.25", "min.compaction.lag.ms": "1000", "min.insync.replicas": "1",
    "preallocate": "true", "remote.storage.enable": "false", "retention.bytes": "104857600",
    "retention.ms": "7200000", "segment.bytes": "1048576", "segment.index.bytes": "1048576",
    "segment.jitter.ms": "100", "segment.ms": "3600000", "unclean.leader.election.enable": "true",
}


def describe(a, rtype, name):
    res = ConfigResource(rtype, name)
    return a.describe_configs([res], request_timeout=30)[res].result(timeout=30)


def topic_configs(ck, broker):
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    topic = harness.unique("cfg")
    a.create_topics([NewTopic(topic, 1, 1, config=TOPIC_CONFIGS)])[topic].result(timeout=30)
    got = describe(a, "topic", topic)
    for k, v in TOPIC_CONFIGS.items():
        ck.ok(k in got, "%s described" % k)
        ck.eq(got[k].value, v, "%s value" % k)
        ck.eq(got[k].source, ConfigSource.DYNAMIC_TOPIC_CONFIG.value, "%s source" % k)
        ck.eq(got[k].is_default, False, "%s is_default" % k)
    plain = harness.unique("cfg-plain")
    a.create_topics([NewTopic(plain, 1, 1)])[plain].result(timeout=30)
    got = describe(a, "topic", plain)
    for k, v in (("delete.retention.ms", "86400000"), ("min.cleanable.dirty.ratio", "0.5"),
                 ("message.format.version", "3.0-IV1"), ("preallocate", "false")):
        ck.eq((got[k].value, got[k].is_default, got[k].source), (v, True, ConfigSource.DEFAULT_CONFIG.value),
              "%s default" % k)
    # Alter replaces every override (AlterConfigs): two set, the rest back to defaults.
    res = ConfigResource("topic", topic, set_config={"delete.retention.ms": "0", "segment.jitter.ms": "5"})
    a.alter_configs([res], request_timeout=30)[res].result(timeout=30)
    got = describe(a, "topic", topic)
    ck.eq(got["delete.retention.ms"].value, "0", "delete.retention.ms after alter")
    ck.eq(got["segment.jitter.ms"].value, "5", "segment.jitter.ms after alter")
    ck.eq(got["compression.type"].is_default, True, "compression.type back to its default")
    bad = [("delete.retention.ms", "-1", "Value must be at least 0"),
           ("min.cleanable.dirty.ratio", "2", "Value must be between 0 and 1"),
           ("preallocate", "maybe", "Expected value to be either true or false"),
           ("message.timestamp.type", "Now", "String must be one of"),
           ("cleanup.policy", "compact,sometimes", "String must be one of: compact, delete"),
           ("no.such.config", "1", "Unknown topic config name: no.such.config")]
    # One request, several refusals: each keeps its own message.
    names = [harness.unique("cfg-bad") for _ in bad]
    futs = a.create_topics([NewTopic(t, 1, 1, config={k: v}) for t, (k, v, _) in zip(names, bad)])
    for t, (k, v, why) in zip(names, bad):
        try:
            futs[t].result(timeout=30)
            raise harness.CheckFailed("create with %s=%s succeeded" % (k, v))
        except KafkaException as e:
            ck.ok(why in e.args[0].str(), "one request, %s=%s: message %r wants %r" % (k, v, e.args[0].str(), why))
    for k, v, why in bad:
        t = harness.unique("cfg-bad")
        try:
            a.create_topics([NewTopic(t, 1, 1, config={k: v})])[t].result(timeout=30)
            raise harness.CheckFailed("create with %s=%s succeeded" % (k, v))
        except KafkaException as e:
            ck.eq(e.args[0].code(), KafkaError.INVALID_CONFIG, "create %s=%s: error" % (k, v))
            ck.ok(why in e.args[0].str(), "create %s=%s: message %r wants %r" % (k, v, e.args[0].str(), why))
        res = ConfigResource("topic", topic, set_config={k: v})
        try:
            a.alter_configs([res], request_timeout=30)[res].result(timeout=30)
            raise harness.CheckFailed("alter to %s=%s succeeded" % (k, v))
        except KafkaException as e:
            ck.eq(e.args[0].code(), KafkaError.INVALID_CONFIG, "alter %s=%s: error" % (k, v))


# ---- broker and group configs ---------------------------------------------------------------

def describe_configs_v1(conn, rtype, name):
    body = i32(1) + i8(rtype) + string(name) + i32(-1) + i8(0)
    r = conn.call(API_DESCRIBE_CONFIGS, 1, body)
    r.i32()
    res = r.array(lambda: (r.i16(), r.string(), r.i8(), r.string(), r.array(
        lambda: (r.string(), r.string(), r.i8(), r.i8(), r.i8(),
                 r.array(lambda: (r.string(), r.string(), r.i8()))))))
    r.end("DescribeConfigs v1")
    err, msg, _, _, configs = res[0]
    return err, msg, {c[0]: (c[1], c[2], c[3]) for c in configs or []}


def incremental_alter_v0(conn, rtype, name, ops):
    """ops: [(key, op, value)], op 0 SET, 1 DELETE. Returns (error, message)."""
    cfgs = b"".join(string(k) + i8(op) + string(v) for k, op, v in ops)
    body = i32(1) + i8(rtype) + string(name) + i32(len(ops)) + cfgs + i8(0)
    r = conn.call(API_INCREMENTAL_ALTER_CONFIGS, 0, body)
    r.i32()
    res = r.array(lambda: (r.i16(), r.string(), r.i8(), r.string()))
    r.end("IncrementalAlterConfigs v0")
    return res[0][:2]


def incremental_topic_configs(ck, broker):
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    topic = harness.unique("cfg-inc")
    a.create_topics([NewTopic(topic, 1, 1, config={"preallocate": "true"})])[topic].result(timeout=30)
    conn = Conn(broker)
    ck.eq(incremental_alter_v0(conn, 2, topic, [("delete.retention.ms", 0, "1000"), ("preallocate", 1, None),
                                                ("min.cleanable.dirty.ratio", 0, "0.9")]), (0, None),
          "incremental SET/DELETE")
    got = describe(a, "topic", topic)
    ck.eq((got["delete.retention.ms"].value, got["delete.retention.ms"].is_default), ("1000", False),
          "delete.retention.ms set")
    ck.eq((got["preallocate"].value, got["preallocate"].is_default), ("false", True), "preallocate deleted")
    ck.eq(got["min.cleanable.dirty.ratio"].value, "0.9", "min.cleanable.dirty.ratio set")
    err, msg = incremental_alter_v0(conn, 2, topic, [("segment.jitter.ms", 0, "-1")])
    ck.eq(err, 40, "incremental bad value: INVALID_CONFIG")
    ck.ok("Value must be at least 0" in (msg or ""), "message: %s" % msg)
    err, msg = incremental_alter_v0(conn, 4, "1", [("num.partitions", 0, "3")])
    ck.eq(err, 42, "incremental BROKER: INVALID_REQUEST")
    ck.ok("Cannot update these configs dynamically" in (msg or ""), "message: %s" % msg)
    err, msg = incremental_alter_v0(conn, 32, "g", [("consumer.session.timeout.ms", 0, "50000")])
    ck.eq(err, 42, "incremental GROUP: INVALID_REQUEST (%s)" % msg)
    err, msg = incremental_alter_v0(conn, 32, "g", [("no.such", 0, "1")])
    ck.eq((err, msg), (40, "Unknown group config name: no.such"), "incremental GROUP unknown name")
    conn.close()


def broker_configs(ck, broker):
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    got = describe(a, "broker", "1")
    want = {"broker.id": "1", "node.id": "1", "auto.create.topics.enable": "true", "num.partitions": "1",
            "log.retention.ms": "90000000", "offsets.retention.minutes": "10080",
            "group.min.session.timeout.ms": "6000", "group.max.session.timeout.ms": "1800000",
            "group.initial.rebalance.delay.ms": "100", "log.flush.interval.messages": "9223372036854775807"}
    for k, v in want.items():
        ck.ok(k in got, "broker config %s described" % k)
        ck.eq(got[k].value, v, "broker config %s" % k)
        ck.eq(got[k].is_read_only, True, "broker config %s read-only" % k)
    ck.eq(got["log.retention.ms"].source, ConfigSource.STATIC_BROKER_CONFIG.value, "log.retention.ms (a flag)")
    ck.eq(got["num.partitions"].source, ConfigSource.DEFAULT_CONFIG.value, "num.partitions (default)")
    for name in ("log.segment.bytes", "message.max.bytes", "log.dirs", "log.flush.interval.ms"):
        ck.ok(name in got, "broker config %s described" % name)
    res = ConfigResource("broker", "1", set_config={"log.retention.ms": "1000"})
    try:
        a.alter_configs([res], request_timeout=30)[res].result(timeout=30)
        raise harness.CheckFailed("alter of a broker config succeeded")
    except KafkaException as e:
        ck.eq(e.args[0].code(), KafkaError.INVALID_REQUEST, "alter broker config: error")
        ck.ok("Cannot update these configs dynamically" in e.args[0].str(), "message: %s" % e.args[0].str())
    conn = Conn(broker)
    err, msg, _ = describe_configs_v1(conn, 4, "7")
    ck.eq(err, 42, "describe another broker's configs: INVALID_REQUEST (%s)" % msg)
    err, msg, cfgs = describe_configs_v1(conn, 32, "any-group")
    ck.eq((err, cfgs), (0, {"consumer.heartbeat.interval.ms": ("5000", 0, 5),
                            "consumer.session.timeout.ms": ("45000", 0, 5)}), "GROUP configs")
    conn.close()


# ---- authorized operations ------------------------------------------------------------------

def metadata_v8(conn, topics, cluster_ops, topic_ops):
    body = i32(len(topics)) + b"".join(string(t) for t in topics) + i8(0) + i8(cluster_ops) + i8(topic_ops)
    r = conn.call(API_METADATA, 8, body)
    r.i32()
    r.array(lambda: (r.i32(), r.string(), r.i32(), r.string()))
    r.string()
    r.i32()
    ts = r.array(lambda: (r.i16(), r.string(), r.i8(), r.array(
        lambda: (r.i16(), r.i32(), r.i32(), r.i32(), r.array(r.i32), r.array(r.i32), r.array(r.i32))), r.i32()))
    cluster = r.i32()
    r.end("Metadata v8")
    return {t[1]: t[4] for t in ts}, cluster


def describe_groups_v3(conn, group, ops):
    r = conn.call(API_DESCRIBE_GROUPS, 3, i32(1) + string(group) + i8(ops))
    r.i32()
    gs = r.array(lambda: (r.i16(), r.string(), r.string(), r.string(), r.string(), r.array(
        lambda: (r.string(), r.string(), r.string(), r.bytes_string(), r.bytes_string())), r.i32()))
    r.end("DescribeGroups v3")
    return gs[0][6]


def describe_cluster(conn, version, ops, endpoint_type=1):
    body = i8(ops) + (i8(endpoint_type) if version >= 1 else b"") + uvarint(0)
    r = conn.call(API_DESCRIBE_CLUSTER, version, body, flexible=True)
    r.i32()
    err = r.i16()
    r.compact_string()
    if version >= 1:
        r.i8()
    r.compact_string()
    controller = r.i32()
    brokers = r.compact_array(lambda: (r.i32(), r.compact_string(), r.i32(), r.compact_string(), r.tagged())[:3])
    cluster_ops = r.i32()
    r.tagged()
    r.end("DescribeCluster v%d" % version)
    return err, controller, brokers, cluster_ops


def authorized_ops(ck, broker):
    topic = harness.unique("ops")
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    a.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=30)
    conn = Conn(broker)
    ck.eq(metadata_v8(conn, [topic], 1, 1), ({topic: OPS_TOPIC}, OPS_CLUSTER), "Metadata v8, asked")
    ck.eq(metadata_v8(conn, [topic], 0, 0), ({topic: INT32_MIN}, INT32_MIN), "Metadata v8, not asked")
    ck.eq(describe_groups_v3(conn, "no-such-group", 1), OPS_GROUP, "DescribeGroups v3, asked")
    ck.eq(describe_groups_v3(conn, "no-such-group", 0), INT32_MIN, "DescribeGroups v3, not asked")
    me = [(1, "127.0.0.1", broker.kafka_port)]
    for v in (0, 1):
        ck.eq(describe_cluster(conn, v, 1), (0, 1, me, OPS_CLUSTER), "DescribeCluster v%d, asked" % v)
        ck.eq(describe_cluster(conn, v, 0), (0, 1, me, INT32_MIN), "DescribeCluster v%d, not asked" % v)
    ck.eq(describe_cluster(conn, 1, 0, endpoint_type=2)[0], 42, "DescribeCluster for controllers")
    conn.close()


def no_auto_create(ck):
    if harness.external():
        harness.skip("starts its own broker")
    b = harness.start_broker(["--auto-create-topics", "false"])
    conn = Conn(b)
    topic = harness.unique("nocreate")
    conn.corr += 1
    conn.s.sendall(kb.metadata_req(conn.corr, 1, [topic]))
    md = kb.parse_metadata(kb.read_response(conn.s, conn.corr), 1)
    ck.eq([(t["name"], t["error"]) for t in md["topics"]], [(topic, 3)], "unknown topic not created")
    conn.close()
    b.stop()


# ---- CreateTopics / CreatePartitions timeout_ms ------------------------------------------

def wait_partitions(a, topic, n, timeout=20):
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        md = a.list_topics(topic, timeout=5).topics.get(topic)
        got = len(md.partitions) if md is not None and md.error is None else None
        if got == n:
            return n
        time.sleep(0.05)
    return got


def admin_timeouts(ck, broker):
    """A 1 ms timeout_ms runs out while 2,000 partitions are made: REQUEST_TIMED_OUT, and the
    topic still appears whole; timeout 0 (librdkafka's default) answers once it exists."""
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    slow, now = harness.unique("to-slow"), harness.unique("to-zero")
    fs = a.create_topics([NewTopic(slow, 2000, 1)], operation_timeout=0.001)
    try:
        fs[slow].result(30)
        ck.ok(False, "CreateTopics of 2000 partitions within 1 ms: no timeout")
    except KafkaException as e:
        ck.eq(e.args[0].code(), KafkaError.REQUEST_TIMED_OUT, "CreateTopics past timeout_ms")
    ck.eq(wait_partitions(a, slow, 2000), 2000, "the timed-out topic's partitions, made in the background")
    fs = a.create_topics([NewTopic(slow, 1, 1)], operation_timeout=5)
    try:
        fs[slow].result(30)
        ck.ok(False, "CreateTopics of an existing topic succeeded")
    except KafkaException as e:
        ck.eq(e.args[0].code(), KafkaError.TOPIC_ALREADY_EXISTS, "CreateTopics again after the timeout")
    a.create_topics([NewTopic(now, 500, 1)], operation_timeout=0)[now].result(30)
    md = a.list_topics(now, timeout=5).topics[now]
    ck.eq(len(md.partitions), 500, "timeout 0: every partition there when the answer comes")
    fs = a.create_partitions([NewPartitions(now, 2500)], operation_timeout=0.001)
    try:
        fs[now].result(30)
        ck.ok(False, "CreatePartitions of 2000 more within 1 ms: no timeout")
    except KafkaException as e:
        ck.eq(e.args[0].code(), KafkaError.REQUEST_TIMED_OUT, "CreatePartitions past timeout_ms")
    ck.eq(wait_partitions(a, now, 2500), 2500, "the timed-out partitions, added in the background")
    p = Producer({"bootstrap.servers": broker.bootstrap, "logger": lambda *x: None})
    p.produce(now, b"last", partition=2499)
    ck.eq(p.flush(10), 0, "a record into the last partition added after the timeout")
    for t in (slow, now):
        a.delete_topics([t], operation_timeout=30)[t].result(60)


def body(ck):
    broker = harness.start_broker(["--retention-ms", "90000000"])
    if broker.external:
        harness.skip("these checks need sluice (librdkafka's mock cluster has none of the features)")
    with ck.section("transactional producer initializes"):
        transactions(ck, broker)
    with ck.section("ListOffsets v7 MAX_TIMESTAMP"):
        max_timestamp(ck, broker)
    with ck.section("Kafka 3.9 versions: ListOffsets 8-9, OffsetFetch 9, JoinGroup 9"):
        kafka_39_groups(ck, broker)
    with ck.section("standard topic configs"):
        topic_configs(ck, broker)
    with ck.section("IncrementalAlterConfigs"):
        incremental_topic_configs(ck, broker)
    with ck.section("broker and group configs"):
        broker_configs(ck, broker)
    with ck.section("authorized operations"):
        authorized_ops(ck, broker)
    with ck.section("--auto-create-topics false"):
        no_auto_create(ck)
    with ck.section("committed metadata bytes through compaction and restarts"):
        commit_metadata(ck, broker)
    with ck.section("CreateTopics and CreatePartitions timeout_ms"):
        admin_timeouts(ck, broker)


if __name__ == "__main__":
    harness.run("kafka_edges_test", body, modules=["confluent_kafka"])
