#!/usr/bin/python3
"""cli_cluster_test: `sluice cluster` against three real sluice-server processes in one Raft group,
driving the cluster admin API on their monitoring ports (GET /clusterz, POST /v1/cluster/nodes,
DELETE /v1/cluster/nodes/<id>, POST /v1/cluster/leader/transfer), checked against /clusterz read
directly over HTTP on every node.

- status on every node: the header block (node, state, leader and its address, term, commit
  index, last applied, elections) and the SERVERS and BROKERS tables equal that node's /clusterz,
  row for row; --json equals /clusterz;
- add: a 4th broker (not in cluster_nodes, started with --cluster-raft-addr) added through a
  follower (the CLI follows the leader: its registered monitoring port, named on stderr) becomes
  a voter on every node; adding it again is refused with the broker's message; remove 4 through
  the leader takes it out everywhere; remove 99 exits 2 with the broker's message;
- transfer ID sent to a follower makes ID the leader on every node; transfer with no ID (--json)
  moves it to another node, the one it prints; transfer to the leader itself is refused (409);
- bad input: no arguments, an unknown verb, non-numeric or out-of-range ids, missing or extra
  arguments exit 1 without a request; a wrong token exits 4 with the broker's own error text,
  and changes nothing;
- with two of three nodes stopped, a change sent to the last one exits 4 saying no leader is known.
Every wait is bounded in time and count.
"""
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "cluster"))
sys.path.insert(0, HERE)
import harness  # noqa: E402
import cluster_test as ct  # noqa: E402
from cliutil import sluice  # noqa: E402

TOKEN = ct.TOKEN
# As the brief of this test has it: clients are told 127.0.0.1 (cluster_test uses names to catch
# a padding bug; here the advertised host only has to be what the tables show).
ct.advertised = lambda node_id: "127.0.0.1"


def cli(b, args, token=TOKEN):
    env = {"SLUICE_ADMIN_TOKEN": token}
    return sluice(["--admin", "http://127.0.0.1:%d" % b.http_port] + list(args), timeout=60, env=env)


def steady(b, fn, what, tries=20):
    """(z, fn()) with z the /clusterz of b both just before and just after fn ran (so the CLI
    saw that very view). Bounded: tries attempts."""
    for _ in range(tries):
        z1 = ct.clusterz(b)
        r = fn()
        z2 = ct.clusterz(b)
        if z1 == z2:
            return z1, r
        time.sleep(0.1)
    raise harness.CheckFailed("%s: /clusterz of node %d kept changing" % (what, b.node_id))


def table(lines, title):
    """The rows (split on whitespace) of the table under the line `title`, header first."""
    i = lines.index(title)
    out = []
    for line in lines[i + 1:]:
        if not line.strip():
            break
        out.append(line.split())
    return out


def ck_status(ck, b, z, out):
    text = out.decode()
    lid = z["leader_id"]
    leader = "%d (%s)" % (lid, z["leader_address"]) if lid else "none"
    head = ("Node: %d  State: %s  Leader: %s\nTerm: %d  Commit index: %d  Last applied: %d  Elections: %d\n\n"
            % (z["node_id"], z["state"], leader, z["term"], z["commit_index"], z["last_applied"], z["elections"]))
    ck.eq(text[:len(head)], head, "status header of node %d" % b.node_id)
    lines = text.split("\n")
    ck.eq(table(lines, "SERVERS"), [["ID", "ADDRESS", "ROLE"]] +
          [[str(s["id"]), s["address"], s["role"]] for s in z["servers"]], "SERVERS of node %d" % b.node_id)
    ck.eq(table(lines, "BROKERS"), [["ID", "KAFKA", "NATS", "HTTP"]] +
          [[str(r["id"]), r["kafka"], r["nats"], r["http"]] for r in z["brokers"]], "BROKERS of node %d" % b.node_id)
    ck.ok(len(z["servers"]) >= 3 and len(z["brokers"]) >= 3, "the tables are not empty: %s" % z)


