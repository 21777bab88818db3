#!/usr/bin/python3
"""cluster_partition_test: network partitions of a three-broker cluster, each broker in a Linux
network namespace of its own (tests/cluster/netns.py: the namespaces are joined by a bridge in a
namespace of its own, the test process reaches them through one veth from the root namespace;
a partition sets a broker's port on the bridge down, so its packets vanish). Needs root and
`ip netns` (iproute2), else it exits 77; it deletes every namespace and link it made, however it
ends.

(a) Three brokers, each listening on its namespace's address (--host, --advertised-host and its
    Raft address in cluster_nodes): one leader, every /clusterz agrees (leader, term,
    last_applied), every broker registered.
(b) CreateTopics (6 partitions) through a follower with confluent-kafka: every broker's Metadata
    lists the three brokers at their namespace addresses, one cluster id, and the topic with the
    same leaders, two per broker.
(c) The Raft leader is cut off. The two others elect a new leader among themselves within
    FAILOVER_MAX_S (measured, printed) with a higher term; a CreateTopics through one of them
    succeeds and both list the topic. The old leader cannot commit: a POST /v1/cluster/topics
    made on it (from inside its namespace) does not answer 200 (421/503/504 or no answer, bounded),
    nor does a Kafka CreateTopics sent to it (an error within 40 s, measured),
    and once its election timeout has passed its /clusterz no longer shows it as the leader
    (libraft's check-quorum: a leader that hears from no majority steps down), and stays so;
    with pre-vote its term does not rise while it is alone.
(d) Heal: the old leader rejoins as a follower of the new leader (which keeps the leadership:
    pre-vote), every /clusterz agrees (leader, term, last_applied), its Kafka Metadata lists the
    topic made during the partition with the same leaders, and the topic it took while cut off
    was never placed anywhere (its uncommitted entry was dropped).
(e) A follower is cut off (a Kafka CreateTopics sent to it fails, bounded, measured; it loses
    the leader once its election timeout passes, without raising its term); a CreateTopics
    through the leader succeeds and the leader and the other follower list it; heal: the follower
    catches up (same leader, term, last_applied) and lists it with the same leaders.
The measured times are printed. Every wait is bounded in time and count.
"""
import os
import sys
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
sys.path.insert(0, HERE)
import harness  # noqa: E402
import netns  # noqa: E402

TOKEN = "cluster-P4rtition_7c1"
SETTLE_S = 20.0        # first election, a rejoin's catch-up. The Raft sockets carry a 3 s
                       # TCP_USER_TIMEOUT (controller.c), so a connection to a cut-off node is
                       # closed and made again instead of waiting on a retransmission backoff
                       # that doubles while cut off (before it: 5-6 s rejoins after 10 s cuts,
                       # rto 13 s after 25 s); rejoins take 0.4-1.1 s here now
FAILOVER_MAX_S = 8.0   # election timeout 1-2 s, pre-vote; a loaded machine
STEPDOWN_MAX_S = 6.0   # the cut-off leader's check-quorum: about one election timeout
POST_TIMEOUT_S = 15.0  # the cut-off leader's answer to a topic change (its own wait is 10 s)


def clusterz(b):
    st, z = b.http("GET", "/clusterz", token=TOKEN, timeout=3.0)
    if st != 200 or not isinstance(z, dict):
        raise harness.CheckFailed("/clusterz on %d: %s %s" % (b.node_id, st, z))
    return z


def safe_clusterz(b):
    try:
        return clusterz(b)
    except Exception as e:  # noqa: BLE001 - shown in a failure message only
        return "node %d: %s" % (b.node_id, e)


def agreement(brokers, registered):
    """The views if the brokers agree on one leader among them, the term and last_applied, with
    exactly one of them leader and the others followers, and every id in registered registered;
    else None."""
    views = [safe_clusterz(b) for b in brokers]
    if not all(isinstance(z, dict) for z in views):
        return None
    ids = {b.node_id for b in brokers}
    lid = views[0]["leader_id"]
    if lid not in ids or sorted(z["state"] for z in views) != sorted(["leader"] + ["follower"] * (len(views) - 1)):
        return None
    for z in views:
        if (z["leader_id"], z["term"], z["last_applied"]) != (lid, views[0]["term"], views[0]["last_applied"]):
            return None
        if z["state"] == "leader" and z["node_id"] != lid:
            return None
        if not registered <= {r["id"] for r in z["brokers"]}:
            return None
    return views


