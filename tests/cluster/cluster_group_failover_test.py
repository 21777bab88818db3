#!/usr/bin/python3
"""cluster_group_failover_test: a consumer group keeps its committed offsets across kill -9 of
its coordinator, with real Kafka clients (confluent-kafka on librdkafka) against three
sluice-server processes in one Raft group on 127.0.0.1 (broker_session_timeout_ms 1500).

(a) Three brokers agree; a topic of 3 partitions with replication factor 3 holds 3 x 300
    numbered records. FindCoordinator for a group answers COORDINATOR_NOT_AVAILABLE until the
    replicated offsets topic exists (made on that first request), then every broker names the
    same coordinator: the leader of the group's offsets partition. The offsets topic is hidden:
    Metadata does not list it, CreateTopics and Produce of its name are refused.
(b) Rounds (5; 3 under the sanitizers): one consumer of the group (subscribe, no auto commit)
    reads some records, commits them synchronously (the commit is answered once the offsets
    partition's in-sync replicas have it), and stops reading; the group's coordinator is
    killed (kill -9), or in the last round stopped with SIGTERM (a rolling restart: its
    leaderships move before it exits, so the new coordinator answers sooner than after a
    kill); the same consumer goes on: it finds the new coordinator, rejoins, and the
    next records it gets in each partition start exactly at the committed offset (a lost commit
    would rewind it to the start: auto.offset.reset earliest); OffsetFetch on the new coordinator
    answers exactly the committed offsets. The time from the kill to the new coordinator's first
    answer (FindCoordinator, then OffsetFetch) is printed. The killed broker restarts and the
    offsets topic is fully replicated again before the next round.
(c) Over all rounds: each partition's records were read exactly once, in order, from offset 0 up
    to the last commit, every value as produced.
Every wait is bounded in time and count.
"""
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import harness  # noqa: E402
import cluster_topics_test as ct  # noqa: E402
import cluster_failover_test as cft  # noqa: E402
import kafka_edges_test as ke  # noqa: E402

ROUNDS = int(os.environ.get("SLUICE_GROUP_FAILOVER_ROUNDS", "5"))
PARTS = 3
PER_PART = 300
COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR = 15, 16


def offset_fetch(b, group, topic):
    c = ke.Conn(b)
    try:
        return ke.offset_fetch(c, group, topic, list(range(PARTS)))
    finally:
        c.close()


