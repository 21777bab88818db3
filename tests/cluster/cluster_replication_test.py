#!/usr/bin/python3
"""cluster_replication_test: partitions replicated over three brokers (replication factor 3,
Kafka's ISR fetch replication: broker/cluster_replica.c, broker/core/isr.c), with real Kafka
clients (confluent-kafka on librdkafka) against three sluice-server processes in one Raft group
on 127.0.0.1, replica_lag_time_max_ms 2000.

(a) Three brokers agree on a Raft leader and all register.
(b) CreateTopics with replication factor 3 and min.insync.replicas=2 through one broker: every
    broker's Metadata shows each partition on all three brokers, the same leaders (one partition
    led by each broker); the leader's Metadata reports all three in sync. Replication factor 4
    (more than the brokers) is refused with INVALID_REPLICATION_FACTOR.
(c) An idempotent acks=all producer writes 1500 records (500 per partition, distinct values):
    every delivery report has its partition's next offset; a consumer group reads every record
    back, byte for byte, offsets 0..499 per partition.
(d) On disk: each partition's segment bytes (every batch, verbatim) are identical on the three
    brokers: the followers hold the leader's batches at the leader's offsets.
(e) The high watermark is what every in-sync replica has: with one follower stopped (SIGSTOP)
    an acks=1 record is written on the leader but the latest offset (ListOffsets) and a
    consumer stay below it, and an acks=all produce waits; once the stopped follower has been
    silent for the lag time the ISR drops it (Metadata), the high watermark moves, the acks=all
    produce is answered and the record is readable (times printed). After SIGCONT the follower
    catches up, rejoins the ISR, and its copy is identical again.
(f) min.insync.replicas: with one broker killed (kill -9) and dropped from the ISR, an acks=all
    produce to a topic with min.insync.replicas=3 answers NOT_ENOUGH_REPLICAS (19) and appends
    nothing; acks=1 to it, and acks=all to the min.insync.replicas=2 topic, still work. The
    broker restarts and catches up from its own log end: identical copies again.
(g) /metrics: sluice_replica_partitions{role}, _fetches_total, _batches_total on every broker.
(h) A follower the leader's log start passed while it was down (DeleteRecords beyond its end)
    empties its log and starts again at the leader's log start (Kafka's
    truncateFullyAndStartAt): back in the ISR, its copy holds exactly the leader's batches from
    there, and sluice_replica_resets_total counts it.
(i) DeleteRecords on a leader with both followers in sync: each follower moves its log start up
    to the leader's from the fetch answers (sluice_replica_log_start_advances_total), so after
    a kill -9 of that leader (restarted at once) the new one's low watermark is still the
    deleted offset and a consumer from the earliest offset gets exactly the records after it,
    not the deleted ones. The restarted broker's first Metadata names the new leader (it
    waits for a current table rather than answer from the one it stopped with).
Every wait is bounded in time and count.
"""
import os
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import harness  # noqa: E402
import kafka_edges_test as ke  # noqa: E402
from kafka_badinput_test import i32, i64, string  # noqa: E402
from kafka_produce_edges_test import Conn, batch, parse_produce_v7, produce_req  # noqa: E402
import cluster_topics_test as ct  # noqa: E402

LAG_MS = 2000
NOT_ENOUGH_REPLICAS = 19
PER_PART = 500


def start_node(node_id, nodes, data_dir=None):
    args = ["--node-id", str(node_id), "--cluster-nodes", ",".join("%d@%s" % kv for kv in sorted(nodes.items())),
            "--http-token", ct.TOKEN, "--advertised-host", "127.0.0.1", "--replica_lag_time_max_ms", str(LAG_MS)]
    b = harness.Broker(args, data_dir)
    b.node_id = node_id
    return b.start()


def segment_bytes(data_dir, topic, p):
    """Every batch of the partition's segments, verbatim and back to back (the preallocated
    zeros after the last one left out)."""
    out = b""
    d = os.path.join(data_dir, "%s-%d" % (topic, p))
    for name in sorted(n for n in os.listdir(d) if n.endswith(".log")):
        with open(os.path.join(d, name), "rb") as f:
            data = f.read()
        pos = 0
        while pos + 61 <= len(data):
            length = int.from_bytes(data[pos + 8:pos + 12], "big")
            if length <= 0 or data[pos + 16] != 2:
                break
            out += data[pos:pos + 12 + length]
            pos += 12 + length
    return out