def body(ck):
    harness.needs_own_broker("starts a cluster of its own brokers")
    raft_ports = harness.free_ports(4)
    nodes = {i + 1: "127.0.0.1:%d" % raft_ports[i] for i in range(3)}

    with ck.section("three brokers agree"):
        t0 = time.monotonic()
        brokers = [ct.start_node(i, nodes) for i in (1, 2, 3)]
        views = ct.wait_agreed(ck, brokers, nodes, "first election")
        print("     agreed after %.2f s: leader %d" % (time.monotonic() - t0, views[0]["leader_id"]))
    by_id = {b.node_id: b for b in brokers}

    with ck.section("status: header and tables equal /clusterz on every node; --json equals /clusterz"):
        for b in brokers:
            z, (rc, out, err, _) = steady(b, lambda: cli(b, ["cluster", "status"]), "status")
            ck.eq(rc, 0, "status on node %d: %s" % (b.node_id, err))
            ck_status(ck, b, z, out)
            if b is brokers[0]:
                print("\n".join("     | " + line for line in out.decode().rstrip("\n").split("\n")))
            z, (rc, out, err, _) = steady(b, lambda: cli(b, ["--json", "cluster", "status"]), "status --json")
            ck.eq(rc, 0, "status --json on node %d: %s" % (b.node_id, err))
            ck.eq(json.loads(out), z, "status --json of node %d" % b.node_id)
            ck.eq(out.count(b"\n"), 1, "--json is one line")
        rc, out, err, _ = cli(brokers[0], ["cluster", "status", "--json"])  # the flag after the verb too
        ck.eq((rc, sorted(json.loads(out or b"{}").keys())), (0, sorted(views[0].keys())), "--json after the verb")

    with ck.section("add a 4th broker through a follower (the CLI follows the leader), then remove it"):
        views = ct.wait_agreed(ck, brokers, nodes, "before add")
        lid = views[0]["leader_id"]
        follower = by_id[min(i for i in nodes if i != lid)]
        addr4 = "127.0.0.1:%d" % raft_ports[3]
        b4 = ct.start_node(4, nodes, raft_addr=addr4)
        t0 = time.monotonic()
        rc, out, err, took = cli(follower, ["cluster", "add", "4", addr4])
        ck.eq((rc, out.decode()), (0, "added node 4 at %s as a voter\n" % addr4), "add 4 via node %d: %s"
              % (follower.node_id, err))
        ck.ok("node %d is not the leader: sending to the leader, node %d at http://127.0.0.1:%d"
              % (follower.node_id, lid, by_id[lid].http_port) in err, "stderr names the leader it followed: %r" % err)
        print("     add through node %d answered in %.2f s" % (follower.node_id, took))
        nodes4 = dict(nodes)
        nodes4[4] = addr4
        ct.wait_agreed(ck, brokers + [b4], nodes4, "node 4 a voter everywhere")
        print("     node 4 a voter on every node %.2f s after the command" % (time.monotonic() - t0))
        z, (rc, out, err, _) = steady(b4, lambda: cli(b4, ["cluster", "status"]), "status of node 4")
        ck.eq(rc, 0, "status on node 4: %s" % err)
        ck_status(ck, b4, z, out)
        ck.eq([s["id"] for s in z["servers"]], [1, 2, 3, 4], "node 4 sees itself a member")
        rc, out, err, _ = cli(by_id[lid], ["cluster", "add", "4", addr4])
        st, res = ct.call(by_id[lid].http_port, "POST", "/v1/cluster/nodes", json.dumps({"id": 4, "address": addr4}))
        ck.eq((rc, out, st), (4, b"", 409), "adding node 4 again: %s" % err)
        ck.ok(res["error"] in err, "the broker's message %r in %r" % (res["error"], err))
        rc, out, err, _ = cli(by_id[lid], ["cluster", "remove", "4"])
        ck.eq((rc, out.decode()), (0, "removed node 4\n"), "remove 4 via the leader: %s" % err)
        ck.eq(err, "", "nothing on stderr when --admin is the leader")
        ct.wait_agreed(ck, brokers, nodes, "node 4 gone everywhere")
        rc, out, err, _ = cli(follower, ["cluster", "remove", "99"])
        ck.eq((rc, out), (2, b""), "remove 99: exit 2 (%s)" % err.strip())
        ck.ok("no such node in the configuration" in err, "the broker's message: %r" % err)
        rc, out, err, _ = cli(by_id[lid], ["cluster", "add", "5", "nohost"])
        ck.eq((rc, out), (4, b""), "add 5 nohost: exit 4 (%s)" % err.strip())
        ck.ok("HTTP 400" in err and "no ':port'" in err, "the broker's message: %r" % err)
        b4.stop()

    with ck.section("transfer ID sent to a follower makes ID the leader everywhere; transfer with no ID"):
        views = ct.wait_agreed(ck, brokers, nodes, "before transfer")
        lid = views[0]["leader_id"]
        f1, f2 = sorted(i for i in nodes if i != lid)
        rc, out, err, _ = cli(by_id[f1], ["cluster", "transfer", str(f2)])
        ck.eq((rc, out.decode()), (0, "leadership transferred to node %d\n" % f2), "transfer %d via node %d: %s"
              % (f2, f1, err))
        ck.ok("sending to the leader, node %d" % lid in err, "followed the leader: %r" % err)
        views = ct.wait_agreed(ck, brokers, nodes, "after transfer")
        ck.eq([z["leader_id"] for z in views], [f2] * 3, "node %d leads on every node" % f2)
        ck.eq([z["state"] == "leader" for z in views], [b.node_id == f2 for b in brokers], "states")
        rc, out, err, _ = cli(by_id[lid], ["--json", "cluster", "transfer"])
        ck.eq(rc, 0, "transfer (any voter) via node %d: %s" % (lid, err))
        res = json.loads(out or b"{}")
        ck.ok(res.get("leader_id") in nodes and res["leader_id"] != f2, "a new leader: %r" % res)
        ck.eq(res, {"leader_id": res.get("leader_id")}, "transfer --json is the broker's answer")
        views = ct.wait_agreed(ck, brokers, nodes, "after transfer to any voter")
        ck.eq([z["leader_id"] for z in views], [res["leader_id"]] * 3, "the printed leader leads everywhere")
        lid = views[0]["leader_id"]
        other = by_id[min(i for i in nodes if i != lid)]
        rc, out, err, _ = cli(other, ["cluster", "transfer", str(lid)])
        ck.eq((rc, out), (4, b""), "transfer to the leader itself: exit 4 (%s)" % err.strip())
        ck.ok("HTTP 409" in err and "this node is already the leader" in err, "the broker's message: %r" % err)

    with ck.section("bad input: usage errors exit 1; a wrong token exits 4 with the broker's message"):
        views = ct.wait_agreed(ck, brokers, nodes, "before bad input")
        b = brokers[0]
        for args, words in ((["cluster"], "usage: sluice cluster status"),
                            (["cluster", "bogus"], "unknown verb 'bogus'"),
                            (["cluster", "remove", "abc"], "must be an integer"),
                            (["cluster", "remove", "-1"], ""),
                            (["cluster", "remove", "0"], "must be an integer"),
                            (["cluster", "remove", "4294967296"], "must be an integer"),
                            (["cluster", "transfer", "2x"], "must be an integer"),
                            (["cluster", "add", "x", "127.0.0.1:1"], "must be an integer"),
                            (["cluster", "add", "4"], "a node ID and its Raft address"),
                            (["cluster", "add", "4", ""], "the address is empty"),
                            (["cluster", "remove"], "one node ID is needed"),
                            (["cluster", "transfer", "1", "2"], "at most one node ID"),
                            (["cluster", "status", "extra"], "no arguments"),
                            (["cluster", "status", "--bogus"], "usage: sluice cluster")):
            rc, out, err, _ = cli(b, args)
            ck.eq((rc, out), (1, b""), "%s: exit 1 (%s)" % (" ".join(args), err.strip()))
            ck.ok(words in err, "%s: stderr says %r: %r" % (" ".join(args), words, err))
        rc, out, err, _ = cli(b, ["cluster", "--help"])
        ck.ok(rc == 0 and out.startswith(b"usage: sluice cluster status"), "cluster --help")
        rc, out, err, _ = sluice(["--help"])
        ck.ok(rc == 0 and b"cluster status|add|remove|transfer" in out, "sluice --help lists cluster")
        st, res = ct.call(b.http_port, "GET", "/clusterz", token="wrong")
        rc, out, err, _ = cli(b, ["cluster", "status"], token="wrong")
        ck.eq((rc, out), (4, b""), "status with a wrong token: exit 4 (%s)" % err.strip())
        ck.ok(isinstance(res, dict) and res.get("error") and res["error"] in err and "HTTP %d" % st in err,
              "the broker's message (%d %r) in %r" % (st, res, err))
        lid = views[0]["leader_id"]
        target = min(i for i in nodes if i != lid)
        st, res = ct.call(by_id[lid].http_port, "POST", "/v1/cluster/leader/transfer", "{}", token="wrong")
        for node in (by_id[lid], by_id[target]):
            rc, out, err, _ = cli(node, ["cluster", "transfer", str(target)], token="wrong")
            ck.eq((rc, out), (4, b""), "transfer with a wrong token via node %d: exit 4 (%s)"
                  % (node.node_id, err.strip()))
            ck.ok(st == 403 and res["error"] in err and "HTTP 403" in err, "the broker's message %r in %r"
                  % (res, err))
        after = ct.wait_agreed(ck, brokers, nodes, "after bad input")
        ck.eq(after[0]["leader_id"], lid, "the refused transfer changed nothing")

    with ck.section("no leader known: a change on the last node of three exits 4 and says so"):
        lid = after[0]["leader_id"]
        last = by_id[min(i for i in nodes if i != lid)]
        for b in brokers:
            if b is not last:
                b.stop()
        z = None
        deadline = time.monotonic() + ct.SETTLE_S
        for _ in range(int(ct.SETTLE_S / 0.1) + 1):
            z = ct.safe_clusterz(last)
            if isinstance(z, dict) and z["leader_id"] == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        ck.ok(isinstance(z, dict) and z["leader_id"] == 0, "node %d knows no leader: %s" % (last.node_id, z))
        rc, out, err, _ = cli(last, ["cluster", "remove", str(lid)])
        ck.eq((rc, out), (4, b""), "remove with no leader: exit 4 (%s)" % err.strip())
        ck.ok("no leader is known" in err and "no leader known: try again" in err, "says so: %r" % err)
        rc, out, err, _ = cli(last, ["cluster", "status"])
        ck.eq(rc, 0, "status with no leader: %s" % err)
        ck.ok(b"Leader: none\n" in out, "status says no leader: %r" % out[:200])
        last.stop()


if __name__ == "__main__":
    harness.run("cli_cluster_test", body, time_limit=200)
