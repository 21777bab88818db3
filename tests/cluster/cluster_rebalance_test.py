#!/usr/bin/python3
"""cluster_rebalance_test: the leaderships go back to an even spread after a rolling restart
(broker/cluster/controller.c, leader_rebalance_interval_ms: Kafka's auto.leader.rebalance), with
real Kafka clients (confluent-kafka on librdkafka) against three sluice-server processes in one
Raft group on 127.0.0.1 (rebalance every 1.5 s here).

(a) Three brokers agree; a topic of 6 partitions with replication factor 3 has two leaders on
    each broker.
(b) Under an idempotent acks=all producer writing to every partition, each broker in turn is
    restarted with SIGTERM (a controlled shutdown moves its leaderships away first) and waited
    for until every ISR is whole again: the restarts leave the leaderships uneven.
(c) Within a bounded time the controller moves leaderships back until every broker leads two
    again (the time after the last restart is printed); the moves are counted in the leader
    changes; the producer never had a record fail, and every acked record is in its partition
    exactly once at its acked offset.
Every wait is bounded in time and count.
"""
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import harness  # noqa: E402
import cluster_topics_test as ct  # noqa: E402
import cluster_replication_test as crt  # noqa: E402

PARTS = 6
REBALANCE_MS = 1500


def start_node(node_id, nodes):
    args = ["--node-id", str(node_id), "--cluster-nodes", ",".join("%d@%s" % kv for kv in sorted(nodes.items())),
            "--http-token", ct.TOKEN, "--advertised-host", "127.0.0.1", "--replica_lag_time_max_ms", "3000",
            "--broker_session_timeout_ms", "1500", "--leader_rebalance_interval_ms", str(REBALANCE_MS)]
    b = harness.Broker(args)
    b.node_id = node_id
    return b.start()


def leaders(b, topic):
    """{partition: leader} from b's Metadata."""
    return {p: v[0] for p, v in ct.metadata(b, topic)[2].items()}


def counts(lead):
    out = {1: 0, 2: 0, 3: 0}
    for l in lead.values():
        out[l] = out.get(l, 0) + 1
    return out


def wait_whole(ck, brokers, topic, timeout=30.0):
    """Every partition's ISR holds all three, on its leader's Metadata."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            parts = ct.metadata(brokers[0], topic)[2]
            if len(parts) == PARTS and all(sorted(v[2]) == [1, 2, 3] for v in parts.values()):
                return
        except Exception:  # noqa: BLE001 - a broker between states
            pass
        if time.monotonic() > deadline:
            ck.ok(False, "every ISR whole again within %.0f s" % timeout)
            return
        time.sleep(0.1)


class Producer:
    def __init__(self, bootstrap, topic):
        from confluent_kafka import Producer as P
        self.topic = topic
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acked, self.failed = {}, {}
        self.sent = 0
        self.p = P({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 2,
                    "message.timeout.ms": 120000, "topic.metadata.refresh.interval.ms": 1000})
        self.t = threading.Thread(target=self.run, daemon=True)

    def cb(self, n):
        def done(err, msg):
            with self.lock:
                if err is None:
                    self.acked[n] = (msg.partition(), msg.offset())
                else:
                    self.failed[n] = str(err)
        return done

    def run(self):
        n = 0
        while not self.stop.is_set():
            self.p.produce(self.topic, value=b"v-%07d" % n, partition=n % PARTS, on_delivery=self.cb(n))
            n += 1
            self.sent = n
            self.p.poll(0)
            time.sleep(0.003)
        self.p.flush(60)


def body(ck):
    harness.needs_own_broker("starts a cluster of its own brokers")
    raft_ports = harness.free_ports(3)
    nodes = {i + 1: "127.0.0.1:%d" % raft_ports[i] for i in range(3)}
    topic = harness.unique("rebal")

    with ck.section("(a) three brokers, 6 partitions, two leaders each"):
        brokers = [start_node(i, nodes) for i in (1, 2, 3)]
        ct.wait_agreed(brokers)
        err = ct.create(brokers[0], topic, PARTS, rf=3)
        ck.eq(err and (err.code(), err.str()), None, "CreateTopics")
        ct.wait_metadata(brokers[0], topic, PARTS)
        wait_whole(ck, brokers, topic)
        ck.eq(counts(leaders(brokers[0], topic)), {1: 2, 2: 2, 3: 2}, "leaders per broker")

    prod = Producer(",".join(b.bootstrap for b in brokers), topic)
    with ck.section("(b) a rolling restart (SIGTERM) of every broker under acks=all load"):
        prod.t.start()
        skew = []
        for b in brokers:
            b.stop()
            t_stop = time.monotonic()
            deadline = t_stop + 15
            while time.monotonic() < deadline:
                live = next(x for x in brokers if x is not b)
                try:
                    if b.node_id not in leaders(live, topic).values():
                        break
                except Exception:  # noqa: BLE001
                    pass
                time.sleep(0.05)
            ck.ok(b.node_id not in leaders(next(x for x in brokers if x is not b), topic).values(),
                  "broker %d leads nothing once stopped" % b.node_id)
            b.start()
            wait_whole(ck, brokers, topic)
            skew.append(counts(leaders(brokers[0], topic)))
        t_last = time.monotonic()
        print("     leaders per broker after each restart: %s" % skew)
        ck.ok(any(c != {1: 2, 2: 2, 3: 2} for c in skew), "the restarts left the leaderships uneven at some point")

    with ck.section("(c) the controller spreads the leaderships again"):
        deadline = time.monotonic() + 30
        now = None
        while time.monotonic() < deadline:
            try:
                now = counts(leaders(brokers[0], topic))
                if now == {1: 2, 2: 2, 3: 2}:
                    break
            except Exception:  # noqa: BLE001
                pass
            time.sleep(0.1)
        ck.eq(now, {1: 2, 2: 2, 3: 2}, "leaders per broker")
        print("     even again %.1f s after the last restart (rebalance every %.1f s, a broker must be up that long)"
              % (time.monotonic() - t_last, REBALANCE_MS / 1000))
        time.sleep(1)
        prod.stop.set()
        prod.t.join(90)
        ck.eq(prod.failed, {}, "records whose delivery failed")
        ck.ok(len(prod.acked) > 500, "records acked (%d of %d sent)" % (len(prod.acked), prod.sent))
        per = {}
        for n, (p, o) in prod.acked.items():
            per.setdefault(p, []).append(o)
        ck.eq({p: len(os_) - len(set(os_)) for p, os_ in per.items()}, {p: 0 for p in per}, "acked offsets used twice")
        parts = crt.consume_all(brokers[0], topic, PARTS, len(prod.acked))
        got = {(p, o): v for p, recs in parts.items() for o, _, v in recs}
        bad = [n for n, (p, o) in prod.acked.items() if got.get((p, o)) != b"v-%07d" % n]
        ck.eq(bad[:5], [], "acked records not read back at their acked offset")
        from confluent_kafka import Consumer, TopicPartition
        c = Consumer({"bootstrap.servers": brokers[0].bootstrap, "group.id": harness.unique("w")})
        total = sum(c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(PARTS))
        c.close()
        ck.eq(total, len(prod.acked), "records in the topic (the high watermarks): exactly the acked ones")


if __name__ == "__main__":
    harness.run("cluster_rebalance_test", body, modules=["confluent_kafka"], time_limit=240)