def wait_agreement(brokers, what, timeout=SETTLE_S, registered=None):
    registered = registered if registered is not None else {b.node_id for b in brokers}
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / 0.05) + 1):
        views = agreement(brokers, registered)
        if views:
            return views
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    raise harness.CheckFailed("%s: no agreement within %.0f s: %s%s"
                              % (what, timeout, [safe_clusterz(b) for b in brokers], exited(brokers)))


def exited(brokers):
    """A note naming the brokers whose process has ended (and how), for failure messages."""
    gone = ["node %d exit code %s" % (b.node_id, b.proc.poll()) for b in brokers if not b.alive()]
    return "; not running: " + ", ".join(gone) if gone else ""


def start_node(net, i, nodes):
    args = ["--node-id", str(i), "--cluster-nodes", ",".join("%d@%s" % kv for kv in sorted(nodes.items())),
            "--http-token", TOKEN, "--advertised-host", net.addr(i)]
    b = netns.NetnsBroker(net, i, args)
    b.node_id = i
    return b.start()


def metadata(b, topic=None):
    """(brokers {id: (host, port)}, {partition: leader}, topic error, all topic names, cluster id)."""
    from confluent_kafka.admin import AdminClient
    md = AdminClient({"bootstrap.servers": b.bootstrap}).list_topics(topic=topic, timeout=10)
    parts, err = {}, None
    if topic:
        t = md.topics.get(topic)
        if t is not None:
            err = t.error
            parts = {p: pm.leader for p, pm in t.partitions.items()}
    return {i: (m.host, m.port) for i, m in md.brokers.items()}, parts, err, set(md.topics), md.cluster_id


