"""groups_static_member_test: static group membership (KIP-345, group.instance.id) with
confluent-kafka 1.7 (librdkafka 2.0.2) against a real sluice-server.

A 4-partition topic, a producer thread sending 1500 keyed messages over ~12 s. Two static
members S1 (instance "static-1") and S2 ("static-2"), range (eager) assignor, session 6000 ms,
heartbeat 2000 ms, commit on revoke and every 0.5 s. Once both are stable, S1 is restarted: it
commits, closes (a static member sends no LeaveGroup) and a new consumer with the same instance
id subscribes at once, well within the session timeout. Checks:
  * the new S1 gets exactly S1's old partitions;
  * S2 sees no revoke/assign callback from S1's close until 4.5 s after the new S1's assignment
    (more than two heartbeat intervals: a rebalance would have reached it);
  * the group's generation (probed with Heartbeats for S2's member id) is unchanged, DescribeGroups
    says Stable with 2 members, S2's member id unchanged, S1's replaced;
  * every message consumed exactly once across S1, new S1 and S2, key and value exact; the
    committed offsets end at the end offsets.
"""
import threading
import time

import gproto
from gproto import harness

NAME = "groups_static_member_test"
PARTITIONS = 4
COUNT = 1500


class Static:
    def __init__(self, name, instance, bs, group, topic, log):
        from confluent_kafka import Consumer
        self.name, self.topic, self.log = name, topic, log
        self.c = Consumer({"bootstrap.servers": bs, "group.id": group, "client.id": name,
                           "group.instance.id": instance, "partition.assignment.strategy": "range",
                           "enable.auto.commit": False, "auto.offset.reset": "earliest",
                           "session.timeout.ms": 6000, "heartbeat.interval.ms": 2000,
                           "enable.partition.eof": False, "fetch.wait.max.ms": 100})
        self.consumed, self.errors = [], []
        self.pos, self.committed = {}, {}
        self.assigned = None
        self.stop = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _commit(self, parts, why):
        from confluent_kafka import KafkaException, TopicPartition
        todo = [p for p in parts if p in self.pos and self.pos[p] != self.committed.get(p)]
        if not todo:
            return
        try:
            self.c.commit(offsets=[TopicPartition(self.topic, p, self.pos[p]) for p in todo],
                          asynchronous=False)
            for p in todo:
                self.committed[p] = self.pos[p]
        except KafkaException as e:
            self.errors.append("%s: commit (%s): %s" % (self.name, why, e))

    def _assign(self, c, tps):
        self.assigned = sorted(tp.partition for tp in tps)
        self.log.append((time.monotonic(), self.name, "assign", self.assigned))

    def _revoke(self, c, tps):
        parts = sorted(tp.partition for tp in tps)
        self._commit(parts, "revoke")
        for p in parts:
            self.pos.pop(p, None)
        self.log.append((time.monotonic(), self.name, "revoke", parts))

    def _run(self):
        try:
            self.c.subscribe([self.topic], on_assign=self._assign, on_revoke=self._revoke)
            last = time.monotonic()
            deadline = time.monotonic() + 120
            while not self.stop.is_set() and time.monotonic() < deadline:
                m = self.c.poll(0.1)
                if m is not None:
                    if m.error():
                        self.errors.append("%s: %s" % (self.name, m.error()))
                    else:
                        self.consumed.append((self.name, m.partition(), m.offset(), m.key(), m.value()))
                        self.pos[m.partition()] = m.offset() + 1
                if time.monotonic() - last > 0.5:
                    self._commit(sorted(self.pos), "periodic")
                    last = time.monotonic()
            self._commit(sorted(self.pos), "before close")
            self.c.close()
        except Exception as e:
            self.errors.append("%s: %r" % (self.name, e))

    def close(self):
        self.stop.set()
        self.t.join(30)
        if self.t.is_alive():
            raise harness.CheckFailed("%s did not close within 30 s" % self.name)


def describe(broker, group):
    c = gproto.Conn(broker.host, broker.kafka_port)
    try:
        return c.call(gproto.req_describe_groups([group]))["groups"][0]
    finally:
        c.close()


def generation(broker, group, member_id):
    c = gproto.Conn(broker.host, broker.kafka_port)
    try:
        return gproto.probe_generation(c, group, member_id)
    finally:
        c.close()


