#!/usr/bin/python3
"""cli_kafka_test: the sluice CLI's Kafka commands against a real sluice-server, checked with
confluent-kafka-python (librdkafka 2.0.2) as the independent client.

- produce: 300 lines with keys (--key-separator), two headers and UTF-8, then 50 length-framed
  records holding newlines and every byte value; confluent-kafka reads them back byte for byte.
- consume: confluent-kafka writes keys, values, headers and explicit timestamps to 3
  partitions; `consume --format` with every placeholder prints exactly the expected text,
  --json the expected objects, --count N stops after N, --offset and --from-time start where
  asked, and a --group run commits what it consumed.
- group describe --json: after committing known offsets (p0: 4 of 10, p1: 7 of 7, p2: none),
  lag is 6, 0 and null, total 6; the human table has the same numbers.
- reset-offsets: dry run changes nothing, --execute commits (checked with confluent-kafka's
  committed()), --to-datetime picks the first record at the time, a group with a member is
  refused.
- topic create/describe/alter/delete round trip, checked with confluent-kafka's AdminClient.
- errors: an unreachable broker exits 3 within the timeout and says so; an unknown topic or
  group exits 2; bad flags exit 1.
- librdkafka's mock cluster (made in this process by confluent-kafka): produce with keys and
  headers and consume --format / --group work as against Sluice; an operation the mock lacks
  (ListGroups) fails with exit 4 within a bounded time.
"""
import json
import os
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
sys.path.insert(0, HERE)
import harness  # noqa: E402
import ckutil  # noqa: E402
from cliutil import ok, sluice  # noqa: E402

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, ConfigResource  # noqa: E402


def produce_cli(ck, b):
    topic = harness.unique("cli-produce")
    ok(ck, ["--brokers", b.bootstrap, "topic", "create", topic, "--partitions", "1"])
    lines = []
    for i in range(300):
        v = "value %d \u00e9\u00df\u4e2d %s" % (i, "x" * (i % 50))
        lines.append(("key-%d" % i, v))
    stdin = "".join("%s\t%s\n" % kv for kv in lines).encode()
    ok(ck, ["--brokers", b.bootstrap, "produce", topic, "--key-separator", "\t",
            "--header", "source=cli", "--header", "n=1=2", "--acks", "all",
            "--compression", "lz4"], stdin)
    got = ckutil.consume(b.bootstrap, topic, {0: 300})[0]
    ck.eq(len(got), 300, "records read back")
    for i, (m, (k, v)) in enumerate(zip(got, lines)):
        ck.eq((m["offset"], m["key"], m["value"]), (i, k.encode(), v.encode()), "record %d" % i)
        ck.eq(m["headers"], [("source", b"cli"), ("n", b"1=2")], "record %d headers" % i)
    # Length framing: values with newlines, NULs and every byte; no key separator.
    vals = [bytes(range(256)) * (i % 3) + b"line1\nline2\r\n" + b"%d" % i for i in range(50)]
    vals.append(b"")
    framed = b"".join(struct.pack(">I", len(v)) + v for v in vals)
    ok(ck, ["--brokers", b.bootstrap, "produce", topic, "--framing", "length", "--partition", "0"],
       framed)
    got = ckutil.consume(b.bootstrap, topic, {0: 300 + len(vals)}, start={0: 300})[0]
    ck.eq([m["value"] for m in got], vals, "length-framed values")
    ck.eq({m["key"] for m in got}, {None}, "length-framed keys are null")
    # A truncated frame is a usage error, and says so.
    rc, _, err, _ = sluice(["--brokers", b.bootstrap, "produce", topic, "--framing", "length"],
                           struct.pack(">I", 10) + b"abc")
    ck.eq(rc, 1, "truncated frame: exit code")
    ck.ok("length-framed" in err, "truncated frame: message: %r" % err)


