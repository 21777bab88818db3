#!/usr/bin/python3
"""cluster_failover_test: kill -9 the leader of a replicated partition 20 times under acks=all
load, with real Kafka clients (confluent-kafka on librdkafka) against three sluice-server
processes in one Raft group on 127.0.0.1 (broker_session_timeout_ms 1500).

(a) Three brokers agree; a topic with one partition, replication factor 3, min.insync.replicas 2.
(b) An idempotent acks=all producer sends numbered records without pause; a reader (assign, no
    group) follows the partition from offset 0 all along. Twenty times: the partition's
    current leader is killed (kill -9); the controller fences it and elects an in-sync
    follower (new leader epoch); the producer's first record produced after the kill is acked
    by the new leader (the failover time, printed: median and max); the killed broker restarts,
    truncates what it held beyond the new leader's log (if anything) and rejoins the ISR
    before the next kill.
(b2) Five rolling restarts: the leader gets SIGTERM; before it exits it has the controller move
    its leadership to an in-sync replica and take it out of the ISR (controlled shutdown) and
    hands over the Raft leadership if it holds it; the first record produced after the SIGTERM
    is acked sooner than after a kill (median, printed); it restarts and rejoins the ISR.
(c) The checker (Jepsen-style) over the histories: every acked record is in the final log
    exactly once, at the offset its delivery report gave; the log holds nothing the producer
    did not send, in the order it sent it (idempotence: no duplicate, no reordering); every
    record the live reader saw is in the final log at the offset it saw it (it never read one
    that was later truncated, nor a record twice); the three brokers' copies are byte for byte
    the same.
Every wait is bounded in time and count.
"""
import os
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import harness  # noqa: E402
import cluster_topics_test as ct  # noqa: E402
import cluster_replication_test as crt  # noqa: E402

KILLS = int(os.environ.get("SLUICE_FAILOVER_KILLS", "20"))
RESTARTS = 5
SESSION_MS = 1500


def start_node(node_id, nodes):
    args = ["--node-id", str(node_id), "--cluster-nodes", ",".join("%d@%s" % kv for kv in sorted(nodes.items())),
            "--http-token", ct.TOKEN, "--advertised-host", "127.0.0.1", "--replica_lag_time_max_ms", "3000",
            "--broker_session_timeout_ms", str(SESSION_MS)]
    b = harness.Broker(args)
    b.node_id = node_id
    return b.start()


