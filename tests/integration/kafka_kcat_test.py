#!/usr/bin/python3
"""kafka_kcat_test: kcat 1.7.1 (librdkafka 2.0.2) against a real sluice-server.

Metadata (-L, plain and JSON) must list the broker at our host:port and the topic led by it.
Three kcat -P runs produce keyed messages with headers (repeated name, empty and null values),
binary payloads, a 100 KB payload, empty and null keys and values. kcat -C -e reads them back with
a length-prefixed format and every field is compared: partition, offset (contiguous from 0),
key, payload, headers, timestamp. Then reads from the middle (-o N -c K), from the end (-o -2),
and offset queries by time and for the end (-Q).
"""
import json
import os
import random
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

KEY_DELIM = b"\x1f"
MSG_DELIM = b"\x1e"
FORMAT = "%p|%o|%K|%S|%T|%k|%s|%h\\x1e"
TIMEOUT = 60


def kcat(ck, args, stdin=b"", what="kcat"):
    r = subprocess.run(["kcat"] + args, input=stdin, capture_output=True, timeout=TIMEOUT)
    if r.returncode != 0:
        raise harness.CheckFailed("%s %s exited %d: %s" % (what, " ".join(args), r.returncode,
                                                           r.stderr.decode(errors="replace")[-2000:]))
    ck.ok(b"Delivery failed" not in r.stderr and b"ERROR" not in r.stderr,
          "%s printed errors: %s" % (what, r.stderr.decode(errors="replace")[-2000:]))
    return r.stdout


