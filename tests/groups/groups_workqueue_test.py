"""groups_workqueue_test: work-queue retention for Kafka consumer groups (topic config
sluice.retention.policy=workqueue) against a real sluice-server, with confluent-kafka.

A one-partition topic created with sluice.retention.policy=workqueue and small segments
(segment.bytes 2048), 200 messages produced one batch each (about 10 per segment).
  - DescribeConfigs shows the policy; a bad value is refused (INVALID_CONFIG).
  - No group committed: nothing goes. A group that commits 10 moves the start to 10 (only
    groups that committed count); then it holds the start at 10 while the worker group
    commits 100 (start = the lowest committed offset over the groups that committed).
  - Both at 100: ListOffsets earliest is exactly 100, the segments wholly below 100 are gone from
    disk and the first one left holds offset 100; the rest reads back content-exact.
  - The worker group consumes the rest and commits 200, the other group too: earliest = end =
    200 and the segment files are gone (one empty segment left, named by offset 200).
  - Clean restart, then SIGKILL and start: earliest = end = 200, a new message gets offset 200
    and reads back, and once committed it is gone again.
  - A plain topic (the default policy, delete) keeps everything its group committed past, and
    AlterConfigs turns the policy on for it: the next commit trims it.
"""
import os
import time

import gproto
from gproto import harness

NAME = "groups_workqueue_test"
N = 200
SEGMENT_BYTES = 2048


def value(i):
    return b"order-%05d-" % i + bytes([i % 251]) * 150


def settled_seg_files(data_dir, topic, want, secs=6):
    """seg_files once it equals want, or its last value after secs: a drained log keeps a small
    active segment until it has been quiet for about a second (storage/retention.c)."""
    end = time.monotonic() + secs
    got = seg_files(data_dir, topic)
    while got != want and time.monotonic() < end:
        time.sleep(0.2)
        got = seg_files(data_dir, topic)
    return got


def seg_files(data_dir, topic):
    """{base offset: size} of the partition's segment files."""
    d = os.path.join(data_dir, "%s-0" % topic)
    out = {}
    for name in os.listdir(d):
        if name.endswith(".log") and len(name) == 24:
            out[int(name[:20])] = os.path.getsize(os.path.join(d, name))
    return out


def produce(bs, topic, lo, hi):
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": bs, "acks": "all", "linger.ms": 0})
    offsets = {}

    def dr(err, m):
        if err is None:
            offsets[int(m.value()[6:11])] = m.offset()
    for i in range(lo, hi):
        p.produce(topic, value=value(i), partition=0, on_delivery=dr)
        p.flush(10)  # one batch per message: segments fill evenly
    if p.flush(30) != 0:
        raise harness.CheckFailed("messages left unflushed")
    return offsets


def watermarks(bs, topic):
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bs, "group.id": "wq-probe"})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False)
    finally:
        c.close()


def consume(bs, topic, group, count):
    """A group member reads count messages from the committed offset (earliest if none) and
    commits after the last one; returns [(offset, value)]."""
    from confluent_kafka import Consumer
    c = Consumer({"bootstrap.servers": bs, "group.id": group, "enable.auto.commit": False,
                  "auto.offset.reset": "earliest", "session.timeout.ms": 6000,
                  "heartbeat.interval.ms": 2000})
    got = []
    last = None
    try:
        c.subscribe([topic])
        deadline = time.monotonic() + 30
        while len(got) < count and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is None or m.error():
                continue
            got.append((m.offset(), m.value()))
            last = m
        if last is not None:
            c.commit(message=last, asynchronous=False)
    finally:
        c.close()
    return got


def commit(bs, group, topic, offset):
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bs, "group.id": group, "enable.auto.commit": False})
    try:
        res = c.commit(offsets=[TopicPartition(topic, 0, offset)], asynchronous=False)
        bad = [tp for tp in res if tp.error is not None]
        if bad:
            raise harness.CheckFailed("commit %s: %s" % (group, bad))
    finally:
        c.close()


def describe(bs, topic):
    from confluent_kafka.admin import AdminClient, ConfigResource
    a = AdminClient({"bootstrap.servers": bs})
    fs = a.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, topic)])
    return {k: v.value for k, v in list(fs.values())[0].result(timeout=10).items()}