def leader_of(brokers, topic, not_id=0, timeout=20.0):
    """(leader id, epoch) once every live broker's Metadata agrees on a leader that is not not_id."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            seen = set()
            for b in brokers:
                if not b.alive():
                    continue
                md = ct.metadata(b, topic)[4]
                pm = md.topics[topic].partitions[0]
                seen.add((pm.leader, getattr(pm, "leader_epoch", -1) if hasattr(pm, "leader_epoch") else -1))
            leaders = {s[0] for s in seen}
            if len(leaders) == 1 and not leaders & {-1, 0, not_id}:
                return leaders.pop()
            last = seen
        except Exception as e:  # noqa: BLE001 - a broker between states
            last = str(e)
        time.sleep(0.05)
    raise harness.CheckFailed("no agreed leader (not %d) within %.0f s: %s" % (not_id, timeout, last))


class Load:
    """The producer and the live reader, each on a thread of its own."""

    def __init__(self, bootstrap, topic):
        from confluent_kafka import Consumer, Producer, TopicPartition
        self.topic = topic
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.sent = []          # (n, t_produce)
        self.acked = {}         # n -> (offset, t_ack)
        self.failed = {}        # n -> error
        self.read = []          # (offset, value) as the reader saw them
        self.read_errors = []
        self.producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                                  "linger.ms": 2, "message.timeout.ms": 120000,
                                  "topic.metadata.refresh.interval.ms": 1000})
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": harness.unique("reader"),
                                  "enable.auto.commit": False, "fetch.wait.max.ms": 100,
                                  "topic.metadata.refresh.interval.ms": 1000})
        self.consumer.assign([TopicPartition(topic, 0, 0)])
        self.threads = [threading.Thread(target=self.produce_loop, daemon=True),
                        threading.Thread(target=self.read_loop, daemon=True)]

    def start(self):
        for t in self.threads:
            t.start()

    def produce_loop(self):
        n = 0
        while not self.stop.is_set():
            t = time.monotonic()
            value = b"rec-%07d" % n
            self.producer.produce(self.topic, value=value, partition=0, on_delivery=self.delivered(n))
            with self.lock:
                self.sent.append((n, t))
            n += 1
            self.producer.poll(0)
            time.sleep(0.002)
        self.producer.flush(60)

    def delivered(self, n):
        def cb(err, msg):
            with self.lock:
                if err is None:
                    self.acked[n] = (msg.offset(), time.monotonic())
                else:
                    self.failed[n] = str(err)
        return cb

    def read_loop(self):
        while not self.stop.is_set() or self.reader_behind():
            m = self.consumer.poll(0.2)
            if m is None:
                continue
            if m.error():
                self.read_errors.append(str(m.error()))
                continue
            with self.lock:
                self.read.append((m.offset(), m.value()))

    def reader_behind(self):
        with self.lock:
            want = max((o for o, _ in self.acked.values()), default=-1)
            got = self.read[-1][0] if self.read else -1
        return got < want and time.monotonic() < self.read_deadline

    def finish(self):
        self.read_deadline = time.monotonic() + 30
        self.stop.set()
        for t in self.threads:
            t.join(timeout=90)
        self.consumer.close()

    def first_ack_after(self, t_kill, timeout=30.0):
        """The time from t_kill to the ack of the first record produced after it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                first = next((n for n, t in reversed(self.sent) if t <= t_kill), -1) + 1
                acks = [a[1] for n, a in self.acked.items() if n >= first]
            if acks:
                return min(acks) - t_kill
            time.sleep(0.02)
        raise harness.CheckFailed("no record produced after the kill was acked within %.0f s" % timeout)


