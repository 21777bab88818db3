"""gproto.py: a minimal raw Kafka group-protocol client (non-flexible request versions only), for
the tests under tests/groups and bench/rebalance_bench.py. Every call is bounded by the socket
timeout. Also re-exports tests/integration/harness.py as `harness` (imported, never edited).

Versions used: FindCoordinator v0, JoinGroup v1 (v5 with an instance id), SyncGroup v0 (v3 with
an instance id), Heartbeat v0 (v3), LeaveGroup v0, OffsetCommit v2, OffsetFetch v1,
DescribeGroups v0, ListGroups v0.
"""
import os
import socket
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import harness  # noqa: E402,F401  (tests/integration/harness.py, reused as is)

FIND_COORDINATOR, JOIN_GROUP, HEARTBEAT, LEAVE_GROUP, SYNC_GROUP = 10, 11, 12, 13, 14
OFFSET_COMMIT, OFFSET_FETCH, DESCRIBE_GROUPS, LIST_GROUPS = 8, 9, 15, 16


class ProtoError(Exception):
    pass


# ---- encoding -------------------------------------------------------------------------------

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


def bytes_(b):
    if b is None:
        return i32(-1)
    return i32(len(b)) + b


def array(items, enc):
    if items is None:
        return i32(-1)
    return i32(len(items)) + b"".join(enc(x) for x in items)


class Reader:
    def __init__(self, data):
        self.d, self.p = data, 0

    def _take(self, fmt, n):
        if self.p + n > len(self.d):
            raise ProtoError("response truncated at %d (+%d of %d)" % (self.p, n, len(self.d)))
        v, = struct.unpack_from(fmt, self.d, self.p)
        self.p += n
        return v

    def i8(self):
        return self._take(">b", 1)

    def i16(self):
        return self._take(">h", 2)

    def i32(self):
        return self._take(">i", 4)

    def i64(self):
        return self._take(">q", 8)

    def string(self):
        n = self.i16()
        if n < 0:
            return None
        if self.p + n > len(self.d):
            raise ProtoError("string truncated")
        s = self.d[self.p:self.p + n].decode("utf-8")
        self.p += n
        return s

    def bytes(self):
        n = self.i32()
        if n < 0:
            return None
        if self.p + n > len(self.d):
            raise ProtoError("bytes truncated")
        b = self.d[self.p:self.p + n]
        self.p += n
        return b

    def array(self, dec):
        n = self.i32()
        if n < 0:
            return None
        return [dec(self) for _ in range(n)]


def consumer_subscription(topics, user_data=b""):
    """ConsumerProtocolSubscription v0."""
    return i16(0) + array(topics, string) + bytes_(user_data)


def consumer_assignment(parts):
    """ConsumerProtocolAssignment v0; parts: {topic: [partitions]}."""
    return i16(0) + array(sorted(parts.items()), lambda tp: string(tp[0]) + array(tp[1], i32)) + \
        bytes_(b"")


def parse_assignment(b):
    if not b:
        return {}
    r = Reader(b)
    r.i16()
    out = r.array(lambda r: (r.string(), r.array(lambda r: r.i32())))
    return dict(out)


# ---- requests -------------------------------------------------------------------------------

def encode_request(api, version, corr, body, client_id="sluice-gproto"):
    hdr = i16(api) + i16(version) + i32(corr) + string(client_id)
    msg = hdr + body
    return i32(len(msg)) + msg


def req_find_coordinator(group, key_type=None):
    """v0 (a group), or with key_type v1 (0 a group, 1 a transactional id)."""
    if key_type is None:
        return FIND_COORDINATOR, 0, string(group)
    return FIND_COORDINATOR, 1, string(group) + struct.pack(">b", key_type)


def req_join(group, member_id="", protocols=(("range", b""),), session_ms=6000,
             rebalance_ms=30000, instance_id=None, protocol_type="consumer"):
    v = 5 if instance_id is not None else 1
    body = string(group) + i32(session_ms) + i32(rebalance_ms) + string(member_id)
    if v >= 5:
        body += string(instance_id)
    body += string(protocol_type) + array(list(protocols), lambda p: string(p[0]) + bytes_(p[1]))
    return JOIN_GROUP, v, body


