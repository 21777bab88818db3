#!/usr/bin/python3
"""js_kafka_cross_test.py: a stream is a Kafka topic of the same name, both ways, on one
sluice-server --jetstream (Sluice only: nats-server has no Kafka side; SLUICE_NATS_REFERENCE skips).

NATS -> Kafka: raw NATS publishes (PUB and HPUB with repeated header keys, an empty payload,
binary bytes) are stored with their PubAcks; confluent-kafka then reads topic CROSS and must see,
byte for byte, key = subject, value = payload, headers = the NATS headers in order, offset =
seq - 1. Kafka -> NATS: confluent-kafka produces into the stream's topic (with and without a key
that is a stream subject, with headers); STREAM.INFO counts them (messages, last_seq,
num_subjects) and MSG.GET returns them (subject = key when it is a stream subject, else the
stream's first literal subject; headers as a NATS header block).

Every codec, Kafka -> NATS: confluent-kafka produces batches with compression none, gzip,
snappy, lz4 and zstd, kafka-python with snappy (xerial framing) and sarama with snappy (raw
blocks) into stream CODEC (subjects codec.> and fallback); a raw pull consumer (AckSync on every
message) must receive every record byte-exact: payload = value, subject = key when the key is a
stream subject else "fallback", the Kafka headers as a NATS header block in order, stream
sequence = offset + 1; then a nats.go pull consumer receives the same. NATS -> a Kafka consumer
group: nats.go js.PublishMsg and raw HPUBs (repeated keys, unsorted) into stream NATSIN; a
confluent-kafka group subscribes, reads key = subject, value, headers exactly, commits, and the
group's committed offset is the end.

The Go parts (js_cross_go.go: sarama and nats.go from Debian, GOPATH mode) are built into argv[1]
(default: $TMPDIR/sluice-js-cross-go); without Go or those packages their sections are skipped."""
import base64
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "nats"))
import natsh  # noqa: E402
import jsraw  # noqa: E402
from natsh import Raw, CheckFailed, Skip  # noqa: E402

CONNECT = jsraw.CONNECT

T = "io.nats.jetstream.api.v1."


class Js(jsraw.Js):
    pass


# ---- the Go clients (js_cross_go.go) ----------------------------------------------------------

GOCODE = "/usr/share/gocode"
_go = {}


def go_tool():
    """The path of the built js_cross_go; Skip (for the section) without Go, sarama or nats.go."""
    if "exe" in _go:
        return _go["exe"]
    if "skip" in _go:
        raise Skip(_go["skip"])
    if shutil.which("go") is None:
        _go["skip"] = "go not found (run scripts/setup.sh)"
        raise Skip(_go["skip"])
    for pkg in ("github.com/Shopify/sarama", "github.com/nats-io/nats.go"):
        if not os.path.isdir(os.path.join(GOCODE, "src", pkg)):
            _go["skip"] = "%s not in %s (run scripts/setup.sh)" % (pkg, GOCODE)
            raise Skip(_go["skip"])
    # Reused from run to run, so the Go build cache makes the second build quick.
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(tempfile.gettempdir(), "sluice-js-cross-go")
    src = os.path.join(out, "gopath", "src", "sluice_js_cross_go")
    os.makedirs(src, exist_ok=True)
    # A *.go file in tests/ is not a package: copy it in as main.go.
    shutil.copy(os.path.join(HERE, "js_cross_go.go"), os.path.join(src, "main.go"))
    env = dict(os.environ, GO111MODULE="off", GOFLAGS="",
               GOPATH=os.path.join(out, "gopath") + ":" + GOCODE,
               GOCACHE=os.environ.get("GOCACHE") or os.path.join(out, "go-cache"),
               CGO_CFLAGS="-O2 -Wno-deprecated-declarations")
    exe = os.path.join(out, "js_cross_go")
    t0 = time.monotonic()
    r = subprocess.run(["go", "build", "-o", exe, "sluice_js_cross_go"], env=env,
                       capture_output=True, timeout=150)
    if r.returncode:
        raise CheckFailed("go build js_cross_go: %s" % r.stderr.decode("utf-8", "replace")[-3000:])
    print("     built js_cross_go in %.1f s" % (time.monotonic() - t0), flush=True)
    _go["exe"] = exe
    return exe