def final_log(b, topic):
    """[(offset, value)] of the whole partition, read from b (its leader) from offset 0."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": harness.unique("final"), "enable.auto.commit": False})
    lo, hi = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    c.assign([TopicPartition(topic, 0, 0)])
    out = []
    deadline = time.monotonic() + 60
    while (not out or out[-1][0] < hi - 1) and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            out.append((m.offset(), m.value()))
    c.close()
    return out, hi


def body(ck):
    harness.needs_own_broker("starts a cluster of its own brokers")
    raft_ports = harness.free_ports(3)
    nodes = {i + 1: "127.0.0.1:%d" % raft_ports[i] for i in range(3)}
    topic = harness.unique("failover")

    with ck.section("(a) three brokers, a topic with replication factor 3"):
        brokers = [start_node(i, nodes) for i in (1, 2, 3)]
        ct.wait_agreed(brokers)
        err = ct.create(brokers[0], topic, 1, rf=3, config={"min.insync.replicas": "2"})
        ck.eq(err and (err.code(), err.str()), None, "CreateTopics")
        leader = leader_of(brokers, topic)
        crt.wait_isr(ck, brokers[leader - 1], topic, 0, [1, 2, 3])
    by_id = {b.node_id: b for b in brokers}

    load = Load(",".join(b.bootstrap for b in brokers), topic)
    times = []
    with ck.section("(b) %d kills of the partition's leader under acks=all load" % KILLS):
        load.start()
        deadline = time.monotonic() + 20
        while len(load.acked) < 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        ck.ok(len(load.acked) >= 200, "records acked before the first kill")
        for k in range(KILLS):
            victim = by_id[leader]
            victim.kill9()
            t_kill = time.monotonic()
            new_leader = leader_of(brokers, topic, not_id=victim.node_id)
            ft = load.first_ack_after(t_kill)
            times.append(ft)
            print("     kill %2d: leader %d killed, %d leads, first ack after %.0f ms" % (k + 1, victim.node_id,
                                                                                     new_leader, ft * 1000))
            victim.restart()
            crt.wait_isr(ck, by_id[new_leader], topic, 0, [1, 2, 3], timeout=30)
            leader = new_leader
        if times:
            print("     failover (kill -9 to the first ack of a record produced after it): median %.0f ms, max %.0f ms"
                  % (statistics.median(times) * 1000, max(times) * 1000))

    planned = []
    with ck.section("(b2) %d rolling restarts (SIGTERM) of the partition's leader under the same load" % RESTARTS):
        for k in range(RESTARTS):
            victim = by_id[leader]
            t_stop = time.monotonic()
            victim.stop()  # controlled shutdown: the leadership moves before the process ends
            stopped = time.monotonic() - t_stop
            new_leader = leader_of(brokers, topic, not_id=victim.node_id)
            ft = load.first_ack_after(t_stop)
            planned.append(ft)
            print("     restart %d: leader %d stopped in %.0f ms, %d leads, first ack after %.0f ms"
                  % (k + 1, victim.node_id, stopped * 1000, new_leader, ft * 1000))
            victim.start()
            crt.wait_isr(ck, by_id[new_leader], topic, 0, [1, 2, 3], timeout=30)
            leader = new_leader
        print("     planned: first ack after a SIGTERM of the leader: median %.0f ms, max %.0f ms"
              % (statistics.median(planned) * 1000, max(planned) * 1000))
        ck.ok(not times or statistics.median(planned) < statistics.median(times),
              "a planned restart fails over faster than a kill (%.0f ms against %.0f ms)"
              % (statistics.median(planned) * 1000, statistics.median(times or [0]) * 1000))
        time.sleep(0.5)
        load.finish()
        print("     %d records sent, %d acked, %d failed; the reader saw %d"
              % (len(load.sent), len(load.acked), len(load.failed), len(load.read)))

    with ck.section("(c) the checker: no acked record lost or duplicated, no uncommitted read"):
        ck.eq(load.failed, {}, "records whose delivery failed")
        log, hi = final_log(by_id[leader], topic)
        ck.eq([o for o, _ in log], list(range(hi)), "offsets of the final log: 0..%d without a gap" % (hi - 1))
        by_value = {}
        for o, v in log:
            by_value.setdefault(v, []).append(o)
        dups = {v: os for v, os in by_value.items() if len(os) > 1}
        ck.eq(dups, {}, "records held twice")
        sent_values = {b"rec-%07d" % n for n, _ in load.sent}
        ck.eq([v for _, v in log if v not in sent_values], [], "records the producer never sent")
        order = [int(v[4:]) for _, v in log]
        ck.eq(order, sorted(order), "records in the order they were produced")
        lost = {n: a[0] for n, a in list(load.acked.items()) if by_value.get(b"rec-%07d" % n) != [a[0]]}
        ck.eq(lost, {}, "acked records not in the log exactly once at their acked offset")
        final = dict(log)
        bad_reads = [(o, v) for o, v in load.read if final.get(o) != v]
        ck.eq(bad_reads, [], "records the reader saw that the final log does not hold there")
        read_offsets = [o for o, _ in load.read]
        ck.eq(len(read_offsets), len(set(read_offsets)), "the reader saw no offset twice")
        ck.ok(len(load.acked) > (KILLS + RESTARTS) * 50, "records acked across the kills (%d)" % len(load.acked))
        crt.wait_same_copies(ck, brokers, topic, 1, "after the kills", timeout=30)


if __name__ == "__main__":
    harness.run("cluster_failover_test", body, modules=["confluent_kafka"], time_limit=360)