def body(ck):
    from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic
    broker = harness.start_broker()
    bs = broker.bootstrap
    admin = AdminClient({"bootstrap.servers": bs})
    topic = harness.unique("wq")

    with ck.section("create with sluice.retention.policy=workqueue; DescribeConfigs shows it"):
        fs = admin.create_topics([NewTopic(topic, 1, 1, config={
            "sluice.retention.policy": "workqueue", "segment.bytes": str(SEGMENT_BYTES)})])
        fs[topic].result(timeout=20)
        cfg = describe(bs, topic)
        ck.eq(cfg.get("sluice.retention.policy"), "workqueue", "policy described")
        ck.eq(cfg.get("segment.bytes"), str(SEGMENT_BYTES), "segment.bytes described")
        bad = harness.unique("wq-bad")
        fs = admin.create_topics([NewTopic(bad, 1, 1, config={"sluice.retention.policy": "sometimes"})])
        try:
            fs[bad].result(timeout=20)
            ck.ok(False, "a bad policy value was accepted")
        except Exception as e:  # noqa: B902 - KafkaException carrying the error
            ck.ok("INVALID_CONFIG" in str(e) or "nvalid" in str(e), "bad policy refused: %s" % e)

    offsets = produce(bs, topic, 0, N)
    ck.eq(sorted(offsets.items()), [(i, i) for i in range(N)], "offsets of the produced messages")
    segs0 = seg_files(broker.data_dir, topic)
    ck.ok(len(segs0) >= 10, "several segments before consuming (%d)" % len(segs0))
    ck.eq(watermarks(bs, topic), (0, N), "watermarks before consuming")

    with ck.section("no group committed: nothing goes; the lowest group holds the start"):
        ck.eq(watermarks(bs, topic), (0, N), "earliest before any commit")
        commit(bs, "wq-other", topic, 10)
        ck.eq(watermarks(bs, topic), (10, N), "earliest after the only group committed 10")
        # The workers' group counts once it has committed; it starts where the log starts.
        commit(bs, "wq-workers", topic, 10)
        got = consume(bs, topic, "wq-workers", N // 2 - 10)
        ck.eq(got, [(i, value(i)) for i in range(10, N // 2)], "first half, content-exact")
        ck.eq(watermarks(bs, topic), (10, N), "earliest held by the other group at 10")
        commit(bs, "wq-other", topic, N // 2)

    with ck.section("both groups past half: earliest = committed, segments below it gone"):
        ck.eq(watermarks(bs, topic), (N // 2, N), "earliest after both committed half")
        segs = seg_files(broker.data_dir, topic)
        first = min(segs)
        ck.ok(0 < first <= N // 2, "first segment left starts at %d, holding offset %d" % (first, N // 2))
        ck.ok(all(b >= first for b in segs), "no segment below it")
        ck.ok(len(segs) < len(segs0), "segments deleted (%d -> %d)" % (len(segs0), len(segs)))

    with ck.section("the rest consumed: earliest = end, segment files gone"):
        got = consume(bs, topic, "wq-workers", N - N // 2)
        ck.eq(got, [(i, value(i)) for i in range(N // 2, N)], "second half, content-exact")
        commit(bs, "wq-other", topic, N)
        ck.eq(watermarks(bs, topic), (N, N), "earliest = end after everything was committed")
        ck.eq(settled_seg_files(broker.data_dir, topic, {N: 0}), {N: 0}, "one empty segment at the end offset")

    with ck.section("clean restart and SIGKILL: the drained state and offsets stay exact"):
        broker.stop()
        broker.start()
        gproto.wait_ready(broker)
        ck.eq(watermarks(bs, topic), (N, N), "watermarks after a clean restart")
        ck.eq(describe(bs, topic).get("sluice.retention.policy"), "workqueue", "policy after restart")
        ck.eq(produce(bs, topic, N, N + 1), {N: N}, "offset of a message after the restart")
        gproto.kill9_and_restart(broker)
        ck.eq(watermarks(bs, topic), (N, N + 1), "watermarks after SIGKILL")
        got = consume(bs, topic, "wq-workers", 1)
        ck.eq(got, [(N, value(N))], "the message after the restart, content-exact")
        commit(bs, "wq-other", topic, N + 1)
        ck.eq(watermarks(bs, topic), (N + 1, N + 1), "drained again")
        ck.eq(settled_seg_files(broker.data_dir, topic, {N + 1: 0}), {N + 1: 0}, "one empty segment again")
        gproto.kill9_and_restart(broker)
        ck.eq(watermarks(bs, topic), (N + 1, N + 1), "watermarks after SIGKILL, drained")

    with ck.section("the default policy keeps records; AlterConfigs turns workqueue on"):
        plain = harness.unique("wq-plain")
        fs = admin.create_topics([NewTopic(plain, 1, 1, config={"segment.bytes": str(SEGMENT_BYTES)})])
        fs[plain].result(timeout=20)
        ck.eq(describe(bs, plain).get("sluice.retention.policy"), "delete", "default policy")
        produce(bs, plain, 0, 50)
        commit(bs, "wq-plain-g", plain, 50)
        ck.eq(watermarks(bs, plain), (0, 50), "nothing deleted under the delete policy")
        res = ConfigResource(ConfigResource.Type.TOPIC, plain,
                             set_config={"sluice.retention.policy": "workqueue",
                                         "segment.bytes": str(SEGMENT_BYTES)})
        list(admin.alter_configs([res]).values())[0].result(timeout=10)
        ck.eq(describe(bs, plain).get("sluice.retention.policy"), "workqueue", "policy altered")
        commit(bs, "wq-plain-g", plain, 50)
        ck.eq(watermarks(bs, plain), (50, 50), "the next commit trims it")
        ck.eq(settled_seg_files(broker.data_dir, plain, {50: 0}), {50: 0}, "one empty segment at 50")


if __name__ == "__main__":
    harness.run(NAME, body, modules=("confluent_kafka",), time_limit=200)