def write_known(b, topic, nparts, per_part, ts_base):
    """confluent-kafka writes per_part[p] records to each partition p; returns them per partition."""
    p = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 5})
    recs = {q: [] for q in range(nparts)}
    for q in range(nparts):
        for i in range(per_part[q]):
            key = None if i == 1 else ("k%d-%d" % (q, i)).encode()
            val = ("v%d-%d %%d \u00fc" % (q, i)).encode()
            hdrs = [("h1", ("a%d" % i).encode()), ("h2", b"")] if i % 2 == 0 else []
            ts = ts_base + q * 1000 + i * 10
            p.produce(topic, value=val, key=key, partition=q, headers=hdrs or None, timestamp=ts)
            recs[q].append({"offset": i, "key": key, "value": val, "headers": hdrs, "ts": ts})
    ck_left = p.flush(30)
    assert ck_left == 0, "confluent-kafka: %d records not delivered" % ck_left
    return recs


def fmt_expected(topic, q, r):
    hdr = ",".join("%s=%s" % (k, v.decode()) for k, v in r["headers"])
    return "%s|%d|%d|%s|%s|%s|%d|%d|%%\n" % (topic, q, r["offset"],
                                             (r["key"] or b"").decode(), r["value"].decode(), hdr,
                                             r["ts"], len(r["key"]) if r["key"] is not None else -1)


def consume_cli(ck, b):
    topic = harness.unique("cli-consume")
    ok(ck, ["--brokers", b.bootstrap, "topic", "create", topic, "--partitions", "3"])
    ts_base = int(time.time() * 1000) - 3600 * 1000
    recs = write_known(b, topic, 3, [12, 5, 0], ts_base)
    fmt = "%t|%p|%o|%k|%v|%h|%T|%K|%%\\n"
    # One partition: exact text, in offset order.
    out = ok(ck, ["--brokers", b.bootstrap, "consume", topic, "--partition", "0",
                  "--from-beginning", "--exit-at-end", "--format", fmt])
    ck.eq(out.decode(), "".join(fmt_expected(topic, 0, r) for r in recs[0]), "--format, partition 0")
    # Every partition: the same lines (partitions interleave, so compare sorted).
    out = ok(ck, ["--brokers", b.bootstrap, "consume", topic, "--from-beginning", "--exit-at-end",
                  "--format", fmt])
    want = sorted(fmt_expected(topic, q, r) for q in recs for r in recs[q])
    ck.eq(sorted(out.decode().splitlines(keepends=True)), want, "--format, all partitions")
    # Default output: one value per line; --count stops after N.
    out = ok(ck, ["--brokers", b.bootstrap, "consume", topic, "--partition", "1",
                  "--from-beginning", "--count", "3"])
    ck.eq(out, b"".join(r["value"] + b"\n" for r in recs[1][:3]), "default output with --count 3")
    # --offset and --from-time.
    out = ok(ck, ["--brokers", b.bootstrap, "consume", topic, "--partition", "0", "--offset", "9",
                  "--exit-at-end", "--format", "%o\\n"])
    ck.eq(out, b"9\n10\n11\n", "--offset 9")
    out = ok(ck, ["--brokers", b.bootstrap, "consume", topic, "--partition", "0", "--from-time",
                  str(ts_base + 75), "--exit-at-end", "--format", "%o\\n"])
    ck.eq(out, b"8\n9\n10\n11\n", "--from-time (first record at or after)")
    # --json: one object per record.
    out = ok(ck, ["--brokers", b.bootstrap, "--json", "consume", topic, "--partition", "0",
                  "--from-beginning", "--exit-at-end"])
    objs = [json.loads(line) for line in out.decode().splitlines()]
    ck.eq(objs, [{"topic": topic, "partition": 0, "offset": r["offset"], "timestamp": r["ts"],
                  "key": r["key"].decode() if r["key"] is not None else None,
                  "value": r["value"].decode(),
                  "headers": [[k, v.decode()] for k, v in r["headers"]]} for r in recs[0]], "--json")
    # A group run commits what it consumed: 12 + 5 records, so offsets 12 and 5.
    group = harness.unique("cli-g")
    out = ok(ck, ["--brokers", b.bootstrap, "consume", topic, "--group", group,
                  "--from-beginning", "--count", "17"], timeout=90)
    ck.eq(len(out.splitlines()), 17, "group consume: lines")
    c = ckutil.consumer(b.bootstrap, {"group.id": group})
    try:
        com = c.committed([TopicPartition(topic, q) for q in range(3)], timeout=10)
    finally:
        c.close()
    ck.eq([x.offset for x in com], [12, 5, -1001], "group consume: committed offsets")