def payload(rng, n):
    """n random bytes that are not our delimiters (kcat splits its input on them)."""
    return bytes(b for b in rng.randbytes(n + n // 8 + 16) if b not in (0x1e, 0x1f))[:n]


def parse_consumed(out):
    """Parses FORMAT output: lengths first, so keys and payloads may hold any byte."""
    recs, pos = [], 0
    while pos < len(out):
        fields = []
        for _ in range(5):
            bar = out.index(b"|", pos)
            fields.append(int(out[pos:bar]))
            pos = bar + 1
        part, off, klen, vlen, ts = fields
        key = out[pos:pos + max(klen, 0)]
        pos += max(klen, 0)
        assert out[pos:pos + 1] == b"|", "format: no '|' after key at %d" % pos
        pos += 1
        val = out[pos:pos + max(vlen, 0)]
        pos += max(vlen, 0)
        assert out[pos:pos + 1] == b"|", "format: no '|' after payload at %d" % pos
        pos += 1
        end = out.index(MSG_DELIM, pos)
        hdrs = []
        if end > pos:
            for h in out[pos:end].split(b","):
                name, _, value = h.partition(b"=")
                hdrs.append((name, None if value == b"NULL" else value))
        pos = end + 1
        recs.append({"partition": part, "offset": off, "key": None if klen < 0 else key,
                     "value": None if vlen < 0 else val, "ts": ts, "headers": hdrs})
    return recs


def body(ck):
    rng = random.Random(0x5c1ce)
    broker = harness.start_broker()
    b = broker.bootstrap
    topic = harness.unique("kcat")

    # Each batch is one kcat -P run: (extra flags, [(key, value)], headers for all its messages).
    # Without -Z an empty key/value is sent as empty; with -Z as null.
    batches = [
        (["-H", "a=1", "-H", "a=2", "-H", "e=", "-H", "n", "-H", "utf=\u00fc\u00df"],
         [(b"k%d" % i, payload(rng, rng.randrange(0, 300))) for i in range(20)]
         + [(b"nl", b"line1\nline2\r\n\tend"), (b"bin", bytes(range(0x1e)) + bytes(range(0x20, 256)))],
         [(b"a", b"1"), (b"a", b"2"), (b"e", b""), (b"n", None), (b"utf", "\u00fc\u00df".encode())]),
        ([], [(b"big", payload(rng, 100 * 1024)), (b"", b"empty key"), (b"empty value", b"")]
         + [(b"m%d" % i, b"v%d" % i) for i in range(30)], []),
        (["-Z"], [(b"null value", None), (None, b"null key")], []),
    ]
    expected = []
    t0 = int(time.time() * 1000)
    with ck.section("produce with kcat -P"):
        for flags, msgs, hdrs in batches:
            data = b"".join((k or b"") + KEY_DELIM + (v or b"") + MSG_DELIM for k, v in msgs)
            kcat(ck, ["-P", "-b", b, "-t", topic, "-p", "0", "-K", "\\x1f", "-D", "\\x1e"] + flags,
                 data, "kcat -P")
            for k, v in msgs:
                expected.append({"partition": 0, "offset": len(expected), "key": k, "value": v,
                                 "headers": hdrs})
    t1 = int(time.time() * 1000)

    with ck.section("metadata with kcat -L"):
        md = json.loads(kcat(ck, ["-L", "-J", "-b", b]))
        brokers = md["brokers"]
        ck.eq(len(brokers), 1, "number of brokers in metadata")
        ck.eq(brokers[0]["name"], "%s:%d" % (broker.host, broker.kafka_port), "advertised host:port")
        bid = brokers[0]["id"]
        ck.eq(md["originating_broker"]["id"], bid, "originating broker id")
        topics = {t["topic"]: t for t in md["topics"]}
        ck.ok(topic in topics, "topic %s not in metadata (have %s)" % (topic, sorted(topics)[:20]))
        parts = topics[topic]["partitions"]
        if not broker.external:
            ck.eq(len(parts), 1, "partitions of an auto-created topic")
        for p in parts:
            ck.eq(p["leader"], bid, "leader of partition %d" % p["partition"])
            ck.eq([r["id"] for r in p["replicas"]], [bid], "replicas of partition %d" % p["partition"])
            ck.eq([r["id"] for r in p["isrs"]], [bid], "isrs of partition %d" % p["partition"])
        ck.ok(not topics[topic].get("error"), "topic error %s" % topics[topic].get("error"))
        plain = kcat(ck, ["-L", "-b", b, "-t", topic]).decode()
        ck.ok(("broker %d at %s:%d" % (bid, broker.host, broker.kafka_port)) in plain,
              "kcat -L does not show our broker:\n" + plain)
        ck.ok(('topic "%s" with %d partitions' % (topic, len(parts))) in plain,
              "kcat -L does not show the topic:\n" + plain)

    got = []
    with ck.section("consume everything with kcat -C -o beginning -e"):
        got = parse_consumed(kcat(ck, ["-C", "-b", b, "-t", topic, "-p", "0", "-o", "beginning",
                                       "-e", "-q", "-f", FORMAT]))
        ck.eq(len(got), len(expected), "number of messages consumed")
        for g, e in zip(got, expected):
            where = "message at offset %d" % e["offset"]
            for f in ("partition", "offset", "key", "value", "headers"):
                ck.eq(g[f], e[f], "%s: %s" % (where, f))
            ck.ok(t0 - 1000 <= g["ts"] <= t1 + 1000,
                  "%s: timestamp %d not within produce time [%d, %d]" % (where, g["ts"], t0, t1))

    with ck.section("consume from the middle and from the end"):
        mid = parse_consumed(kcat(ck, ["-C", "-b", b, "-t", topic, "-p", "0", "-o", "21", "-c", "3",
                                       "-e", "-q", "-f", FORMAT]))
        ck.eq([(m["offset"], m["key"], m["value"]) for m in mid],
              [(e["offset"], e["key"], e["value"]) for e in expected[21:24]], "-o 21 -c 3")
        tail = parse_consumed(kcat(ck, ["-C", "-b", b, "-t", topic, "-p", "0", "-o", "-2", "-e", "-q",
                                        "-f", FORMAT]))
        ck.eq([(m["offset"], m["key"], m["value"]) for m in tail],
              [(e["offset"], e["key"], e["value"]) for e in expected[-2:]], "-o -2")

    with ck.section("offset queries with kcat -Q"):
        out = kcat(ck, ["-Q", "-b", b, "-t", "%s:0:-1" % topic]).decode()
        ck.ok(("%s [0] offset %d" % (topic, len(expected))) in out, "-Q end offset: " + out)
        if got:
            # First offset whose timestamp is >= the one asked for (ListOffsets by time).
            probe = got[len(got) // 2]["ts"]
            want = min(g["offset"] for g in got if g["ts"] >= probe)
            out = kcat(ck, ["-Q", "-b", b, "-t", "%s:0:%d" % (topic, probe)]).decode()
            ck.ok(("%s [0] offset %d" % (topic, want)) in out,
                  "-Q at timestamp %d: want offset %d, got %s" % (probe, want, out.strip()))
            out = kcat(ck, ["-Q", "-b", b, "-t", "%s:0:%d" % (topic, t1 + 3600_000)]).decode()
            ck.ok(("%s [0] offset -1" % topic) in out, "-Q past the last timestamp: " + out)


if __name__ == "__main__":
    harness.run("kafka_kcat_test", body, tools=["kcat"])
