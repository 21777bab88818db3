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
- Sluice only: every broker's data directory holds the stream's topic;
- then, raw clients: a work queue WQR of 3 replicas with a durable pull consumer W (explicit
  acks) made through a server that does not lead it; 100 publishes, 50 pulled and acked with
  AckSync (an ack with a reply subject); kill -9 of the stream's leader as soon as the 50th
  reply is in (no pause: a reply means the ack is stored); within 30 s CONSUMER.INFO
  through the same server shows ack floor 50, nothing ack-pending, 50 pending, the stream 51..100,
  and a pull gets exactly the 50 unacked messages in order; once they are acked the queue is empty;
- STREAM.UPDATE of WQR (a subject added, max_msgs) through a server that does not lead it: the
  answer and STREAM.INFO through every server show the new config, and a publish on the new
  subject is stored.
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


class Raw:
    """A raw-protocol client of one server with an inbox for requests and one for pulls."""

    def __init__(self, port, tag):
        self.c = cnt.Client(port, tag)
        self.tag = tag
        self.n = 0
        self.c.sub("_INBOX.%s.*" % tag, "in")
        self.c.sub("_PULL.%s" % tag, "pull")
        self.c.flush()

    def req(self, subject, body=b"", timeout=5.0):
        """The JSON answer, {} for an empty one (a status), None for none."""
        self.n += 1
        inbox = "_INBOX.%s.%d" % (self.tag, self.n)
        self.c.pub(subject, body, reply=inbox)
        # This request's own answer: one to an earlier request that timed out may come late.
        self.c._read_until(lambda: any(m[1] == "in" and m[0] == inbox for m in self.c.msgs), timeout)
        got = [m for m in self.c.take("in") if m[0] == inbox]
        if not got:
            return None
        return json.loads(got[-1][4]) if got[-1][4] else {}

    def pull(self, consumer, batch, want, timeout=5.0):
        """The messages (not statuses) of one pull request of batch, waiting for want of them."""
        self.c.pub("$JS.API.CONSUMER.MSG.NEXT.%s" % consumer, b'{"batch":%d,"expires":3000000000}' % batch,
                   reply="_PULL.%s" % self.tag)
        self.c.wait_count("pull", want, timeout)
        self.c.settle(0.3)
        return [m for m in self.c.take("pull") if not m[3].startswith(b"NATS/1.0 4")]

    def close(self):
        self.c.close()


def wait_until(fn, timeout, every=0.25):
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        try:
            got = fn()
        except (OSError, ValueError, harness.CheckFailed) as e:
            got = str(e)
        if isinstance(got, dict) and got and "error" not in got:
            return got
        time.sleep(every)
    return got


