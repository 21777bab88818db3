"""groups_confluent_test: confluent-kafka-python 1.7 (librdkafka 2.0.2) consumer groups against a
real sluice-server, once with partition.assignment.strategy range (eager) and once with
cooperative-sticky (incremental).

A 6-partition topic; a producer thread sends 3000 keyed messages (acks=all, ~10 s) while three
members join one after another (each after the previous rebalance finished, plus 1.5 s). Every
member commits synchronously in its revoke callback (eager members also every 0.5 s; see
Member.periodic for why cooperative ones do not), then all commit while the group is stable,
then close.
Checks:
  * every produced message is consumed exactly once across the group, with its key and value;
  * the group's committed offsets end at every partition's end offset;
  * no partition is ever assigned to a member while another member still owns it;
  * eager: every revoke takes the member's whole assignment;
  * cooperative-sticky: no member ever revokes a partition it keeps (every revoked partition is
    next assigned to another member), the revoked partitions of each join are exactly the ones
    that moved, no eager-style full revoke, and the joins end balanced 3/3 then 2/2/2.
Prints each rebalance's duration: from the new member's subscribe() to the callback after which
every member holds its new assignment. Members use session.timeout.ms 6000 and
heartbeat.interval.ms 2000 (our users' settings): members learn of a rebalance from a heartbeat,
so a round can take up to ~2 s of client time.
"""
import os
import threading
import time

from gproto import harness

NAME = "groups_confluent_test"
PARTITIONS = 6
COUNT = 3000


class Member:
    def __init__(self, name, ctx):
        from confluent_kafka import Consumer
        self.name, self.ctx = name, ctx
        conf = {
            "bootstrap.servers": ctx.bootstrap, "group.id": ctx.group,
            "client.id": name, "partition.assignment.strategy": ctx.strategy,
            "enable.auto.commit": False, "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000, "heartbeat.interval.ms": 2000,
            "enable.partition.eof": False, "fetch.wait.max.ms": 100,
        }
        if os.environ.get("SLUICE_RDKAFKA_DEBUG"):  # e.g. cgrp: librdkafka's log on stderr
            conf["debug"] = os.environ["SLUICE_RDKAFKA_DEBUG"]
        self.c = Consumer(conf)
        self.consumed = []           # (name, partition, offset, key, value)
        self.pos = {}                # partition -> next offset to consume (app's position)
        self.committed = {}          # partition -> last offset committed by this member
        self.errors = []
        self.stop = threading.Event()
        self.final_commit = threading.Event()  # commit everything now (the group is stable)
        self.final_done = threading.Event()
        # librdkafka 2.0.2 bug (confluentinc/librdkafka#4059, fixed in 2.10.0): with
        # cooperative-sticky, a commit that crosses the member's own JoinGroup of the second
        # round carries the old generation; the broker answers ILLEGAL_GENERATION (as Kafka
        # does) and librdkafka then drops the whole assignment as LOST. The app cannot see when
        # librdkafka rejoins, so cooperative members commit only in on_revoke (safe: the member
        # rejoins after the callback) and in a final phase while the group is stable. Eager
        # members cannot hit it: they own nothing between revoke and the new assignment.
        self.periodic = ctx.strategy != "cooperative-sticky"
        self.closing = False
        self.t_subscribe = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    # -- callbacks: run inside poll()/close() in this member's thread --
    def _commit(self, parts, why):
        from confluent_kafka import KafkaException, TopicPartition
        todo = [p for p in parts if p in self.pos and self.pos[p] != self.committed.get(p)]
        if not todo:
            return
        try:
            self.c.commit(offsets=[TopicPartition(self.ctx.topic, p, self.pos[p]) for p in todo],
                          asynchronous=False)
        except KafkaException as e:
            self.errors.append("%s: commit (%s) of %s failed: %s" % (
                self.name, why, {p: self.pos[p] for p in todo}, e))
            return
        for p in todo:
            self.committed[p] = self.pos[p]

    def on_assign(self, c, tps):
        parts = sorted(tp.partition for tp in tps)
        self.ctx.event(self, "assign", parts)

    def on_revoke(self, c, tps):
        parts = sorted(tp.partition for tp in tps)
        self._commit(parts, "revoke")
        for p in parts:
            self.pos.pop(p, None)
        self.ctx.event(self, "revoke", parts)

    def on_lost(self, c, tps):
        parts = sorted(tp.partition for tp in tps)
        self.errors.append("%s: partitions LOST %s" % (self.name, parts))
        self.ctx.event(self, "lost", parts)

    def _run(self):
        try:
            self.t_subscribe = time.monotonic()
            self.c.subscribe([self.ctx.topic], on_assign=self.on_assign, on_revoke=self.on_revoke,
                             on_lost=self.on_lost)
            last_commit = time.monotonic()
            deadline = time.monotonic() + 120
            while not self.stop.is_set() and time.monotonic() < deadline:
                m = self.c.poll(0.1)
                if m is not None:
                    if m.error():
                        self.errors.append("%s: poll: %s" % (self.name, m.error()))
                    else:
                        p, off = m.partition(), m.offset()
                        exp = self.pos.get(p)
                        if exp is not None and off != exp:
                            self.errors.append("%s: partition %d offset %d after %d (gap/rewind)"
                                               % (self.name, p, off, exp - 1))
                        self.consumed.append((self.name, p, off, m.key(), m.value()))
                        self.pos[p] = off + 1
                if self.final_commit.is_set() and not self.final_done.is_set():
                    self._commit(sorted(self.pos), "final")
                    self.final_done.set()
                elif self.periodic and time.monotonic() - last_commit > 0.5:
                    self._commit(sorted(self.pos), "periodic")
                    last_commit = time.monotonic()
            self.closing = True
            self.c.close()
        except Exception as e:
            self.errors.append("%s: %r" % (self.name, e))