def wait_metadata(b, topic, want_parts, timeout=10.0):
    """{partition: leader} once b's Metadata lists topic with want_parts partitions (bounded)."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / 0.1) + 1):
        _, parts, err, _, _ = metadata(b, topic)
        if len(parts) == want_parts and err is None:
            return parts
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    raise harness.CheckFailed("%s on node %d: %d partitions (error %s), want %d"
                              % (topic, b.node_id, len(parts), err, want_parts))


def create(b, name, partitions):
    """CreateTopics through broker b (bootstrap: b only): None or the KafkaError."""
    from confluent_kafka.admin import AdminClient, NewTopic
    a = AdminClient({"bootstrap.servers": b.bootstrap})
    fs = a.create_topics([NewTopic(name, partitions)], operation_timeout=15)
    try:
        fs[name].result(timeout=30)
        return None
    except Exception as e:  # noqa: BLE001 - the KafkaError is the outcome
        return e.args[0] if e.args else e


def create_inside(net, b, name, partitions, timeout=40.0):
    """CreateTopics through broker b made from inside b's namespace (b may be cut off):
    (None or the error's name, seconds it took)."""
    script = (
        "import sys,time\n"
        "from confluent_kafka.admin import AdminClient, NewTopic\n"
        "a=AdminClient({'bootstrap.servers':sys.argv[1]})\n"
        "t=time.monotonic()\n"
        "fs=a.create_topics([NewTopic(sys.argv[2],int(sys.argv[3]))],operation_timeout=30,request_timeout=35)\n"
        "try:\n"
        " fs[sys.argv[2]].result(timeout=38);r='None'\n"
        "except Exception as e:\n"
        " r=e.args[0].name() if e.args and hasattr(e.args[0],'name') else repr(e)\n"
        "print('RESULT %s %.3f'%(r,time.monotonic()-t))\n")
    t = time.monotonic()
    try:
        p = net.run_in(b.index, ["/usr/bin/python3", "-c", script, b.bootstrap, name, str(partitions)],
                       timeout=timeout + 10)
    except Exception as e:  # noqa: BLE001 - subprocess.TimeoutExpired: no answer
        return "no answer (%s)" % type(e).__name__, time.monotonic() - t
    line = [x for x in p.stdout.splitlines() if x.startswith("RESULT ")]
    if not line:
        return "exit %d: %s" % (p.returncode, p.stderr.strip()[-300:]), time.monotonic() - t
    _, r, took = line[-1].split(" ")
    return (None if r == "None" else r), float(took)


def body(ck):
    harness.needs_own_broker("starts a cluster of its own brokers in network namespaces")
    netns.require()
    net = netns.Net(3)
    print("     namespaces %s, bridge namespace %s, subnet %s (the test at %s)"
          % (", ".join(net.ns(i) for i in (1, 2, 3)), net.bridge_ns, net.subnet, net.host_addr))
    try:
        scenario(ck, net)
        for b in net.brokers:
            if b.alive():
                b.stop()  # exit code 0 required
    finally:
        net.close()
    ck.eq(net.leftovers(), [], "no namespace or link left behind")


def scenario(ck, net):
    raft_ports = harness.free_ports(3)
    nodes = {i: "%s:%d" % (net.addr(i), raft_ports[i - 1]) for i in (1, 2, 3)}
    times = {}
    net.brokers = []

    with ck.section("(a) three brokers in three namespaces elect one leader and register"):
        t0 = time.monotonic()
        for i in (1, 2, 3):
            net.brokers.append(start_node(net, i, nodes))
        brokers = net.brokers
        views = wait_agreement(brokers, "first election")
        times["first agreement"] = time.monotonic() - t0
        for b, z in zip(brokers, views):
            ck.eq(sorted((s["id"], s["address"]) for s in z["servers"]), sorted(nodes.items()),
                  "servers on node %d" % b.node_id)
            for r in z["brokers"]:
                ck.eq(r["kafka"], "%s:%d" % (net.addr(r["id"]), net.brokers[r["id"] - 1].kafka_port),
                      "node %d's registration names its namespace address" % r["id"])
        print("     agreed %.2f s after the first start: leader %d, term %d"
              % (times["first agreement"], views[0]["leader_id"], views[0]["term"]))
    by_id = {b.node_id: b for b in brokers}

    t1 = harness.unique("before")
    with ck.section("(b) CreateTopics through a follower: every broker lists it with the same leaders"):
        views = wait_agreement(brokers, "before (b)")
        lid = views[0]["leader_id"]
        f = next(b for b in brokers if b.node_id != lid)
        ck.eq(create(f, t1, 6), None, "CreateTopics %s through follower %d" % (t1, f.node_id))
        want_brokers = {b.node_id: (b.host, b.kafka_port) for b in brokers}
        leads = []
        for b in brokers:
            parts = wait_metadata(b, t1, 6)
            ck.eq(metadata(b)[0], want_brokers, "brokers in node %d's Metadata" % b.node_id)
            leads.append(parts)
        cids = {metadata(b)[4] for b in brokers}
        ck.eq(len(cids), 1, "one cluster id on every broker (%s)" % cids)
        ck.eq(leads[1], leads[0], "nodes 2 and 1 agree on the leaders")
        ck.eq(leads[2], leads[0], "nodes 3 and 1 agree on the leaders")
        ck.eq(sorted(list(leads[0].values()).count(n) for n in (1, 2, 3)), [2, 2, 2], "two partitions per broker")
        t1_leads = leads[0]

    t2 = harness.unique("during")
    ghost = harness.unique("ghost")
    with ck.section("(c) the Raft leader cut off: the majority elects a new leader, the old one cannot commit"):
        before = wait_agreement(brokers, "before (c)")
        old_id, old_term = before[0]["leader_id"], before[0]["term"]
        old = by_id[old_id]
        rest = [b for b in brokers if b is not old]
        post = {}

        def post_on_old():
            t = time.monotonic()
            body_ = '{"action":"create","name":"%s","partitions":1,"id":"%s"}' % (ghost, uuid.uuid4().hex)
            post["answer"] = old.http("POST", "/v1/cluster/topics", body_, token=TOKEN, timeout=POST_TIMEOUT_S)
            post["took"] = time.monotonic() - t

        t0 = time.monotonic()
        net.partition(old.index)
        th = threading.Thread(target=post_on_old)
        th.start()
        watch = {}

        def poll_old():
            for _ in range(int(STEPDOWN_MAX_S / 0.1) + 1):
                z = safe_clusterz(old)
                watch["z"] = z
                if isinstance(z, dict) and z["state"] != "leader":
                    watch["stepped"] = time.monotonic() - t0
                    return
                if time.monotonic() - t0 > STEPDOWN_MAX_S:
                    return
                time.sleep(0.1)

        wt = threading.Thread(target=poll_old)
        wt.start()
        new = None
        for _ in range(int(FAILOVER_MAX_S / 0.05) + 1):
            views = [safe_clusterz(b) for b in rest]
            if all(isinstance(z, dict) for z in views):
                ls = {z["leader_id"] for z in views}
                if (len(ls) == 1 and ls <= {b.node_id for b in rest}
                        and sorted(z["state"] for z in views) == ["follower", "leader"]
                        and len({z["term"] for z in views}) == 1):
                    new = views
                    break
            if time.monotonic() - t0 > FAILOVER_MAX_S:
                break
            time.sleep(0.05)
        times["failover (majority elects)"] = time.monotonic() - t0
        ck.ok(new is not None, "no new leader among %s within %.0f s: %s%s"
              % ([b.node_id for b in rest], FAILOVER_MAX_S, views, exited(brokers)))
        new_id, new_term = new[0]["leader_id"], new[0]["term"]
        ck.ok(new_id != old_id, "a new leader (%d, was %d)" % (new_id, old_id))
        ck.ok(new_term > old_term, "a higher term (%d -> %d)" % (old_term, new_term))
        print("     leader %d (term %d) cut off; node %d leads (term %d) after %.2f s"
              % (old_id, old_term, new_id, new_term, times["failover (majority elects)"]))

        # the cut-off leader steps down (check-quorum), watched from the cut on (poll_old)
        wt.join(STEPDOWN_MAX_S + 5)
        z_old, stepped = watch.get("z"), watch.get("stepped")
        ck.ok(stepped is not None, "the cut-off node %d still says it leads %.0f s after the cut: %s"
              % (old_id, STEPDOWN_MAX_S, z_old))
        times["old leader steps down"] = stepped
        print("     the cut-off node %d no longer the leader %.2f s after the cut (polled every 0.1 s from inside"
              " its namespace): state %s, leader_id %d, term %d"
              % (old_id, stepped, z_old["state"], z_old["leader_id"], z_old["term"]))

        m = next(b for b in rest if b.node_id != new_id)  # the majority's follower: forwards to the new leader
        t = time.monotonic()
        ck.eq(create(m, t2, 6), None, "CreateTopics %s through node %d during the partition" % (t2, m.node_id))
        times["CreateTopics in the majority"] = time.monotonic() - t
        t2_leads = [wait_metadata(b, t2, 6) for b in rest]
        ck.eq(t2_leads[1], t2_leads[0], "the majority's brokers agree on %s's leaders" % t2)

        th.join(POST_TIMEOUT_S + 15)
        ck.ok(not th.is_alive(), "the POST on the cut-off node ended (bounded)")
        st, res = post.get("answer", (None, "no answer"))
        print("     POST /v1/cluster/topics on the cut-off node: %s %s after %.2f s"
              % (st, res, post.get("took", -1)))
        ck.ok(st in (421, 503, 504, None), "a topic change on the cut-off node is not committed: %s %s" % (st, res))

        # a Kafka CreateTopics on the cut-off node (from inside its namespace) fails, bounded
        err, took = create_inside(net, old, harness.unique("ghostk"), 1)
        print("     Kafka CreateTopics on the cut-off node %d: %s after %.2f s" % (old_id, err, took))
        times["CreateTopics on the cut-off leader fails"] = took
        ck.ok(err is not None, "CreateTopics on the cut-off node %d does not succeed: %s" % (old_id, err))

        # alone it stays a non-leader; with pre-vote its term does not rise
        samples = []
        for _ in range(10):
            samples.append(safe_clusterz(old))
            time.sleep(0.2)
        ck.ok(all(isinstance(z, dict) and z["state"] != "leader" and z["leader_id"] != old_id for z in samples),
              "the cut-off node stays a non-leader: %s" % [z["state"] if isinstance(z, dict) else z for z in samples])
        terms = sorted({z["term"] for z in samples if isinstance(z, dict)})
        ck.ok(terms and terms[-1] <= old_term, "pre-vote: the cut-off node's term did not rise (%d -> %s)"
              % (old_term, terms))
        ck.ok(all(z["last_applied"] <= before[0]["last_applied"] for z in samples if isinstance(z, dict)),
              "the cut-off node applied nothing new: %s" % [z["last_applied"] for z in samples if isinstance(z, dict)])
        for b in rest:
            ck.ok(clusterz(b)["leader_id"] == new_id, "node %d still follows %d" % (b.node_id, new_id))

    with ck.section("(d) heal: the old leader rejoins as a follower and lists the topic made without it"):
        t0 = time.monotonic()
        net.heal(old.index)
        views = wait_agreement(brokers, "after healing node %d" % old_id)
        times["rejoin (all agree)"] = time.monotonic() - t0
        ck.eq(views[0]["leader_id"], new_id, "the new leader keeps the leadership (pre-vote: no disruption)")
        ck.eq(views[old_id - 1]["state"], "follower", "node %d is a follower" % old_id)
        ck.ok(views[0]["term"] >= new_term, "term %d >= %d" % (views[0]["term"], new_term))
        parts = wait_metadata(old, t2, 6, timeout=15.0)
        times["rejoined node lists the topic (since the heal)"] = time.monotonic() - t0
        ck.eq(parts, t2_leads[0], "node %d lists %s with the same leaders" % (old_id, t2))
        ck.eq(wait_metadata(old, t1, 6), t1_leads, "node %d still lists %s with the same leaders" % (old_id, t1))
        ck.eq({metadata(b)[4] for b in brokers}, cids, "the same cluster id on every broker after the heal")
        for b in brokers:
            ck.ok(ghost not in metadata(b)[3], "%s (taken by the cut-off node) is placed nowhere: node %d"
                  % (ghost, b.node_id))
        print("     healed: all agree after %.2f s (leader %d, term %d, last_applied %d); node %d lists %s after %.2f s"
              % (times["rejoin (all agree)"], views[0]["leader_id"], views[0]["term"], views[0]["last_applied"],
                 old_id, t2, times["rejoined node lists the topic (since the heal)"]))

    t3 = harness.unique("follower-cut")
    with ck.section("(e) a follower cut off: the leader goes on; healed, the follower catches up"):
        for i in sorted(net.down):  # left cut off by a failed section
            net.heal(i)
        before = wait_agreement(brokers, "before (e)")
        lid = before[0]["leader_id"]
        leader = by_id[lid]
        fol = next(b for b in brokers if b.node_id != lid)
        other = next(b for b in brokers if b.node_id not in (lid, fol.node_id))
        net.partition(fol.index)
        t = time.monotonic()
        err, took = create_inside(net, fol, harness.unique("cutk"), 1)
        print("     Kafka CreateTopics on the cut-off follower %d right after the cut: %s after %.2f s"
              % (fol.node_id, err, took))
        times["CreateTopics on the cut-off follower fails"] = took
        ck.ok(err is not None, "CreateTopics on the cut-off follower %d does not succeed: %s" % (fol.node_id, err))
        t_cut = t
        t = time.monotonic()
        ck.eq(create(leader, t3, 3), None, "CreateTopics %s through the leader %d with node %d cut off"
              % (t3, lid, fol.node_id))
        times["CreateTopics with a follower cut off"] = time.monotonic() - t
        lp = wait_metadata(leader, t3, 3)
        ck.eq(wait_metadata(other, t3, 3), lp, "node %d lists %s with the same leaders" % (other.node_id, t3))
        # stay cut off until the follower has lost the leader (its election timer fired): healing
        # must then not disrupt the leader (pre-vote), and the follower must catch up
        z, lost = None, None
        for _ in range(int((STEPDOWN_MAX_S + 40) / 0.1) + 1):
            z = safe_clusterz(fol)
            if isinstance(z, dict) and z["leader_id"] != lid:
                lost = time.monotonic() - t_cut
                break
            if time.monotonic() - t_cut > STEPDOWN_MAX_S + 40:
                break
            time.sleep(0.1)
        ck.ok(lost is not None, "the cut-off follower %d still names leader %d %.0f s after the cut: %s"
              % (fol.node_id, lid, time.monotonic() - t_cut, z))
        times["cut-off follower loses the leader (<=)"] = lost
        ck.ok(z["state"] != "leader" and z["term"] == before[0]["term"],
              "the cut-off follower neither leads nor raises its term (pre-vote): %s" % z)
        ck.eq(clusterz(leader)["state"], "leader", "the leader keeps leading with a majority")
        ck.ok(clusterz(leader)["last_applied"] > before[0]["last_applied"], "the leader applied the new topic")
        t0 = time.monotonic()
        net.heal(fol.index)
        views = wait_agreement(brokers, "after healing node %d" % fol.node_id)
        times["follower catches up (all agree)"] = time.monotonic() - t0
        ck.eq(views[0]["leader_id"], lid, "the leader did not change")
        ck.eq(wait_metadata(fol, t3, 3, timeout=15.0), lp, "node %d lists %s with the same leaders"
              % (fol.node_id, t3))
        times["healed follower lists the topic"] = time.monotonic() - t0
        print("     follower %d cut off: CreateTopics took %.2f s, it lost the leader after %.2f s; healed, it agrees"
              " after %.2f s and lists %s after %.2f s"
              % (fol.node_id, times["CreateTopics with a follower cut off"], lost, times["follower catches up (all agree)"],
                 t3, times["healed follower lists the topic"]))

    print("     measured times (s): " + "; ".join("%s %.2f" % kv for kv in times.items()))


if __name__ == "__main__":
    harness.run("cluster_partition_test", body, modules=["confluent_kafka"], time_limit=280)