def wait_replicated(ck, brokers, timeout=30.0):
    """No under-replicated partition on any broker (the offsets topic's among them)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            n = sum(ct.metric(b, "sluice_replica_under_replicated_partitions") for b in brokers)
        except (OSError, harness.CheckFailed):
            n = -1
        if n == 0:
            return
        if time.monotonic() > deadline:
            ck.eq(n, 0, "under-replicated partitions after the restart")
            return
        time.sleep(0.1)


def read_some(consumer, want, seen, timeout=30.0):
    """Polls until want more records arrived; appends (partition, offset, value) to seen."""
    got = 0
    deadline = time.monotonic() + timeout
    while got < want and time.monotonic() < deadline:
        for m in consumer.consume(num_messages=min(50, want - got), timeout=0.5):
            if m.error():
                continue
            seen.append((m.partition(), m.offset(), m.value()))
            got += 1
    return got


def body(ck):
    harness.needs_own_broker("starts a cluster of its own brokers")
    from confluent_kafka import Consumer, Producer, TopicPartition
    raft_ports = harness.free_ports(3)
    nodes = {i + 1: "127.0.0.1:%d" % raft_ports[i] for i in range(3)}
    topic = harness.unique("gfail")
    group = harness.unique("group")

    with ck.section("(a) three brokers, a replicated topic, the group's coordinator"):
        brokers = [cft.start_node(i, nodes) for i in (1, 2, 3)]
        ct.wait_agreed(brokers)
        err = ct.create(brokers[0], topic, PARTS, rf=3)
        ck.eq(err and (err.code(), err.str()), None, "CreateTopics")
        p = Producer({"bootstrap.servers": brokers[0].bootstrap, "acks": "all", "enable.idempotence": True})
        for part in range(PARTS):
            for n in range(PER_PART):
                p.produce(topic, value=b"p%d-%05d" % (part, n), partition=part)
                p.poll(0)
        ck.eq(p.flush(60), 0, "records not delivered")
        first = ct.find_coordinator(brokers[1], group)
        ck.ok(first[0] in (0, COORDINATOR_NOT_AVAILABLE), "first FindCoordinator: %s" % (first,))
        coord = ct.coordinator(brokers, group)
        print("     coordinator of %s: broker %d" % (group, coord))
        md = ct.admin(brokers[0]).list_topics(timeout=10)
        ck.ok("__sluice_offsets" not in md.topics, "Metadata of every topic leaves the offsets topic out")
        err = ct.create(brokers[0], "__sluice_offsets", 1, rf=1)
        ck.eq(err and err.code(), 17, "CreateTopics __sluice_offsets: INVALID_TOPIC_EXCEPTION")
        wait_replicated(ck, brokers)
    by_id = {b.node_id: b for b in brokers}

    consumer = Consumer({"bootstrap.servers": ",".join(b.bootstrap for b in brokers), "group.id": group,
                         "enable.auto.commit": False, "auto.offset.reset": "earliest",
                         "session.timeout.ms": 6000, "heartbeat.interval.ms": 500,
                         "partition.assignment.strategy": "cooperative-sticky",
                         "topic.metadata.refresh.interval.ms": 1000})
    consumer.subscribe([topic])
    seen = []
    committed = {part: 0 for part in range(PARTS)}
    failover = []
    with ck.section("(b) %d kills and a SIGTERM of the group's coordinator, each after a synchronous commit"
                    % (ROUNDS - 1)):
        for rnd in range(ROUNDS):
            start = len(seen)
            ck.eq(read_some(consumer, 120, seen), 120, "round %d: records read" % (rnd + 1))
            # Where each partition resumes: the first record read there this round.
            for part in range(PARTS):
                firsts = [o for pp, o, _ in seen[start:] if pp == part]
                if firsts:
                    ck.eq(firsts[0], committed[part], "round %d: partition %d resumes at the committed offset"
                          % (rnd + 1, part))
            pos = {}
            for pp, o, _ in seen:
                pos[pp] = max(pos.get(pp, 0), o + 1)
            offs = [TopicPartition(topic, pp, o) for pp, o in sorted(pos.items())]
            res = consumer.commit(offsets=offs, asynchronous=False)
            ck.eq([(t.partition, t.offset, t.error) for t in res], [(t.partition, t.offset, None) for t in offs],
                  "round %d: commit" % (rnd + 1))
            committed.update(pos)
            victim = by_id[coord]
            planned = rnd == ROUNDS - 1  # the last round: a rolling restart (SIGTERM)
            t_kill = time.monotonic()
            if planned:
                victim.stop()  # controlled shutdown: the offsets partitions' leadership moves first
            else:
                victim.kill9()
            coord = ct.coordinator(brokers, group, not_id=victim.node_id)
            t_found = time.monotonic()
            deadline = time.monotonic() + 20
            got = None
            while time.monotonic() < deadline:
                try:
                    got = offset_fetch(by_id[coord], group, topic)
                    if all(e == 0 for _, _, e in got.values()):
                        break
                except OSError:
                    pass
                time.sleep(0.05)
            t_fetch = time.monotonic()
            ck.eq({pp: (o, e) for pp, (o, _, e) in (got or {}).items()},
                  {pp: (committed.get(pp, -1) if pp in pos else -1, 0) for pp in range(PARTS)},
                  "round %d: OffsetFetch on the new coordinator %d" % (rnd + 1, coord))
            print("     round %d: coordinator %d %s; %d coordinates after %.0f ms, its OffsetFetch answers after"
                  " %.0f ms" % (rnd + 1, victim.node_id, "stopped (SIGTERM)" if planned else "killed", coord,
                                (t_found - t_kill) * 1000, (t_fetch - t_kill) * 1000))
            if planned:
                planned_s = t_fetch - t_kill
                victim.start()
            else:
                failover.append(t_fetch - t_kill)
                victim.restart()
            ct.wait_agreed(brokers)
            wait_replicated(ck, brokers)
        if failover:
            print("     coordinator failover (kill -9 to the new coordinator's OffsetFetch): median %.0f ms, max %.0f ms"
                  % (statistics.median(failover) * 1000, max(failover) * 1000))
            print("     planned restart (SIGTERM, from the signal: the stop itself included): %.0f ms" % (planned_s * 1000))
            ck.ok(planned_s < statistics.median(failover), "a SIGTERM moves the coordinator sooner than a kill")
        start = len(seen)
        ck.eq(read_some(consumer, 60, seen), 60, "after the last kill: records read")
        for part in range(PARTS):
            firsts = [o for pp, o, _ in seen[start:] if pp == part]
            if firsts:
                ck.eq(firsts[0], committed[part], "after the last kill: partition %d resumes at the committed offset"
                      % part)
        consumer.close()

    with ck.section("(c) every record read once, in order, as produced"):
        for part in range(PARTS):
            offs = [o for pp, o, _ in seen if pp == part]
            ck.eq(offs, list(range(len(offs))), "partition %d: offsets read, 0.. without a gap or a repeat" % part)
            bad = [(o, v) for pp, o, v in seen if pp == part and v != b"p%d-%05d" % (part, o)]
            ck.eq(bad, [], "partition %d: values as produced" % part)
        print("     %d records read over %d rounds; %s" % (len(seen), ROUNDS, json.dumps(committed)))


if __name__ == "__main__":
    harness.run("cluster_group_failover_test", body, modules=["confluent_kafka"], time_limit=300)
