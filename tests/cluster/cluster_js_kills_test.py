#!/usr/bin/python3
"""cluster_js_kills_test: kill -9 the leader of a JetStream stream with 3 replicas 20 times under
continuous synchronous publishing with msg ids (issue 16, for JetStream): no acked message is lost
or duplicated, a live consumer sees every message, and a new leader serves within a few seconds
(measured). A nats.go program (tests/cluster/js_kills.go, Debian's nats.go 1.22.1 in GOPATH
mode) publishes and reads; this script kills, restarts and waits. NATS_REF: first on three
nats-server 2.9.10 processes in one cluster with JetStream on (server names n0, n1, n2) with
NATS_REF_KILLS kills, the semantic reference (skipped without the Debian package), then on three
sluice-server brokers in one Raft group with --cluster routes and --jetstream (server names
"sluice-<node id>") with SLUICE_JS_KILLS kills (20 by default; CMake sets 4 for the sanitized
build); one connection from the program to each server, no reconnect, no discovery:

- AddStream KILLS (kil.>, Replicas 3, file storage) and a durable pull consumer LIVE (explicit
  acks, AckWait 5 s) on server 0;
- a publisher publishes without end, synchronously (kil.0-kil.9, Nats-Msg-Id k-NNNNNN, payload
  the id and 64 bytes, AckWait 1 s, 5 ms between messages), each failed publish sent again
  with the same id (60 s at most for one message); a reader fetches from LIVE (batches of 100)
  and acks everything it gets; both use a connection to a server that is not about to be killed;
- each kill: STREAM.INFO through a live server names the leader (all three agreeing, within
  20 s); the program moves the publisher and reader off the leader's connection; kill -9 of the
  leader; the time from the kill to the PubAck of the first publish attempt started after it
  is the failover time (within 60 s); the killed server is started again on its store, the
  program dials it again, and STREAM.INFO through it shows the leader and two current, online
  replicas, all three servers, within 30 s; then at least 1 s (and 50 messages) of publishing
  before the next kill;
- at the end: the PubAck sequences of the N acked messages are exactly 1..N, each once (a message
  sent again keeps its one sequence: msg-id de-duplication); STREAM.INFO says N messages, first
  sequence 1, last N; GetMsg of every sequence gives the subject, the Nats-Msg-Id and every
  payload byte of the message acked with it; the live reader has been given every one of the N
  at least once (within 30 s more) and nothing else, every payload byte intact (redeliveries
  after a failover are counted and printed, not failed: the consumer is at least once);
- FAILOVER_MS median and max over the kills is printed for each kind of cluster, and with each
  kill whether the killed Sluice broker was the Raft leader (the controller) too: then the
  cluster elects a Raft leader before the controller fences the broker, about 1.2 s more;
- Sluice only: every broker's data directory holds the stream's topic.
Every wait is bounded (the program's own, 20 s for a leader, 30 s for a catch-up, 60 s for a
failover, and 540 s for the program in all).
"""
import json
import os
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import harness  # noqa: E402
import cluster_nats_test as cnt  # noqa: E402  (the raw client)
import cluster_js_test as cjt  # noqa: E402  (the two kinds of cluster with JetStream)

KILLS = int(os.environ.get("SLUICE_JS_KILLS", "20"))
NATS_REF_KILLS = int(os.environ.get("SLUICE_JS_REF_KILLS", "2"))
LEADER_S = 20.0
CATCH_UP_S = 30.0
FAILOVER_S = 60.0
BETWEEN_S = 1.0
BETWEEN_MSGS = 50
STREAM = "KILLS"


def build(tmp):
    gocode = "/usr/share/gocode"
    if not shutil.which("go") or not os.path.isdir(gocode + "/src/github.com/nats-io/nats.go"):
        harness.skip("go or Debian's nats.go (golang-github-nats-io-go-nats-dev) missing")
    src = os.path.join(tmp, "gopath", "src", "sluice_js_kills")
    os.makedirs(src, exist_ok=True)
    shutil.copy(os.path.join(HERE, "js_kills.go"), os.path.join(src, "main.go"))
    env = dict(os.environ, GO111MODULE="off", GOFLAGS="", GOPATH=os.path.join(tmp, "gopath") + ":" + gocode,
               GOCACHE=os.environ.get("GOCACHE", os.path.join(tmp, "go-cache")))
    out = os.path.join(tmp, "js_kills")
    subprocess.run(["go", "build", "-o", out, "sluice_js_kills"], env=env, check=True, timeout=180)
    return out