def group_cli(ck, b):
    topic = harness.unique("cli-lag")
    ok(ck, ["--brokers", b.bootstrap, "topic", "create", topic, "--partitions", "3"])
    write_known(b, topic, 3, [10, 7, 0], int(time.time() * 1000))
    group = harness.unique("cli-lag-g")
    c = ckutil.consumer(b.bootstrap, {"group.id": group})
    c.commit(offsets=[TopicPartition(topic, 0, 4), TopicPartition(topic, 1, 7)], asynchronous=False)
    c.close()
    out = ok(ck, ["--brokers", b.bootstrap, "group", "describe", group, "--json"])
    d = json.loads(out)
    ck.eq(d["group"], group, "describe: group")
    ck.eq(d["members"], [], "describe: members of an empty group")
    ck.eq([(p["topic"], p["partition"], p["committed"], p["log_end"], p["lag"]) for p in d["partitions"]],
          [(topic, 0, 4, 10, 6), (topic, 1, 7, 7, 0)], "describe: committed, log end, lag")
    ck.eq(d["total_lag"], 6, "describe: total lag")
    text = ok(ck, ["--brokers", b.bootstrap, "group", "describe", group]).decode()
    rows = [line.split()[:5] for line in text.splitlines() if line.startswith(topic)]
    ck.eq(rows, [[topic, "0", "4", "10", "6"], [topic, "1", "7", "7", "0"]], "describe: table")
    out = ok(ck, ["--brokers", b.bootstrap, "group", "list", "--json"])
    ck.ok({"group": group, "state": "Empty"} in json.loads(out), "group list has %s" % group)

    def committed():
        cc = ckutil.consumer(b.bootstrap, {"group.id": group})
        try:
            return [x.offset for x in cc.committed([TopicPartition(topic, q) for q in range(3)], timeout=10)]
        finally:
            cc.close()

    # Dry run (the default): prints the plan, commits nothing.
    out = ok(ck, ["--brokers", b.bootstrap, "--json", "group", "reset-offsets", group, "--topic",
                  topic, "--to-earliest"])
    plan = json.loads(out)
    ck.eq(plan["executed"], False, "dry run: executed")
    ck.eq([(o["partition"], o["old_offset"], o["new_offset"]) for o in plan["offsets"]],
          [(0, 4, 0), (1, 7, 0), (2, None, 0)], "dry run: plan")
    ck.eq(committed(), [4, 7, -1001], "dry run: committed offsets unchanged")
    ok(ck, ["--brokers", b.bootstrap, "group", "reset-offsets", group, "--topic", topic + ":0,2",
            "--to-offset", "2", "--execute"])
    ck.eq(committed(), [2, 7, 0], "--to-offset 2 --execute on 0,2 (p2 held to its end, 0)")
    ok(ck, ["--brokers", b.bootstrap, "group", "reset-offsets", group, "--topic", topic,
            "--to-latest", "--execute"])
    ck.eq(committed(), [10, 7, 0], "--to-latest --execute")
    out = ok(ck, ["--brokers", b.bootstrap, "group", "describe", group, "--json"])
    ck.eq(json.loads(out)["total_lag"], 0, "lag after --to-latest")
    # A group with a live member is refused.
    live = Consumer({"bootstrap.servers": b.bootstrap, "group.id": group, "session.timeout.ms": 6000})
    live.subscribe([topic])
    deadline = time.monotonic() + 30
    while not live.assignment() and time.monotonic() < deadline:
        live.poll(0.2)
    ck.ok(live.assignment(), "live member got an assignment")
    rc, _, err, _ = sluice(["--brokers", b.bootstrap, "group", "reset-offsets", group, "--topic",
                            topic, "--to-earliest", "--execute"])
    out = ok(ck, ["--brokers", b.bootstrap, "group", "describe", group, "--json"])
    live.close()
    ck.eq(rc, 4, "reset with a live member: exit code")
    ck.ok("empty" in err, "reset with a live member: message %r" % err)
    d = json.loads(out)
    ck.eq(len(d["members"]), 1, "describe: one live member")
    ck.eq(sorted(a["partition"] for a in d["members"][0]["assignment"]), [0, 1, 2], "member's assignment")
    ck.eq([p["member_id"] for p in d["partitions"]], [d["members"][0]["member_id"]] * 3, "owner per partition")
    ck.eq(committed(), [10, 7, 0], "refused reset committed nothing")
    ok(ck, ["--brokers", b.bootstrap, "group", "delete", group])
    rc, _, err, _ = sluice(["--brokers", b.bootstrap, "group", "describe", group])
    ck.eq(rc, 2, "describe of a deleted group: exit code (%s)" % err.strip())


