#!/usr/bin/python3
"""cluster_nats_test: NATS clients see a cluster (broker/nats/nats_route.c). The same checks run
first against three nats-server 2.9.10 processes in one cluster (--cluster/--routes on loopback
ports the test picks), then against three sluice-server brokers in one Raft group with
--cluster nats://127.0.0.1:PORT, every client a raw socket speaking the client protocol:

(a) async INFO: a client ("protocol":1) connected to A while only A and B run gets an INFO
    whose connect_urls names C once C joins; every URL listed is one of the servers' client
    ports (nothing advertised that is not served), the other brokers' all there.
(b) a subscriber on B gets every one of 200 messages published on A, in order, with exact
    payloads, and the headers of the HPUB ones byte for byte.
(c) a queue group with a member on each server gets each of 300 messages published on A
    exactly once in all; with A's member gone, 100 more go once each to B's and C's.
(d) a request published on A is answered by a responder on C (the inbox subscribed on A).
(e) UNSUB on B stops delivery from A (once the interest change has crossed, proved by a later
    subscription's probe arriving): nothing more arrives in a second.
(f) bad input on a route port: a line that is no route operation gets -ERR and the connection
    closes; the server still answers its clients.
Sluice only: (g) two overlapping subscriptions on one broker cost one routed message each
(sluice_nats_route_msgs_total{direction="out"}), /routez lists two routes per broker; a route
CONNECT with a wrong token, or naming an unregistered broker, gets -ERR 'Authorization
Violation'; an RMSG before CONNECT the same.
(h) failover (when Go and Debian's nats.go are there): a nats.go client given only A's URL
    learns B and C from connect_urls; after kill -9 of A it reconnects to another server and a
    request is answered by a responder on C (tests/cluster/nats_failover.go).
Every wait is bounded in time and count.
"""
import json
import os
import queue
import threading
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import harness  # noqa: E402
import cluster_test  # noqa: E402  (its HTTP helper)

TOKEN = "cluster-N4ts_r0utes"
SETTLE_S = 30.0