def server_names(cl):
    if cl.kind == "sluice":
        return ["sluice-%d" % b.node_id for b in cl.brokers]
    return ["n%d" % i for i in range(3)]


def stream_info(port, timeout=3.0):
    """STREAM.INFO KILLS through one server, raw; the answer's JSON, or None without one."""
    c = cnt.Client(port, "info")
    try:
        c.sub("_INBOX.info.*", "in")
        c.pub("$JS.API.STREAM.INFO." + STREAM, b"", reply="_INBOX.info.1")
        c.flush()
        if c.wait_count("in", 1, timeout) < 1:
            return None
        return json.loads(c.take("in")[0][4])
    finally:
        c.close()


def safe_info(port):
    try:
        return stream_info(port)
    except (OSError, ValueError, harness.CheckFailed) as e:
        return str(e)


def wait_leader(cl, names):
    """The leader's index once every live server's STREAM.INFO names the same one."""
    deadline = time.monotonic() + LEADER_S
    last = None
    while time.monotonic() < deadline:
        leaders = set()
        last = []
        for i in range(3):
            if not cl.alive(i):
                continue
            info = safe_info(cl.client[i])
            last.append(info)
            leaders.add(((info or {}).get("cluster") or {}).get("leader") if isinstance(info, dict) else None)
        if len(leaders) == 1 and list(leaders)[0] in names:
            return names.index(list(leaders)[0])
        time.sleep(0.2)
    raise harness.CheckFailed("no leader of %s agreed on within %.0f s: %s" % (STREAM, LEADER_S, last))


def raft_role(cl, i):
    """Sluice: the Raft state of broker i (/clusterz), "leader" when it is the controller too."""
    if cl.kind != "sluice":
        return "-"
    try:
        st, z = cnt.cluster_test.call(cl.http[i], "GET", "/clusterz", token=cnt.TOKEN, timeout=2.0)
        return z.get("state", "?") if st == 200 and isinstance(z, dict) else "?"
    except (OSError, ValueError) as e:
        return "? (%s)" % e


def caught_up(info, names):
    if not isinstance(info, dict):
        return False
    clu = info.get("cluster") or {}
    reps = clu.get("replicas") or []
    members = {clu.get("leader")} | {r.get("name") for r in reps}
    return (clu.get("leader") in names and members == set(names)
            and all(r.get("current") and not r.get("offline") for r in reps))


