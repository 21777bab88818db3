#!/usr/bin/python3
"""kafka_badinput_test: hostile and broken Kafka frames on raw sockets; the broker must survive
each one and answer the next client correctly.

Encoders and decoders are written here by hand from the Kafka protocol (struct.pack): request
header v1/v2, ApiVersions v0/v3, Metadata v0/v1, Produce v7, RecordBatch v2 with CRC-32C.
Cases: negative, huge (> 100 MiB) and zero size prefixes, truncated headers, unknown API key,
unsupported versions (closed, no response), ApiVersions v99 (error 35 with a v0 body listing
ApiVersions), garbage / bad-CRC / inconsistent record batches in Produce v7 (CORRUPT_MESSAGE in the
partition response, nothing stored), acks=0 (no response frame), pipelining (responses in
order), 200 seeded random frames, and slow clients holding partial frames while others work.
After every case: the process is alive, and a fresh connection gets the same ApiVersions and
Metadata answers as before anything bad was sent.
"""
import os
import random
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

IO_TIMEOUT = 5.0
ERR_NONE, ERR_CORRUPT_MESSAGE, ERR_UNSUPPORTED_VERSION, ERR_INVALID_RECORD = 0, 2, 35, 87
API_PRODUCE, API_FETCH, API_LIST_OFFSETS, API_METADATA, API_VERSIONS = 0, 1, 2, 3, 18

# ---- encoding ---------------------------------------------------------------------------


def i8(v):
    return struct.pack(">b", v)


def i16(v):
    return struct.pack(">h", v)


def i32(v):
    return struct.pack(">i", v)


def i64(v):
    return struct.pack(">q", v)


def string(s):
    if s is None:
        return i16(-1)
    b = s.encode() if isinstance(s, str) else s
    return i16(len(b)) + b


def uvarint(v):
    out = b""
    while True:
        if v < 0x80:
            return out + bytes([v])
        out += bytes([(v & 0x7F) | 0x80])
        v >>= 7


def varint(v):  # zigzag, as in records
    return uvarint((v << 1) ^ (v >> 63))


def compact_string(s):
    b = s.encode()
    return uvarint(len(b) + 1) + b


def header(key, version, corr, client_id="sluice-badinput", flexible=False):
    h = i16(key) + i16(version) + i32(corr) + string(client_id)
    return h + (uvarint(0) if flexible else b"")


def frame(payload):
    return i32(len(payload)) + payload


def api_versions_req(corr, version=0):
    if version >= 3:
        body = compact_string("sluice-test") + compact_string("1.0") + uvarint(0)
        return frame(header(API_VERSIONS, version, corr, flexible=True) + body)
    return frame(header(API_VERSIONS, version, corr))


def metadata_req(corr, version=1, topics=None, client_id="sluice-badinput"):
    if topics is None:
        arr = i32(0) if version == 0 else i32(-1)  # v0: empty = all; v1+: null = all
    else:
        arr = i32(len(topics)) + b"".join(string(t) for t in topics)
    return frame(header(API_METADATA, version, corr, client_id) + arr)


def produce_req(corr, topic, partition, records, acks=1, version=7):
    body = (string(None) + i16(acks) + i32(10000) + i32(1) + string(topic) + i32(1)
            + i32(partition) + (i32(-1) if records is None else i32(len(records)) + records))
    return frame(header(API_PRODUCE, version, corr) + body)


def _crc32c_table():
    t = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


CRC_TABLE = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = CRC_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def record(offset_delta, ts_delta, key, value, headers=()):
    body = i8(0) + varint(ts_delta) + varint(offset_delta)
    body += varint(-1) if key is None else varint(len(key)) + key
    body += varint(-1) if value is None else varint(len(value)) + value
    body += varint(len(headers))
    for hk, hv in headers:
        body += varint(len(hk)) + hk + (varint(-1) if hv is None else varint(len(hv)) + hv)
    return varint(len(body)) + body