class Client:
    """A raw NATS client: CONNECT with protocol 1 and headers; MSG/HMSG collected per sid."""

    def __init__(self, port, name):
        self.name = name
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = b""
        self.msgs = []      # (subject, sid, reply, hdr, payload)
        self.infos = []     # INFO JSON objects, the first included
        self.errs = []
        self.pongs = 0
        self._read_until(lambda: self.infos, 5.0)
        self.send(b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true,'
                  b'"protocol":1,"echo":false,"name":"%s"}\r\n' % name.encode())
        self.flush()

    def send(self, b):
        self.s.sendall(b)

    def _parse(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i < 0:
                return
            line = self.buf[:i]
            verb = line.split(b" ", 1)[0].upper()
            if verb in (b"MSG", b"HMSG"):
                a = line.split()
                if verb == b"MSG":
                    size, hsize = int(a[-1]), 0
                    reply = a[3] if len(a) == 5 else b""
                else:
                    size, hsize = int(a[-1]), int(a[-2])
                    reply = a[3] if len(a) == 6 else b""
                if len(self.buf) < i + 2 + size + 2:
                    return
                body = self.buf[i + 2:i + 2 + size]
                self.buf = self.buf[i + 2 + size + 2:]
                self.msgs.append((a[1].decode(), a[2].decode(), reply.decode(), body[:hsize], body[hsize:]))
                continue
            self.buf = self.buf[i + 2:]
            if verb == b"PING":
                self.send(b"PONG\r\n")
            elif verb == b"PONG":
                self.pongs += 1
            elif verb == b"INFO":
                self.infos.append(json.loads(line[5:]))
            elif verb == b"-ERR":
                self.errs.append(line.decode())

    def _read_until(self, cond, timeout):
        deadline = time.monotonic() + timeout
        while not cond():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.s.settimeout(min(left, 0.2))
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                continue
            if not d:
                raise harness.CheckFailed("%s: connection closed (errors %s)" % (self.name, self.errs))
            self.buf += d
            self._parse()
        return True

    def flush(self, timeout=5.0):
        want = self.pongs + 1
        self.send(b"PING\r\n")
        if not self._read_until(lambda: self.pongs >= want, timeout):
            raise harness.CheckFailed("%s: no PONG within %.0f s" % (self.name, timeout))

    def sub(self, subject, sid, queue=None):
        self.send(("SUB %s %s%s\r\n" % (subject, queue + " " if queue else "", sid)).encode())

    def unsub(self, sid):
        self.send(("UNSUB %s\r\n" % sid).encode())

    def pub(self, subject, payload, reply=""):
        self.send(b"PUB %s %s%d\r\n%s\r\n" % (subject.encode(), (reply + " ").encode() if reply else b"",
                                             len(payload), payload))

    def hpub(self, subject, hdr, payload, reply=""):
        self.send(b"HPUB %s %s%d %d\r\n%s%s\r\n" % (subject.encode(), (reply + " ").encode() if reply else b"",
                                                    len(hdr), len(hdr) + len(payload), hdr, payload))

    def take(self, sid):
        got = [m for m in self.msgs if m[1] == sid]
        self.msgs = [m for m in self.msgs if m[1] != sid]
        return got

    def wait_count(self, sid, n, timeout):
        self._read_until(lambda: sum(1 for m in self.msgs if m[1] == sid) >= n, timeout)
        return sum(1 for m in self.msgs if m[1] == sid)

    def settle(self, seconds):
        """Reads whatever arrives for that long."""
        self._read_until(lambda: False, seconds)

    def close(self):
        self.s.close()


def sync(pubc, subc, tag, timeout=15.0):
    """Interest subscribed on subc's server before this call has reached pubc's server once a
    probe published on pubc reaches a subscription subc makes now (one route carries both, in
    order)."""
    sid = "sync-" + tag
    subc.sub("sync." + tag, sid)
    subc.flush()
    deadline = time.monotonic() + timeout
    n = 0
    while time.monotonic() < deadline:
        pubc.pub("sync." + tag, b"probe")
        n += 1
        if subc.wait_count(sid, 1, 0.1) >= 1:
            subc.unsub(sid)
            subc.flush()
            subc.take(sid)
            return n
    raise harness.CheckFailed("interest of %s never reached %s within %.0f s" % (subc.name, pubc.name, timeout))


# ---- the two kinds of cluster --------------------------------------------------------------------------


class NatsServers:
    kind = "nats-server"

    def __init__(self):
        self.bin = shutil.which("nats-server") or "/usr/sbin/nats-server"
        if not os.path.exists(self.bin):
            harness.skip("nats-server not installed (Debian package nats-server)")
        ports = harness.free_ports(9)
        self.client = ports[0:3]
        self.route = ports[3:6]
        self.http = ports[6:9]
        self.dir = tempfile.mkdtemp(prefix="cluster-nats-")
        self.procs = [None, None, None]

    def start(self, i):
        routes = ",".join("nats://127.0.0.1:%d" % p for j, p in enumerate(self.route) if j != i)
        log = open(os.path.join(self.dir, "n%d.log" % i), "ab")
        self.procs[i] = subprocess.Popen([self.bin, "-a", "127.0.0.1", "-p", str(self.client[i]), "-m",
                                          str(self.http[i]), "--cluster", "nats://127.0.0.1:%d" % self.route[i],
                                          "--cluster_name", "sl", "--routes", routes],
                                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if not harness.wait_port("127.0.0.1", self.client[i], 10, self.procs[i]):
            raise harness.CheckFailed("nats-server %d did not start" % i)

    def wait_mesh(self, running):
        deadline = time.monotonic() + SETTLE_S
        while time.monotonic() < deadline:
            ok = True
            for i in running:
                st, z = cluster_test.call(self.http[i], "GET", "/routez", timeout=2.0)
                ok &= st == 200 and isinstance(z, dict) and z.get("num_routes", 0) >= len(running) - 1
            if ok:
                return
            time.sleep(0.1)
        raise harness.CheckFailed("nats-server routes not up within %.0f s" % SETTLE_S)

    def alive(self, i):
        return self.procs[i] is not None and self.procs[i].poll() is None

    def kill(self, i):
        self.procs[i].kill()
        self.procs[i].wait(timeout=10)

    def cleanup(self):
        for p in self.procs:
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


class SluiceBrokers:
    kind = "sluice"

    def __init__(self):
        raft = harness.free_ports(3)
        self.route = harness.free_ports(3)
        self.nodes = {i + 1: "127.0.0.1:%d" % raft[i] for i in range(3)}
        self.brokers = []
        for i in range(3):
            args = ["--node-id", str(i + 1), "--cluster-nodes",
                    ",".join("%d@%s" % kv for kv in sorted(self.nodes.items())), "--http-token", TOKEN,
                    "--advertised-host", "127.0.0.1", "--cluster", "nats://127.0.0.1:%d" % self.route[i]]
            b = harness.Broker(args)  # ports picked now, started by start()
            b.node_id = i + 1
            self.brokers.append(b)
        self.client = [b.nats_port for b in self.brokers]
        self.http = [b.http_port for b in self.brokers]

    def start(self, i):
        self.brokers[i].start()

    def metric(self, i, key):
        st, text = cluster_test.call(self.http[i], "GET", "/metrics", token=TOKEN, timeout=3.0)
        for line in text.splitlines():
            if line.startswith(key + " "):
                return int(float(line.rsplit(" ", 1)[1]))
        return 0

    def wait_mesh(self, running):
        deadline = time.monotonic() + SETTLE_S
        last = None
        while time.monotonic() < deadline:
            try:
                last = [self.metric(i, "sluice_nats_routes") for i in running]
                if all(n >= len(running) - 1 for n in last):
                    return
            except (OSError, harness.CheckFailed) as e:
                last = str(e)
            time.sleep(0.1)
        raise harness.CheckFailed("sluice routes not up within %.0f s: %s" % (SETTLE_S, last))

    def alive(self, i):
        return self.brokers[i].alive()

    def kill(self, i):
        self.brokers[i].kill9()

    def cleanup(self):
        for b in self.brokers:
            if b is not None:
                b.cleanup()


# ---- the checks ----------------------------------------------------------------------------------------


def check_cluster(ck, cl):
    urls = ["127.0.0.1:%d" % p for p in cl.client]
    with ck.section("%s: (a) connect_urls, and the async INFO when C joins" % cl.kind):
        cl.start(0)
        cl.start(1)
        cl.wait_mesh([0, 1])
        a = Client(cl.client[0], "a-info")
        deadline = time.monotonic() + SETTLE_S
        cl.start(2)
        while time.monotonic() < deadline and not any(urls[2] in i.get("connect_urls", []) for i in a.infos):
            a.settle(0.2)
        got = [i.get("connect_urls", []) for i in a.infos]
        ck.ok(len(a.infos) >= 2, "%s: no async INFO after C joined: %s" % (cl.kind, got))
        last = a.infos[-1].get("connect_urls", [])
        ck.ok(urls[2] in last and urls[1] in last, "%s: connect_urls %s lacks B/C %s" % (cl.kind, last, urls))
        ck.ok(set(last) <= set(urls), "%s: connect_urls %s names what is not served" % (cl.kind, last))
        ck.ok(a.infos[-1].get("headers") is True, "%s: the async INFO dropped headers: %s" % (cl.kind, a.infos[-1]))
        a.close()
        cl.wait_mesh([0, 1, 2])
        fresh = Client(cl.client[1], "b-info")
        ck.ok(set(urls) - {urls[1]} <= set(fresh.infos[0].get("connect_urls", [])),
              "%s: B's INFO connect_urls %s" % (cl.kind, fresh.infos[0]))
        fresh.close()

    A = Client(cl.client[0], "A")
    B = Client(cl.client[1], "B")
    C = Client(cl.client[2], "C")
    with ck.section("%s: (b) 200 messages A -> B in order, headers exact" % cl.kind):
        B.sub("orders.>", "o1")
        sync(A, B, "b")
        sent = []
        for i in range(200):
            payload = b"order-%d-" % i + bytes(range(i % 50))
            if i % 2:
                hdr = b"NATS/1.0\r\nX-Seq: %d\r\nX-Two: a b\r\n\r\n" % i
                A.hpub("orders.new", hdr, payload)
            else:
                hdr = b""
                A.pub("orders.new", payload, reply="reply.%d" % i)
            sent.append((hdr, payload, "" if i % 2 else "reply.%d" % i))
        A.flush()
        n = B.wait_count("o1", 200, 10)
        got = B.take("o1")
        ck.eq(n, 200, "%s: messages on B" % cl.kind)
        ck.eq([(m[3], m[4], m[2]) for m in got], sent, "%s: payloads, headers, replies in order" % cl.kind)
        ck.ok(all(m[0] == "orders.new" for m in got), "%s: subjects" % cl.kind)

    with ck.section("%s: (c) a queue group over three servers: each message once" % cl.kind):
        for c in (A, B, C):
            c.sub("work", "q1", queue="workers")
        sync(A, B, "c1")
        sync(A, C, "c2")
        for i in range(300):
            A.pub("work", b"job-%d" % i)
        A.flush()
        deadline = time.monotonic() + 10
        total = 0
        while time.monotonic() < deadline and total < 300:
            for c in (A, B, C):
                c.settle(0.05)
            total = sum(sum(1 for m in c.msgs if m[1] == "q1") for c in (A, B, C))
        for c in (A, B, C):
            c.settle(0.3)
        got = [m[4] for c in (A, B, C) for m in c.take("q1")]
        ck.eq(len(got), 300, "%s: queue deliveries in all" % cl.kind)
        ck.eq(sorted(got), sorted(b"job-%d" % i for i in range(300)), "%s: each job once" % cl.kind)
        A.unsub("q1")
        A.flush()
        for i in range(100):
            A.pub("work", b"late-%d" % i)
        A.flush()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and sum(sum(1 for m in c.msgs if m[1] == "q1") for c in (B, C)) < 100:
            for c in (B, C):
                c.settle(0.05)
        for c in (A, B, C):
            c.settle(0.3)
        got = [m[4] for c in (B, C) for m in c.take("q1")]
        ck.eq(sorted(got), sorted(b"late-%d" % i for i in range(100)), "%s: with A's member gone, B and C" % cl.kind)
        ck.eq(A.take("q1"), [], "%s: nothing for A's unsubscribed member" % cl.kind)

    with ck.section("%s: (d) request on A, responder on C" % cl.kind):
        C.sub("svc.echo", "svc")
        sync(A, C, "d")
        A.sub("_INBOX.req.*", "inbox")
        A.flush()
        for i in range(20):
            A.hpub("svc.echo", b"NATS/1.0\r\nX-Req: %d\r\n\r\n" % i, b"ping-%d" % i, reply="_INBOX.req.%d" % i)
            if C.wait_count("svc", 1, 5) < 1:
                raise harness.CheckFailed("%s: request %d did not reach C" % (cl.kind, i))
            req = C.take("svc")[0]
            ck.eq((req[2], req[3], req[4]), ("_INBOX.req.%d" % i, b"NATS/1.0\r\nX-Req: %d\r\n\r\n" % i, b"ping-%d" % i),
                  "%s: request as C got it" % cl.kind)
            C.pub(req[2], b"pong-%d" % i)
            if A.wait_count("inbox", 1, 5) < 1:
                raise harness.CheckFailed("%s: reply %d did not reach A" % (cl.kind, i))
            rep = A.take("inbox")[0]
            ck.eq((rep[0], rep[4]), ("_INBOX.req.%d" % i, b"pong-%d" % i), "%s: reply" % cl.kind)

    with ck.section("%s: (e) UNSUB on B stops delivery from A" % cl.kind):
        B.sub("stop.x", "stop")
        sync(A, B, "e1")
        A.pub("stop.x", b"before")
        ck.eq(B.wait_count("stop", 1, 5), 1, "%s: delivered before UNSUB" % cl.kind)
        B.take("stop")
        B.unsub("stop")
        B.flush()
        sync(A, B, "e2")  # B's RS- went before this probe's RS+ on the same route
        for i in range(20):
            A.pub("stop.x", b"after-%d" % i)
        A.flush()
        B.settle(1.0)
        ck.eq(B.take("stop"), [], "%s: nothing after UNSUB" % cl.kind)

    with ck.section("%s: (f) a bad route line: -ERR and close, the server stays up" % cl.kind):
        r = socket.create_connection(("127.0.0.1", cl.route[0]), timeout=5)
        r.sendall(b"BOGUS LINE\r\n")
        data = b""
        deadline = time.monotonic() + 5
        closed = False
        while time.monotonic() < deadline:
            try:
                d = r.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not d:
                closed = True
                break
            data += d
        r.close()
        ck.ok(b"-ERR" in data, "%s: no -ERR for a bad route line: %r" % (cl.kind, data[-200:]))
        ck.ok(closed, "%s: the route connection stayed open" % cl.kind)
        ck.ok(cl.alive(0), "%s: server A died" % cl.kind)
        A.flush()
        B.sub("after.bad", "ab")
        sync(A, B, "f")
        A.pub("after.bad", b"still")
        ck.eq(B.wait_count("ab", 1, 5), 1, "%s: routing still works" % cl.kind)
        B.take("ab")
    return A, B, C


def route_line(port, lines, timeout=5.0):
    """Sends lines to a route port; returns (what came back, whether it closed)."""
    r = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    r.sendall(lines)
    data, closed = b"", False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            d = r.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            closed = True
            break
        if not d:
            closed = True
            break
        data += d
    r.close()
    return data, closed


def check_sluice_only(ck, cl, A, B, C):
    with ck.section("sluice: (g) one routed message per message and route, /routez, route refusals"):
        B.sub("dup.*", "d1")
        B.sub("dup.>", "d2")
        sync(A, B, "g")
        before = cl.metric(0, 'sluice_nats_route_msgs_total{direction="out"}')
        for i in range(50):
            A.pub("dup.x", b"d%d" % i)
        A.flush()
        ck.eq(B.wait_count("d1", 50, 5), 50, "B's first subscription")
        ck.eq(B.wait_count("d2", 50, 5), 50, "B's second subscription")
        after = cl.metric(0, 'sluice_nats_route_msgs_total{direction="out"}')
        ck.eq(after - before, 50, "routed messages for 50 publishes to two overlapping subscriptions")
        for i in range(3):
            st, z = cluster_test.call(cl.http[i], "GET", "/routez", token=TOKEN, timeout=3.0)
            ck.eq(st, 200, "/routez on %d" % (i + 1))
            ck.eq(sorted(r["sluice_node"] for r in z["routes"]), sorted({1, 2, 3} - {i + 1}),
                  "/routez peers of %d" % (i + 1))
        # Node 3 accepts routes from 1 and 2 only, with the cluster's token.
        data, closed = route_line(cl.route[2], b'CONNECT {"sluice_node":1,"auth_token":"wrong"}\r\n')
        ck.ok(b"-ERR 'Authorization Violation'" in data and closed, "a wrong token: %r" % data)
        data, closed = route_line(cl.route[2], b'CONNECT {"sluice_node":9,"auth_token":"%s"}\r\n' % TOKEN.encode())
        ck.ok(b"-ERR 'Authorization Violation'" in data and closed, "an unregistered broker: %r" % data)
        data, closed = route_line(cl.route[2], b"RMSG $G foo 2\r\nhi\r\n")
        ck.ok(b"-ERR 'Authorization Violation'" in data and closed, "RMSG before CONNECT: %r" % data)
        data, closed = route_line(cl.route[2], b"RMSG $G foo 99999999999\r\n")
        ck.ok(b"-ERR" in data and closed, "a bad size: %r" % data)
        ck.ok(all(cl.alive(i) for i in range(3)), "every broker up")
        B.sub("final.x", "fx")
        sync(C, B, "g2")
        C.pub("final.x", b"ok")
        ck.eq(B.wait_count("fx", 1, 5), 1, "routing after the refusals")


def build_failover(tmp):
    """The nats.go failover program, or None without Go or Debian's nats.go."""
    gocode = "/usr/share/gocode"
    if not shutil.which("go") or not os.path.isdir(gocode + "/src/github.com/nats-io/nats.go"):
        return None
    src = os.path.join(tmp, "gopath", "src", "sluice_nats_failover")
    os.makedirs(src, exist_ok=True)
    shutil.copy(os.path.join(HERE, "nats_failover.go"), os.path.join(src, "main.go"))
    env = dict(os.environ, GO111MODULE="off", GOFLAGS="", GOPATH=os.path.join(tmp, "gopath") + ":" + gocode,
               GOCACHE=os.environ.get("GOCACHE", os.path.join(tmp, "go-cache")))
    out = os.path.join(tmp, "nats_failover")
    subprocess.run(["go", "build", "-o", out, "sluice_nats_failover"], env=env, check=True, timeout=180)
    return out


def check_failover(ck, cl, prog, B, C):
    with ck.section("%s: (h) nats.go fails over from A (kill -9) through connect_urls" % cl.kind):
        if prog is None:
            harness.skip("go or Debian's nats.go (golang-github-nats-io-go-nats-dev) missing")
        C.sub("svc.failover", "fo")
        sync(B, C, "h")  # the client reconnects to B or C: B knows C's responder
        p = subprocess.Popen([prog, "nats://127.0.0.1:%d" % cl.client[0]], stdout=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, text=True)
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(ln.strip()) for ln in p.stdout], daemon=True).start()
        seen = []
        deadline = time.monotonic() + 60
        killed = False
        try:
            while time.monotonic() < deadline and p.poll() is None:
                C.settle(0.05)
                for m in C.take("fo"):
                    C.pub(m[2], b"answered-by-C")
                while not lines.empty():
                    ln = lines.get()
                    seen.append(ln)
                    if ln == "READY" and not killed:
                        cl.kill(0)
                        killed = True
            while not lines.empty():
                seen.append(lines.get())
        finally:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=10)
        ck.ok(killed, "%s: the client never got ready: %s" % (cl.kind, seen))
        ck.eq(p.returncode, 0, "%s: the nats.go program's exit (%s)" % (cl.kind, seen))
        rec = [ln for ln in seen if ln.startswith("RECONNECTED ")]
        ck.ok(rec and rec[0].split()[1] in ("nats://127.0.0.1:%d" % cl.client[1], "nats://127.0.0.1:%d" % cl.client[2]),
              "%s: reconnected to another server: %s" % (cl.kind, seen))
        ck.ok("REPLY answered-by-C" in seen, "%s: the reply from C after the failover: %s" % (cl.kind, seen))


def body(ck):
    tmp = tempfile.mkdtemp(prefix="cluster-nats-go-")
    try:
        prog = build_failover(tmp)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise harness.CheckFailed("go build of nats_failover.go: %s" % e)
    ref = NatsServers()
    try:
        A, B, C = check_cluster(ck, ref)
        check_failover(ck, ref, prog, B, C)
        for c in (A, B, C):
            c.close()
    finally:
        ref.cleanup()
    sl = SluiceBrokers()
    try:
        A, B, C = check_cluster(ck, sl)
        check_sluice_only(ck, sl, A, B, C)
        check_failover(ck, sl, prog, B, C)
        for i in range(3):
            if sl.brokers[i].alive():
                sl.brokers[i].stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if ck.fail_count():
            for b in sl.brokers:
                if b is not None:
                    print("---- broker %d log tail\n%s" % (b.node_id, b.log_tail(25)))
        sl.cleanup()
    if ck.fail_count():
        raise harness.CheckFailed("failed sections: %s" % ck.failed_sections)


if __name__ == "__main__":
    harness.run("cluster_nats_test", body, time_limit=240)
