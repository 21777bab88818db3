#!/usr/bin/python3
"""cluster_test: three real sluice-server processes in one Raft group (broker/cluster/).

(a) Three brokers on 127.0.0.1, each with its own data dir, node_id and the same cluster_nodes:
    within a bounded time exactly one leader, and every node's /clusterz agrees on it, on the
    term, the servers (ids, addresses, roles) and the registered brokers; every field is checked
    (a registration names that node's own Kafka and NATS ports); /metrics carries the
    sluice_cluster_* families with the same values.
(b) kill -9 of the leader, 5 times, restarting it each time: the two others elect a new leader
    within FAILOVER_MAX_S (the measured times are printed), the term rises every time, the
    registered brokers survive, and the restarted node rejoins and agrees.
(c) A 4th broker (not in cluster_nodes: it joins) is added with POST /v1/cluster/nodes on the
    leader and becomes a voter on every node; DELETE /v1/cluster/nodes/4 removes it everywhere.
    The add waits on a worker thread: a /clusterz pipelined behind it on the same connection
    comes after it, and the leader's NATS PINGs are answered meanwhile (round trips printed).
(d) POST /v1/cluster/leader/transfer to a named follower makes it the leader on every node.
(d2) A rolling restart: each node in turn is stopped with SIGTERM (the leader hands its leadership
    over first) and started again; it must read its closed Raft segments back and rejoin.
(e) Bad input gets clear HTTP errors: garbage JSON, wrong types, unknown fields, unknown node
    ids (400/404), a registration with a bad field (400), a change sent to a follower (421 with the leader's id), no token (403 on an
    admin route, 401 on /clusterz),
    transferring to the leader itself (409).
(f) A broker with a malformed cluster_nodes refuses to start (exit 2) naming the key.
(g) Three nodes serving monitoring over https with tls_verify (certificates from the openssl CLI): the
    followers register through the leader's https port (verifying it, showing their certificate);
    https without a client certificate is refused.
Every wait is bounded in time and count.
"""
import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import harness  # noqa: E402

TOKEN = "cluster-T0ken_93d1"
SETTLE_S = 20.0       # first election, a restart's catch-up
FAILOVER_MAX_S = 6.0  # election timeout is 1-2 s; a few seconds with pre-vote and a loaded machine
KILLS = 5


def call(port, method, path, body=None, token=TOKEN, timeout=15.0, ctx=None):
    """(status, parsed JSON or text); ctx: an ssl context for a broker serving https."""
    if ctx:
        c = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=ctx)
    else:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Authorization": "Bearer " + token} if token else {}
    if body is not None:
        headers["Content-Type"] = "application/json"
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    data = r.read().decode()
    c.close()
    try:
        return r.status, json.loads(data)
    except ValueError:
        return r.status, data


def mon_port(b):
    """The monitoring port: https_port for the brokers of section (g), else http_port."""
    return getattr(b, "https_port", b.http_port)


def clusterz(b):
    st, z = call(mon_port(b), "GET", "/clusterz", timeout=3.0, ctx=getattr(b, "tls_ctx", None))
    if st != 200:
        raise harness.CheckFailed("/clusterz on %d: %d %s" % (b.node_id, st, z))
    return z


def expected_servers(nodes):
    return [{"id": i, "address": a, "role": "voter"} for i, a in sorted(nodes.items())]


def advertised(node_id):
    """Each node's advertised host. Its length matters: with "127.0.0.1" and 5-digit ports a
    registration command is 40 bytes, a multiple of 8, which hid a missing padding (libraft needs
    entries padded to 8 bytes or the log does not load after a clean stop)."""
    return "node%d.test" % node_id


def registration(b):
    host = advertised(b.node_id)
    return {"id": b.node_id, "kafka": "%s:%d" % (host, b.kafka_port), "nats": "%s:%d" % (host, b.nats_port),
            "http": "127.0.0.1:%d" % mon_port(b)}