def record_batch(msgs, base_ts, last_offset_delta=None, magic=2, bad_crc=False):
    """msgs: [(key, value, headers)] with timestamps base_ts + index."""
    recs = b"".join(record(i, i, k, v, h) for i, (k, v, h) in enumerate(msgs))
    lod = len(msgs) - 1 if last_offset_delta is None else last_offset_delta
    after_crc = (i16(0) + i32(lod) + i64(base_ts) + i64(base_ts + len(msgs) - 1) + i64(-1) + i16(-1)
                 + i32(-1) + i32(len(msgs)) + recs)
    crc = crc32c(after_crc) ^ (1 if bad_crc else 0)
    after_len = i32(-1) + i8(magic) + struct.pack(">I", crc) + after_crc
    return i64(0) + i32(len(after_len)) + after_len


# ---- decoding ---------------------------------------------------------------------------


class Reader:
    def __init__(self, data):
        self.d, self.p = data, 0

    def take(self, n):
        if self.p + n > len(self.d):
            raise harness.CheckFailed("response too short: need %d bytes at %d of %d"
                                      % (n, self.p, len(self.d)))
        v = self.d[self.p:self.p + n]
        self.p += n
        return v

    def i8(self):
        return struct.unpack(">b", self.take(1))[0]

    def i16(self):
        return struct.unpack(">h", self.take(2))[0]

    def i32(self):
        return struct.unpack(">i", self.take(4))[0]

    def i64(self):
        return struct.unpack(">q", self.take(8))[0]

    def uvarint(self):
        v = shift = 0
        for _ in range(5):
            b = self.take(1)[0]
            v |= (b & 0x7F) << shift
            if not b & 0x80:
                return v
            shift += 7
        raise harness.CheckFailed("uvarint too long")

    def string(self):
        n = self.i16()
        return None if n < 0 else self.take(n).decode()

    def array(self, fn):
        n = self.i32()
        return None if n < 0 else [fn() for _ in range(n)]

    def compact_array(self, fn):
        n = self.uvarint()
        return None if n == 0 else [fn() for _ in range(n - 1)]

    def tagged(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())

    def end(self, what):
        if self.p != len(self.d):
            raise harness.CheckFailed("%s: %d bytes left over after the body" % (what, len(self.d) - self.p))


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise harness.CheckFailed("connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def read_response(sock, corr):
    """One response frame; checks the correlation id (header v0) and returns the body."""
    size = struct.unpack(">i", recv_exact(sock, 4))[0]
    if not 4 <= size <= 64 * 1024 * 1024:
        raise harness.CheckFailed("response size %d" % size)
    data = recv_exact(sock, size)
    got = struct.unpack(">i", data[:4])[0]
    if got != corr:
        raise harness.CheckFailed("response correlation id %d, want %d" % (got, corr))
    return data[4:]


def parse_api_versions(body, version):
    r = Reader(body)
    err = r.i16()
    if version >= 3:
        keys = r.compact_array(lambda: (r.i16(), r.i16(), r.i16(), r.tagged())[:3])
        r.i32()
        r.tagged()
    else:
        keys = r.array(lambda: (r.i16(), r.i16(), r.i16()))
        if version >= 1:
            r.i32()
    r.end("ApiVersions v%d response" % version)
    return err, {k: (lo, hi) for k, lo, hi in keys or []}


def parse_metadata(body, version):
    r = Reader(body)
    brokers = r.array(lambda: (r.i32(), r.string(), r.i32()) + ((r.string(),) if version >= 1 else ()))
    controller = r.i32() if version >= 1 else None

    def partition():
        return {"error": r.i16(), "index": r.i32(), "leader": r.i32(), "replicas": r.array(r.i32),
                "isr": r.array(r.i32)}

    def topic():
        t = {"error": r.i16(), "name": r.string()}
        if version >= 1:
            t["internal"] = r.i8()
        t["partitions"] = r.array(partition)
        return t

    topics = r.array(topic)
    r.end("Metadata v%d response" % version)
    return {"brokers": brokers, "controller": controller, "topics": topics}


def parse_produce_v7(body):
    r = Reader(body)

    def part():
        return {"index": r.i32(), "error": r.i16(), "base_offset": r.i64(), "log_append_time": r.i64(),
                "log_start_offset": r.i64()}

    topics = r.array(lambda: (r.string(), r.array(part)))
    r.i32()
    r.end("Produce v7 response")
    return topics


# ---- the test ---------------------------------------------------------------------------


class Session:
    def __init__(self, broker, ck):
        self.broker, self.ck = broker, ck
        self.corr = 1000
        self.baseline = None

    def connect(self):
        s = socket.create_connection((self.broker.host, self.broker.kafka_port), timeout=IO_TIMEOUT)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def next_corr(self):
        self.corr += 1
        return self.corr

    def call(self, sock, req_fn, *args, **kw):
        corr = self.next_corr()
        sock.sendall(req_fn(corr, *args, **kw))
        return read_response(sock, corr)

    def expect_closed(self, sock, what, timeout=IO_TIMEOUT):
        """The broker must close without sending anything."""
        sock.settimeout(timeout)
        got = b""
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                got += chunk
        except ConnectionResetError:
            pass
        except socket.timeout:
            raise harness.CheckFailed("%s: connection still open after %.0f s" % (what, timeout))
        finally:
            sock.close()
        self.ck.eq(got, b"", "%s: bytes sent before closing" % what)

    def snapshot(self):
        """ApiVersions v0, then the highest version up to 3 that it advertises (3 for us: the
        flexible body with a v0 response header), then Metadata v1 for no topics."""
        with self.connect() as s:
            av0 = parse_api_versions(self.call(s, api_versions_req, 0), 0)
            v = min(3, av0[1].get(API_VERSIONS, (0, 0))[1])
            av = parse_api_versions(self.call(s, api_versions_req, v), v)
            md = parse_metadata(self.call(s, metadata_req, 1, []), 1)
        return av, av0, md

    def healthy(self, what):
        if self.broker.external is None:
            self.ck.ok(self.broker.alive(), "%s: broker process died (exit code %s)"
                       % (what, self.broker.proc.returncode))
        try:
            snap = self.snapshot()
        except (OSError, harness.CheckFailed) as e:
            raise harness.CheckFailed("%s: fresh connection no longer served: %s" % (what, e))
        self.ck.eq(snap, self.baseline, "%s: ApiVersions/Metadata after it" % what)


def baseline(ck, ses):
    av3, av0, md = ses.snapshot()
    ses.baseline = (av3, av0, md)
    ck.eq(av0[0], ERR_NONE, "ApiVersions v0 error")
    ck.eq(av3, av0, "ApiVersions v0 and v3 give the same answer")
    keys = av3[1]
    # The lowest ranges that serve our clients (kafka-subset.md section 1, "Must").
    for key, lo, hi, name in ((API_PRODUCE, 3, 7, "Produce"), (API_FETCH, 4, 12, "Fetch"),
                              (API_LIST_OFFSETS, 1, 5, "ListOffsets"), (API_METADATA, 0, 9, "Metadata"),
                              (API_VERSIONS, 0, 3, "ApiVersions")):
        ck.ok(key in keys, "ApiVersions does not list %s" % name)
        ck.ok(keys[key][0] <= lo and keys[key][1] >= hi, "%s advertised %s, must cover %d-%d"
              % (name, keys[key], lo, hi))
    ck.eq([(b[1], b[2]) for b in md["brokers"]], [(ses.broker.host, ses.broker.kafka_port)],
          "Metadata v1 brokers")
    ck.ok(md["controller"] in [b[0] for b in md["brokers"]], "controller id is a listed broker")
    ck.eq(md["topics"], [], "Metadata v1 for no topics")


def framing_cases(ck, ses):
    cases = [
        ("negative size prefix", i32(-1) + b"\0" * 16),
        ("size prefix INT32_MIN", i32(-2 ** 31) + b"\0" * 16),
        ("huge size prefix (200 MiB)", i32(200 * 1024 * 1024) + header(API_VERSIONS, 0, 1)),
        ("size prefix 100 MiB + 1", i32(100 * 1024 * 1024 + 1) + header(API_VERSIONS, 0, 1)),
        ("size 0", i32(0)),
        ("size 0 then a valid request", i32(0) + api_versions_req(7)),
        ("truncated header: 3 bytes", frame(i16(API_VERSIONS) + b"\0")),
        ("truncated header: no client id length", frame(i16(API_VERSIONS) + i16(0) + i32(7))),
        ("truncated header: client id longer than the frame",
         frame(i16(API_VERSIONS) + i16(0) + i32(7) + i16(50) + b"abc")),
        ("unknown API key 9999", frame(header(9999, 0, 7))),
        ("negative API key", frame(header(-1, 0, 7))),
        ("Metadata v99", frame(header(API_METADATA, 99, 7) + i32(-1))),
        ("Produce v99", frame(header(API_PRODUCE, 99, 7))),
        ("Metadata v-1", frame(header(API_METADATA, -1, 7) + i32(-1))),
    ]
    for what, data in cases:
        s = ses.connect()
        s.sendall(data)
        ses.expect_closed(s, what)
        ses.healthy(what)


def api_versions_v99(ck, ses):
    with ses.connect() as s:
        corr = ses.next_corr()
        # As a newer client would send it: flexible (v3+), so request header v2, and a body
        # the broker cannot know (it must answer v0 without parsing it).
        body = compact_string("future-client") + compact_string("9.9") + uvarint(0) + b"\x07unknown"
        s.sendall(frame(header(API_VERSIONS, 99, corr, flexible=True) + body))
        body = read_response(s, corr)
        err, keys = parse_api_versions(body, 0)  # v0 body whatever version was asked
        ck.eq(err, ERR_UNSUPPORTED_VERSION, "ApiVersions v99: error code")
        ck.ok(API_VERSIONS in keys, "ApiVersions v99: the v0 body lists ApiVersions (%s)" % keys)
        ck.eq(keys[API_VERSIONS], ses.baseline[0][1][API_VERSIONS], "ApiVersions v99: its own range")
        # The client then retries lower on the same connection.
        ck.eq(parse_api_versions(ses.call(s, api_versions_req, 0), 0), ses.baseline[1],
              "ApiVersions v0 after v99 on the same connection")
    ses.healthy("ApiVersions v99")


def bad_batches(good, now, valid):
    """(what, records, error codes allowed in the partition response)"""
    garbage = bytearray(random.Random(7).randbytes(100))
    garbage[16] = 2
    garbage = bytes(garbage)
    return [
        # A broken structure is INVALID_RECORD from Kafka 2.5 on (CORRUPT_MESSAGE before); a bad
        # checksum is always CORRUPT_MESSAGE.
        ("garbage records (magic byte 2)", garbage, (ERR_CORRUPT_MESSAGE, ERR_INVALID_RECORD)),
        ("10 garbage bytes", b"\x01" * 10, (ERR_CORRUPT_MESSAGE, ERR_INVALID_RECORD)),
        ("bad CRC", record_batch(good, now, bad_crc=True), (ERR_CORRUPT_MESSAGE,)),
        ("payload byte flipped", valid[:-3] + bytes([valid[-3] ^ 0x40]) + valid[-2:],
         (ERR_CORRUPT_MESSAGE,)),
        ("batchLength past the records", valid[:8] + i32(len(valid) - 12 + 10) + valid[12:],
         (ERR_CORRUPT_MESSAGE, ERR_INVALID_RECORD)),
        ("batchLength short of the records", valid[:8] + i32(len(valid) - 12 - 7) + valid[12:],
         (ERR_CORRUPT_MESSAGE,)),
        ("truncated batch", valid[:40], (ERR_CORRUPT_MESSAGE, ERR_INVALID_RECORD)),
        ("lastOffsetDelta != records - 1", record_batch(good, now, last_offset_delta=9),
         (ERR_CORRUPT_MESSAGE, ERR_INVALID_RECORD)),
        ("magic 1 (old message set)", record_batch(good, now, magic=1),
         (ERR_CORRUPT_MESSAGE, ERR_UNSUPPORTED_VERSION, ERR_INVALID_RECORD)),
    ]


def produce_cases(ck, ses):
    topic = harness.unique("badinput")
    now = int(time.time() * 1000)
    good = [(b"k%d" % i, b"value %d " % i * (i + 1), [(b"h", b"%d" % i), (b"n", None)]) for i in range(5)]
    with ses.connect() as s:
        # Metadata v1 for a topic creates it (auto-creation).
        for _ in range(50):
            md = parse_metadata(ses.call(s, metadata_req, 1, [topic]), 1)
            t = md["topics"][0]
            if t["error"] == ERR_NONE and t["partitions"]:
                break
            time.sleep(0.1)
        ck.eq((t["name"], t["error"]), (topic, ERR_NONE), "auto-created topic in Metadata v1")

        def produce(records, acks=1):
            topics = parse_produce_v7(ses.call(s, produce_req, topic, 0, records, acks))
            ck.eq([(n, [p["index"] for p in ps]) for n, ps in topics], [(topic, [0])],
                  "Produce v7 response topics/partitions")
            return topics[0][1][0]

        valid = record_batch(good, now)
        bad = bad_batches(good, now, valid)
        for what, records, allowed in bad:
            p = produce(records)
            ck.ok(p["error"] in allowed, "Produce v7 %s: partition error %d, want one of %s"
                  % (what, p["error"], allowed))
        # Nothing of that was stored: the first good batch starts at offset 0.
        p = produce(valid)
        ck.eq((p["error"], p["base_offset"]), (ERR_NONE, 0), "first valid batch after the bad ones")
        # acks=0: no response frame at all; the next response is for the next request.
        s.sendall(produce_req(ses.next_corr(), topic, 0, record_batch(good, now + 100), acks=0))
        ck.eq(parse_api_versions(ses.call(s, api_versions_req, 0), 0), ses.baseline[1],
              "the response after an acks=0 Produce belongs to the next request")
        p = produce(record_batch(good, now + 200), acks=-1)
        ck.eq((p["error"], p["base_offset"]), (ERR_NONE, 2 * len(good)),
              "acks=-1 batch after the acks=0 one")
    ses.healthy("bad record batches")
    return topic, good, now


def read_back(ck, ses, topic, good, now):
    """librdkafka must read our hand-made batches back exactly (checks our encoder too)."""
    try:
        import ckutil
    except ImportError as e:
        harness.skip("confluent_kafka missing: %s" % e)
    got = ckutil.consume(ses.broker.bootstrap, topic, {0: 3 * len(good)})[0]
    want = []
    for b, base in enumerate((now, now + 100, now + 200)):
        for i, (k, v, h) in enumerate(good):
            want.append((b * len(good) + i, k, v, [(hk.decode(), hv) for hk, hv in h], base + i))
    ck.eq([(g["offset"], g["key"], g["value"], g["headers"], g["ts"]) for g in got], want,
          "records read back with librdkafka")


def pipelining(ck, ses):
    with ses.connect() as s:
        # kafka-python's probe: ApiVersions v0 and Metadata v0 written back to back.
        c1, c2 = ses.next_corr(), ses.next_corr()
        s.sendall(api_versions_req(c1, 0) + metadata_req(c2, 0, []))
        ck.eq(parse_api_versions(read_response(s, c1), 0), ses.baseline[1], "pipelined ApiVersions v0")
        md = parse_metadata(read_response(s, c2), 0)
        ck.eq([(b[1], b[2]) for b in md["brokers"]], [(ses.broker.host, ses.broker.kafka_port)],
              "pipelined Metadata v0 brokers")
        corrs = [ses.next_corr() for _ in range(50)]
        s.sendall(b"".join(api_versions_req(c, [0, 1, 2, 3][i % 4]) for i, c in enumerate(corrs)))
        for i, c in enumerate(corrs):
            v = [0, 1, 2, 3][i % 4]
            ck.eq(parse_api_versions(read_response(s, c), v)[0], ERR_NONE, "pipelined ApiVersions v%d" % v)
        # One request split into single bytes.
        c = ses.next_corr()
        for b in metadata_req(c, 1, []):
            s.sendall(bytes([b]))
        ck.eq(parse_metadata(read_response(s, c), 1), ses.baseline[2], "Metadata sent byte by byte")
    ses.healthy("pipelining")


def fuzz(ck, ses, cases=200):
    rng = random.Random(0xf022)
    keys = [API_PRODUCE, API_FETCH, API_LIST_OFFSETS, API_METADATA, API_VERSIONS, 8, 9, 10, 11, 12, 13, 14,
            15, 16, 19, 20, 22, 32, 37]
    templates = [api_versions_req(1, 0), api_versions_req(1, 3), metadata_req(1, 1, ["fuzz-topic"]),
                 metadata_req(1, 0, []), produce_req(1, "fuzz-topic", 0, record_batch([(b"k", b"v", [])], 0))]
    for n in range(cases):
        kind = n % 4
        if kind == 0:  # random bytes in a consistent frame
            data = frame(rng.randbytes(rng.randrange(0, 300)))
        elif kind == 1:  # a real header (any version) and a random body
            data = frame(header(rng.choice(keys), rng.randrange(-1, 14), n) + rng.randbytes(rng.randrange(0, 200)))
        elif kind == 2:  # a valid request with bytes flipped or cut (size kept consistent)
            t = bytearray(rng.choice(templates)[4:])
            for _ in range(rng.randrange(1, 6)):
                t[rng.randrange(len(t))] = rng.randrange(256)
            if rng.random() < 0.3:
                t = t[:rng.randrange(len(t))]
            data = frame(bytes(t))
        else:  # a random size prefix and fewer bytes, then the client goes away
            data = i32(rng.randrange(-2 ** 31, 2 ** 31)) + rng.randbytes(rng.randrange(0, 64))
        s = ses.connect()
        try:
            s.sendall(data)
            s.settimeout(0.05)
            try:
                while s.recv(65536):
                    pass
            except (socket.timeout, ConnectionResetError):
                pass
        finally:
            s.close()
        ses.healthy("fuzz case %d (kind %d, %d bytes)" % (n, kind, len(data)))


def slow_clients(ck, ses):
    slow = []
    try:
        a = ses.connect()
        ca = ses.next_corr()
        big = metadata_req(ca, 1, [], client_id="x" * 2000)
        a.sendall(big[:10])  # size prefix and part of the header, then nothing
        slow.append(a)
        b = ses.connect()
        b.sendall(b"\x00\x00")  # half a size prefix
        slow.append(b)
        for i in range(50):
            c = ses.connect()
            c.sendall(api_versions_req(i, 0)[:5 + i % 10])
            slow.append(c)
        # Meanwhile another client is served promptly.
        t0 = time.monotonic()
        for _ in range(5):
            ses.healthy("while 52 clients hold partial frames")
        elapsed = time.monotonic() - t0
        ck.ok(elapsed < 5, "5 health checks took %.1f s next to slow clients" % elapsed)
        time.sleep(1)
        # The slow client finishes its request and gets its answer.
        for i in range(10, len(big), 500):
            a.sendall(big[i:i + 500])
            time.sleep(0.05)
        ck.eq(parse_metadata(read_response(a, ca), 1), ses.baseline[2], "slow client's Metadata")
    finally:
        for s in slow:
            s.close()
    ses.healthy("slow clients gone")


def body(ck):
    broker = harness.start_broker()
    ses = Session(broker, ck)
    with ck.section("baseline ApiVersions v0/v3 + Metadata v1"):
        baseline(ck, ses)
    if ses.baseline is None:
        raise harness.CheckFailed("no baseline: cannot judge the rest")
    with ck.section("framing: bad sizes, truncated headers, unknown keys and versions"):
        framing_cases(ck, ses)
    with ck.section("ApiVersions v99"):
        api_versions_v99(ck, ses)
    stored = None
    with ck.section("Produce v7: corrupt batches, acks=0"):
        stored = produce_cases(ck, ses)
    if stored:
        with ck.section("read the hand-made batches back with librdkafka"):
            read_back(ck, ses, *stored)
    with ck.section("pipelined requests"):
        pipelining(ck, ses)
    with ck.section("fuzz: 200 seeded random frames"):
        fuzz(ck, ses)
    with ck.section("slow clients"):
        slow_clients(ck, ses)


if __name__ == "__main__":
    harness.run("kafka_badinput_test", body)