def wait_same_copies(ck, brokers, topic, parts, what, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        copies = {p: [segment_bytes(b.data_dir, topic, p) for b in brokers] for p in range(parts)}
        if all(len(set(c)) == 1 for c in copies.values()):
            break
        if time.monotonic() > deadline:
            for p, c in copies.items():
                ck.eq([len(x) for x in c], [len(c[0])] * len(c), "%s: bytes of partition %d on each broker" % (what, p))
        time.sleep(0.1)
    for p, c in copies.items():
        ck.ok(len(c[0]) > 0, "%s: partition %d holds batches" % (what, p))
        ck.ok(all(x == c[0] for x in c), "%s: partition %d identical on every broker" % (what, p))
    return {p: c[0] for p, c in copies.items()}


def batches_of(data):
    """[(base offset, batch bytes)] of segment_bytes' output."""
    out, pos = [], 0
    while pos + 12 <= len(data):
        n = 12 + int.from_bytes(data[pos + 8:pos + 12], "big")
        out.append((int.from_bytes(data[pos:pos + 8], "big"), data[pos:pos + n]))
        pos += n
    return out


def delete_records(b, topic, p, offset):
    """DeleteRecords v0 on broker b: (error, low watermark)."""
    c = ke.Conn(b)
    try:
        r = c.call(21, 0, i32(1) + string(topic) + i32(1) + i32(p) + i64(offset) + i32(10000))
        r.i32()
        res = r.array(lambda: (r.string(), r.array(lambda: (r.i32(), r.i64(), r.i16()))))
        return [(e, lw) for _, ps in res for _, lw, e in ps][0]
    finally:
        c.close()


def wait_isr(ck, leader_b, topic, p, want, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        parts = ct.metadata(leader_b, topic)[2]
        got = sorted(parts[p][2]) if p in parts else None
        if got == sorted(want):
            return time.monotonic()
        if time.monotonic() > deadline:
            ck.eq(got, sorted(want), "ISR of partition %d on its leader %d" % (p, leader_b.node_id))
        time.sleep(0.05)


def raw_produce(b, topic, p, values, acks):
    c = Conn(b)
    try:
        now = int(time.time() * 1000)
        topics = parse_produce_v7(c.call(produce_req, [(topic, p, batch(values, now))], None, acks=acks))
        return [(x["error"], x["base_offset"]) for _, ps in topics for x in ps][0]
    finally:
        c.s.close()


def consume_all(b, topic, parts, want, timeout=30.0):
    """{partition: [(offset, key, value)]} read by a fresh group until want records arrived."""
    from confluent_kafka import Consumer
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": harness.unique("g"), "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.subscribe([topic])
    got = {p: [] for p in range(parts)}
    n = 0
    deadline = time.monotonic() + timeout
    try:
        while n < want and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            got[m.partition()].append((m.offset(), m.key(), m.value()))
            n += 1
    finally:
        c.close()
    return got


def body(ck):
    harness.needs_own_broker("starts a cluster of its own brokers")
    raft_ports = harness.free_ports(3)
    nodes = {i + 1: "127.0.0.1:%d" % raft_ports[i] for i in range(3)}
    topic = harness.unique("replicated")
    strict = harness.unique("strict")

    with ck.section("(a) three brokers agree and register"):
        brokers = [start_node(i, nodes) for i in (1, 2, 3)]
        raft_leader = ct.wait_agreed(brokers)
        print("     raft leader %d" % raft_leader)
    by_id = {b.node_id: b for b in brokers}

    leads = {}
    with ck.section("(b) CreateTopics with replication factor 3"):
        ck.eq(ct.create(brokers[1], topic, 3, rf=3, config={"min.insync.replicas": "2"}), None, "CreateTopics rf 3")
        ck.eq(ct.create(brokers[2], strict, 1, rf=3, config={"min.insync.replicas": "3"}), None,
              "CreateTopics rf 3, min.insync.replicas 3")
        err = ct.create(brokers[0], harness.unique("toomany"), 1, rf=4)
        ck.eq(getattr(err, "code", lambda: err)(), 38, "replication factor 4 on three brokers: INVALID_REPLICATION_FACTOR")
        views = []
        for b in brokers:
            parts = ct.wait_metadata(b, topic, 3)[2]
            for p, (ld, reps, _isrs) in parts.items():
                ck.eq(sorted(reps), [1, 2, 3], "replicas of partition %d on node %d" % (p, b.node_id))
                ck.eq(reps[0], ld, "the leader is the first replica of partition %d" % p)
            views.append({p: v[0] for p, v in parts.items()})
        ck.eq(views[1], views[0], "node 2 and node 1 agree on the leaders")
        ck.eq(views[2], views[0], "node 3 and node 1 agree on the leaders")
        leads = views[0]
        ck.eq(sorted(leads.values()), [1, 2, 3], "one partition led by each broker")
        for p, ld in leads.items():
            wait_isr(ck, by_id[ld], topic, p, [1, 2, 3])

    with ck.section("(c) an idempotent acks=all producer; a consumer reads every record back"):
        from confluent_kafka import Producer
        pr = Producer({"bootstrap.servers": brokers[0].bootstrap, "enable.idempotence": True, "acks": "all",
                       "linger.ms": 5, "compression.type": "snappy"})
        reports = []
        sent = {}
        for i in range(PER_PART * 3):
            p = i % 3
            v = b"value-%05d-" % i + bytes([i % 251]) * (i % 97)
            sent.setdefault(p, []).append((b"k%d" % i, v))
            pr.produce(topic, key=b"k%d" % i, value=v, partition=p,
                       on_delivery=lambda e, m: reports.append((e, m.partition(), m.offset())))
            if i % 200 == 0:
                pr.poll(0)
        t0 = time.monotonic()
        ck.eq(pr.flush(30), 0, "every record delivered")
        print("     1500 acks=all records delivered in %.0f ms after the last produce" % ((time.monotonic() - t0) * 1000))
        ck.eq([r for r in reports if r[0] is not None], [], "delivery errors")
        for p in range(3):
            offs = sorted(o for e, pp, o in reports if pp == p)
            ck.eq(offs, list(range(PER_PART)), "delivered offsets of partition %d" % p)
        got = consume_all(brokers[2], topic, 3, PER_PART * 3)
        for p in range(3):
            ck.eq([g[0] for g in got[p]], list(range(PER_PART)), "offsets read from partition %d" % p)
            ck.eq([(g[1], g[2]) for g in got[p]], sent[p], "keys and values read from partition %d" % p)

    with ck.section("(d) every broker's copy of each partition is the leader's, byte for byte"):
        copies = wait_same_copies(ck, brokers, topic, 3, "after (c)")
        print("     %s bytes per partition" % [len(copies[p]) for p in range(3)])

    with ck.section("(e) the high watermark waits for the ISR; a silent follower leaves it"):
        p = 0
        ld = by_id[leads[p]]
        paused = next(b for b in brokers if b.node_id != ld.node_id and b.node_id != raft_leader)
        os.kill(paused.proc.pid, signal.SIGSTOP)
        t_stop = time.monotonic()
        try:
            err, off = raw_produce(ld, topic, p, [b"uncommitted"], acks=1)
            ck.eq((err, off), (0, PER_PART), "acks=1 produce on the leader with a follower stopped")
            latest = ct.list_offsets(ld, topic, [p])[p]
            fresh = time.monotonic() - t_stop < LAG_MS / 1000.0 * 0.75
            if fresh:
                ck.eq(latest, (0, PER_PART), "latest offset (the high watermark) while the stopped follower is in the ISR")
            else:
                print("     (machine slow: the lag time passed before the check; not asserted)")
            t_all = time.monotonic()
            err, off2 = raw_produce(ld, topic, p, [b"committed-later"], acks=-1)
            waited = time.monotonic() - t_all
            ck.eq((err, off2), (0, PER_PART + 1), "acks=all produce answered once the ISR shrank")
            print("     acks=all waited %.0f ms (lag time %d ms, stopped %.0f ms before)"
                  % (waited * 1000, LAG_MS, (t_all - t_stop) * 1000))
            if fresh:
                ck.ok(waited > 0.2, "the acks=all produce waited for the ISR to shrink")
            wait_isr(ck, ld, topic, p, [ld.node_id] + [b.node_id for b in brokers if b not in (ld, paused)])
            ck.eq(ct.list_offsets(ld, topic, [p])[p], (0, PER_PART + 2), "latest offset after the ISR shrank")
        finally:
            os.kill(paused.proc.pid, signal.SIGCONT)
        t_cont = time.monotonic()
        wait_isr(ck, ld, topic, p, [1, 2, 3])
        print("     the follower rejoined the ISR %.0f ms after SIGCONT" % ((time.monotonic() - t_cont) * 1000))
        wait_same_copies(ck, brokers, topic, 3, "after (e)")
        got = consume_all(brokers[0], topic, 3, PER_PART * 3 + 2)
        ck.eq([(g[0], g[2]) for g in got[p][PER_PART:]], [(PER_PART, b"uncommitted"), (PER_PART + 1, b"committed-later")],
              "the two records read back once committed")

    with ck.section("(f) min.insync.replicas: NOT_ENOUGH_REPLICAS with a broker down"):
        sp = ct.wait_metadata(brokers[0], strict, 1)[2][0]
        strict_leader = by_id[sp[0]]
        victim = next(b for b in brokers if b.node_id not in (strict_leader.node_id, raft_leader))
        wait_isr(ck, strict_leader, strict, 0, [1, 2, 3])
        ck.eq(raw_produce(strict_leader, strict, 0, [b"s0"], acks=-1), (0, 0), "acks=all with all three in sync")
        victim.kill9()
        t_kill = time.monotonic()
        wait_isr(ck, strict_leader, strict, 0, [b.node_id for b in brokers if b is not victim])
        print("     the killed broker left the ISR %.0f ms after kill -9" % ((time.monotonic() - t_kill) * 1000))
        ck.eq(raw_produce(strict_leader, strict, 0, [b"s1"], acks=-1), (NOT_ENOUGH_REPLICAS, -1),
              "acks=all with two of three in sync and min.insync.replicas 3")
        ck.eq(raw_produce(strict_leader, strict, 0, [b"s2"], acks=1), (0, 1), "acks=1 is still taken (nothing was appended before)")
        lp = next(p for p, l in leads.items() if l != victim.node_id)
        err, off = raw_produce(by_id[leads[lp]], topic, lp, [b"two-of-three"], acks=-1)
        ck.eq(err, 0, "acks=all with min.insync.replicas 2 and two in sync")
        victim.restart()
        t_back = time.monotonic()
        wait_isr(ck, strict_leader, strict, 0, [1, 2, 3], timeout=30)
        print("     the restarted broker was back in the ISR %.0f ms after its start" % ((time.monotonic() - t_back) * 1000))
        wait_same_copies(ck, brokers, strict, 1, "strict after the restart")
        wait_same_copies(ck, brokers, topic, 3, "replicated after the restart")
        ck.eq(raw_produce(strict_leader, strict, 0, [b"s3"], acks=-1), (0, 2), "acks=all again with all three in sync")

    with ck.section("(g) /metrics on every broker"):
        now_leads = [v[0] for v in ct.metadata(brokers[0], topic)[2].values()] + [ct.metadata(brokers[0], strict)[2][0][0]]
        for b in brokers:
            # The groups' replicated offsets topic (group_offsets.h) counts too: its partitions
            # this broker leads have been loaded by it.
            offs = sum(ct.metric(b, "sluice_kafka_%s_topic_partitions" % k) for k in ("group_offsets", "txn_state"))
            offs_led = sum(ct.metric(b, "sluice_kafka_%s_partitions_led" % k) for k in ("group_offsets", "txn_state"))
            ck.eq(ct.metric(b, 'sluice_replica_partitions{role="leader"}'), now_leads.count(b.node_id) + offs_led,
                  "leader partitions on node %d (%d of the offsets topic)" % (b.node_id, offs_led))
            ck.eq(ct.metric(b, 'sluice_replica_partitions{role="follower"}'),
                  4 + offs - ct.metric(b, 'sluice_replica_partitions{role="leader"}'),
                  "follower partitions on node %d" % b.node_id)
            ck.ok(ct.metric(b, 'sluice_replica_fetches_total{outcome="ok"}') > 0, "fetches on node %d" % b.node_id)
            ck.ok(ct.metric(b, "sluice_replica_batches_total") > 0, "batches replicated to node %d" % b.node_id)

    with ck.section("(h) a follower the leader's log start passed while it was down starts again there"):
        reset = harness.unique("reset")
        ck.eq(ct.create(brokers[0], reset, 1, rf=3), None, "CreateTopics")
        ld = by_id[ct.wait_metadata(brokers[0], reset, 1)[2][0][0]]
        wait_isr(ck, ld, reset, 0, [1, 2, 3])
        for n in range(10):
            ck.eq(raw_produce(ld, reset, 0, [b"r%02d" % n], acks=-1), (0, n), "record %d with all in sync" % n)
        victim = next(b for b in brokers if b is not ld and b.node_id != raft_leader)
        victim.kill9()
        wait_isr(ck, ld, reset, 0, [b.node_id for b in brokers if b is not victim], timeout=30)
        for n in range(10, 20):
            ck.eq(raw_produce(ld, reset, 0, [b"r%02d" % n], acks=-1), (0, n), "record %d with the victim down" % n)
        ck.eq(delete_records(ld, reset, 0, 15), (0, 15), "DeleteRecords up to 15 on the leader")
        victim.restart()
        t_back = time.monotonic()
        wait_isr(ck, ld, reset, 0, [1, 2, 3], timeout=30)
        print("     the follower started again at 15 and was back in the ISR %.0f ms after its start"
              % ((time.monotonic() - t_back) * 1000))
        ck.eq(ct.metric(victim, "sluice_replica_resets_total"), 1, "resets on the follower")
        deadline = time.monotonic() + 10
        while True:
            lead_b = [x for x in batches_of(segment_bytes(ld.data_dir, reset, 0)) if x[0] >= 15]
            vict_b = batches_of(segment_bytes(victim.data_dir, reset, 0))
            if vict_b == lead_b or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        ck.eq([o for o, _ in vict_b], [15, 16, 17, 18, 19], "the follower's batches: from the leader's log start")
        ck.ok(vict_b == lead_b, "the follower's batches are the leader's from 15, byte for byte")
        ck.eq(raw_produce(ld, reset, 0, [b"r20"], acks=-1), (0, 20), "acks=all again with all three in sync")

    with ck.section("(i) the followers take the leader's log start: DeleteRecords survives a failover"):
        from confluent_kafka import Consumer, KafkaException, TopicPartition
        follow = harness.unique("follow")
        ck.eq(ct.create(brokers[0], follow, 1, rf=3), None, "CreateTopics")
        ld = by_id[ct.wait_metadata(brokers[0], follow, 1)[2][0][0]]
        wait_isr(ck, ld, follow, 0, [1, 2, 3])
        for n in range(20):
            ck.eq(raw_produce(ld, follow, 0, [b"f%02d" % n], acks=-1), (0, n), "record %d" % n)
        followers = [b for b in brokers if b is not ld]
        before = {b.node_id: ct.metric(b, "sluice_replica_log_start_advances_total") for b in followers}
        ck.eq(delete_records(ld, follow, 0, 12), (0, 12), "DeleteRecords up to 12 on the leader")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            moved = [ct.metric(b, "sluice_replica_log_start_advances_total") > before[b.node_id] for b in followers]
            if all(moved):
                break
            time.sleep(0.1)
        ck.eq(moved, [True, True], "each follower moved its log start (sluice_replica_log_start_advances_total)")
        ld.kill9()
        new_leader = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and new_leader is None:
            try:
                lid = ct.metadata(followers[0], follow)[2][0][0]
                new_leader = lid if lid in [b.node_id for b in followers] else None
            except Exception:  # noqa: BLE001 - the metadata is retried until the deadline
                pass
            time.sleep(0.1)
        ck.ok(new_leader is not None, "a follower leads after the kill (%s)" % new_leader)
        # Back before the consumer: a group's coordinator may have been on the killed broker,
        # and librdkafka's close waits for it.
        ld.restart()
        # Its first Metadata waits until its table is current: it names the new leader, not
        # itself from the table it stopped with (it did, and librdkafka's watermark query,
        # bootstrapped there, got NOT_LEADER for 20 s).
        first = ct.metadata(ld, follow)[2][0]
        ck.eq(first[0], new_leader, "the restarted broker's first Metadata names the new leader")
        c = Consumer({"bootstrap.servers": ",".join(b.bootstrap for b in [ld] + followers),
                      "group.id": harness.unique("g"), "auto.offset.reset": "earliest", "enable.auto.commit": False})
        try:
            # Bootstrapped at every broker, the restarted one first; asked again after an error
            # (a leadership may move back to the restarted broker meanwhile).
            wm, deadline = None, time.monotonic() + 20
            while wm is None:
                try:
                    wm = c.get_watermark_offsets(TopicPartition(follow, 0), timeout=5)
                except KafkaException:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.3)
            ck.eq(wm, (12, 20), "low and high watermark on the new leader %s" % new_leader)
            c.assign([TopicPartition(follow, 0, 0)])  # below the start: auto.offset.reset moves it
            got = []
            deadline = time.monotonic() + 15
            while len(got) < 8 and time.monotonic() < deadline:
                m = c.poll(0.5)
                if m is not None and not m.error():
                    got.append((m.offset(), m.value()))
        finally:
            c.close()
        ck.eq(got, [(n, b"f%02d" % n) for n in range(12, 20)], "what a consumer from the earliest offset reads")


if __name__ == "__main__":
    harness.run("cluster_replication_test", body, modules=["confluent_kafka"], time_limit=240)