def body(ck):
    import gutil
    broker = harness.start_broker()
    bs = broker.bootstrap
    topic, group = harness.unique("grp-static"), harness.unique("g-static")
    gutil.create_topic(bs, topic, PARTITIONS)
    prod = gutil.KeyedProducer(bs, topic, COUNT, batch=10, interval=0.08, prefix="st").start()
    log = []
    members = []
    try:
        with ck.section("two static members become stable"):
            s1 = Static("S1", "static-1", bs, group, topic, log)
            members.append(s1)
            gutil.wait_for(lambda: s1.assigned == list(range(PARTITIONS)), 20, "S1 alone assigned")
            s2 = Static("S2", "static-2", bs, group, topic, log)
            members.append(s2)
            gutil.wait_for(lambda: s2.assigned and s1.assigned and
                           sorted(s1.assigned + s2.assigned) == list(range(PARTITIONS)), 30,
                           "S1 + S2 assigned (S1 %s, S2 %s)" % (s1.assigned, s2.assigned))
            time.sleep(1.5)
            d = describe(broker, group)
            ck.eq((d["error"], d["state"], len(d["members"])), (0, "Stable", 2), "DescribeGroups")
            ids = {m["client_id"]: m["member_id"] for m in d["members"]}
            from confluent_kafka.admin import AdminClient
            gl = AdminClient({"bootstrap.servers": bs}).list_groups(group, timeout=10)
            ck.eq([(g.id, g.error, g.state, g.protocol_type, g.protocol,
                    sorted((m.client_id, m.id) for m in g.members)) for g in gl],
                  [(group, None, "Stable", "consumer", "range", sorted(ids.items()))],
                  "AdminClient.list_groups (ListGroups + DescribeGroups)")
            gen_before = generation(broker, group, ids["S2"])
            ck.ok(gen_before is not None, "no generation accepted for S2's member id")
            print("     S1 %s, S2 %s; generation %d; member ids %s" % (
                s1.assigned, s2.assigned, gen_before, ids))

        with ck.section("S1 restarts within the session timeout: no rebalance"):
            old = list(s1.assigned)
            n_s2 = len([e for e in log if e[1] == "S2"])
            t0 = time.monotonic()
            s1.close()
            t_closed = time.monotonic()
            s1b = Static("S1b", "static-1", bs, group, topic, log)
            members.append(s1b)
            gutil.wait_for(lambda: s1b.assigned is not None, 5.5 - (time.monotonic() - t_closed),
                           "the new S1 gets an assignment within the session timeout")
            t_back = time.monotonic()
            print("     S1 closed in %.0f ms; the new S1 had %s %.0f ms after subscribing" % (
                (t_closed - t0) * 1000, s1b.assigned, (t_back - t_closed) * 1000))
            ck.eq(s1b.assigned, old, "the new S1's assignment")
            time.sleep(4.5)
            s2_events = [e for e in log if e[1] == "S2"][n_s2:]
            ck.eq(s2_events, [], "S2's callbacks while S1 restarted")
            d = describe(broker, group)
            ck.eq((d["error"], d["state"], len(d["members"])), (0, "Stable", 2),
                  "DescribeGroups after the restart")
            ids2 = {m["client_id"]: m["member_id"] for m in d["members"]}
            ck.eq(ids2.get("S2"), ids["S2"], "S2's member id")
            ck.ok(ids2.get("S1b") not in (None, ids["S1"]),
                  "the new S1 has a new member id (%s, was %s)" % (ids2.get("S1b"), ids["S1"]))
            ck.eq(generation(broker, group, ids["S2"]), gen_before, "generation after the restart")

        with ck.section("every message exactly once"):
            sent = prod.wait(60)
            consumed = lambda: [c for m in members for c in m.consumed]  # noqa: E731
            gutil.wait_for(lambda: len({(c[1], c[2]) for c in consumed()}) >= len(sent), 30,
                           "all messages consumed")
            time.sleep(1.0)
            s2.close()
            s1b.close()
            for m in members:
                ck.ok(not m.errors, "%s errors: %s" % (m.name, m.errors[:5]))
            gutil.check_exactly_once(ck, sent, consumed(), "static group")
            print("     %d messages exactly once: %s" % (len(sent), {m.name: len(m.consumed)
                                                                   for m in members}))
            from confluent_kafka import Consumer, TopicPartition
            c = Consumer({"bootstrap.servers": bs, "group.id": group})
            ends = {p: max([o for (pp, o) in sent if pp == p], default=-1) + 1
                    for p in range(PARTITIONS)}
            got = {tp.partition: tp.offset for tp in
                   c.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=10)}
            c.close()
            ck.eq(got, ends, "committed offsets")
    finally:
        prod.stop_flag.set()
        for m in members:
            m.stop.set()
        t_base = log[0][0] if log else 0
        for t, who, kind, parts in log:
            print("       %7.3f %-4s %-6s %s" % (t - t_base, who, kind, parts))


if __name__ == "__main__":
    harness.run(NAME, body, modules=("confluent_kafka",), time_limit=200)
