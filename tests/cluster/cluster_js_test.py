#!/usr/bin/python3
"""cluster_js_test: a JetStream stream is usable from every server of a cluster (issue 16: "a
publish or pull on any broker reaches the stream's leader"). The same nats.go program
(tests/cluster/js_reach.go, Debian's nats.go 1.22.1 in GOPATH mode) runs first against three
nats-server 2.9.10 processes in one cluster with JetStream on (-js, a store directory and a
server name each, --cluster_name), then against three sluice-server brokers in one Raft group
with --cluster routes and --jetstream, one connection to each server (A, B, C):

- a WorkQueue stream (WorkQueuePolicy, AckExplicit consumer, MaxAge 24h) created through B
  (on Sluice: a placed topic, so every broker's data directory holds its copy); the same create from A
  succeeds (an equal config) and another config from A gets 10058 (no second copy);
- 200 PublishAsync on A (PublishAsyncMaxPending 256) get PubAcks with sequences 1..200 in order;
- a pull consumer created from C fetches all 200 in order with exact payloads and headers and
  AckSyncs each; STREAM.INFO from A then shows 0 messages, last sequence 200;
- a push durable (flow control, heartbeats) subscribed on C to a limits stream made on B gets
  20 messages published on A in order, with their stream subjects, and AckSyncs them;
- STREAM.INFO of an unknown stream on A is answered exactly once with 10059;
- DeleteStream from C; a later publish on A gets no PubAck (no responders or a timeout).
Sluice only, raw clients: C is killed while its pull request waits on B; B still stores A's
publish and answers A's STREAM.INFO.
Every wait is bounded (the program's own, and 120 s for it in all).
"""
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
import cluster_nats_test as cnt  # noqa: E402  (the two kinds of cluster)

PROGRAM_S = 120.0


class NatsServersJS(cnt.NatsServers):
    kind = "nats-server"

    def start(self, i):
        routes = ",".join("nats://127.0.0.1:%d" % p for j, p in enumerate(self.route) if j != i)
        log = open(os.path.join(self.dir, "n%d.log" % i), "ab")
        self.procs[i] = subprocess.Popen([self.bin, "-a", "127.0.0.1", "-p", str(self.client[i]), "-m",
                                          str(self.http[i]), "--cluster", "nats://127.0.0.1:%d" % self.route[i],
                                          "--cluster_name", "sl", "--routes", routes, "-js",
                                          "-sd", os.path.join(self.dir, "store%d" % i), "--server_name", "n%d" % i],
                                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if not harness.wait_port("127.0.0.1", self.client[i], 10, self.procs[i]):
            raise harness.CheckFailed("nats-server %d did not start" % i)

    def holders(self, name):
        return None  # nats-server places an R1 stream where its meta leader decides


class SluiceBrokersJS(cnt.SluiceBrokers):
    def __init__(self):
        super().__init__()
        for b in self.brokers:
            b.extra_args.append("--jetstream")

    def holders(self, name):
        """Node ids whose data directory holds the stream's topic."""
        out = []
        for b in self.brokers:
            for _root, dirs, _files in os.walk(b.data_dir):
                if any(d == name or d.startswith(name + "-") for d in dirs):
                    out.append(b.node_id)
                    break
        return out


def build(tmp):
    gocode = "/usr/share/gocode"
    if not shutil.which("go") or not os.path.isdir(gocode + "/src/github.com/nats-io/nats.go"):
        harness.skip("go or Debian's nats.go (golang-github-nats-io-go-nats-dev) missing")
    src = os.path.join(tmp, "gopath", "src", "sluice_js_reach")
    os.makedirs(src, exist_ok=True)
    shutil.copy(os.path.join(HERE, "js_reach.go"), os.path.join(src, "main.go"))
    env = dict(os.environ, GO111MODULE="off", GOFLAGS="", GOPATH=os.path.join(tmp, "gopath") + ":" + gocode,
               GOCACHE=os.environ.get("GOCACHE", os.path.join(tmp, "go-cache")))
    out = os.path.join(tmp, "js_reach")
    subprocess.run(["go", "build", "-o", out, "sluice_js_reach"], env=env, check=True, timeout=180)
    return out


def run_program(ck, cl, prog):
    with ck.section("%s: a stream created on B, published to on A, pulled and acked on C, deleted" % cl.kind):
        p = subprocess.Popen([prog] + ["nats://127.0.0.1:%d" % port for port in cl.client],
                             stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True)
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(ln.strip()) for ln in p.stdout], daemon=True).start()
        seen = []
        deadline = time.monotonic() + PROGRAM_S
        try:
            while time.monotonic() < deadline and (p.poll() is None or not lines.empty()):
                try:
                    ln = lines.get(timeout=0.2)
                except queue.Empty:
                    continue
                seen.append(ln)
                if ln == "CREATED":
                    held = cl.holders("WQ")
                    if held is not None:
                        ck.eq(held, [1, 2, 3], "%s: the brokers holding a copy of WQ" % cl.kind)
                    p.stdin.write("GO\n")
                    p.stdin.flush()
        finally:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=10)
        print("%s: %s" % (cl.kind, " | ".join(seen)))
        ck.eq(p.returncode, 0, "%s: the nats.go program's exit (%s)" % (cl.kind, seen[-3:]))
        ck.ok("PASS" in seen, "%s: the program finished" % cl.kind)
        if cl.kind == "sluice":
            ck.eq(cl.holders("WQ"), [], "sluice: WQ gone from every data directory after the delete")