def agreed(brokers, nodes):
    """The views of every broker if they agree on one leader, term, servers and brokers and have
    applied the same log; else None."""
    try:
        views = [clusterz(b) for b in brokers]
    except (OSError, harness.CheckFailed):
        return None
    leaders = [z for z in views if z["state"] == "leader"]
    if len(leaders) != 1:
        return None
    lid = leaders[0]["node_id"]
    first = views[0]
    for z in views:
        if z["leader_id"] != lid or z["term"] != first["term"] or z["servers"] != expected_servers(nodes):
            return None
        if z["brokers"] != first["brokers"] or z["last_applied"] != first["last_applied"]:
            return None
        if z["state"] not in ("leader", "follower"):
            return None
    registered = {r["id"] for r in first["brokers"]}
    if any(b.node_id not in registered for b in brokers):  # the leader itself; followers through it
        return None
    return views


def wait_agreed(ck, brokers, nodes, what, timeout=SETTLE_S):
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / 0.05) + 1):
        views = agreed(brokers, nodes)
        if views:
            check_views(ck, brokers, nodes, views)
            return views
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    raise harness.CheckFailed("%s: the nodes did not agree within %.0f s: %s"
                              % (what, timeout, [safe_clusterz(b) for b in brokers]))


def safe_clusterz(b):
    try:
        return clusterz(b)
    except Exception as e:  # noqa: BLE001 - shown in a failure message only
        return "node %d: %s" % (b.node_id, e)


def check_views(ck, brokers, nodes, views):
    """Every field of every view."""
    by_id = {b.node_id: b for b in brokers}
    for b, z in zip(brokers, views):
        ck.eq(sorted(z.keys()), sorted(["node_id", "state", "leader_id", "leader_address", "term",
                                        "commit_index", "last_applied", "elections", "servers", "brokers"]),
              "/clusterz fields")
        ck.eq(z["node_id"], b.node_id, "node_id")
        ck.eq(z["leader_address"], nodes[z["leader_id"]], "leader_address of node %d" % b.node_id)
        ck.ok(z["term"] >= 1, "term >= 1")
        ck.ok(z["commit_index"] >= z["last_applied"] >= 1, "commit_index %d >= last_applied %d >= 1"
              % (z["commit_index"], z["last_applied"]))
        ck.ok(z["elections"] >= 0, "elections")
        ck.eq(z["servers"], expected_servers(nodes), "servers of node %d" % b.node_id)
        ids = [r["id"] for r in z["brokers"]]
        ck.eq(ids, sorted(ids), "brokers in id order")
        for r in z["brokers"]:
            if r["id"] in by_id:
                ck.eq(r, registration(by_id[r["id"]]), "registration of node %d" % r["id"])


def metrics(b):
    st, text = call(b.http_port, "GET", "/metrics")
    out = {}
    for line in text.splitlines():
        if line.startswith("sluice_cluster_"):
            k, v = line.split(" ")
            out[k] = int(float(v))
    return out


def raw_responses(sock, n):
    """n HTTP/1.1 responses with Content-Length read off sock: [(status, JSON)]."""
    f = sock.makefile("rb")
    out = []
    for _ in range(n):
        status = int(f.readline().split()[1])
        length = 0
        while True:
            line = f.readline().strip()
            if not line:
                break
            k, _, v = line.partition(b":")
            if k.lower() == b"content-length":
                length = int(v)
        out.append((status, json.loads(f.read(length) or b"null")))
    return out


class Pings:
    def __init__(self):
        self.rtts, self.result = [], None


def ping_while(b, fn):
    """Runs fn() while a thread sends NATS PINGs to b back to back; their round trips and
    fn's result."""
    out = Pings()
    stop, ready = threading.Event(), threading.Event()

    def pinger():
        s = socket.create_connection(("127.0.0.1", b.nats_port), timeout=10)
        f = s.makefile("rb")
        f.readline()  # INFO
        s.sendall(b'CONNECT {"verbose":false}\r\n')
        for _ in range(10 ** 6):
            if stop.is_set():
                break
            t = time.monotonic()
            s.sendall(b"PING\r\n")
            line = f.readline()
            while line == b"PING\r\n":
                s.sendall(b"PONG\r\n")
                line = f.readline()
            out.rtts.append(time.monotonic() - t)
            if len(out.rtts) == 3:
                ready.set()
            time.sleep(0.005)
        s.close()

    th = threading.Thread(target=pinger)
    th.start()
    try:
        ready.wait(10)  # pinging before fn starts
        out.result = fn()
    finally:
        stop.set()
        th.join(15)
    return out