def topic_cli(ck, b):
    topic = harness.unique("cli-topic")
    # list_topics(topic=...) makes this producer-type handle keep the topic and refresh it;
    # with librdkafka's producer default (allow.auto.create.topics=true) a refresh after the
    # delete would create it again, as it would on Kafka with auto.create.topics.enable.
    admin = AdminClient({"bootstrap.servers": b.bootstrap, "allow.auto.create.topics": False})
    ok(ck, ["--brokers", b.bootstrap, "topic", "create", topic, "--partitions", "2",
            "--config", "retention.ms=123456", "--config", "cleanup.policy=compact"])
    ck.eq(len(admin.list_topics(topic=topic, timeout=10).topics[topic].partitions), 2, "partitions after create")
    rc, _, err, _ = sluice(["--brokers", b.bootstrap, "topic", "create", topic])
    ck.eq(rc, 4, "second create: exit code")
    ck.ok("already exists" in err, "second create: message %r" % err)
    d = json.loads(ok(ck, ["--brokers", b.bootstrap, "topic", "describe", topic, "--json"]))
    ck.eq((d["name"], d["partitions"], d["configs"]),
          (topic, 2, {"retention.ms": "123456", "cleanup.policy": "compact"}), "describe")
    ck.eq([(p["partition"], p["low"], p["high"]) for p in d["partition_info"]], [(0, 0, 0), (1, 0, 0)],
          "describe: watermarks")
    names = [t["name"] for t in json.loads(ok(ck, ["--brokers", b.bootstrap, "topic", "list", "--json"]))]
    ck.ok(topic in names, "topic list has the topic")
    ok(ck, ["--brokers", b.bootstrap, "topic", "alter", topic, "--partitions", "5", "--config",
            "segment.bytes=1048576", "--delete-config", "cleanup.policy"])
    d = json.loads(ok(ck, ["--brokers", b.bootstrap, "topic", "describe", topic, "--json"]))
    ck.eq((d["partitions"], d["configs"]), (5, {"retention.ms": "123456", "segment.bytes": "1048576"}),
          "describe after alter")
    res = admin.describe_configs([ConfigResource("topic", topic)])
    cfg = list(res.values())[0].result(timeout=10)
    ck.eq((cfg["retention.ms"].value, cfg["segment.bytes"].value, cfg["cleanup.policy"].value),
          ("123456", "1048576", "delete"), "configs seen by confluent-kafka")
    ok(ck, ["--brokers", b.bootstrap, "topic", "delete", topic])
    deadline = time.monotonic() + 15
    while topic in admin.list_topics(timeout=10).topics and time.monotonic() < deadline:
        time.sleep(0.2)
    ck.ok(topic not in admin.list_topics(timeout=10).topics, "topic gone after delete")
    rc, _, err, _ = sluice(["--brokers", b.bootstrap, "topic", "describe", topic])
    ck.eq(rc, 2, "describe of a deleted topic: exit code")


