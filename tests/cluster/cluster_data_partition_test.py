#!/usr/bin/python3
"""cluster_data_partition_test: a network partition cuts a replicated partition's leader off
(issue 16: "partition one broker from the others: the minority side stops acknowledging, the
majority goes on, and after healing the old leader truncates its uncommitted tail"). Three
brokers, each in a Linux network namespace of its own (tests/cluster/netns.py, as in
cluster_partition_test); needs root and `ip netns` (iproute2), else it exits 77; it deletes every
namespace and link it made, however it ends.

(a) Three brokers (--replica_lag_time_max_ms 2000, --broker_session_timeout_ms 1500) agree on a
    Raft leader; CreateTopics: one partition, replication factor 3, min.insync.replicas 2; its
    leader's Metadata shows the ISR [1,2,3]. The partition's leader must not be the Raft leader
    (the controller has to stay on the majority side): when the placement put both on one node,
    the Raft leadership is moved to another node (POST /v1/cluster/leader/transfer), which does
    not move the partition's leadership.
(b) 200 records produced with acks=all to the partition's leader, read back byte for byte.
(c) The partition's leader is cut off. From inside its namespace (the only place that still
    reaches it) a raw Produce v7 with acks=all is not acknowledged within 8 s (no answer, or an
    error: it cannot commit, its followers do not fetch and the controller cannot commit an ISR
    shrink for it); an acks=1 Produce then may be accepted (the uncommitted tail; its offset is
    recorded). Meanwhile the controller fences the cut-off broker and elects one of the two
    others (the time from the cut to the first Metadata on a majority broker naming the new
    leader is measured); 100 acks=all records produced through the new leader from the root
    namespace are acknowledged (at the offsets after the baseline) and read back.
(d) Heal. The old leader becomes a follower and truncates its uncommitted tail
    (sluice_replica_truncations_total rises on it, its log says "truncated from"), rejoins the ISR
    [1,2,3], and the three copies on disk are byte for byte identical. The final log is exactly
    the baseline followed by the majority's records, each acked record once at its acked offset;
    neither record written only on the cut-off side is in it, nor on any broker's disk.
The measured times are printed. Every wait is bounded in time and count. The brokers are
stopped Raft leader first, then the follower, then the new Raft leader (see stop_all: the plain
order trips a shutdown bug).
"""
import json
import os
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
INTEGRATION = os.path.join(os.path.dirname(HERE), "integration")
sys.path.insert(0, INTEGRATION)
sys.path.insert(0, HERE)
import harness  # noqa: E402
import netns  # noqa: E402
import cluster_partition_test as cpt  # noqa: E402
import cluster_replication_test as crt  # noqa: E402
from kafka_badinput_test import metadata_req, parse_metadata, read_response  # noqa: E402

TOKEN = cpt.TOKEN      # cpt's /clusterz helpers use it
LAG_MS = 2000
SESSION_MS = 1500
BASELINE = 200
MAJORITY = 100
MINORITY_WAIT_S = 8.0  # the acks=all produce on the cut-off leader must stay unanswered this long
ELECT_MAX_S = 15.0     # cut -> a majority broker names a new leader (session 1.5 s; a loaded machine)
HEAL_MAX_S = 30.0      # heal -> truncated, back in the ISR, identical copies


def start_node(net, i, nodes):
    args = ["--node-id", str(i), "--cluster-nodes", ",".join("%d@%s" % kv for kv in sorted(nodes.items())),
            "--http-token", TOKEN, "--advertised-host", net.addr(i),
            "--replica_lag_time_max_ms", str(LAG_MS), "--broker_session_timeout_ms", str(SESSION_MS)]
    b = netns.NetnsBroker(net, i, args)
    b.node_id = i
    return b.start()


def raw_md(b, topic, timeout=2.0):
    """(leader, sorted ISR) of partition 0 in b's own Metadata (v1, a plain socket: no client
    that might wander off to another broker), or None when b does not answer or lists no leader."""
    try:
        s = socket.create_connection((b.host, b.kafka_port), timeout=timeout)
    except OSError:
        return None
    try:
        s.settimeout(timeout)
        s.sendall(metadata_req(1, 1, [topic]))
        md = parse_metadata(read_response(s, 1), 1)
        t = md["topics"][0]
        if t["error"] != 0 or not t["partitions"]:
            return None
        p = t["partitions"][0]
        return p["leader"], sorted(p["isr"])
    except Exception:  # noqa: BLE001 - no answer (timeout, reset): None
        return None
    finally:
        s.close()


