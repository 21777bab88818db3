#!/usr/bin/python3
"""groups_restart_test: a consumer group lives through broker restarts without a rebalance.

Kafka keeps each group's metadata (generation, protocol, leader, members and assignments) in
__consumer_offsets beside its offsets, so a restarted coordinator knows the group and its members
carry on: no revoke, no new assignment, commits with the old generation accepted. Two
confluent-kafka consumers with our users' settings (session 6 s, heartbeat 2 s,
cooperative-sticky) share a 4-partition topic; the broker is restarted twice (SIGTERM, then
kill -9) while they consume. Each time: librdkafka counts no rebalance (its statistics'
cgrp.rebalance_cnt), no assignment callback fires in the 8 s after the restart (longer than the
session), commits succeed, and every produced message is consumed once. Then one consumer
closes: the other rebalances and gets all 4 partitions, as usual.
"""
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import harness  # noqa: E402

TOPIC = "restarts"
PARTITIONS = 4


class Member:
    def __init__(self, name, bootstrap):
        from confluent_kafka import Consumer
        self.name = name
        self.events = []  # (time, "assign"|"revoke"|"lost", [partitions])
        self.values = []
        self.commit_errors = []
        self.commits = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.c = Consumer({"bootstrap.servers": bootstrap, "group.id": "rg", "enable.auto.commit": False,
                           "auto.offset.reset": "earliest", "session.timeout.ms": 6000,
                           "heartbeat.interval.ms": 2000, "partition.assignment.strategy": "cooperative-sticky",
                           "client.id": name, "reconnect.backoff.ms": 50, "reconnect.backoff.max.ms": 500,
                           "log_level": 2, "statistics.interval.ms": 500, "stats_cb": self.on_stats})
        self.rebalances = None

        def on(kind):
            def cb(consumer, parts):
                if parts:
                    with self.lock:
                        self.events.append((time.monotonic(), kind, sorted(p.partition for p in parts)))
            return cb

        self.c.subscribe([TOPIC], on_assign=on("assign"), on_revoke=on("revoke"), on_lost=on("lost"))
        self.t = threading.Thread(target=self.loop)
        self.t.start()

    def on_stats(self, text):
        import json
        cg = json.loads(text).get("cgrp") or {}
        with self.lock:
            self.rebalances = cg.get("rebalance_cnt")

    def rebalance_count(self):
        time.sleep(1.2)  # two statistics intervals: the count is current
        with self.lock:
            return self.rebalances

    def loop(self):
        from confluent_kafka import KafkaException
        while not self.stop.is_set():
            m = self.c.poll(0.2)
            if m is None or m.error():
                continue
            with self.lock:
                self.values.append(m.value().decode())
            try:
                self.c.commit(message=m, asynchronous=False)
                with self.lock:
                    self.commits += 1
            except KafkaException as e:
                with self.lock:
                    self.commit_errors.append((time.monotonic(), str(e)))
        self.c.close()

    def owned(self):
        with self.lock:
            owned = set()
            for _, kind, parts in self.events:
                owned = owned | set(parts) if kind == "assign" else owned - set(parts)
            return owned

    def events_since(self, t):
        with self.lock:
            return [e for e in self.events if e[0] >= t]

    def close(self):
        self.stop.set()
        self.t.join(30)


def body(ck):
    b = harness.start_broker(["--fsync", "group"])
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])[TOPIC].result(20)
    del admin
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "enable.idempotence": True, "linger.ms": 2,
                  "message.timeout.ms": 60000, "log_level": 2})
    sent = []

    def produce(n):
        for _ in range(n):
            v = "v%05d" % len(sent)
            p.produce(TOPIC, key=v.encode(), value=v.encode())
            sent.append(v)
        ck.eq(p.flush(60), 0, "produced")

    members = [Member("m1", b.bootstrap), Member("m2", b.bootstrap)]
    try:
        with ck.section("two members share the topic"):
            end = time.monotonic() + 30
            while time.monotonic() < end and sorted(members[0].owned() | members[1].owned()) != list(range(PARTITIONS)):
                time.sleep(0.1)
            ck.eq(sorted(members[0].owned() | members[1].owned()), list(range(PARTITIONS)), "all partitions owned")
            ck.eq(members[0].owned() & members[1].owned(), set(), "no partition owned twice")
            produce(200)
            time.sleep(3)  # let the group settle: no assignment change from here on
        for how in ("SIGTERM", "kill -9"):
            with ck.section("broker restarted (%s): the group carries on without a rebalance" % how):
                counts = [m.rebalance_count() for m in members]
                owned = [m.owned() for m in members]
                t0 = time.monotonic()
                b.restart(kill=(how == "kill -9"))
                produce(200)
                time.sleep(8)  # longer than the 6 s session: a lost group would have rebalanced
                ck.eq([m.events_since(t0) for m in members], [[], []], "assignment callbacks after the restart")
                ck.eq([m.owned() for m in members], owned, "owned partitions")
                ck.eq([m.rebalance_count() for m in members], counts, "rebalances counted by librdkafka")
                late = [e for m in members for e in m.commit_errors if e[0] > t0 + 5]
                ck.eq(late, [], "commit errors more than 5 s after the restart")
        with ck.section("every message consumed (once per member that owned it at the time)"):
            end = time.monotonic() + 20
            while time.monotonic() < end and len(set(members[0].values) | set(members[1].values)) < len(sent):
                time.sleep(0.2)
            got = members[0].values + members[1].values
            ck.eq(sorted(set(got)), sorted(sent), "consumed")
            ck.eq(len(got), len(sent), "consumed once")
        with ck.section("one member leaves: the other rebalances and gets everything"):
            count = members[1].rebalance_count()
            members[0].close()
            end = time.monotonic() + 30
            while time.monotonic() < end and members[1].owned() != set(range(PARTITIONS)):
                time.sleep(0.1)
            ck.eq(members[1].owned(), set(range(PARTITIONS)), "the remaining member owns every partition")
            ck.ok(members[1].rebalance_count() > count, "the remaining member rebalanced")
    finally:
        for m in members:
            m.close()


if __name__ == "__main__":
    harness.run("groups_restart_test", body, modules=("confluent_kafka",), time_limit=280)