def req_sync(group, generation, member_id, assignments=(), instance_id=None):
    v = 3 if instance_id is not None else 0
    body = string(group) + i32(generation) + string(member_id)
    if v >= 3:
        body += string(instance_id)
    body += array(list(assignments), lambda a: string(a[0]) + bytes_(a[1]))
    return SYNC_GROUP, v, body


def req_heartbeat(group, generation, member_id, instance_id=None):
    v = 3 if instance_id is not None else 0
    body = string(group) + i32(generation) + string(member_id)
    if v >= 3:
        body += string(instance_id)
    return HEARTBEAT, v, body


def req_leave(group, member_id):
    return LEAVE_GROUP, 0, string(group) + string(member_id)


def req_offset_commit(group, generation, member_id, offsets):
    """offsets: {topic: [(partition, offset, metadata)]}"""
    body = string(group) + i32(generation) + string(member_id) + i64(-1) + array(
        sorted(offsets.items()),
        lambda t: string(t[0]) + array(t[1], lambda p: i32(p[0]) + i64(p[1]) + string(p[2])))
    return OFFSET_COMMIT, 2, body


def req_offset_fetch(group, parts):
    """parts: {topic: [partitions]}"""
    body = string(group) + array(sorted(parts.items()),
                                 lambda t: string(t[0]) + array(t[1], i32))
    return OFFSET_FETCH, 1, body


def req_describe_groups(groups):
    return DESCRIBE_GROUPS, 0, array(list(groups), string)


# ---- responses (body after the correlation id) ------------------------------------------------

def parse(api, version, data):
    r = Reader(data)
    if api == FIND_COORDINATOR:
        if version >= 1:
            r.i32()
            err = r.i16()
            r.string()
            return {"error": err, "node": r.i32(), "host": r.string(), "port": r.i32()}
        return {"error": r.i16(), "node": r.i32(), "host": r.string(), "port": r.i32()}
    if api == JOIN_GROUP:
        if version >= 2:
            r.i32()
        out = {"error": r.i16(), "generation": r.i32(), "protocol": r.string(), "leader": r.string(),
               "member_id": r.string()}
        if version >= 5:
            out["members"] = r.array(lambda r: (r.string(), r.string(), r.bytes()))
        else:
            out["members"] = r.array(lambda r: (r.string(), None, r.bytes()))
        return out
    if api == SYNC_GROUP:
        if version >= 1:
            r.i32()
        return {"error": r.i16(), "assignment": r.bytes()}
    if api in (HEARTBEAT, LEAVE_GROUP):
        if version >= 1:
            r.i32()
        return {"error": r.i16()}
    if api == OFFSET_COMMIT:
        if version >= 3:
            r.i32()
        return {"topics": dict(r.array(lambda r: (r.string(), dict(r.array(
            lambda r: (r.i32(), r.i16()))))))}
    if api == OFFSET_FETCH:
        topics = r.array(lambda r: (r.string(), r.array(
            lambda r: (r.i32(), r.i64(), r.string(), r.i16()))))
        return {"topics": {t: {p: (o, m, e) for p, o, m, e in ps} for t, ps in topics}}
    if api == DESCRIBE_GROUPS:
        def member(r):
            return {"member_id": r.string(), "client_id": r.string(), "client_host": r.string(),
                    "metadata": r.bytes(), "assignment": r.bytes()}
        return {"groups": r.array(lambda r: {
            "error": r.i16(), "group": r.string(), "state": r.string(), "protocol_type": r.string(),
            "protocol": r.string(), "members": r.array(member)})}
    raise ProtoError("no parser for api %d" % api)


