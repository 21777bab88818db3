#!/usr/bin/python3
"""cluster_txn_failover_test: transactions across brokers and across kill -9 of their
coordinator, with a real transactional producer (confluent-kafka on librdkafka) against three
sluice-server processes in one Raft group on 127.0.0.1 (broker_session_timeout_ms 1500).

(a) Three brokers agree; a topic of 3 partitions with replication factor 3 (one leader per
    broker, so every transaction spans partitions other brokers lead: WriteTxnMarkers).
    FindCoordinator for the transactional id answers once the replicated transaction state
    exists; every broker names the same coordinator.
(b) Rounds (4; 2 under the sanitizers): a transaction writes 30 numbered records over the three
    partitions; in odd rounds it is committed and then the coordinator is killed (kill -9); in
    even rounds the coordinator is killed while the transaction is open (records produced and
    flushed, no EndTxn yet) and the producer then commits it through the new coordinator,
    which holds the transaction's state (its partitions, its producer epoch) from the
    replicated log. Every commit_transaction succeeds. The killed broker restarts before the
    next round. An aborted transaction follows the last round.
(b2) Consume-transform-produce across coordinators: a group whose coordinator is another broker
    than the transaction's; send_offsets_to_transaction stages the offsets in the group's log
    on its coordinator (TxnOffsetCommit), the commit's marker (WriteTxnMarkers to that broker's
    offsets partition) makes them the group's committed offsets; an aborted transaction's
    offsets are dropped.
(c) A read_committed consumer reads exactly the committed records: every round's 30, in
    order per partition, none of the aborted ones; the time from each kill to the commit
    through the new coordinator is printed.
Every wait is bounded in time and count.
"""
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import harness  # noqa: E402
import cluster_topics_test as ct  # noqa: E402
import cluster_failover_test as cft  # noqa: E402

ROUNDS = int(os.environ.get("SLUICE_TXN_FAILOVER_ROUNDS", "4"))
PARTS = 3
PER_TXN = 30


def txn_coordinator(brokers, tid, not_id=0):
    return ct.coordinator(brokers, tid, key_type=1, not_id=not_id)