def one_answer(c, sid, timeout=5.0):
    if c.wait_count(sid, 1, timeout) < 1:
        raise harness.CheckFailed("%s: no answer on %s within %.0f s" % (c.name, sid, timeout))
    c.settle(0.3)  # a second answer would be here by now
    got = c.take(sid)
    return got


def check_route_loss(ck, cl):
    """Sluice: a route closing mid-request (C killed while its pull request waits on B, and with a
    create pending for no one) leaves B serving A."""
    with ck.section("sluice: the broker of a waiting pull request dies; the holder serves on"):
        A, B, C = (cnt.Client(cl.client[i], n) for i, n in enumerate("ABC"))
        for c, tag in ((A, "a"), (C, "c")):
            c.sub("_INBOX.%s.*" % tag, "in-" + tag)
        cnt.sync(B, A, "ra")
        cnt.sync(B, C, "rc")
        B.sub("_INBOX.b.*", "in-b")
        B.pub("$JS.API.STREAM.CREATE.R", b'{"name":"R","subjects":["r.>"],"retention":"workqueue"}',
              reply="_INBOX.b.1")
        ck.ok(b'"did_create":true' in one_answer(B, "in-b")[0][4], "R created on B")
        cnt.sync(C, B, "rb")  # R's announcements crossed to C (one route carries both, in order)
        C.pub("$JS.API.CONSUMER.CREATE.R.W", b'{"stream_name":"R","config":{"durable_name":"W",'
              b'"ack_policy":"explicit"}}', reply="_INBOX.c.1")
        got = one_answer(C, "in-c")
        ck.eq(len(got), 1, "one answer to the consumer create from C")
        ck.ok(b'"name":"W"' in got[0][4], "consumer W created from C: %r" % got[0][4][:200])
        C.pub("$JS.API.CONSUMER.MSG.NEXT.R.W", b'{"batch":10,"expires":20000000000}', reply="_INBOX.c.2")
        C.flush()
        cnt.sync(B, C, "rc2")  # the pull request reached B before this probe's interest did
        cl.kill(2)
        B.pub("$JS.API.STREAM.CREATE.R2", b'{"name":"R2","subjects":["r2.>"]}', reply="_INBOX.gone.1")
        cnt.sync(A, B, "rb2")
        A.pub("r.1", b"after-the-loss", reply="_INBOX.a.1")
        got = one_answer(A, "in-a")
        ck.eq([m[4] for m in got], [b'{"stream":"R", "seq":1}'], "the PubAck on A after C died")
        A.pub("$JS.API.STREAM.INFO.R", b"", reply="_INBOX.a.2")
        got = one_answer(A, "in-a")
        ck.ok(len(got) == 1 and b'"messages":1' in got[0][4], "STREAM.INFO R from A: %r" % got)
        ck.ok(cl.alive(0) and cl.alive(1), "A and B up")
        for c in (A, B):
            c.close()


def body(ck):
    tmp = tempfile.mkdtemp(prefix="cluster-js-go-")
    try:
        try:
            prog = build(tmp)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
            raise harness.CheckFailed("go build of js_reach.go: %s" % e)
        ref = NatsServersJS()
        try:
            for i in range(3):
                ref.start(i)
            ref.wait_mesh(range(3))
            run_program(ck, ref, prog)
        finally:
            ref.cleanup()
        sl = SluiceBrokersJS()
        try:
            for i in range(3):
                sl.start(i)
            sl.wait_mesh(range(3))
            run_program(ck, sl, prog)
            check_route_loss(ck, sl)
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
    if ck.fail_count():
        raise harness.CheckFailed("failed sections: %s" % ck.failed_sections)


if __name__ == "__main__":
    harness.run("cluster_js_test", body, time_limit=300)