def wait_leader(brokers, topic, not_id=0, timeout=15.0):
    """The leader every broker in brokers names in its Metadata (not not_id), bounded."""
    deadline = time.monotonic() + timeout
    seen = None
    for _ in range(int(timeout / 0.05) + 1):
        seen = [raw_md(b, topic) for b in brokers]
        leaders = {s[0] if s else None for s in seen}
        if len(leaders) == 1 and not leaders & {None, -1, 0, not_id}:
            return leaders.pop()
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    raise harness.CheckFailed("no agreed leader for %s (not %d) within %.0f s: %s" % (topic, not_id, timeout, seen))


def wait_isr(leader_b, topic, want, timeout=15.0):
    """Seconds until leader_b's Metadata shows ISR want, bounded."""
    t0 = time.monotonic()
    got = None
    for _ in range(int(timeout / 0.05) + 1):
        got = raw_md(leader_b, topic)
        if got and got[0] == leader_b.node_id and got[1] == sorted(want):
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            break
        time.sleep(0.05)
    raise harness.CheckFailed("ISR of %s on node %d: %s within %.0f s, want %s"
                              % (topic, leader_b.node_id, got, timeout, sorted(want)))


def metric(b, key):
    st, text = b.http("GET", "/metrics", token=TOKEN, timeout=5.0)
    if st != 200 or not isinstance(text, str):
        raise harness.CheckFailed("/metrics on node %d: %s %s" % (b.node_id, st, str(text)[:200]))
    for line in text.splitlines():
        if line.startswith(key + " "):
            return int(float(line.rsplit(" ", 1)[1]))
    return 0


def produce_acked(b, topic, values, timeout=40.0):
    """Produces values (acks=all, in order, bootstrap b only) from the root namespace:
    ({value: offset} acked, {value: error} failed, seconds to the first ack)."""
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "enable.idempotence": True,
                  "linger.ms": 5, "message.timeout.ms": int(timeout * 1000),
                  "topic.metadata.refresh.interval.ms": 1000})
    acked, failed, first = {}, {}, []
    t0 = time.monotonic()

    def report(err, msg):
        if err is None:
            acked[msg.value()] = msg.offset()
            if not first:
                first.append(time.monotonic() - t0)
        else:
            failed[msg.value()] = str(err)

    for v in values:
        p.produce(topic, value=v, partition=0, on_delivery=report)
        p.poll(0)
    left = p.flush(timeout + 10)
    if left:
        failed["(undelivered)"] = left
    return acked, failed, (first[0] if first else None)


def read_log(b, topic, timeout=30.0):
    """[(offset, value)] of partition 0 read from its leader b from offset 0 to the high
    watermark (a consumer without a group from the root namespace)."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": harness.unique("read"), "enable.auto.commit": False,
                  "topic.metadata.refresh.interval.ms": 1000})
    try:
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        c.assign([TopicPartition(topic, 0, 0)])
        out = []
        deadline = time.monotonic() + timeout
        while (not out or out[-1][0] < hi - 1) and hi > 0 and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                out.append((m.offset(), m.value()))
        return out, hi
    finally:
        c.close()


# Runs inside the cut-off leader's namespace: a raw Produce v7 with acks=all (value argv[4]),
# waited for MINORITY_WAIT_S, then one with acks=1 (argv[5]) on a new connection; prints
# RESULT {"all": {...}, "one": {...}}, each {error, offset, took} or {error: null, why, took}.
MINORITY_SCRIPT = r"""
import json, socket, sys, time
sys.path.insert(0, sys.argv[1])
from kafka_produce_edges_test import batch
from kafka_badinput_test import API_PRODUCE, frame, header, i16, i32, string, read_response, parse_produce_v7
host, port, topic, v_all, v_one = sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
wait = float(sys.argv[7])
def req(corr, recs, acks, tmo):
    body = string(None) + i16(acks) + i32(tmo) + i32(1) + string(topic) + i32(1) + i32(0) + i32(len(recs)) + recs
    return frame(header(API_PRODUCE, 7, corr, "sluice-minority") + body)
out = {}
for name, acks, val, w in (("all", -1, v_all, wait), ("one", 1, v_one, 5.0)):
    t = time.monotonic()
    s = None
    try:
        s = socket.create_connection((host, port), timeout=w)
        s.settimeout(w)
        s.sendall(req(1, batch([val.encode()], int(time.time() * 1000)), acks, int(w * 1000)))
        p = parse_produce_v7(read_response(s, 1))[0][1][0]
        out[name] = {"error": p["error"], "offset": p["base_offset"], "took": time.monotonic() - t}
    except socket.timeout:
        out[name] = {"error": None, "why": "no answer within %.1f s" % w, "took": time.monotonic() - t}
    except Exception as e:
        out[name] = {"error": None, "why": "%s: %s" % (type(e).__name__, e), "took": time.monotonic() - t}
    finally:
        if s is not None:
            s.close()