def body(ck):
    harness.needs_own_broker("starts a cluster of its own brokers")
    from confluent_kafka import Consumer, Producer, TopicPartition
    raft_ports = harness.free_ports(3)
    nodes = {i + 1: "127.0.0.1:%d" % raft_ports[i] for i in range(3)}
    topic = harness.unique("txnfail")
    tid = harness.unique("tid")

    with ck.section("(a) three brokers, a replicated topic, the transaction coordinator"):
        brokers = [cft.start_node(i, nodes) for i in (1, 2, 3)]
        ct.wait_agreed(brokers)
        err = ct.create(brokers[0], topic, PARTS, rf=3)
        ck.eq(err and (err.code(), err.str()), None, "CreateTopics")
        ct.wait_metadata(brokers[0], topic, PARTS)
        coord = txn_coordinator(brokers, tid)
        print("     coordinator of %s: broker %d" % (tid, coord))
    by_id = {b.node_id: b for b in brokers}

    p = Producer({"bootstrap.servers": ",".join(b.bootstrap for b in brokers), "transactional.id": tid,
                  "transaction.timeout.ms": 60000, "message.timeout.ms": 60000,
                  "topic.metadata.refresh.interval.ms": 1000})
    p.init_transactions(30)
    committed = {part: [] for part in range(PARTS)}
    times = []
    n = 0
    with ck.section("(b) %d kills of the transaction coordinator, after a commit or with a transaction open"
                    % ROUNDS):
        for rnd in range(ROUNDS):
            open_kill = rnd % 2 == 1
            p.begin_transaction()
            batch = []
            for i in range(PER_TXN):
                part = i % PARTS
                v = b"r%d-%05d" % (rnd, n)
                n += 1
                p.produce(topic, value=v, partition=part)
                batch.append((part, v))
            p.flush(30)
            victim = by_id[coord]
            if open_kill:
                victim.kill9()
                t_kill = time.monotonic()
                p.commit_transaction(60)
                dt = time.monotonic() - t_kill
            else:
                p.commit_transaction(60)
                victim.kill9()
                t_kill = time.monotonic()
                # The next transaction's first call goes to the new coordinator.
                p.begin_transaction()
                p.produce(topic, value=b"probe-%d" % rnd, partition=0)
                p.commit_transaction(60)
                dt = time.monotonic() - t_kill
                batch.append((0, b"probe-%d" % rnd))
            for part, v in batch:
                committed[part].append(v)
            times.append(dt)
            new = txn_coordinator(brokers, tid, not_id=victim.node_id)
            print("     round %d: coordinator %d killed %s; %d coordinates; the commit through it after %.0f ms"
                  % (rnd + 1, victim.node_id, "with the transaction open" if open_kill else "after a commit", new,
                     dt * 1000))
            victim.restart()
            ct.wait_agreed(brokers)
            coord = txn_coordinator(brokers, tid)
        p.begin_transaction()
        for i in range(PER_TXN):
            p.produce(topic, value=b"aborted-%05d" % i, partition=i % PARTS)
        p.flush(30)
        p.abort_transaction(30)
        if times:
            print("     kill -9 of the coordinator to a committed transaction: median %.0f ms, max %.0f ms"
                  % (statistics.median(times) * 1000, max(times) * 1000))

    with ck.section("(b2) a transaction's offsets for a group another broker coordinates"):
        coord = txn_coordinator(brokers, tid)
        group = None
        for i in range(60):
            g = "%s-g%d" % (tid, i)
            if ct.coordinator(brokers, g) != coord:
                group = g
                break
        fc = {"node": ct.coordinator(brokers, group) if group else -1}
        ck.ok(group is not None, "a group coordinated by another broker than %d" % coord)
        gc = Consumer({"bootstrap.servers": brokers[0].bootstrap, "group.id": group, "enable.auto.commit": False})
        md = gc.consumer_group_metadata()
        p.begin_transaction()
        for i in range(PARTS):
            v = b"ctp-%d" % i
            p.produce(topic, value=v, partition=i)
            committed[i].append(v)
        p.send_offsets_to_transaction([TopicPartition(topic, 0, 5), TopicPartition(topic, 1, 7)], md, 30)
        p.commit_transaction(60)
        got = gc.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=20)
        ck.eq([(t.partition, t.offset) for t in got], [(0, 5), (1, 7)],
              "group %s (coordinator %d, transaction coordinator %d): the committed offsets" % (group, fc["node"], coord))
        p.begin_transaction()
        p.produce(topic, value=b"ctp-aborted", partition=0)
        p.send_offsets_to_transaction([TopicPartition(topic, 0, 50)], md, 30)
        p.flush(30)
        p.abort_transaction(30)
        got = gc.committed([TopicPartition(topic, 0)], timeout=20)
        ck.eq([(t.partition, t.offset) for t in got], [(0, 5)], "the aborted transaction's offset is not committed")
        gc.close()

    with ck.section("(c) read_committed reads exactly the committed records"):
        for part in range(PARTS):
            c = Consumer({"bootstrap.servers": brokers[0].bootstrap, "group.id": harness.unique("rc"),
                          "isolation.level": "read_committed", "enable.auto.commit": False,
                          "auto.offset.reset": "earliest"})
            c.assign([TopicPartition(topic, part, 0)])
            got = []
            deadline = time.monotonic() + 30
            while len(got) < len(committed[part]) and time.monotonic() < deadline:
                m = c.poll(0.3)
                if m is not None and not m.error():
                    got.append(m.value())
            # Nothing more comes: the aborted records stay hidden.
            end = time.monotonic() + 1.0
            while time.monotonic() < end:
                m = c.poll(0.2)
                if m is not None and not m.error():
                    got.append(m.value())
            c.close()
            ck.eq(got, committed[part], "partition %d: the committed records, in order, and nothing else" % part)


if __name__ == "__main__":
    harness.run("cluster_txn_failover_test", body, modules=["confluent_kafka"], time_limit=300)