def check_consumer_failover(ck, cl):
    """A work queue of 3 replicas with a durable pull consumer: 50 of 100 messages acked with
    AckSync, the stream's leader killed (kill -9) as soon as the last ack's reply is in: the
    consumer goes on where it was: nothing acked comes back, nothing unacked is lost."""
    names = server_names(cl)
    with ck.section("%s: a work queue's consumer survives kill -9 of the stream's leader" % cl.kind):
        a = Raw(cl.client[0], "wa")
        r = a.req("$JS.API.STREAM.CREATE.WQR",
                  b'{"name":"WQR","subjects":["wqr.>"],"retention":"workqueue","num_replicas":3}', timeout=10.0)
        ck.ok(isinstance(r, dict) and "error" not in r, "%s: create WQR: %s" % (cl.kind, r))
        info = wait_until(lambda: (lambda i: i if (i or {}).get("cluster", {}).get("leader") else None)(
            a.req("$JS.API.STREAM.INFO.WQR")), 20.0)
        a.close()
        leader = names.index(info["cluster"]["leader"])
        via = (leader + 1) % 3
        p = Raw(cl.client[via], "wp")
        r = p.req("$JS.API.CONSUMER.DURABLE.CREATE.WQR.W",
                  b'{"stream_name":"WQR","config":{"durable_name":"W","ack_policy":"explicit",'
                  b'"deliver_policy":"all","ack_wait":30000000000}}', timeout=10.0)
        ck.ok(isinstance(r, dict) and r.get("name") == "W", "%s: durable W: %s" % (cl.kind, r))
        for k in range(100):
            p.c.pub("wqr.x", b"w%03d" % k, reply="_INBOX.wp.p%d" % k)
        ck.eq(p.c.wait_count("in", 100, 10.0), 100, "%s: PubAcks of 100 publishes" % cl.kind)
        p.c.take("in")
        got = p.pull("WQR.W", 50, 50)
        ck.eq([m[4] for m in got], [b"w%03d" % k for k in range(50)], "%s: the first 50 pulled" % cl.kind)
        # AckSync (nats.go's msg.AckSync): each ack's reply says the ack is stored, so the kill
        # right after the last reply may not bring any of them back.
        for k, m in enumerate(got):
            p.c.pub(m[2], b"+ACK", reply="_INBOX.wp.a%d" % k)
        ck.eq(p.c.wait_count("in", 50, 10.0), 50, "%s: the replies of 50 AckSyncs" % cl.kind)
        p.c.take("in")
        cl.kill(leader)
        try:
            t0 = time.monotonic()
            # Asked every 20 ms: the first answer the new leader gives must already count all 50
            # unacked (a leader answering before its committed end caught up said 0 pending).
            ci = wait_until(lambda: p.req("$JS.API.CONSUMER.INFO.WQR.W", timeout=1.0), 30.0, every=0.02)
            ck.ok(isinstance(ci, dict) and "error" not in ci, "%s: CONSUMER.INFO after the kill: %s" % (cl.kind, ci))
            if isinstance(ci, dict):
                print("%s: the consumer answered %.1f s after the kill" % (cl.kind, time.monotonic() - t0))
                ck.eq((ci.get("ack_floor", {}).get("stream_seq"), ci.get("num_ack_pending"), ci.get("num_pending")),
                      (50, 0, 50), "%s: the consumer's ack floor, ack pending, pending after the failover" % cl.kind)
            si = wait_until(lambda: p.req("$JS.API.STREAM.INFO.WQR"), 30.0)
            st = si.get("state", {}) if isinstance(si, dict) else {}
            ck.eq((st.get("messages"), st.get("first_seq"), st.get("last_seq")), (50, 51, 100),
                  "%s: the work queue after the failover (%s)" % (cl.kind, si))
            got = p.pull("WQR.W", 100, 50)
            ck.eq([m[4] for m in got], [b"w%03d" % k for k in range(50, 100)],
                  "%s: after the failover the pull gets exactly the 50 unacked, in order" % cl.kind)
            for m in got:
                p.c.pub(m[2], b"+ACK")
            p.c.flush()
            st = {}
            deadline = time.monotonic() + 10.0
            while time.monotonic() < deadline and st.get("messages") != 0:
                time.sleep(0.25)
                st = (p.req("$JS.API.STREAM.INFO.WQR") or {}).get("state", {})
            ck.eq(st.get("messages"), 0, "%s: the work queue empty once all are acked (%s)" % (cl.kind, st))
        finally:  # all three again for what follows, whatever failed here
            p.close()
            cl.start(leader)
            cl.wait_mesh(range(3))


def check_update(ck, cl):
    """STREAM.UPDATE of the replicated stream through a server that does not lead it: every
    server then shows the new config, and a publish on the new subject is stored."""
    names = server_names(cl)
    with ck.section("%s: a replicated stream updated through a server that does not lead it" % cl.kind):
        a = Raw(cl.client[0], "ua")
        info = wait_until(lambda: a.req("$JS.API.STREAM.INFO.WQR"), 20.0)
        a.close()
        leader = names.index(info["cluster"]["leader"])
        via = (leader + 2) % 3
        u = Raw(cl.client[via], "uu")
        cfg = dict(info["config"])
        cfg["subjects"] = ["wqr.>", "wqx.*"]
        cfg["max_msgs"] = 1000
        # Asked again (the same config: an update to what it already is changes nothing) only
        # when no answer came: nats-server 2.9.10 once gave none in 10 s, its restarted server
        # still catching up. An error answer is not retried.
        r = None
        for _ in range(3):
            r = u.req("$JS.API.STREAM.UPDATE.WQR", json.dumps(cfg).encode(), timeout=10.0)
            if r is not None:
                break
        ck.ok(isinstance(r, dict) and "error" not in r, "%s: update WQR: %s" % (cl.kind, r))
        if isinstance(r, dict):
            ck.eq((r.get("config", {}).get("subjects"), r.get("config", {}).get("max_msgs")),
                  (["wqr.>", "wqx.*"], 1000), "%s: the update's answer" % cl.kind)
        for i in range(3):
            c = Raw(cl.client[i], "u%d" % i)
            got = wait_until(lambda: (lambda x: x if (x or {}).get("config", {}).get("max_msgs") == 1000 else None)(
                c.req("$JS.API.STREAM.INFO.WQR")), 10.0)
            ck.eq(((got or {}).get("config") or {}).get("subjects"), ["wqr.>", "wqx.*"],
                  "%s: STREAM.INFO through %s after the update" % (cl.kind, names[i]))
            c.close()
        r = wait_until(lambda: u.req("wqx.a", b"new subject"), 10.0)
        ck.ok(isinstance(r, dict) and r.get("stream") == "WQR" and r.get("seq", 0) > 0,
              "%s: a publish on the added subject is stored: %s" % (cl.kind, r))
        u.close()


def run_kind(ck, cl, prog):
    killed, failover, passed = run_program(ck, cl, prog)
    if killed is not None and passed:
        check_restart(ck, cl, killed)
        check_consumer_failover(ck, cl)
        check_update(ck, cl)
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
