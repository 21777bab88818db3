"""groups_kafka_python_test: kafka-python 2.0.2 KafkaConsumer group members against a real
sluice-server: members join mid-stream, one leaves cleanly, two are killed with SIGKILL.

A 6-partition topic; a kafka-python producer sends 3000 keyed messages over ~21 s. Members use
session_timeout_ms 6000, heartbeat_interval_ms 2000, max_poll_records 50, max_poll_interval_ms
30000 (the rebalance timeout), no auto commit: each commits synchronously after every poll()
batch and in on_partitions_revoked.
  A   (thread) from the start, to the end;
  K   (subprocess `groups_kafka_python_test.py member ...`) joins mid-stream and reports every
      message, callback and confirmed commit on stdout; killed with SIGKILL while the group is
      stable: its partitions must move after its session runs out (3-12 s after the kill);
  B   (thread) joins after K, then leaves cleanly (commit, close -> LeaveGroup);
  K2  (subprocess) joins; D (thread) joins and K2 is killed 50 ms later, before a heartbeat can
      tell it to rejoin: the join phase must end when K2's session runs out (<= 12 s), not at
      the 30 s rebalance timeout.
Checks: every produced message is consumed, key and value exact; a message consumed twice must
be one a killed member consumed after its last confirmed commit of that partition (the only
uncommitted windows); no partition is assigned while another member owns it; the group's
committed offsets end at the end offsets.
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time

from gproto import harness

NAME = "groups_kafka_python_test"
PARTITIONS = 6
COUNT = 3000
HERE = os.path.dirname(os.path.abspath(__file__))


def consumer_conf(bootstrap, group, name):
    return dict(bootstrap_servers=bootstrap, group_id=group, client_id=name,
                enable_auto_commit=False, auto_offset_reset="earliest",
                session_timeout_ms=6000, heartbeat_interval_ms=2000, max_poll_records=50,
                max_poll_interval_ms=30000, fetch_max_wait_ms=100, request_timeout_ms=40000)


def member_loop(c, topic, emit, stop, name):
    """Shared by the thread members and the subprocess: poll, record, commit per batch."""
    from kafka import ConsumerRebalanceListener

    class L(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            parts = sorted(tp.partition for tp in revoked)
            if parts:
                commit(c, emit, "revoke")
            emit("R", parts)

        def on_partitions_assigned(self, assigned):
            emit("A", sorted(tp.partition for tp in assigned))

    c.subscribe([topic], listener=L())
    deadline = time.monotonic() + 120
    while not stop() and time.monotonic() < deadline:
        recs = c.poll(timeout_ms=100)
        n = 0
        for tp, msgs in recs.items():
            for m in msgs:
                emit("M", [m.partition, m.offset, m.key.hex(), m.value.hex()])
                n += 1
        if n:
            commit(c, emit, "batch")


def commit(c, emit, why):
    from kafka.errors import KafkaError
    offs = {tp.partition: om.offset for tp, om in c._subscription.all_consumed_offsets().items()}
    try:
        c.commit()
    except KafkaError as e:
        emit("E", "commit (%s) failed: %r" % (why, e))
        return
    emit("C", offs)


# ---- the subprocess member ------------------------------------------------------------------

def subprocess_member(bootstrap, group, topic, name):
    from kafka import KafkaConsumer
    lock = threading.Lock()

    def emit(kind, data):
        with lock:
            sys.stdout.write(json.dumps([time.monotonic(), kind, data]) + "\n")
            sys.stdout.flush()

    c = KafkaConsumer(**consumer_conf(bootstrap, group, name))
    member_loop(c, topic, emit, lambda: False, name)
    os._exit(3)  # never reached normally: the parent kills us


# ---- the test -------------------------------------------------------------------------------

class Ctx:
    def __init__(self):
        self.lock = threading.Lock()
        self.events = []     # (t, member, kind, parts)
        self.consumed = []   # (member, p, off, key, value)
        self.errors = []
        self.commits = {}    # member -> {p: last confirmed committed offset}
        self.dead = {}       # member -> time of SIGKILL

    def emitter(self, name):
        def emit(kind, data, t=None):
            t = time.monotonic() if t is None else t
            with self.lock:
                if kind in ("A", "R"):
                    self.events.append((t, name, kind, data))
                elif kind == "M":
                    p, off, k, v = data
                    self.consumed.append((name, p, off, bytes.fromhex(k), bytes.fromhex(v)))
                elif kind == "C":
                    cm = self.commits.setdefault(name, {})
                    for p, off in data.items():
                        cm[int(p)] = max(cm.get(int(p), -1), off)
                elif kind == "E":
                    self.errors.append("%s: %s" % (name, data))
        return emit

    def ownership(self, check=None):
        """Replays the callbacks in time order; a killed member owns nothing after its kill."""
        with self.lock:
            ev = sorted(self.events)
            dead = dict(self.dead)
        own = {}
        for t, who, kind, parts in ev:
            for d, td in dead.items():
                if td <= t:
                    for p in [p for p, o in own.items() if o == d]:
                        del own[p]
            if kind == "A":
                for p in parts:
                    if own.get(p) not in (None, who) and check is not None:
                        check.append("%.3f %s assigned %d still owned by %s" % (t, who, p, own[p]))
                    own[p] = who
            else:
                for p in parts:
                    if own.get(p) == who:
                        del own[p]
        now = time.monotonic()
        for d, td in dead.items():
            if td <= now:
                for p in [p for p, o in own.items() if o == d]:
                    del own[p]
        return own


class ThreadMember:
    def __init__(self, ctx, bootstrap, group, topic, name):
        from kafka import KafkaConsumer
        self.name = name
        self.stop = threading.Event()
        self.c = KafkaConsumer(**consumer_conf(bootstrap, group, name))
        self.emit = ctx.emitter(name)
        self.ctx = ctx
        self.topic = topic
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        try:
            member_loop(self.c, self.topic, self.emit, self.stop.is_set, self.name)
            commit(self.c, self.emit, "before close")
            owned = sorted(tp.partition for tp in self.c.assignment())
            self.c.close(autocommit=False)  # LeaveGroup; kafka-python calls no revoke listener
            self.emit("R", owned)
        except Exception as e:
            self.emit("E", repr(e))


def body(ck):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import KafkaAdminClient, NewTopic
    broker = harness.start_broker()
    bs = broker.bootstrap
    topic, group = harness.unique("grp-kp"), harness.unique("g-kp")
    admin = KafkaAdminClient(bootstrap_servers=bs)
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    admin.close()

    sent = {}
    prod_err = []
    prod_done = threading.Event()

    def produce():
        try:
            p = KafkaProducer(bootstrap_servers=bs, acks="all", linger_ms=5)
            futs = []
            for i in range(COUNT):
                k = b"kp-key-%05d" % i
                v = b"kp-value-%05d-" % i + bytes([i % 251]) * (i % 89)
                futs.append((k, v, p.send(topic, key=k, value=v)))
                if i % 15 == 14:
                    time.sleep(0.105)
            p.flush(30)
            for k, v, f in futs:
                md = f.get(timeout=30)
                sent[(md.partition, md.offset)] = (k, v)
            p.close(10)
        except Exception as e:
            prod_err.append(repr(e))
        finally:
            prod_done.set()

    # Wait until every partition is in the metadata (kafka-python's producer needs it).
    ctx = Ctx()
    threading.Thread(target=produce, daemon=True).start()
    members = {}
    kprocs = {}

    def start_sub(name):
        proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "member", bs, group,
                                 topic, name], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        kprocs[name] = proc
        emit = ctx.emitter(name)

        def read():
            for line in proc.stdout:
                try:
                    t, kind, data = json.loads(line)
                except ValueError:
                    continue  # a line cut by SIGKILL
                emit(kind, data, t)
        threading.Thread(target=read, daemon=True).start()

    def kill_sub(name):
        t_kill = time.monotonic()
        kprocs[name].send_signal(signal.SIGKILL)
        kprocs[name].wait(10)
        with ctx.lock:
            ctx.dead[name] = t_kill
        return t_kill

    def last_assign(names):
        with ctx.lock:
            return max(t for t, who, kind, parts in ctx.events if who in names and kind == "A")

    def settled(names):
        own = ctx.ownership()
        return len(own) == PARTITIONS and set(own.values()) == set(names)

    def wait_settled(names, what, timeout=30):
        import gutil
        gutil.wait_for(lambda: settled(names), timeout, "%s (ownership %s)" % (
            what, sorted(ctx.ownership().items())))
        print("     %s: ownership %s" % (what, sorted(ctx.ownership().items())), flush=True)

    try:
        with ck.section("A starts"):
            members["A"] = ThreadMember(ctx, bs, group, topic, "A")
            wait_settled(["A"], "A alone")
        time.sleep(1.5)

        with ck.section("K (a subprocess) joins mid-stream"):
            start_sub("K")
            wait_settled(["A", "K"], "A + K")
        time.sleep(1.5)

        with ck.section("B joins"):
            members["B"] = ThreadMember(ctx, bs, group, topic, "B")
            wait_settled(["A", "K", "B"], "A + K + B")
        time.sleep(1.5)

        with ck.section("B leaves cleanly (commit, close)"):
            t0 = time.monotonic()
            members["B"].stop.set()
            members["B"].t.join(20)
            ck.ok(not members["B"].t.is_alive(), "B did not close within 20 s")
            wait_settled(["A", "K"], "after B left")
            print("     B's partitions moved %.0f ms after its close began" % (
                (time.monotonic() - t0) * 1000))
        time.sleep(1.5)

        with ck.section("K is killed (SIGKILL); its partitions move after its session"):
            k_parts = sorted(p for p, o in ctx.ownership().items() if o == "K")
            ck.ok(k_parts, "K owns no partition before the kill")
            t_kill = kill_sub("K")
            import gutil
            gutil.wait_for(lambda: settled(["A"]), 20, "K's partitions %s move to A" % k_parts)
            took = last_assign(["A"]) - t_kill
            print("     K's partitions %s reassigned %.0f ms after the kill" % (k_parts, took * 1000))
            ck.ok(3.0 <= took <= 12.0, "K's partitions moved %.1f s after the kill; want between "
                  "3 s (session 6 s minus at most one heartbeat interval) and 12 s" % took)

        time.sleep(1.0)
        with ck.section("K2 joins; killed while D's join rebalances: the join ends at K2's session"):
            start_sub("K2")
            wait_settled(["A", "K2"], "A + K2")
            time.sleep(1.0)
            # D's JoinGroup starts a rebalance; K2 dies before a heartbeat tells it to rejoin. The
            # join phase must end when K2's session (6 s) runs out, not at the rebalance timeout
            # (max_poll_interval_ms, 30 s).
            members["D"] = ThreadMember(ctx, bs, group, topic, "D")
            time.sleep(0.05)
            t_kill = kill_sub("K2")
            wait_settled(["A", "D"], "A + D after K2 died")
            took = last_assign(["A", "D"]) - t_kill
            print("     rebalance with K2 dead completed %.0f ms after the kill" % (took * 1000))
            ck.ok(took <= 12.0, "the join with a dead member took %.1f s; want <= 12 s (session "
                  "6 s + heartbeat + join), not the 30 s rebalance timeout" % took)

        with ck.section("every message consumed; duplicates only in the killed members' "
                        "uncommitted windows"):
            ck.ok(prod_done.wait(60), "producer did not finish within 60 s")
            ck.ok(not prod_err, "producer: %s" % prod_err)
            ck.eq(len(sent), COUNT, "delivery reports")
            import gutil
            gutil.wait_for(lambda: len({(c[1], c[2]) for c in list(ctx.consumed)}) >= COUNT, 30,
                           "all %d messages consumed" % COUNT)
            time.sleep(1.0)
            for n in ("A", "D"):
                members[n].stop.set()
            for n in ("A", "D"):
                members[n].t.join(20)
                ck.ok(not members[n].t.is_alive(), "%s did not close within 20 s" % n)
            ck.ok(not ctx.errors, "member errors: %s" % ctx.errors[:5])
            viol = []
            ctx.ownership(check=viol)
            ck.ok(not viol, "ownership violations: %s" % viol[:5])
            window = {(p, off) for who, p, off, k, v in ctx.consumed if who in ("K", "K2") and
                      off >= ctx.commits.get(who, {}).get(p, 0)}
            dups = gutil.check_exactly_once(ck, sent, ctx.consumed, "kafka-python group",
                                            allowed_dups=window)
            for p, off, first, second in dups:
                ck.ok(first in ("K", "K2"), "duplicate %d/%d: first consumed by %s" % (p, off, first))
            per = {}
            for c in ctx.consumed:
                per[c[0]] = per.get(c[0], 0) + 1
            print("     consumed per member %s; killed members' uncommitted windows %d messages; "
                  "%d consumed twice (all in them)" % (per, len(window), len(dups)))

        with ck.section("committed offsets = end offsets"):
            c = KafkaConsumer(bootstrap_servers=bs, group_id=group, enable_auto_commit=False)
            ends = {p: max([o for (pp, o) in sent if pp == p], default=-1) + 1
                    for p in range(PARTITIONS)}
            got = {p: c.committed(TopicPartition(topic, p)) for p in range(PARTITIONS)}
            c.close()
            ck.eq(got, ends, "committed offsets")
    finally:
        for m in members.values():
            m.stop.set()
        for name, proc in kprocs.items():
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            err = proc.stderr.read().decode(errors="replace")
            if err.strip() and ck.failed_sections:
                print("%s's stderr:\n%s" % (name, err[-3000:]))
        with ctx.lock:
            t_base = min([e[0] for e in ctx.events], default=0)
            for t, who, kind, parts in sorted(ctx.events):
                print("       %7.3f %s %s %s" % (t - t_base, who, {"A": "assign", "R": "revoke"}[kind],
                                                 parts))


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "member":
        subprocess_member(*sys.argv[2:])
    harness.run(NAME, body, modules=("kafka",), time_limit=200)
