#!/usr/bin/python3
"""rebalance_bench.py: consumer-group rebalance time and group-operation throughput against a real
sluice-server (not a CTest; run by hand with Debian's /usr/bin/python3).

    /usr/bin/python3 bench/rebalance_bench.py [--server PATH] [--reps N] [--groups N] [--skip-clients]

The broker binary: --server, else $SLUICE_SERVER, else build/release/sluice-server. The broker
is started by tests/integration/harness.py (imported through tests/groups/gproto.py) on free
ports in a fresh data directory, default settings (initial rebalance delay 100 ms, fsync policy
default).

1. Client-observed rebalance time, confluent-kafka 1.7 (librdkafka 2.0.2): 3 members join one
   after another (random 1-3 s apart, so the heartbeat phase is random) a 6-partition topic that
   a producer feeds with one message per partition every 10 ms. Per join, from the new member's
   subscribe() until (a) every member's assignment callback fired and ownership covers every
   partition ("assigned"), and (b) every member received a message from every partition of its
   new assignment ("consuming"). Eager (range) and cooperative-sticky, each with our users'
   heartbeat.interval.ms 2000 (session 6000) and with 300 ms. A member learns of a rebalance from
   its next heartbeat, so client-observed time is mostly heartbeat phase: eager needs one round
   (~HB/2 on average), cooperative two (~HB/2 + HB).
2. Broker-side rebalance time, raw protocol: 3 members are stable; a 4th sends JoinGroup; the
   others send a Heartbeat at once (REBALANCE_IN_PROGRESS), rejoin, the leader sends the
   assignment; measured from the 4th's JoinGroup to the last SyncGroup response (client think
   time ~0). Then the 4th leaves (LeaveGroup) and the remaining 3 rebalance: measured the same
   way. The broker has no group debug log, so this is the broker-side figure.
3. Group operations per second over --groups (1000) groups, one raw member each, 8 connections
   with 16 requests in flight each: JoinGroup+SyncGroup of new groups (initial delay 100 ms
   applies), Heartbeat, OffsetCommit (1 partition, durable before the answer), OffsetFetch,
   rejoin cycles (leader JoinGroup+SyncGroup = a full single-member rebalance), LeaveGroup.
   The client is one Python process: rows where broker CPU is well below 100% are client-bound.
"""
import argparse
import os
import random
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "groups"))
import gproto  # noqa: E402
from gproto import harness  # noqa: E402

PARTITIONS = 6