def errors_cli(ck, b):
    dead = "127.0.0.1:%d" % harness.free_ports(1)[0]
    for args in (["topic", "list"], ["consume", "x", "--count", "1"], ["group", "list"]):
        rc, _, err, secs = sluice(["--brokers", dead, "--timeout", "2s"] + args, timeout=30)
        ck.eq(rc, 3, "unreachable %s: exit code" % args[0])
        ck.ok("cannot reach" in err and dead in err, "unreachable %s: message %r" % (args[0], err))
        ck.ok(secs < 6, "unreachable %s: took %.1f s with --timeout 2s" % (args[0], secs))
    rc, _, err, secs = sluice(["--brokers", dead, "--timeout", "2s", "produce", "x"], b"a\n", timeout=30)
    ck.eq(rc, 3, "unreachable produce: exit code (%s)" % err.strip())
    ck.ok(secs < 8, "unreachable produce: took %.1f s" % secs)
    missing = harness.unique("cli-missing")
    for args in (["consume", missing, "--count", "1"], ["topic", "describe", missing],
                 ["topic", "delete", missing], ["topic", "alter", missing, "--partitions", "3"]):
        rc, out, err, _ = sluice(["--brokers", b.bootstrap] + args, timeout=30)
        ck.eq(rc, 2, "%s: exit code (%s)" % (" ".join(args[:2]), err.strip()))
        ck.ok(err.startswith("sluice: ") and err.count("\n") == 1, "one-line error: %r" % err)
    for args in (["topic"], ["nosuch"], ["consume"], ["produce", "t", "--acks", "2"],
                 ["group", "reset-offsets", "g", "--topic", "t"], ["consume", "t", "--offset", "x"]):
        rc, _, _, _ = sluice(["--brokers", b.bootstrap] + args, timeout=30)
        ck.eq(rc, 1, "usage error %s: exit code" % args)
    for args in (["--help"], ["topic", "--help"], ["group", "--help"], ["produce", "--help"],
                 ["consume", "--help"]):
        rc, out, _, _ = sluice(args)
        ck.eq(rc, 0, "%s: exit code" % args)
        ck.ok(b"Example" in out or b"example" in out, "%s shows examples" % args)


def mock_cli(ck):
    # The mock cluster lives in this process while `holder` does; the CLI reaches it over TCP.
    holder = Producer({"test.mock.num.brokers": 1, "bootstrap.servers": ""})
    md = holder.list_topics(timeout=10)
    boot = ["%s:%d" % (x.host, x.port) for x in md.brokers.values()][0]
    topic = harness.unique("cli-mock")
    ok(ck, ["--brokers", boot, "produce", topic, "--key-separator", "=", "--header", "h=1",
            "--partition", "0"], b"a=1\nb=2\nc=3\n")
    out = ok(ck, ["--brokers", boot, "consume", topic, "--partition", "0", "--from-beginning",
                  "--exit-at-end", "--format", "%o %k %v %h\\n"])
    ck.eq(out, b"0 a 1 h=1\n1 b 2 h=1\n2 c 3 h=1\n", "mock: consume --format")
    out = ok(ck, ["--brokers", boot, "consume", topic, "--group", "gm", "--from-beginning",
                  "--count", "3"], timeout=60)
    ck.eq(out, b"1\n2\n3\n", "mock: group consume")
    # Not `group describe`: librdkafka 2.0.2's DescribeConsumerGroups against its own mock
    # aborts inside the library now and then (assertion in rd_kafka_enq_once_del_source_return).
    for args in (["group", "list"],):
        rc, _, err, secs = sluice(["--brokers", boot, "--timeout", "3s"] + args, timeout=30)
        ck.eq(rc, 4, "mock: %s (not served by the mock): exit code (%s)" % (" ".join(args), err.strip()))
        ck.ok(secs < 10, "mock: %s took %.1f s" % (" ".join(args), secs))
    del holder


def body(ck):
    b = harness.start_broker()
    with ck.section("produce: lines with keys and headers, length framing"):
        produce_cli(ck, b)
    with ck.section("consume: --format, default, --count, --offset, --from-time, --json, --group"):
        consume_cli(ck, b)
    with ck.section("group: describe lag, reset-offsets dry run and execute, delete"):
        group_cli(ck, b)
    with ck.section("topic: create, describe, list, alter, delete"):
        topic_cli(ck, b)
    with ck.section("errors: unreachable, unknown, usage"):
        errors_cli(ck, b)
    with ck.section("librdkafka's mock cluster"):
        mock_cli(ck)


if __name__ == "__main__":
    harness.run("cli_kafka_test", body, modules=("confluent_kafka",), time_limit=110)
