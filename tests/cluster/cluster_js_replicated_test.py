#!/usr/bin/python3
"""cluster_js_replicated_test: a JetStream stream with 3 replicas survives kill -9 of its leader
with nothing lost, nothing duplicated and every byte intact. The same nats.go program
(tests/cluster/js_replicated.go, Debian's nats.go 1.22.1 in GOPATH mode) runs first against
three nats-server 2.9.10 processes in one cluster with JetStream on (server names n0, n1, n2),
then against three sluice-server brokers in one Raft group with --cluster routes and
--jetstream (a clustered broker's NATS server_name is "sluice-<node id>"), one connection to
each server (A, B, C):

- AddStream REP (rep.>, Replicas 3, file storage) on A;
- STREAM.INFO REP through A, B and C: the config says 3 replicas and the cluster block names
  the same leader on all three (within 20 s); the publishing connection is one whose server is
  not that leader;
- 1000 synchronous publishes (Nats-Msg-Id m-NNNNN, payload the id and 100 bytes, subjects
  rep.0-rep.9, AckWait 2 s), each failed one sent again with the same id (60 s at most for one);
- after the 300th PubAck the test kill -9's the stream's leader; the next PubAck comes within
  the program's bounds, and the time from the kill to it is printed (FAILOVER_MS);
- afterwards STREAM.INFO through the publishing connection names another leader (within 30 s),
  1000 messages, first sequence 1, last 1000; the PubAck sequences are exactly 1..1000 (a
  message sent again keeps its one sequence: msg-id de-duplication), and GetMsg of every
  sequence gives the subject, the Nats-Msg-Id and every payload byte of the message acked with it;
- the killed server is started again on its store: STREAM.INFO through it shows 1000 messages
  and all three servers in the stream's cluster (the leader and two current replicas) within 30 s;
- Sluice only: every broker's data directory holds the stream's topic.
Every wait is bounded (the program's own, and 150 s for it in all).
"""
import json
import os
import queue
import shutil
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

PROGRAM_S = 150.0
CATCH_UP_S = 30.0


def build(tmp):
    gocode = "/usr/share/gocode"
    if not shutil.which("go") or not os.path.isdir(gocode + "/src/github.com/nats-io/nats.go"):
        harness.skip("go or Debian's nats.go (golang-github-nats-io-go-nats-dev) missing")
    src = os.path.join(tmp, "gopath", "src", "sluice_js_replicated")
    os.makedirs(src, exist_ok=True)
    shutil.copy(os.path.join(HERE, "js_replicated.go"), os.path.join(src, "main.go"))
    env = dict(os.environ, GO111MODULE="off", GOFLAGS="", GOPATH=os.path.join(tmp, "gopath") + ":" + gocode,
               GOCACHE=os.environ.get("GOCACHE", os.path.join(tmp, "go-cache")))
    out = os.path.join(tmp, "js_replicated")
    subprocess.run(["go", "build", "-o", out, "sluice_js_replicated"], env=env, check=True, timeout=180)
    return out


def server_names(cl):
    """The NATS server_name of each server, by index."""
    if cl.kind == "sluice":
        return ["sluice-%d" % b.node_id for b in cl.brokers]
    return ["n%d" % i for i in range(3)]


def run_program(ck, cl, prog):
    """Runs the program; returns (index of the killed server or None, FAILOVER_MS or None, passed)."""
    names = server_names(cl)
    killed = None
    failover = None
    passed = False
    with ck.section("%s: 1000 publishes to a stream of 3 replicas, its leader killed after 300" % cl.kind):
        p = subprocess.Popen([prog] + ["nats://127.0.0.1:%d" % port for port in cl.client],
                             stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True)
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(ln.strip()) for ln in p.stdout], daemon=True).start()
        seen = []
        leader = None
        deadline = time.monotonic() + PROGRAM_S
        try:
            while time.monotonic() < deadline and (p.poll() is None or not lines.empty()):
                try:
                    ln = lines.get(timeout=0.2)
                except queue.Empty:
                    continue
                seen.append(ln)
                if ln.startswith("LEADER "):
                    leader = ln.split(" ", 1)[1]
                elif ln.startswith("FAILOVER_MS "):
                    failover = int(ln.split()[1])
                elif ln == "KILL":
                    if leader not in names:
                        raise harness.CheckFailed("%s: the leader %r is none of %s" % (cl.kind, leader, names))
                    killed = names.index(leader)
                    cl.kill(killed)
                    p.stdin.write("KILLED\n")
                    p.stdin.flush()
        finally:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=10)
            print("%s: %s" % (cl.kind, " | ".join(seen)))
        print("%s: FAILOVER_MS %s (kill -9 of the stream leader %s to the next PubAck)"
              % (cl.kind, failover, leader))
        ck.eq(p.returncode, 0, "%s: the nats.go program's exit (%s)" % (cl.kind, seen[-3:]))
        ck.ok("PASS" in seen, "%s: the program finished" % cl.kind)
        ck.ok(killed is not None, "%s: the leader was killed" % cl.kind)
        ck.ok(failover is not None, "%s: a PubAck came after the kill" % cl.kind)
        passed = True
    return killed, failover, passed