def broker_cpu(b):
    """User+system CPU seconds of the broker process."""
    with open("/proc/%d/stat" % b.proc.pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---- 1. client-observed -------------------------------------------------------------------

class BMember:
    def __init__(self, name, bs, group, topic, strategy, hb, owner, lock):
        from confluent_kafka import Consumer
        self.name, self.topic, self.owner, self.lock = name, topic, owner, lock
        self.c = Consumer({"bootstrap.servers": bs, "group.id": group, "client.id": name,
                           "partition.assignment.strategy": strategy,
                           "session.timeout.ms": 6000, "heartbeat.interval.ms": hb,
                           "enable.auto.commit": False, "auto.offset.reset": "latest",
                           "fetch.wait.max.ms": 20, "enable.partition.eof": False})
        self.assigned_at = {}
        self.recv = {p: [] for p in range(PARTITIONS)}
        self.events = []
        self.stop = threading.Event()
        self.t_subscribe = None
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _assign(self, c, tps):
        now = time.monotonic()
        with self.lock:
            for tp in tps:
                self.assigned_at[tp.partition] = now
                self.owner[tp.partition] = self.name
            self.events.append(now)

    def _revoke(self, c, tps):
        now = time.monotonic()
        with self.lock:
            for tp in tps:
                if self.owner.get(tp.partition) == self.name:
                    del self.owner[tp.partition]
            self.events.append(now)

    def _run(self):
        self.t_subscribe = time.monotonic()
        self.c.subscribe([self.topic], on_assign=self._assign, on_revoke=self._revoke)
        deadline = time.monotonic() + 300
        while not self.stop.is_set() and time.monotonic() < deadline:
            m = self.c.poll(0.05)
            if m is not None and not m.error():
                self.recv[m.partition()].append(time.monotonic())
        self.c.close()


def wait_for(cond, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.005)
    return False


def client_run(bs, strategy, hb, rng):
    import gutil
    topic, group = harness.unique("bench-rb"), harness.unique("bench-g")
    gutil.create_topic(bs, topic, PARTITIONS)
    from confluent_kafka import Producer
    prod = Producer({"bootstrap.servers": bs, "linger.ms": 0, "acks": 1})
    stop = threading.Event()
    flowing = threading.Event()

    def produce():
        i = 0
        while not stop.is_set():
            for p in range(PARTITIONS):
                prod.produce(topic, value=b"x%d" % i, partition=p,
                             on_delivery=lambda err, m: flowing.set())
            prod.poll(0)
            i += 1
            time.sleep(0.01)
        prod.flush(10)
    pt = threading.Thread(target=produce, daemon=True)
    pt.start()
    # Members start once messages flow, so "consuming" does not include the producer's start-up.
    if not flowing.wait(10):
        raise RuntimeError("producer: no delivery within 10 s")
    time.sleep(0.2)
    owner, lock = {}, threading.Lock()
    members, out = [], []
    try:
        for i in range(3):
            if i:
                time.sleep(rng.uniform(1.0, 3.0))
            m = BMember("m%d" % (i + 1), bs, group, topic, strategy, hb, owner, lock)
            members.append(m)
            wait_for(lambda: m.t_subscribe is not None, 10)
            t0 = m.t_subscribe
            names = {x.name for x in members}
            share = PARTITIONS // len(members)

            def settled():
                with lock:
                    own = dict(owner)
                counts = [list(own.values()).count(n) for n in names]
                return len(own) == PARTITIONS and set(own.values()) == names and \
                    min(counts) == share
            if not wait_for(settled, 30):
                raise RuntimeError("%s/%d: no settled assignment after %s joined: %s" % (
                    strategy, hb, m.name, owner))
            with lock:
                t_assigned = max(e for x in members for e in x.events)
                own = dict(owner)

            def first_after(x, p):
                t_from = max(t0, x.assigned_at.get(p, t0))
                for t in x.recv[p]:
                    if t >= t_from:
                        return t
                return None

            def consuming():
                return all(first_after(x, p) is not None for p, n in own.items()
                           for x in members if x.name == n)
            if not wait_for(consuming, 10):
                raise RuntimeError("%s/%d: members not consuming their partitions" % (strategy, hb))
            t_cons = max(first_after(x, p) for p, n in own.items() for x in members if x.name == n)
            out.append((i + 1, (t_assigned - t0) * 1000, (t_cons - t0) * 1000))
    finally:
        for m in members:
            m.stop.set()
        for m in members:
            m.t.join(20)
        stop.set()
        pt.join(20)
    return out


# ---- 2. broker-side, raw protocol ---------------------------------------------------------

def raw_rebalances(broker, iters=30):
    import gutil
    topic, group = harness.unique("bench-raw"), harness.unique("bench-rawg")
    gutil.create_topic(broker.bootstrap, topic, PARTITIONS)
    conns = [gproto.Conn(broker.host, broker.kafka_port) for _ in range(4)]
    ms = [gproto.Member(c, group, topic, list(range(PARTITIONS))) for c in conns]

    def round_(joiner_first, members, rejoiners):
        """joiner_first: a member whose JoinGroup/LeaveGroup starts the rebalance (already sent);
        rejoiners learn of it from a Heartbeat and rejoin. Returns when every SyncGroup answered."""
        for m in rejoiners:
            # The starting request went over another connection: until the broker has read it,
            # a heartbeat still answers NONE (bounded retry).
            for _ in range(1000):
                e = m.c.call(gproto.req_heartbeat(group, m.generation, m.member_id))["error"]
                if e != 0:
                    break
            if e != 27:
                raise RuntimeError("heartbeat during rebalance: error %d, want 27" % e)
            m.c.send(m.join_req())
        for m in members:
            if not m.on_join(m.c.recv()):
                raise RuntimeError("unexpected MEMBER_ID_REQUIRED")
        leader = [m for m in members if m.member_id == m.leader][0]
        for m in members:
            if m is not leader:
                m.c.send(m.sync_req())
        leader.c.send(leader.sync_req())
        for m in members:
            m.on_sync(m.c.recv())

    # Three members, stable (the initial delay applies to the first join only).
    ms[0].join_and_sync()
    for k in (1, 2):
        ms[k].c.send(ms[k].join_req())
        round_(ms[k], ms[:k + 1], ms[:k])
    joins, leaves = [], []
    for _ in range(iters):
        t0 = time.perf_counter()
        ms[3].member_id = ""
        ms[3].c.send(ms[3].join_req())
        round_(ms[3], ms, ms[:3])
        joins.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        e = ms[3].c.call(gproto.req_leave(group, ms[3].member_id))["error"]
        if e:
            raise RuntimeError("LeaveGroup: error %d" % e)
        round_(None, ms[:3], ms[:3])
        leaves.append((time.perf_counter() - t0) * 1000)
    for c in conns:
        c.close()
    return joins, leaves


# ---- 3. group operations per second -------------------------------------------------------

def pipeline(conn, reqs, window, on_resp):
    sent = got = 0
    while got < len(reqs):
        while sent < len(reqs) and sent - got < window:
            conn.send(reqs[sent])
            sent += 1
        on_resp(got, conn.recv())
        got += 1


def parallel(conns, per_conn_reqs, window, on_resp):
    errs = []

    def run(i):
        try:
            pipeline(conns[i], per_conn_reqs[i], window, lambda j, r: on_resp(i, j, r))
        except Exception as e:
            errs.append(repr(e))
    ts = [threading.Thread(target=run, args=(i,)) for i in range(len(conns))]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join(300)
    if errs:
        raise RuntimeError("pipeline: %s" % errs[:3])
    return time.perf_counter() - t0


def group_ops(broker, ngroups, nconn=8, window=16):
    import gutil
    topic = harness.unique("bench-ops")
    gutil.create_topic(broker.bootstrap, topic, 1)
    conns = [gproto.Conn(broker.host, broker.kafka_port, timeout=60) for _ in range(nconn)]
    groups = ["bench-ops-%d-%04d" % (os.getpid(), i) for i in range(ngroups)]
    by_conn = [list(range(i, ngroups, nconn)) for i in range(nconn)]
    mem = {}
    rows = []

    def phase(name, make_req, check, repeat=1):
        reqs = [[make_req(g) for _ in range(repeat) for g in gs] for gs in by_conn]
        n = sum(len(r) for r in reqs)
        cpu0 = broker_cpu(broker)

        def on_resp(ci, j, r):
            check(by_conn[ci][j % len(by_conn[ci])], r)
        secs = parallel(conns, reqs, window, on_resp)
        cpu = broker_cpu(broker) - cpu0
        rows.append((name, n, secs, n / secs, 100.0 * cpu / secs))

    def join_check(g, r):
        if r["error"]:
            raise RuntimeError("JoinGroup %s: %d" % (groups[g], r["error"]))
        mem[g] = (r["member_id"], r["generation"])

    def ok(what):
        def check(g, r):
            e = r.get("error")
            if e is None:  # OffsetCommit / OffsetFetch
                e = max([v if isinstance(v, int) else v[2] for t in r["topics"].values()
                         for v in t.values()] or [0])
            if e:
                raise RuntimeError("%s %s: error %d" % (what, groups[g], e))
        return check

    meta = gproto.consumer_subscription([topic])
    assign = gproto.consumer_assignment({topic: [0]})

    def join_req(g):
        return gproto.req_join(groups[g], mem.get(g, ("",))[0], [("range", meta)], 30000, 30000)

    def sync_req(g):
        return gproto.req_sync(groups[g], mem[g][1], mem[g][0], [(mem[g][0], assign)])

    phase("JoinGroup (new groups, 100 ms initial delay)", join_req, join_check)
    phase("SyncGroup", sync_req, ok("SyncGroup"))
    phase("Heartbeat", lambda g: gproto.req_heartbeat(groups[g], mem[g][1], mem[g][0]),
          ok("Heartbeat"), repeat=10)
    counter = [0]

    def commit_req(g):
        counter[0] += 1
        return gproto.req_offset_commit(groups[g], mem[g][1], mem[g][0],
                                        {topic: [(0, counter[0], "m")]})
    phase("OffsetCommit (1 partition)", commit_req, ok("OffsetCommit"), repeat=3)
    phase("OffsetFetch (1 partition)", lambda g: gproto.req_offset_fetch(groups[g], {topic: [0]}),
          ok("OffsetFetch"), repeat=5)
    # Rejoin cycles: the leader rejoining a Stable group starts a rebalance that completes at once.
    t0 = time.perf_counter()
    cpu0 = broker_cpu(broker)
    rows_before = len(rows)
    for _ in range(2):
        phase("  rejoin: JoinGroup", join_req, join_check)
        phase("  rejoin: SyncGroup", sync_req, ok("SyncGroup"))
    secs = time.perf_counter() - t0
    n = 2 * ngroups
    rows.append(("rebalance cycles (Join+Sync, 1 member)", n, secs, n / secs,
                 100.0 * (broker_cpu(broker) - cpu0) / secs))
    del rows[rows_before:-1]
    phase("LeaveGroup", lambda g: gproto.req_leave(groups[g], mem[g][0]), ok("LeaveGroup"))
    for c in conns:
        c.close()
    return rows


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server")
    ap.add_argument("--reps", type=int, default=3, help="client runs per strategy and heartbeat")
    ap.add_argument("--groups", type=int, default=1000)
    ap.add_argument("--skip-clients", action="store_true")
    ap.add_argument("--seed", type=int, default=None)
    a = ap.parse_args()
    server = a.server or os.environ.get("SLUICE_SERVER") or os.path.join(REPO, "build", "release",
                                                                         "sluice-server")
    if not os.access(server, os.X_OK):
        print("no broker binary at %s (build Release first, or pass --server)" % server)
        return 2
    os.environ["SLUICE_SERVER"] = server
    seed = a.seed if a.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    print("broker %s, seed %d" % (server, seed))
    b = harness.start_broker()
    try:
        if not a.skip_clients:
            print("\n1. client-observed rebalance (confluent-kafka 1.7 / librdkafka 2.0.2, 3 members, "
                  "6 partitions), ms from the new member's subscribe()")
            print("%-19s %5s %6s | %-26s | %-26s" % ("strategy", "HB ms", "joiner",
                                                      "all assigned: runs", "all consuming: runs"))
            for strategy in ("range", "cooperative-sticky"):
                for hb in (2000, 300):
                    res = [client_run(b.bootstrap, strategy, hb, rng) for _ in range(a.reps)]
                    for j in (1, 2, 3):
                        asg = [r[j - 1][1] for r in res]
                        con = [r[j - 1][2] for r in res]
                        print("%-19s %5d %6s | %-26s | %-26s" % (
                            strategy, hb, "m%d" % j,
                            " ".join("%5.0f" % x for x in asg) + "  med %5.0f" % med(asg),
                            " ".join("%5.0f" % x for x in con) + "  med %5.0f" % med(con)))
                    sys.stdout.flush()
        print("\n2. broker-side rebalance, raw protocol (3 stable members; think time ~0), ms")
        joins, leaves = raw_rebalances(b)
        print("%-44s %6s %7s %7s %7s" % ("rebalance", "n", "median", "p90", "max"))
        for name, xs in (("4th member joins (Join -> last SyncGroup)", joins),
                         ("4th member leaves (Leave -> last SyncGroup)", leaves)):
            print("%-44s %6d %7.2f %7.2f %7.2f" % (name, len(xs), med(xs), pct(xs, 0.9), max(xs)))
        print("\n3. group operations, %d groups (1 raw member each), 8 connections x 16 in flight"
              % a.groups)
        rows = group_ops(b, a.groups)
        print("%-44s %7s %8s %9s %11s" % ("operation", "ops", "seconds", "ops/s", "broker CPU"))
        for name, n, secs, rate, cpu in rows:
            print("%-44s %7d %8.3f %9.0f %10.0f%%" % (name, n, secs, rate, cpu))
        b.stop()
    finally:
        b.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