print("RESULT " + json.dumps(out))
"""


def produce_inside(net, b, topic, v_all, v_one, res):
    t = time.monotonic()
    try:
        p = net.run_in(b.index, ["/usr/bin/python3", "-c", MINORITY_SCRIPT, INTEGRATION, b.host, str(b.kafka_port),
                                 topic, v_all, v_one, str(MINORITY_WAIT_S)], timeout=MINORITY_WAIT_S + 25)
    except Exception as e:  # noqa: BLE001 - subprocess.TimeoutExpired
        res["failed"] = "%s after %.1f s" % (type(e).__name__, time.monotonic() - t)
        return
    line = [x for x in p.stdout.splitlines() if x.startswith("RESULT ")]
    if not line:
        res["failed"] = "exit %d: %s" % (p.returncode, p.stderr.strip()[-400:])
        return
    res.update(json.loads(line[-1][len("RESULT "):]))


def raft_leader_among(brokers):
    """The broker of brokers every one of them names as the Raft leader, bounded; else None."""
    for _ in range(100):
        views = [cpt.safe_clusterz(b) for b in brokers]
        ids = {z["leader_id"] for z in views if isinstance(z, dict)}
        if len(ids) == 1 and all(isinstance(z, dict) for z in views):
            lead = [b for b in brokers if b.node_id in ids]
            if lead:
                return lead[0]
        time.sleep(0.05)
    return None


def stop_all(brokers):
    """Stops every broker (SIGTERM, exit code 0 required): the Raft leader first (with both others
    up its handover succeeds), then the remaining follower, the new Raft leader last. Not the
    plain 1, 2, 3: a Raft leader stopped while it cannot hand over (one other voter left) still
    takes POST /v1/cluster/topics from the remaining partition leader's ISR change while
    cluster_topics_stop has already freed the pool that change is submitted to, and aborts
    (workers_submit's assertion, base/workers.c; route_topics checks only b->cluster): a broker
    bug, reported, not this test's subject."""
    left = [b for b in brokers if b.alive()]
    while left:
        lead = raft_leader_among(left) if len(left) > 1 else left[0]
        if len(left) == 2 and lead is not None:
            victim = next(b for b in left if b is not lead)  # the follower, then the leader
        else:
            victim = lead or left[0]
        victim.stop()
        left.remove(victim)


def body(ck):
    harness.needs_own_broker("starts a cluster of its own brokers in network namespaces")
    netns.require()
    net = netns.Net(3)
    print("     namespaces %s, bridge namespace %s, subnet %s (the test at %s)"
          % (", ".join(net.ns(i) for i in (1, 2, 3)), net.bridge_ns, net.subnet, net.host_addr))
    net.brokers = []
    try:
        scenario(ck, net)
        stop_all(net.brokers)
    finally:
        net.close()
    ck.eq(net.leftovers(), [], "no namespace or link left behind")


def scenario(ck, net):
    raft_ports = harness.free_ports(3)
    nodes = {i: "%s:%d" % (net.addr(i), raft_ports[i - 1]) for i in (1, 2, 3)}
    times = {}
    topic = harness.unique("datapart")
    t_start = time.monotonic()

    with ck.section("(a) three brokers in three namespaces; a topic with replication factor 3, ISR [1,2,3]"):
        for i in (1, 2, 3):
            net.brokers.append(start_node(net, i, nodes))
        brokers = net.brokers
        by_id = {b.node_id: b for b in brokers}
        views = cpt.wait_agreement(brokers, "first election")
        raft_id = views[0]["leader_id"]
        err = crt.ct.create(brokers[0], topic, 1, rf=3, config={"min.insync.replicas": "2"})
        ck.eq(err and (err.code(), err.str()), None, "CreateTopics %s (1 partition, rf 3, min.insync 2)" % topic)
        lid = wait_leader(brokers, topic)
        wait_isr(by_id[lid], topic, [1, 2, 3])
        # The controller must stay on the majority side: if the placement made the Raft leader
        # the partition's leader too, the Raft leadership goes to another node (a leader
        # transfer moves only the Raft leadership; the partition keeps its leader and epoch).
        if lid == raft_id:
            target = next(i for i in (1, 2, 3) if i != lid)
            st, res = by_id[raft_id].http("POST", "/v1/cluster/leader/transfer", json.dumps({"id": target}),
                                          token=TOKEN)
            ck.eq((st, res), (200, {"leader_id": target}), "Raft leadership transfer %d -> %d" % (raft_id, target))
            for _ in range(200):
                views = cpt.wait_agreement(brokers, "after the transfer")
                if views[0]["leader_id"] == target:
                    break
                time.sleep(0.05)
            print("     the placement made node %d both Raft leader and partition leader: Raft leadership moved to %d"
                  % (lid, views[0]["leader_id"]))
            raft_id = views[0]["leader_id"]
            ck.eq(wait_leader(brokers, topic), lid, "the partition's leader after the Raft transfer")
        ck.ok(raft_id != lid, "the Raft leader (%d) is not the partition's leader (%d)" % (raft_id, lid))
        wait_isr(by_id[lid], topic, [1, 2, 3])
        print("     Raft leader %d; %s's leader %d, ISR [1,2,3]" % (raft_id, topic, lid))
    old = by_id[lid]
    rest = [b for b in brokers if b is not old]

    base = [b"base-%04d-" % n + os.urandom(12) + bytes(range(256))[n % 200:n % 200 + 40] for n in range(BASELINE)]
    with ck.section("(b) %d records with acks=all to the leader, read back byte for byte" % BASELINE):
        acked, failed, _ = produce_acked(old, topic, base)
        ck.eq(failed, {}, "baseline deliveries that failed")
        ck.eq([acked.get(v) for v in base], list(range(BASELINE)), "baseline offsets 0..%d in order" % (BASELINE - 1))
        log, hi = read_log(old, topic)
        ck.eq(hi, BASELINE, "high watermark after the baseline")
        ck.ok(log == list(enumerate(base)), "the baseline read back byte for byte (%d records, first mismatch %s)"
              % (len(log), next((x for x in zip(log, enumerate(base)) if x[0] != x[1]), None)))
        base_acked = acked

    tag = harness.unique("m")
    v_all, v_one = "minority-all-" + tag, "minority-one-" + tag
    maj = [b"major-%04d-" % n + os.urandom(16) for n in range(MAJORITY)]
    inside = {}
    with ck.section("(c) leader %d cut off: it does not acknowledge acks=all; the majority elects and goes on" % lid):
        trunc_before = metric(old, "sluice_replica_truncations_total")
        t_cut = time.monotonic()
        net.partition(old.index)
        th = threading.Thread(target=produce_inside, args=(net, old, topic, v_all, v_one, inside), daemon=True)
        th.start()
        first, seen = None, None
        for _ in range(int(ELECT_MAX_S / 0.05) + 1):
            for b in rest:
                seen = raw_md(b, topic, timeout=1.0)
                if seen and seen[0] in {x.node_id for x in rest}:
                    first = (b.node_id, seen)
                    break
            if first or time.monotonic() - t_cut > ELECT_MAX_S:
                break
            time.sleep(0.05)
        times["cut -> a majority broker names a new leader"] = time.monotonic() - t_cut
        ck.ok(first is not None, "no majority broker named a new leader within %.0f s: %s%s"
              % (ELECT_MAX_S, seen, cpt.exited(brokers)))
        new_id = wait_leader(rest, topic, not_id=lid)
        new = by_id[new_id]
        print("     node %d cut off; node %d's Metadata names leader %s (ISR %s) %.2f s after the cut"
              % (lid, first[0], first[1][0], first[1][1], times["cut -> a majority broker names a new leader"]))
        ck.eq(cpt.clusterz(by_id[raft_id])["state"], "leader", "the Raft leader %d still leads" % raft_id)

        t_p = time.monotonic()
        acked, failed, first_ack = produce_acked(new, topic, maj)
        if first_ack is not None:
            times["cut -> first acks=all ack through the new leader"] = t_p - t_cut + first_ack
        ck.eq(failed, {}, "acks=all deliveries through the new leader %d that failed" % new_id)
        ck.eq([acked.get(v) for v in maj], list(range(BASELINE, BASELINE + MAJORITY)),
              "the majority's records at offsets %d..%d" % (BASELINE, BASELINE + MAJORITY - 1))
        maj_acked = acked
        md = raw_md(new, topic)
        print("     %d acks=all records through the new leader %d acked (ISR there now %s)"
              % (len(acked), new_id, md and md[1]))
        log, hi = read_log(new, topic)
        ck.ok(log == list(enumerate(base + maj)), "baseline + majority records read back from node %d (%d of %d)"
              % (new_id, len(log), BASELINE + MAJORITY))

        th.join(MINORITY_WAIT_S + 40)
        ck.ok(not th.is_alive(), "the produce inside the cut-off namespace ended (bounded)")
        ck.ok("failed" not in inside, "the produce inside the cut-off namespace ran: %s" % inside.get("failed"))
        a, o = inside["all"], inside["one"]
        print("     acks=all Produce on the cut-off leader %d (from inside its namespace): %s" % (lid, a))
        print("     acks=1 Produce on the cut-off leader %d (from inside its namespace): %s" % (lid, o))
        ck.ok(a["error"] is None or a["error"] != 0,
              "the cut-off leader acknowledged an acks=all produce (offset %s after %.2f s)"
              % (a.get("offset"), a["took"]))
        ck.ok(a["error"] is not None or a["took"] >= MINORITY_WAIT_S - 0.5,
              "the acks=all produce on the cut-off leader ended without an answer before %.0f s: %s"
              % (MINORITY_WAIT_S, a))
        one_accepted = o["error"] == 0
        if one_accepted:
            print("     the acks=1 record was accepted at offset %d on the cut-off side: the uncommitted tail"
                  % o["offset"])
        ck.ok(net.partitioned(old.index), "still cut off")

    with ck.section("(d) heal: node %d truncates its uncommitted tail, rejoins the ISR, identical copies" % lid):
        t_heal = time.monotonic()
        net.heal(old.index)
        n = trunc_before
        for _ in range(int(HEAL_MAX_S / 0.1) + 1):
            n = metric(old, "sluice_replica_truncations_total")
            if n > trunc_before or time.monotonic() - t_heal > HEAL_MAX_S:
                break
            time.sleep(0.1)
        times["heal -> truncation counted on the old leader"] = time.monotonic() - t_heal
        ck.ok(n > trunc_before, "sluice_replica_truncations_total on node %d: %d, was %d (%.0f s after the heal)"
              % (lid, n, trunc_before, HEAL_MAX_S))
        line = [x for x in old.log_text(b"truncated from").decode("utf-8", "replace").splitlines()
                if "truncated from" in x and topic in x]
        ck.ok(line, "node %d's log has no truncation line for %s" % (lid, topic))
        print("     node %d: %s" % (lid, line[-1].strip() if line else None))
        wait_isr(new, topic, [1, 2, 3], timeout=HEAL_MAX_S)
        times["heal -> old leader back in the ISR"] = time.monotonic() - t_heal
        got = None
        for _ in range(int(HEAL_MAX_S / 0.05) + 1):  # its copy of the placement follows the controller's
            got = raw_md(old, topic)
            if got == (new_id, [1, 2, 3]) or time.monotonic() - t_heal > HEAL_MAX_S:
                break
            time.sleep(0.05)
        ck.eq(got, (new_id, [1, 2, 3]), "node %d's own Metadata after the heal" % lid)
        copies = crt.wait_same_copies(ck, brokers, topic, 1, "after the heal", timeout=HEAL_MAX_S)
        times["heal -> identical copies"] = time.monotonic() - t_heal
        for b in brokers:
            disk = crt.segment_bytes(b.data_dir, topic, 0)
            ck.ok(v_all.encode() not in disk and v_one.encode() not in disk,
                  "a record written only on the cut-off side is on node %d's disk" % b.node_id)
        ck.ok(len(copies[0]) > 0, "copies hold batches")

        log, hi = read_log(new, topic)
        ck.eq(hi, BASELINE + MAJORITY, "the final high watermark")
        ck.ok(log == list(enumerate(base + maj)), "the final log is the baseline then the majority's records"
              " (%d records, first mismatch %s)"
              % (len(log), next((x for x in zip(log, enumerate(base + maj)) if x[0] != x[1]), None)))
        by_value = {}
        for off, v in log:
            by_value.setdefault(v, []).append(off)
        lost = {v[:12]: o for v, o in list(base_acked.items()) + list(maj_acked.items()) if by_value.get(v) != [o]}
        ck.eq(lost, {}, "acks=all records not in the final log exactly once at their acked offset")
        ck.eq([v for v in (v_all.encode(), v_one.encode()) if v in by_value], [],
              "records written only on the cut-off side in the final log")
        times["whole test"] = time.monotonic() - t_start

    print("     measured times (s): " + "; ".join("%s %.2f" % kv for kv in times.items()))


if __name__ == "__main__":
    harness.run("cluster_data_partition_test", body, modules=["confluent_kafka"], time_limit=280)