def stream_info(port, timeout=5.0):
    """STREAM.INFO REP through one server, raw; the answer's JSON, or None without one."""
    c = cnt.Client(port, "info")
    try:
        c.sub("_INBOX.info.*", "in")
        c.pub("$JS.API.STREAM.INFO.REP", b"", reply="_INBOX.info.1")
        c.flush()
        if c.wait_count("in", 1, timeout) < 1:
            return None
        return json.loads(c.take("in")[0][4])
    finally:
        c.close()


def check_restart(ck, cl, killed):
    """The killed server started again on its store catches up with the stream."""
    names = server_names(cl)
    with ck.section("%s: the killed server %s restarted catches up" % (cl.kind, names[killed])):
        cl.start(killed)
        cl.wait_mesh(range(3))
        deadline = time.monotonic() + CATCH_UP_S
        info = None
        while time.monotonic() < deadline:
            try:
                info = stream_info(cl.client[killed])
            except (OSError, ValueError, harness.CheckFailed) as e:
                info = str(e)
            if isinstance(info, dict):
                state = info.get("state", {})
                clu = info.get("cluster") or {}
                reps = clu.get("replicas") or []
                members = {clu.get("leader")} | {r.get("name") for r in reps}
                if (state.get("messages") == 1000 and state.get("last_seq") == 1000 and members == set(names)
                        and all(r.get("current") and not r.get("offline") for r in reps)):
                    break
            time.sleep(0.25)
        ok = isinstance(info, dict) and info.get("state", {}).get("messages") == 1000
        ck.ok(ok, "%s: STREAM.INFO through the restarted %s: %s" % (cl.kind, names[killed], info))
        if isinstance(info, dict):
            clu = info.get("cluster") or {}
            reps = clu.get("replicas") or []
            ck.eq(sorted({clu.get("leader")} | {r.get("name") for r in reps}), sorted(names),
                  "%s: the stream's cluster after the restart (%s)" % (cl.kind, clu))
            ck.ok(all(r.get("current") and not r.get("offline") for r in reps),
                  "%s: every replica current after the restart: %s" % (cl.kind, reps))


def run_kind(ck, cl, prog):
    killed, failover, passed = run_program(ck, cl, prog)
    if killed is not None and passed:
        check_restart(ck, cl, killed)
    if cl.kind == "sluice" and passed:
        ck.eq(cl.holders("REP"), [1, 2, 3], "sluice: the brokers storing REP")
    return failover


def body(ck):
    tmp = tempfile.mkdtemp(prefix="cluster-js-rep-go-")
    figures = {}
    try:
        try:
            prog = build(tmp)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
            raise harness.CheckFailed("go build of js_replicated.go: %s" % e)
        ref = cjt.NatsServersJS()
        try:
            for i in range(3):
                ref.start(i)
            ref.wait_mesh(range(3))
            figures[ref.kind] = run_kind(ck, ref, prog)
        finally:
            ref.cleanup()
        sl = cjt.SluiceBrokersJS()
        try:
            for i in range(3):
                sl.start(i)
            sl.wait_mesh(range(3))
            figures[sl.kind] = run_kind(ck, sl, prog)
            for b in sl.brokers:
                if b.alive():
                    b.stop()
        finally:
            if ck.fail_count():
                for b in sl.brokers:
                    print("---- broker %d log tail\n%s" % (b.node_id, b.log_tail(25)))
            sl.cleanup()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        print("FAILOVER_MS (kill -9 of the stream leader to the next PubAck): %s"
              % ", ".join("%s %s" % kv for kv in figures.items()))
    if ck.fail_count():
        raise harness.CheckFailed("failed sections: %s" % ck.failed_sections)


if __name__ == "__main__":
    harness.run("cluster_js_replicated_test", body, time_limit=300)