def run_go(*args):
    """The JSON lines js_cross_go prints for one mode, bytes decoded."""
    r = subprocess.run([go_tool()] + [str(a) for a in args], capture_output=True, timeout=60)
    if r.returncode:
        raise CheckFailed("js_cross_go %s: exit %d: %s"
                          % (args[0], r.returncode, r.stderr.decode("utf-8", "replace")[-3000:]))
    out = []
    for line in r.stdout.decode().splitlines():
        d = json.loads(line)
        d["value"] = base64.b64decode(d["value"])
        if d.get("key") is not None:
            d["key"] = base64.b64decode(d["key"])
        d["headers"] = [(k, v.encode()) for k, v in d["headers"]]
        out.append(d)
    return out


# ---- Kafka records and how a NATS consumer must see them ---------------------------------------

CODEC_FALLBACK = b"fallback"  # stream CODEC's first literal subject


def codec_records(tag, n, rng):
    """n records for one producer: keys that are stream subjects, not subjects, null and empty;
    compressible values with a binary tail, one null value; repeated header keys, an empty value."""
    out = []
    for i in range(n):
        key = [b"codec.%s.%d" % (tag.encode(), i % 3), b"not a subject", None, CODEC_FALLBACK, b""][i % 5]
        if i % 6 == 5:
            value = None
        else:
            value = (b"%s %d " % (tag.encode(), i) + b"compressible text " * (i * 25)
                     + bytes(rng.randrange(256) for _ in range(i * 3)))
        headers = [] if i % 2 else [("Rep", b"a"), ("Rep", b"b"), ("Idx", b"%d" % i), ("Rep", b"")]
        out.append({"key": key, "value": value, "headers": headers})
    return out


def nats_subject(key):
    if key and key.startswith(b"codec.") and all(key.split(b".")) and b" " not in key:
        return key
    return CODEC_FALLBACK


def nats_header_block(headers):
    if not headers:
        return None
    return (b"NATS/1.0\r\n" + b"".join(k.encode() + b": " + v + b"\r\n" for k, v in headers)
            + b"\r\n")


def raw_consume(t, stream, durable, n):
    """{stream seq: (subject, header block or None, payload, delivery count)} of n messages from
    a new durable pull consumer (AckExplicit), each acked with AckSync (+ACK with a reply, waited
    for). Its own inboxes (_C*): the Js connection's _R.* would see these replies too."""
    r = Raw(t)
    r.send(CONNECT + b"SUB _CR.* 1\r\nSUB _CN.* 3\r\nSUB _CA.* 4\r\nPING\r\n")
    if r.read_line() != b"PONG\r\n":
        raise CheckFailed("CONNECT")
    cfg = json.dumps({"stream_name": stream, "config": {"durable_name": durable, "ack_policy": "explicit",
                                                       "deliver_policy": "all"}}).encode()
    r.send(b"PUB $JS.API.CONSUMER.DURABLE.CREATE.%s.%s _CR.1 %d\r\n%s\r\n"
           % (stream.encode(), durable.encode(), len(cfg), cfg))
    line, data = r.read_msg()
    if b"error" in json.loads(data):
        raise CheckFailed("consumer create: %s" % data)
    got = {}
    acks = []
    deadline = time.monotonic() + 30
    k = 0
    while len(got) < n and time.monotonic() < deadline:
        k += 1
        req = json.dumps({"batch": n - len(got), "expires": 2000000000}).encode()
        inbox = b"_CN.%d" % k
        r.send(b"PUB $JS.API.CONSUMER.MSG.NEXT.%s.%s %s %d\r\n%s\r\n"
               % (stream.encode(), durable.encode(), inbox, len(req), req))
        while len(got) < n:
            line, data = r.read_msg(timeout=5)
            p = line.split()
            if p[0] == b"HMSG" and len(p) == 5:  # a status (408 at the end of the request)
                break
            if p[0] == b"MSG" and len(p) == 5:
                subj, reply, hdr, payload = p[1], p[3], None, data
            elif p[0] == b"HMSG" and len(p) == 6:
                hl = int(p[4])
                subj, reply, hdr, payload = p[1], p[3], data[:hl], data[hl:]
            else:
                raise CheckFailed("want a delivery, got %s" % natsh.show(line))
            tok = reply.split(b".")
            seq, delivered = int(tok[5]), int(tok[4])
            if seq in got:
                raise CheckFailed("seq %d delivered twice" % seq)
            got[seq] = (subj, hdr, payload, delivered)
            acks.append(reply)
    for i, reply in enumerate(acks):
        r.send(b"PUB %s _CA.%d 4\r\n+ACK\r\n" % (reply, i))
    for i in range(len(acks)):
        line, data = r.read_msg()
        if line.split()[0] != b"MSG" or not line.split()[1].startswith(b"_CA.") or data != b"":
            raise CheckFailed("AckSync reply %d: %s %s" % (i, natsh.show(line), natsh.show(data)))
    r.close()
    return got