class Ctx:
    def __init__(self, bootstrap, topic, group, strategy):
        self.bootstrap, self.topic, self.group, self.strategy = bootstrap, topic, group, strategy
        self.lock = threading.Lock()
        self.owner = {}     # partition -> member name (from the callbacks)
        self.events = []    # (t, member, kind, parts, closing)
        self.violations = []
        self.members = []

    def event(self, m, kind, parts):
        with self.lock:
            t = time.monotonic()
            self.events.append((t, m.name, kind, parts, m.closing))
            if kind == "assign":
                for p in parts:
                    if self.owner.get(p) not in (None, m.name):
                        self.violations.append("%.3f %s assigned partition %d still owned by %s"
                                               % (t, m.name, p, self.owner[p]))
                    self.owner[p] = m.name
            else:
                for p in parts:
                    if self.owner.get(p) != m.name:
                        self.violations.append("%.3f %s %s partition %d owned by %s" % (
                            t, m.name, kind, p, self.owner.get(p)))
                    else:
                        del self.owner[p]

    def ownership(self):
        with self.lock:
            return dict(self.owner)

    def settled(self, t0, newcomer):
        """(True, t) once every partition is owned, every member owns one, and the newcomer had
        its assignment after t0 (t = the last callback so far)."""
        with self.lock:
            own = dict(self.owner)
            ev = [e for e in self.events if e[0] >= t0]
        names = {m.name for m in self.members}
        if len(own) != PARTITIONS or set(own.values()) != names:
            return False, None
        if not any(e[1] == newcomer and e[2] == "assign" for e in ev):
            return False, None
        return True, max(e[0] for e in ev)