class Program:
    """The nats.go program: its stdout lines in a queue, commands on its stdin."""

    def __init__(self, prog, cl):
        self.p = subprocess.Popen([prog] + ["nats://127.0.0.1:%d" % port for port in cl.client],
                                  stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True)
        self.lines = queue.Queue()
        self.seen = []
        threading.Thread(target=lambda: [self.lines.put(ln.strip()) for ln in self.p.stdout], daemon=True).start()

    def send(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def expect(self, prefix, timeout):
        """The first line starting with prefix (every line is kept in seen); FAIL lines raise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                ln = self.lines.get(timeout=0.1)
            except queue.Empty:
                if self.p.poll() is not None and self.lines.empty():
                    break
                continue
            self.seen.append(ln)
            if not ln.startswith("ACKED"):
                print("  program: %s" % ln)
            if ln.startswith(prefix):
                return ln
            if ln.startswith("FAIL"):
                raise harness.CheckFailed("the program: %s" % ln)
        raise harness.CheckFailed("no %r from the program within %.0f s (exit %s; last %s)"
                                  % (prefix, timeout, self.p.poll(), self.seen[-5:]))

    def finish(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and (self.p.poll() is None or not self.lines.empty()):
            try:
                ln = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            self.seen.append(ln)
            print("  program: %s" % ln)
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait(timeout=10)
        return self.p.returncode

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait(timeout=10)


def acked(prog):
    prog.send("ACKED")
    return int(prog.expect("ACKED ", 10).split()[1])


def run_kills(ck, cl, prog_path, kills):
    names = server_names(cl)
    figures = []
    with ck.section("%s: %d kill -9 of the leader of a stream of 3 replicas under publishing" % (cl.kind, kills)):
        prog = Program(prog_path, cl)
        try:
            prog.expect("CREATED", 60)
            prog.send("GO")
            prog.expect("GOING", 10)
            t0 = time.monotonic()
            while acked(prog) < BETWEEN_MSGS and time.monotonic() - t0 < 30:
                time.sleep(0.2)
            for k in range(1, kills + 1):
                leader = wait_leader(cl, names)
                role = raft_role(cl, leader)
                prog.send("KILL %d" % leader)
                before = int(prog.expect("READY", 10).split()[2])
                at = time.time_ns()
                cl.kill(leader)
                prog.send("KILLED %d %d" % (leader, at))
                ln = prog.expect("FAILOVER_MS", FAILOVER_S)
                ms = int(ln.split()[1])
                figures.append(ms)
                print("%s: kill %d of %s (Raft %s; %d acked before): FAILOVER_MS %d"
                      % (cl.kind, k, names[leader], role, before, ms))
                cl.start(leader)
                prog.send("UP %d" % leader)
                prog.expect("REDIALLED %d" % leader, 20)
                deadline = time.monotonic() + CATCH_UP_S
                info = None
                while time.monotonic() < deadline:
                    info = safe_info(cl.client[leader])
                    if caught_up(info, names):
                        break
                    time.sleep(0.2)
                if not caught_up(info, names):
                    raise harness.CheckFailed("%s: after kill %d the restarted %s has not caught up within %.0f s: %s"
                                              % (cl.kind, k, names[leader], CATCH_UP_S, info))
                t1 = time.monotonic()
                base = acked(prog)
                while time.monotonic() - t1 < 30:
                    if time.monotonic() - t1 >= BETWEEN_S and acked(prog) >= base + BETWEEN_MSGS:
                        break
                    time.sleep(0.2)
            prog.send("DONE")
            rc = prog.finish(150)
        finally:
            prog.stop()
        ck.eq(rc, 0, "%s: the nats.go program's exit (%s)" % (cl.kind, prog.seen[-3:]))
        ck.ok("PASS" in prog.seen, "%s: the program finished" % cl.kind)
        ck.eq(len(figures), kills, "%s: a PubAck after every kill" % cl.kind)
    return figures


def summary(kind, figures):
    if not figures:
        return "%s FAILOVER_MS none" % kind
    return "%s FAILOVER_MS median %d max %d (%d kills: %s)" % (
        kind, statistics.median(figures), max(figures), len(figures), " ".join(map(str, figures)))


def body(ck):
    tmp = tempfile.mkdtemp(prefix="cluster-js-kills-go-")
    figures = {}
    try:
        try:
            prog = build(tmp)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
            raise harness.CheckFailed("go build of js_kills.go: %s" % e)
        if NATS_REF_KILLS > 0 and shutil.which("nats-server"):
            ref = cjt.NatsServersJS()
            try:
                for i in range(3):
                    ref.start(i)
                ref.wait_mesh(range(3))
                figures[ref.kind] = run_kills(ck, ref, prog, NATS_REF_KILLS)
            finally:
                ref.cleanup()
        else:
            print("nats-server reference skipped (SLUICE_JS_REF_KILLS=%d, nats-server %s)"
                  % (NATS_REF_KILLS, shutil.which("nats-server")))
        sl = cjt.SluiceBrokersJS()
        try:
            for i in range(3):
                sl.start(i)
            sl.wait_mesh(range(3))
            figures[sl.kind] = run_kills(ck, sl, prog, KILLS)
            ck.eq(sl.holders(STREAM), [1, 2, 3], "sluice: the brokers storing %s at the end" % STREAM)
            for b in sl.brokers:
                if b.alive():
                    b.stop()
        finally:
            if ck.fail_count():
                for b in sl.brokers:
                    print("---- broker %d log tail\n%s" % (b.node_id, b.log_tail(25)))
                    b.cleanup(keep=True)  # the data dirs and .broker.log stay for a look
            else:
                sl.cleanup()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        for kind, f in figures.items():
            print(summary(kind, f))
    if ck.fail_count():
        raise harness.CheckFailed("failed sections: %s" % ck.failed_sections)


if __name__ == "__main__":
    harness.run("cluster_js_kills_test", body, time_limit=560)