class Conn:
    """One blocking connection; call() sends a request and waits for its response. send()/recv()
    pipeline (responses come back in request order on one connection)."""

    def __init__(self, host, port, timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.corr = 0
        self.inflight = []
        self.buf = b""

    def close(self):
        self.sock.close()

    def send(self, req):
        api, version, body = req
        self.corr += 1
        self.sock.sendall(encode_request(api, version, self.corr, body))
        self.inflight.append((self.corr, api, version))

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ProtoError("connection closed by the broker")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self):
        corr, api, version = self.inflight.pop(0)
        n, = struct.unpack(">i", self._read(4))
        data = self._read(n)
        got, = struct.unpack_from(">i", data, 0)
        if got != corr:
            raise ProtoError("correlation id %d, want %d" % (got, corr))
        return parse(api, version, data[4:])

    def call(self, req):
        self.send(req)
        return self.recv()


class Member:
    """A raw group member of a one-topic consumer group that assigns everything to itself when it
    is the leader (or round-robin over members)."""

    def __init__(self, conn, group, topic, partitions, session_ms=6000, rebalance_ms=30000,
                 instance_id=None):
        self.c, self.group, self.topic, self.partitions = conn, group, topic, partitions
        self.session_ms, self.rebalance_ms, self.instance_id = session_ms, rebalance_ms, instance_id
        self.member_id, self.generation, self.leader = "", -1, ""
        self.assignment = {}

    def join_req(self, meta_extra=b""):
        return req_join(self.group, self.member_id,
                        [("range", consumer_subscription([self.topic], meta_extra))],
                        self.session_ms, self.rebalance_ms, self.instance_id)

    def on_join(self, r):
        if r["error"] == 79:  # MEMBER_ID_REQUIRED
            self.member_id = r["member_id"]
            return False
        if r["error"]:
            raise ProtoError("JoinGroup %s: error %d" % (self.group, r["error"]))
        self.member_id, self.generation, self.leader = r["member_id"], r["generation"], r["leader"]
        self.members = [m[0] for m in r["members"]]
        return True

    def plan(self):
        if self.leader != self.member_id:
            return []
        out = {m: [] for m in self.members}
        for i, p in enumerate(self.partitions):
            out[self.members[i % len(self.members)]].append(p)
        return [(m, consumer_assignment({self.topic: ps})) for m, ps in out.items()]

    def sync_req(self):
        return req_sync(self.group, self.generation, self.member_id, self.plan(), self.instance_id)

    def on_sync(self, r):
        if r["error"]:
            raise ProtoError("SyncGroup %s: error %d" % (self.group, r["error"]))
        self.assignment = parse_assignment(r["assignment"])

    def join_and_sync(self, meta_extra=b""):
        for _ in range(3):
            if self.on_join(self.c.call(self.join_req(meta_extra))):
                break
        self.on_sync(self.c.call(self.sync_req()))


def probe_generation(conn, group, member_id, max_gen=50):
    """The generation of a Stable group, found with Heartbeats for a known member id (a wrong
    generation answers ILLEGAL_GENERATION, 22). None if no generation in 1..max_gen is accepted."""
    for g in range(1, max_gen + 1):
        e = conn.call(req_heartbeat(group, g, member_id))["error"]
        if e == 0:
            return g
        if e != 22:
            raise ProtoError("Heartbeat probe: error %d" % e)
    return None


def wait_ready(broker, timeout=10.0):
    """Bounded: until the broker answers a FindCoordinator on a fresh connection."""
    import time
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            c = Conn(broker.host, broker.kafka_port, timeout=2.0)
            try:
                if c.call(req_find_coordinator("sluice-ready-probe"))["error"] == 0:
                    return
            finally:
                c.close()
        except (OSError, ProtoError) as e:
            last = e
        time.sleep(0.02)
    raise harness.CheckFailed("broker %s not answering within %.0f s (%s)" % (broker.bootstrap,
                                                                          timeout, last))


def kill9_and_restart(broker):
    """harness kill9() (which waits for the dead broker's port to close: see
    Broker.wait_ports_closed) + start(), then waits until the new broker answers a request."""
    broker.kill9()
    broker.start()
    wait_ready(broker)