def start_node(node_id, nodes, raft_addr=None, data_dir=None, extra=()):
    args = ["--node-id", str(node_id), "--cluster-nodes", ",".join("%d@%s" % kv for kv in sorted(nodes.items())),
            "--http-token", TOKEN, "--advertised-host", advertised(node_id)] + list(extra)
    if raft_addr:
        args += ["--cluster-raft-addr", raft_addr]
    b = harness.Broker(args, data_dir)
    b.node_id = node_id
    return b.start()


def body(ck):
    harness.needs_own_broker("starts a cluster of its own brokers")
    raft_ports = harness.free_ports(4)
    nodes = {i + 1: "127.0.0.1:%d" % raft_ports[i] for i in range(3)}
    brokers = []

    with ck.section("(a) three nodes elect one leader and agree"):
        t0 = time.monotonic()
        brokers = [start_node(i, nodes) for i in (1, 2, 3)]
        views = wait_agreed(ck, brokers, nodes, "first election")
        print("     agreed %.2f s after the first start: leader %d, term %d"
              % (time.monotonic() - t0, views[0]["leader_id"], views[0]["term"]))
        for b, z in zip(brokers, views):
            m = metrics(b)
            ck.eq(m["sluice_cluster_raft_state"], 3 if z["state"] == "leader" else 1, "raft_state metric")
            ck.eq(m["sluice_cluster_leader_id"], z["leader_id"], "leader_id metric")
            ck.ok(m["sluice_cluster_term"] >= z["term"], "term metric")
            ck.ok(m["sluice_cluster_commit_index"] >= z["commit_index"], "commit_index metric")
            ck.ok("sluice_cluster_elections_total" in m, "elections_total metric")

    by_id = {b.node_id: b for b in brokers}
    with ck.section("(b) kill -9 the leader %d times" % KILLS):
        times = []
        for k in range(KILLS):
            before = wait_agreed(ck, brokers, nodes, "before kill %d" % (k + 1))
            lid, term = before[0]["leader_id"], before[0]["term"]
            registered = before[0]["brokers"]
            leader = by_id[lid]
            t0 = time.monotonic()
            leader.kill9()
            rest = [b for b in brokers if b is not leader]
            new = None
            for _ in range(int(FAILOVER_MAX_S / 0.02) + 1):
                views = [safe_clusterz(b) for b in rest]
                if all(isinstance(z, dict) for z in views):
                    ls = {z["leader_id"] for z in views}
                    states = sorted(z["state"] for z in views)
                    if len(ls) == 1 and lid not in ls and 0 not in ls and states == ["follower", "leader"]:
                        new = views
                        break
                if time.monotonic() - t0 > FAILOVER_MAX_S:
                    break
                time.sleep(0.02)
            took = time.monotonic() - t0
            ck.ok(new is not None, "kill %d: no new leader within %.0f s: %s" % (k + 1, FAILOVER_MAX_S, views))
            times.append(took)
            ck.ok(new[0]["term"] > term, "kill %d: the term rose (%d -> %d)" % (k + 1, term, new[0]["term"]))
            print("     kill %d: leader %d (term %d) killed; node %d leads (term %d) after %.2f s"
                  % (k + 1, lid, term, new[0]["leader_id"], new[0]["term"], took))
            leader.start()
            after = wait_agreed(ck, brokers, nodes, "after restart %d" % (k + 1))
            have = {r["id"]: r for r in after[0]["brokers"]}
            for r in registered:
                ck.eq(have.get(r["id"]), r, "kill %d: registration of node %d survived" % (k + 1, r["id"]))
        print("     failover times (s): %s; max %.2f" % (", ".join("%.2f" % t for t in times), max(times)))

    with ck.section("(c) add a 4th node through the API, then remove it"):
        views = wait_agreed(ck, brokers, nodes, "before add")
        leader = by_id[views[0]["leader_id"]]
        addr4 = "127.0.0.1:%d" % raft_ports[3]
        b4 = start_node(4, nodes, raft_addr=addr4)
        t0 = time.monotonic()
        # The add waits for node 4 to catch up (on a worker thread: the loop serves on). A
        # /clusterz pipelined behind it on the same connection is answered after it; the
        # leader's NATS port answers PING all along.
        body4 = json.dumps({"id": 4, "address": addr4}).encode()
        raw = socket.create_connection(("127.0.0.1", leader.http_port), timeout=15)
        req = (b"POST /v1/cluster/nodes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
               b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
               b"GET /clusterz HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n"
               % (TOKEN.encode(), len(body4), body4, TOKEN.encode()))
        pings = ping_while(leader, lambda: (raw.sendall(req), raw_responses(raw, 2))[1])
        (st, res), (zst, z) = pings.result
        raw.close()
        took = time.monotonic() - t0
        ck.eq((st, res), (200, {"id": 4, "address": addr4, "role": "voter"}), "add node 4")
        ck.eq((zst, sorted(s["id"] for s in z.get("servers", []))), (200, [1, 2, 3, 4]),
              "/clusterz pipelined behind the add: answered after it")
        print("     add answered in %.2f s; the leader's NATS PING meanwhile: max %.1f ms (%d)"
              % (took, max(pings.rtts) * 1000, len(pings.rtts)))
        # Held, one PING would wait out (nearly) the whole add; the bound leaves room for jitter.
        ck.ok(len(pings.rtts) >= 3 and (took < 0.15 or max(pings.rtts) < 0.8 * took),
              "the add did not hold the leader's loop: PING max %.1f ms (%d) while it took %.2f s"
              % (max(pings.rtts or [0]) * 1000, len(pings.rtts), took))
        nodes4 = dict(nodes)
        nodes4[4] = addr4
        wait_agreed(ck, brokers + [b4], nodes4, "node 4 a voter everywhere")
        print("     node 4 a voter on every node %.2f s after the request" % (time.monotonic() - t0))
        st, res = call(leader.http_port, "POST", "/v1/cluster/nodes", json.dumps({"id": 4, "address": addr4}))
        ck.eq(st, 409, "adding node 4 again: %s" % res)
        st, res = call(leader.http_port, "DELETE", "/v1/cluster/nodes/4")
        ck.eq((st, res), (200, {"id": 4, "removed": True}), "remove node 4")
        wait_agreed(ck, brokers, nodes, "node 4 gone everywhere")
        b4.stop()

    with ck.section("(d) leader transfer to a named node"):
        views = wait_agreed(ck, brokers, nodes, "before transfer")
        lid = views[0]["leader_id"]
        target = min(i for i in nodes if i != lid)
        st, res = call(by_id[lid].http_port, "POST", "/v1/cluster/leader/transfer", json.dumps({"id": target}))
        ck.eq((st, res), (200, {"leader_id": target}), "transfer to %d" % target)
        views = wait_agreed(ck, brokers, nodes, "after transfer")
        ck.eq(views[0]["leader_id"], target, "the new leader")

    with ck.section("(d2) rolling restart with SIGTERM"):
        for i in sorted(nodes):
            views = wait_agreed(ck, brokers, nodes, "before restarting node %d" % i)
            if views[0]["leader_id"] == i:
                st, res = call(by_id[i].http_port, "POST", "/v1/cluster/leader/transfer", "{}")
                ck.eq(st, 200, "node %d hands over before its restart: %s" % (i, res))
                ck.ok(res["leader_id"] != i, "the leadership moved")
            before = wait_agreed(ck, brokers, nodes, "node %d not the leader" % i)
            by_id[i].stop()
            by_id[i].start()
            after = wait_agreed(ck, brokers, nodes, "after restarting node %d" % i)
            ck.eq(after[0]["brokers"], before[0]["brokers"], "registrations after restarting node %d" % i)
            ck.ok(after[0]["last_applied"] >= before[0]["last_applied"], "the log after restarting node %d" % i)

    with ck.section("(e) bad input gets clear errors"):
        views = wait_agreed(ck, brokers, nodes, "before bad input")
        lid = views[0]["leader_id"]
        lp = by_id[lid].http_port
        follower = by_id[min(i for i in nodes if i != lid)]
        cases = [
            ("POST", "/v1/cluster/nodes", "{not json", 400, "not a JSON object"),
            ("POST", "/v1/cluster/nodes", "[1,2]", 400, "not a JSON object"),
            ("POST", "/v1/cluster/nodes", '{"id":"4","address":"127.0.0.1:1"}', 400, "\"id\""),
            ("POST", "/v1/cluster/nodes", '{"id":0,"address":"127.0.0.1:1"}', 400, "\"id\""),
            ("POST", "/v1/cluster/nodes", '{"id":4}', 400, "\"address\""),
            ("POST", "/v1/cluster/nodes", '{"id":4,"address":"nohost"}', 400, "no ':port'"),
            ("POST", "/v1/cluster/nodes", '{"id":4,"address":"127.0.0.1:1","x":1}', 400, "unknown field 'x'"),
            ("POST", "/v1/cluster/nodes", '{"id":2,"address":"127.0.0.1:1"}', 409, ""),
            ("DELETE", "/v1/cluster/nodes/99", None, 404, "no such node"),
            ("DELETE", "/v1/cluster/nodes/abc", None, 400, "node id"),
            ("DELETE", "/v1/cluster/nodes/%d" % lid, None, 409, "transfer the leadership first"),
            ("POST", "/v1/cluster/leader/transfer", '{"id":99}', 404, "no such node"),
            ("POST", "/v1/cluster/leader/transfer", '{"id":%d}' % lid, 409, "already the leader"),
            ("POST", "/v1/cluster/leader/transfer", "garbage", 400, "not a JSON object"),
            ("POST", "/v1/cluster/brokers", '{"id":1,"kafka":"h:1","nats":"h:2"}', 400, "\"http\""),
            ("POST", "/v1/cluster/brokers", '{"id":1,"kafka":"h:1","nats":"h:0","http":"h:3"}', 400, "host:port"),
            ("POST", "/v1/cluster/brokers", '{"id":1,"kafka":"h 1:1","nats":"h:2","http":"h:3"}', 400, "host:port"),
            ("POST", "/v1/cluster/brokers", '{"id":99,"kafka":"h:1","nats":"h:2","http":"h:3"}', 404, "no such node"),
        ]
        for method, path, data, want, words in cases:
            st, res = call(lp, method, path, data)
            ck.eq(st, want, "%s %s %s: %s" % (method, path, data, res))
            ck.ok(isinstance(res, dict) and words in res.get("error", ""), "%s %s %s: error says '%s': %s"
                  % (method, path, data, words, res))
        for method, path, data in [("POST", "/v1/cluster/nodes", '{"id":5,"address":"127.0.0.1:2"}'),
                                   ("DELETE", "/v1/cluster/nodes/1", None),
                                   ("POST", "/v1/cluster/leader/transfer", "{}")]:
            st, res = call(follower.http_port, method, path, data)
            ck.eq(st, 421, "%s %s on follower %d: %s" % (method, path, follower.node_id, res))
            ck.eq((res.get("leader_id"), res.get("leader_address")), (lid, nodes[lid]), "421 names the leader")
        st, res = call(lp, "POST", "/v1/cluster/leader/transfer", "{}", token=None)
        ck.eq(st, 403, "an admin route without the token (http_server.h: 403, as /v1/security/users)")
        st, res = call(lp, "GET", "/clusterz", token=None)
        ck.eq(st, 401, "/clusterz without the token")
        wait_agreed(ck, brokers, nodes, "after bad input")  # nothing changed, everyone still agrees

    with ck.section("(f) a malformed cluster_nodes refuses to start"):
        with harness.scratch_dir("sluice-cluster-bad-") as d:
            for bad, words in [("1@127.0.0.1", "no ':port'"), ("1@127.0.0.1:7001,1@127.0.0.1:7002", "named twice"),
                               ("x@127.0.0.1:7001", "node id"), ("2@127.0.0.1:7002", "node_id 1 is not in the list")]:
                p = subprocess.run([harness.server_binary(), "--data-dir", d, "--node-id", "1", "--cluster-nodes", bad,
                                    "--kafka-port", "0", "--port", "0", "--http-port", "0"],
                                   capture_output=True, text=True, timeout=10)
                out = p.stdout + p.stderr
                ck.eq(p.returncode, 2, "cluster_nodes=%s exits 2: %s" % (bad, out.strip()))
                ck.ok("cluster_nodes" in out and words in out, "cluster_nodes=%s: message names it: %s"
                      % (bad, out.strip()))

    with ck.section("(g) monitoring over https with tls_verify: followers register through the leader's https port"):
        with harness.scratch_dir("sluice-cluster-tls-") as d:
            make_certs(d)
            raft = harness.free_ports(3)
            mon = harness.free_ports(3)
            nodes_t = {i + 1: "127.0.0.1:%d" % raft[i] for i in range(3)}
            ctx = ssl.create_default_context(cafile=d + "/ca.pem")
            ctx.load_cert_chain(d + "/client.pem", d + "/client.key")
            tb = []
            try:
                for i in (1, 2, 3):
                    b = start_node(i, nodes_t, extra=["--tlscert", d + "/server.pem", "--tlskey", d + "/server.key",
                                                      "--tlscacert", d + "/ca.pem", "--tlsverify",
                                                      "-ms", str(mon[i - 1])])
                    b.https_port, b.tls_ctx = mon[i - 1], ctx
                    tb.append(b)
                # agreed() wants every node registered, the followers' through the leader's https port
                views = wait_agreed(ck, tb, nodes_t, "https cluster")
                lid = views[0]["leader_id"]
                ck.eq(sorted(r["id"] for r in views[0]["brokers"]), [1, 2, 3], "all three registered")
                for b in tb:
                    if b.node_id != lid:
                        needle = ("registration sent to leader %d" % lid).encode()
                        ck.ok(needle in b.log_text(needle),
                              "node %d logged its registration over https" % b.node_id)
                # without a client certificate the leader's https port refuses the handshake
                bare = ssl.create_default_context(cafile=d + "/ca.pem")
                refused = False
                try:
                    call(mon[lid - 1], "GET", "/clusterz", timeout=5.0, ctx=bare)
                except (ssl.SSLError, ConnectionError, http.client.HTTPException, OSError):
                    refused = True
                ck.ok(refused, "https without a client certificate is refused")
            finally:
                for b in tb:
                    b.stop()


def make_certs(d):
    """A CA, and a server and a client certificate it signed (for 127.0.0.1), with the openssl CLI."""
    def sh(args):
        subprocess.run(args, check=True, capture_output=True, timeout=60)
    sh(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", d + "/ca.key", "-out", d + "/ca.pem", "-days", "2", "-subj", "/CN=sluice-cluster-test-ca"])
    with open(d + "/ext", "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    for name in ("server", "client"):
        sh(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "%s/%s.key" % (d, name), "-out", "%s/%s.csr" % (d, name), "-subj", "/CN=" + name])
        sh(["openssl", "x509", "-req", "-in", "%s/%s.csr" % (d, name), "-CA", d + "/ca.pem", "-CAkey",
            d + "/ca.key", "-CAcreateserial", "-out", "%s/%s.pem" % (d, name), "-days", "2", "-extfile", d + "/ext"])


if __name__ == "__main__":
    harness.run("cluster_test", body, time_limit=280)