def body(ck):
    if os.environ.get("SLUICE_NATS_REFERENCE") or os.environ.get("SLUICE_EXTERNAL_NATS"):
        raise Skip("Sluice only: the Kafka side of a stream")
    import confluent_kafka as ckf
    import confluent_kafka.admin  # noqa: F401
    t = natsh.start_nats(jetstream=True)
    bootstrap = "127.0.0.1:%d" % t.broker.kafka_port
    js = Js(t)
    sent = [
        (b"cross.a", b"plain", None),
        (b"cross.b", b"", None),
        (b"cross.a", b"with headers", [(b"X-Rep", b"one"), (b"X-Rep", b"two"), (b"X-Rep", b"three"),
                                       (b"X-Other", b"v: with colon")]),
        (b"cross.c", bytes(range(256)), [(b"Nats-Msg-Id", b"m-1")]),
    ]

    with ck.section("NATS publishes into stream CROSS, PubAcks"):
        created = js.api("$JS.API.STREAM.CREATE.CROSS", {"name": "CROSS", "subjects": ["cross.*"]})
        ck.eq(created.get("did_create"), True, "created")
        for i, (subj, data, hdrs) in enumerate(sent):
            ck.eq(js.pub_ack(subj, data, hdrs), b'{"stream":"CROSS", "seq":%d}' % (i + 1), "PubAck %d" % (i + 1))

    with ck.section("Kafka reads what NATS published: key = subject, value = payload, headers in order"):
        c = ckf.Consumer({"bootstrap.servers": bootstrap, "group.id": "cross-reader",
                          "auto.offset.reset": "earliest", "enable.auto.commit": False})
        c.assign([ckf.TopicPartition("CROSS", 0, 0)])
        got = []
        deadline = time.time() + 20
        while len(got) < len(sent) and time.time() < deadline:
            m = c.poll(1.0)
            if m is None:
                continue
            if m.error():
                raise CheckFailed("poll: %s" % m.error())
            got.append(m)
        ck.eq(len(got), len(sent), "records read")
        for i, (m, (subj, data, hdrs)) in enumerate(zip(got, sent)):
            ck.eq(m.offset(), i, "offset of seq %d" % (i + 1))
            ck.eq(m.key(), subj, "key of offset %d" % i)
            ck.eq(m.value() or b"", data, "value of offset %d" % i)
            want_h = [(k.decode(), v) for k, v in hdrs] if hdrs else None
            ck.eq(m.headers(), want_h, "headers of offset %d" % i)
            ck.eq(m.timestamp()[0], ckf.TIMESTAMP_CREATE_TIME, "timestamp type of offset %d" % i)
        c.close()

    with ck.section("NATS sees what Kafka produced: STREAM.INFO counts, MSG.GET subject/headers/data"):
        p = ckf.Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
        p.produce("CROSS", key=b"cross.k", value=b"from kafka 1", headers=[("H1", b"v1"), ("H1", b"v2")])
        p.produce("CROSS", key=b"not.a.stream.subject", value=b"from kafka 2")
        p.produce("CROSS", value=b"from kafka 3")
        ck.eq(p.flush(10), 0, "produced")
        st = js.api("$JS.API.STREAM.INFO.CROSS")["state"]
        ck.eq((st["messages"], st["first_seq"], st["last_seq"], st["num_subjects"]), (7, 1, 7, 5),
              "messages/first/last/num_subjects (cross.a, .b, .c, .k and CROSS)")
        m = js.api("$JS.API.STREAM.MSG.GET.CROSS", {"seq": 5})["message"]
        ck.eq((m["subject"], m["seq"], base64.b64decode(m["data"]), base64.b64decode(m["hdrs"])),
              ("cross.k", 5, b"from kafka 1", b"NATS/1.0\r\nH1: v1\r\nH1: v2\r\n\r\n"), "MSG.GET 5")
        for seq, data in ((6, b"from kafka 2"), (7, b"from kafka 3")):
            m = js.api("$JS.API.STREAM.MSG.GET.CROSS", {"seq": seq})["message"]
            # No key that is a stream subject, and no literal stream subject: the stream's name.
            ck.eq((m["subject"], base64.b64decode(m["data"]), "hdrs" in m), ("CROSS", data, False),
                  "MSG.GET %d" % seq)
        m = js.api("$JS.API.STREAM.MSG.GET.CROSS", {"seq": 3})["message"]
        ck.eq(base64.b64decode(m["hdrs"]),
              b"NATS/1.0\r\nX-Rep: one\r\nX-Rep: two\r\nX-Rep: three\r\nX-Other: v: with colon\r\n\r\n",
              "MSG.GET 3 headers")
        ck.eq(js.pub_ack(b"cross.a", b"after kafka"), b'{"stream":"CROSS", "seq":8}', "NATS seq after the Kafka records")
        ck.eq(js.pub_ack(b"cross.c", b"dup", [(b"Nats-Msg-Id", b"m-1")]),
              b'{"stream":"CROSS", "seq":4,"duplicate": true}', "msg id of the NATS publish still known")

    rng = random.Random(9)
    produced = []  # every Kafka record of stream CODEC, with its offset
    with ck.section("stream CODEC (codec.> and fallback) for the Kafka producers"):
        created = js.api("$JS.API.STREAM.CREATE.CODEC", {"name": "CODEC", "subjects": ["codec.>", "fallback"]})
        ck.eq(created.get("did_create"), True, "created")

    for codec in ("none", "gzip", "snappy", "lz4", "zstd"):
        with ck.section("confluent-kafka produces %s batches into CODEC" % codec):
            recs = codec_records("ck-" + codec, 12, rng)
            p = ckf.Producer({"bootstrap.servers": bootstrap, "compression.type": codec, "linger.ms": 200})
            for rec in recs:
                p.produce("CODEC", key=rec["key"], value=rec["value"], headers=rec["headers"] or None,
                          partition=0, on_delivery=lambda err, msg, rec=rec: rec.update(
                              offset=err if err else msg.offset()))
            ck.eq(p.flush(15), 0, "flushed")
            for i, rec in enumerate(recs):
                ck.ok(isinstance(rec.get("offset"), int), "record %d produced: %s" % (i, rec.get("offset")))
            produced += recs

    with ck.section("kafka-python produces snappy (xerial framing) batches into CODEC"):
        import kafka
        recs = codec_records("kp-snappy", 12, rng)
        kp = kafka.KafkaProducer(bootstrap_servers=bootstrap, compression_type="snappy", linger_ms=200)
        futs = [kp.send("CODEC", key=rec["key"], value=rec["value"], headers=rec["headers"], partition=0)
                for rec in recs]
        kp.flush(15)
        for rec, f in zip(recs, futs):
            rec["offset"] = f.get(timeout=15).offset
        kp.close(5)
        produced += recs

    with ck.section("sarama produces snappy (raw blocks) batches into CODEC"):
        recs = run_go("sarama-produce", bootstrap, "CODEC", "codec.sarama", 12)
        ck.eq(len(recs), 12, "sarama records")
        produced += recs

    with ck.section("a raw pull consumer receives every Kafka record byte-exact (seq = offset + 1)"):
        ck.eq(sorted(r["offset"] for r in produced), list(range(len(produced))), "offsets 0..n-1")
        got = raw_consume(t, "CODEC", "RAW", len(produced))
        ck.eq(sorted(got), list(range(1, len(produced) + 1)), "stream sequences")
        for rec in produced:
            seq = rec["offset"] + 1
            ck.eq(got[seq], (nats_subject(rec["key"]), nats_header_block(rec["headers"]), rec["value"] or b"", 1),
                  "seq %d (offset %d, key %s)" % (seq, rec["offset"], natsh.show(rec["key"])))
        st = js.api("$JS.API.STREAM.INFO.CODEC")["state"]
        ck.eq((st["messages"], st["first_seq"], st["last_seq"]), (len(produced), 1, len(produced)),
              "STREAM.INFO messages/first/last")

    with ck.section("a nats.go pull consumer receives the same (subject, seq, value, headers)"):
        got = run_go("nats-consume", t.url, "CODEC", "GO", len(produced))
        ck.eq(len(got), len(produced), "messages")
        by_seq = {g["seq"]: g for g in got}
        ck.eq(sorted(by_seq), list(range(1, len(produced) + 1)), "stream sequences")
        for rec in produced:
            g = by_seq[rec["offset"] + 1]
            want_h = sorted(rec["headers"], key=lambda kv: kv[0])
            ck.eq((g["subject"].encode(), g["value"], g["headers"], g["deliveries"]),
                  (nats_subject(rec["key"]), rec["value"] or b"", want_h, 1),
                  "nats.go seq %d" % g["seq"])

    with ck.section("NATS publishes (nats.go and raw HPUB) -> a Kafka consumer group"):
        js.api("$JS.API.STREAM.CREATE.NATSIN", {"name": "NATSIN", "subjects": ["natsin.>"]})
        want = []  # (key, value, headers) in offset order
        raw_sent = [
            (b"natsin.raw.1", b"raw one", [(b"Zed", b"1"), (b"Alpha", b"2"), (b"Zed", b"3"), (b"Mid", b"x y")]),
            (b"natsin.raw.2", b"", [(b"K", b"v")]),
            (b"natsin.raw.3", bytes(range(255, -1, -1)), None),
        ]
        for i, (subj, data, hdrs) in enumerate(raw_sent):
            ck.eq(js.pub_ack(subj, data, hdrs), b'{"stream":"NATSIN", "seq":%d}' % (i + 1), "raw PubAck %d" % i)
            want.append((subj, data, [(k.decode(), v) for k, v in hdrs] if hdrs else None))
        try:
            go_pubs = run_go("nats-publish", t.url, "natsin.go", 9)
        except Skip as e:
            print("     nats.go publisher skipped: %s" % e)
            go_pubs = []
        for i, g in enumerate(go_pubs):
            ck.eq(g["seq"], len(raw_sent) + i + 1, "nats.go PubAck seq %d" % i)
            want.append((g["subject"].encode(), g["value"], g["headers"] or None))
        c = ckf.Consumer({"bootstrap.servers": bootstrap, "group.id": "natsin-group",
                          "auto.offset.reset": "earliest", "enable.auto.commit": False,
                          "session.timeout.ms": 6000})
        c.subscribe(["NATSIN"])
        got = []
        deadline = time.time() + 30
        while len(got) < len(want) and time.time() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                raise CheckFailed("poll: %s" % m.error())
            got.append(m)
        ck.eq(len(got), len(want), "records read by the group")
        for i, (m, (key, value, hdrs)) in enumerate(zip(got, want)):
            ck.eq((m.partition(), m.offset(), m.key(), m.value() or b"", m.headers()), (0, i, key, value, hdrs),
                  "record %d" % i)
        c.commit(asynchronous=False)
        committed = c.committed([ckf.TopicPartition("NATSIN", 0)], timeout=10)
        ck.eq(committed[0].offset, len(want), "committed offset")
        c.close()
        c = ckf.Consumer({"bootstrap.servers": bootstrap, "group.id": "natsin-group",
                          "auto.offset.reset": "earliest", "enable.auto.commit": False})
        committed = c.committed([ckf.TopicPartition("NATSIN", 0)], timeout=10)
        ck.eq(committed[0].offset, len(want), "committed offset seen by a new member")
        c.close()

    with ck.section("STREAM.DELETE removes the topic"):
        ck.eq(js.api("$JS.API.STREAM.DELETE.CROSS"), {"type": T + "stream_delete_response", "success": True},
              "delete")
        admin = ckf.admin.AdminClient({"bootstrap.servers": bootstrap})
        ck.eq("CROSS" in admin.list_topics(timeout=10).topics, False, "topic gone")


if __name__ == "__main__":
    natsh.run("js_kafka_cross_test", body, modules=("confluent_kafka", "kafka"), time_limit=270)