def run_strategy(ck, broker, strategy, label):
    topic = harness.unique("grp-" + label)
    group = harness.unique("g-" + label)
    import gutil
    gutil.create_topic(broker.bootstrap, topic, PARTITIONS)
    ctx = Ctx(broker.bootstrap, topic, group, strategy)
    prod = gutil.KeyedProducer(broker.bootstrap, topic, COUNT, batch=20, interval=0.065,
                               prefix=label).start()
    durations = []
    before = {}
    steps = []  # (joiner, ownership before, ownership after, t0, t_settled)
    try:
        for i in range(3):
            m = Member("%s-m%d" % (label, i + 1), ctx)
            before = ctx.ownership()
            ctx.members.append(m)
            m.thread.start()
            gutil.wait_for(lambda: m.t_subscribe is not None, 10, "%s subscribe" % m.name)
            t0 = m.t_subscribe
            res = [False, None]

            def done():
                res[:] = ctx.settled(t0, m.name)
                return res[0]
            gutil.wait_for(done, 30, "%s: rebalance after %s joined (ownership %s)" % (
                label, m.name, ctx.ownership()))
            # A cooperative join takes two rounds; the first one may already look settled if the
            # leader moved nothing yet: wait until the newcomer holds its fair share.
            if strategy == "cooperative-sticky" and i > 0:
                gutil.wait_for(lambda: list(ctx.ownership().values()).count(m.name) ==
                               PARTITIONS // (i + 1), 30,
                               "%s: %s gets %d partitions (ownership %s)" % (
                                   label, m.name, PARTITIONS // (i + 1), ctx.ownership()))
                res[1] = max(e[0] for e in ctx.events)
            ms = (res[1] - t0) * 1000
            durations.append(ms)
            steps.append((m.name, before, ctx.ownership(), t0, res[1]))
            print("     %s: %s joined: every member assigned %.0f ms after its subscribe; "
                  "ownership %s" % (label, m.name, ms, sorted(ctx.ownership().items())), flush=True)
            time.sleep(1.5)
        sent = prod.wait(60)
        gutil.wait_for(lambda: len({(c[1], c[2]) for mm in ctx.members for c in mm.consumed})
                       >= len(sent), 30, "%s: all %d messages consumed" % (label, len(sent)))
        time.sleep(1.0)  # a duplicate, if any, would arrive now
        # Final commits while the group is stable, then close (closing rebalances the rest).
        for mm in ctx.members:
            mm.final_commit.set()
        for mm in ctx.members:
            ck.ok(mm.final_done.wait(15), "%s: %s: final commit not done within 15 s" % (
                label, mm.name))
    finally:
        prod.stop_flag.set()
        for mm in ctx.members:
            mm.stop.set()
        for mm in ctx.members:
            mm.thread.join(30)
    # Callback history, printed for the record.
    t_base = ctx.events[0][0] if ctx.events else 0
    for t, who, kind, parts, closing in ctx.events:
        print("       %7.3f %-12s %-6s %s%s" % (t - t_base, who, kind, parts,
                                                 " (closing)" if closing else ""))
    for mm in ctx.members:
        ck.ok(not mm.thread.is_alive(), "%s: member %s did not close within 30 s" % (label, mm.name))
        ck.ok(not mm.errors, "%s: member errors: %s" % (label, mm.errors[:5]))
    ck.ok(not ctx.violations, "%s: ownership violations: %s" % (label, ctx.violations[:5]))

    consumed = [c for mm in ctx.members for c in mm.consumed]
    gutil.check_exactly_once(ck, sent, consumed, label)
    per_member = {mm.name: len(mm.consumed) for mm in ctx.members}
    print("     %s: %d messages consumed exactly once, per member %s" % (label, len(sent), per_member))

    # The group's committed offsets are the end offsets.
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group,
                  "enable.auto.commit": False})
    try:
        ends = {p: max([o for (pp, o) in sent if pp == p], default=-1) + 1 for p in range(PARTITIONS)}
        got = {tp.partition: tp.offset for tp in
               c.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=10)}
        ck.eq(got, ends, "%s: committed offsets after close" % label)
    finally:
        c.close()

    # The protocol-specific checks on the callback history (printed first, for the record).
    live = [e for e in ctx.events if not e[4]]
    if strategy == "range":
        held = {}
        for t, who, kind, parts, _ in live:
            if kind == "assign":
                held[who] = set(parts)
            elif kind == "revoke":
                ck.eq(set(parts), held.get(who, set()), "%s: eager revoke of %s takes everything"
                      % (label, who))
                held[who] = set()
    else:
        for i, (t, who, kind, parts, _) in enumerate(live):
            if kind != "revoke":
                continue
            for p in parts:
                nxt = [e for e in ctx.events[ctx.events.index(live[i]) + 1:]
                       if e[2] == "assign" and p in e[3]]
                ck.ok(nxt and nxt[0][1] != who,
                      "%s: %s revoked partition %d and %s" % (
                          label, who, p, "got it back" if nxt else "nobody got it"))
        for name, before, after, t0, t1 in steps:
            moved = sorted(p for p in after if p in before and before[p] != after[p])
            revoked = sorted(p for e in live if t0 <= e[0] <= t1 and e[2] == "revoke" for p in e[3])
            ck.eq(revoked, moved, "%s: partitions revoked while %s joined = the ones that moved"
                  % (label, name))
        counts = sorted(list(steps[1][2].values()).count(n) for n in set(steps[1][2].values()))
        ck.eq(counts, [3, 3], "%s: partitions per member after the second join" % label)
        counts = sorted(list(steps[2][2].values()).count(n) for n in set(steps[2][2].values()))
        ck.eq(counts, [2, 2, 2], "%s: partitions per member after the third join" % label)
        n_rev = sum(len(e[3]) for e in live if e[2] == "revoke")
        ck.eq(n_rev, 5, "%s: partitions revoked by the two joins (3 then 2)" % label)
    return durations


def body(ck):
    broker = harness.start_broker()
    results = {}
    only = os.environ.get("SLUICE_GROUPS_ONLY")
    for strategy, label in (("range", "eager"), ("cooperative-sticky", "coop")):
        if only and only != label:
            continue
        with ck.section("%s (%s): 3 members join during production" % (label, strategy)):
            results[label] = run_strategy(ck, broker, strategy, label)
    print("rebalance durations (subscribe -> every member assigned), ms:")
    for label, d in results.items():
        print("  %-6s %s" % (label, " | ".join("member %d joins %6.0f" % (i + 1, x)
                                               for i, x in enumerate(d))))


if __name__ == "__main__":
    harness.run(NAME, body, modules=("confluent_kafka",), time_limit=240)
