#!/usr/bin/python3
"""js_raw_test.py: the JetStream API on raw sockets, byte by byte, as nats-server 2.9.10 answers it
(/work/shared/docs/nats-subset.md §11-§19, nats-capture.md): $JS.API.INFO and STREAM.CREATE / INFO /
NAMES / DELETE / MSG.GET and CONSUMER.CREATE / INFO / DELETE response shapes (key sets, types and
fixed values; timestamps only as RFC 3339), error bodies byte-exact, PubAck bytes (note the space),
duplicates and expectation errors, CONSUMER.MSG.NEXT statuses (404, 408 with pending headers, 409,
400, 100 heartbeats), the 9-token ack reply subject and its fields, +ACK / +NXT / -NAK / +TERM,
and bad input (invalid JSON, unknown fields, wrong types, missing stream / consumer, acks for
gone messages and from a connection that never consumed).

Runs against sluice-server --jetstream (default), nats-server -js (SLUICE_NATS_REFERENCE=1) or a
running server (SLUICE_EXTERNAL_NATS=host:port, which must have JetStream on and no streams named
as here). Every read has a deadline."""
import json
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "nats"))
import natsh  # noqa: E402
import jsraw  # noqa: E402
from natsh import Raw, CheckFailed  # noqa: E402

CONNECT = jsraw.CONNECT
QUIET_WAIT = 0.5  # "nothing arrives" means nothing within this
T = "io.nats.jetstream.api.v1."

# ---- JSON shape matching: dict keys exact, lists by element, predicates for free values -------


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


TS_RE = re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$".decode())


def TS(v):
    """An RFC 3339 UTC timestamp (Go time.Time JSON), other than the zero times."""
    return isinstance(v, str) and bool(TS_RE.match(v)) and not v.startswith(("0001-", "1970-"))


def INT(v):
    return is_int(v)


def STR(v):
    return isinstance(v, str) and v != ""


def match(got, want, path="$"):
    """Raises CheckFailed at the first difference between got and the template want."""
    if callable(want):
        if not want(got):
            raise CheckFailed("%s: %s fails %s" % (path, natsh.show(got), want.__name__))
    elif isinstance(want, dict):
        if not isinstance(got, dict):
            raise CheckFailed("%s: want an object, got %s" % (path, natsh.show(got)))
        if set(got) != set(want):
            raise CheckFailed("%s: keys %s, want %s (extra %s, missing %s)" % (
                path, sorted(got), sorted(want), sorted(set(got) - set(want)),
                sorted(set(want) - set(got))))
        for k in want:
            match(got[k], want[k], "%s.%s" % (path, k))
    elif isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            raise CheckFailed("%s: %s, want %s" % (path, natsh.show(got), natsh.show(want)))
        for i, (g, w) in enumerate(zip(got, want)):
            match(g, w, "%s[%d]" % (path, i))
    else:
        if type(got) is not type(want) or got != want:
            raise CheckFailed("%s: %s, want %s" % (path, natsh.show(got), natsh.show(want)))


ZERO_TS = "0001-01-01T00:00:00Z"

STREAM_CONFIG_DEFAULTS = {
    "retention": "limits", "max_consumers": -1, "max_msgs": -1, "max_bytes": -1, "max_age": 0,
    "max_msgs_per_subject": -1, "max_msg_size": -1, "discard": "old", "storage": "file",
    "num_replicas": 1, "duplicate_window": 120000000000, "allow_direct": False,
    "mirror_direct": False, "sealed": False, "deny_delete": False, "deny_purge": False,
    "allow_rollup_hdrs": False}


def stream_config(**kw):
    c = dict(STREAM_CONFIG_DEFAULTS)
    c.update(kw)
    return c


EMPTY_STATE = {"messages": 0, "bytes": 0, "first_seq": 0, "first_ts": ZERO_TS, "last_seq": 0,
               "last_ts": ZERO_TS, "consumer_count": 0}


def err_body(kind, code, err_code, desc, extra=""):
    return ('{"type":"%s%s_response","error":{"code":%d,"err_code":%d,"description":"%s"}%s}'
            % (T, kind, code, err_code, desc, extra)).encode()


# ---- a raw JetStream client -----------------------------------------------------------------


class Js(jsraw.Js):
    """jsraw.Js with pull inboxes _N.<x> (sid 3)."""
    extra_subs = b"SUB _N.* 3\r\n"

    def send(self, data):
        self.r.send(data)

    def nothing(self, what, seconds=QUIET_WAIT):
        got = self.r.read_for(seconds)
        if got not in (b"", b"PING\r\n"):
            raise CheckFailed("%s: want nothing, got %s" % (what, natsh.show(got, 400)))

    def ping(self, what):
        self.r.send(b"PING\r\n")
        line = self.r.read_line()
        if line != b"PONG\r\n":
            raise CheckFailed("%s: want PONG, got %s" % (what, natsh.show(line)))

    def next_req(self, consumer, body, inbox):
        if isinstance(body, dict):
            body = json.dumps(body, separators=(",", ":")).encode()
        self.r.send(b"PUB $JS.API.CONSUMER.MSG.NEXT.%s %s %d\r\n%s\r\n"
                    % (consumer.encode(), inbox, len(body), body))

    def read_msg(self, timeout=None):
        return self.r.read_msg(timeout)

    def close(self):
        self.r.close()


pub_bytes = jsraw.pub_bytes


def ack_fields(reply):
    """The 9-token v1 ack subject: (stream, consumer, delivered, stream_seq, consumer_seq, ts_ns,
    pending)."""
    tok = reply.split(b".")
    if len(tok) != 9 or tok[:2] != [b"$JS", b"ACK"]:
        raise CheckFailed("ack reply %s is not $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>."
                          "<cseq>.<ts>.<pending>" % natsh.show(reply))
    try:
        nums = [int(x) for x in tok[4:]]
    except ValueError:
        raise CheckFailed("ack reply %s: non-numeric fields" % natsh.show(reply))
    return (tok[2].decode(), tok[3].decode(), *nums)


def delivery(js, what, timeout=None):
    """(subject, sid, ack reply, headers or None, payload) of the next message delivery."""
    line, data = js.read_msg(timeout)
    p = line.split()
    if p[0] == b"MSG" and len(p) == 5:
        return p[1], p[2], p[3], None, data
    if p[0] == b"HMSG" and len(p) == 6:
        hl = int(p[4])
        return p[1], p[2], p[3], data[:hl], data[hl:]
    raise CheckFailed("%s: want a delivery with an ack reply, got %s %s"
                      % (what, natsh.show(line), natsh.show(data)))


def status(js, inbox, what, timeout=None):
    """The header block of the next status HMSG (no payload) to inbox."""
    line, data = js.read_msg(timeout)
    p = line.split()
    if p[0] != b"HMSG" or p[1] != inbox or len(p) != 5 or p[3] != p[4]:
        raise CheckFailed("%s: want a status HMSG to %s without reply or payload, got %s %s"
                          % (what, inbox, natsh.show(line), natsh.show(data)))
    return data


def body(ck):
    t = natsh.start_nats(jetstream=True)
    print("target: %s %s" % (t.kind, t.url))
    js = Js(t)
    now_ns = time.time_ns

    with ck.section("$JS.API.INFO: account_info_response shape"):
        line, data = js.request("$JS.API.INFO")
        match(json.loads(data), {
            "type": T + "account_info_response", "memory": 0, "storage": 0, "streams": 0,
            "consumers": 0,
            "limits": {"max_memory": -1, "max_storage": -1, "max_streams": -1,
                       "max_consumers": -1, "max_ack_pending": -1,
                       "memory_max_stream_bytes": -1, "storage_max_stream_bytes": -1,
                       "max_bytes_required": False},
            "api": {"total": INT, "errors": INT}})

    with ck.section("STREAM.CREATE (nats.js and nats.go bodies), idempotent, INFO, NAMES"):
        orders_cfg = stream_config(name="ORDERS", subjects=["orders.*"], retention="workqueue",
                                   max_age=86400000000000)
        created = js.api("$JS.API.STREAM.CREATE.ORDERS", {
            "name": "ORDERS", "subjects": ["orders.*"], "retention": "workqueue",
            "max_age": 86400000000000, "storage": "file"})
        match(created, {"type": T + "stream_create_response", "config": orders_cfg,
                        "created": TS, "state": EMPTY_STATE, "did_create": True})
        # nats.go's body for the same config (zeros for unlimited) is the same stream.
        again = js.api("$JS.API.STREAM.CREATE.ORDERS", {
            "name": "ORDERS", "subjects": ["orders.*"], "retention": "workqueue",
            "max_consumers": 0, "max_msgs": 0, "max_bytes": 0, "discard": "old",
            "max_age": 86400000000000, "max_msgs_per_subject": 0, "storage": "file",
            "num_replicas": 0, "allow_direct": False, "mirror_direct": False})
        match(again, {"type": T + "stream_create_response", "config": orders_cfg,
                      "created": created["created"], "state": EMPTY_STATE, "did_create": True})
        info = js.api("$JS.API.STREAM.INFO.ORDERS")
        match(info, {"type": T + "stream_info_response", "total": 0, "offset": 0, "limit": 0,
                     "config": orders_cfg, "created": created["created"], "state": EMPTY_STATE})
        ck.eq(js.request("$JS.API.STREAM.CREATE.ORDERS", {
            "name": "ORDERS", "subjects": ["orders.*"], "retention": "workqueue",
            "max_age": 3600000000000})[1],
            err_body("stream_create", 400, 10058,
                     "stream name already in use with a different configuration"),
            "create with another max_age")
        ck.eq(js.request("$JS.API.STREAM.CREATE.ORDERS2", {
            "name": "ORDERS2", "subjects": ["orders.created"]})[1],
            err_body("stream_create", 400, 10065, "subjects overlap with an existing stream"),
            "create with overlapping subjects")
        ck.eq(js.request("$JS.API.STREAM.CREATE.X4", {"name": "OTHER", "subjects": ["x4.*"]})[1],
              err_body("stream_create", 400, 10056, "stream name in subject does not match request"),
              "name in body differs from the subject")
        lim = js.api("$JS.API.STREAM.CREATE.LIM", {
            "name": "LIM", "subjects": ["lim.>"], "max_msgs": 10, "max_bytes": 4096,
            "max_msgs_per_subject": 3, "max_msg_size": 512, "discard": "new",
            "storage": "memory", "duplicate_window": 5000000000, "max_consumers": 4})
        match(lim["config"], stream_config(
            name="LIM", subjects=["lim.>"], max_msgs=10, max_bytes=4096, max_msgs_per_subject=3,
            max_msg_size=512, discard="new", storage="memory", duplicate_window=5000000000,
            max_consumers=4))
        names = js.request("$JS.API.STREAM.NAMES", b"{}")[1]
        ck.eq(names, ('{"type":"%sstream_names_response","total":2,"offset":0,"limit":1024,'
                      '"streams":["LIM","ORDERS"]}' % T).encode(), "NAMES {}")
        ck.eq(js.request("$JS.API.STREAM.NAMES", b"")[1], names, "NAMES with an empty body")
        ck.eq(js.request("$JS.API.STREAM.NAMES", {"subject": "orders.*"})[1],
              ('{"type":"%sstream_names_response","total":1,"offset":0,"limit":1024,'
               '"streams":["ORDERS"]}' % T).encode(), "NAMES orders.*")
        ck.eq(js.request("$JS.API.STREAM.NAMES", {"subject": "orders.paid"})[1],
              ('{"type":"%sstream_names_response","total":1,"offset":0,"limit":1024,'
               '"streams":["ORDERS"]}' % T).encode(), "NAMES orders.paid")
        ck.eq(js.request("$JS.API.STREAM.NAMES", {"subject": "nothing.here"})[1],
              ('{"type":"%sstream_names_response","total":0,"offset":0,"limit":1024,'
               '"streams":null}' % T).encode(), "NAMES without a match")
        ck.eq(js.request("$JS.API.STREAM.DELETE.LIM")[1],
              ('{"type":"%sstream_delete_response","success":true}' % T).encode(), "DELETE LIM")
        ck.eq(js.request("$JS.API.STREAM.DELETE.LIM")[1],
              err_body("stream_delete", 404, 10059, "stream not found"), "DELETE LIM again")
        ck.eq(js.request("$JS.API.STREAM.INFO.LIM")[1],
              err_body("stream_info", 404, 10059, "stream not found",
                       ',"total":0,"offset":0,"limit":0'), "INFO of a deleted stream")

    with ck.section("STREAM.CREATE pipelined: twice, overlapping, different, a publish behind it"):
        # One write: the server must act on them in order, as nats-server answers a create
        # inline (Sluice makes the stream's files off its loop and holds the requester meanwhile).
        def create(inbox, cfg):
            b = json.dumps(cfg, separators=(",", ":")).encode()
            name = cfg["name"].encode()
            return b"PUB $JS.API.STREAM.CREATE.%s %s %d\r\n%s\r\n" % (name, inbox, len(b), b)
        pipe = {"name": "PIPE", "subjects": ["pipe.*"], "storage": "file"}
        js.r.send(create(b"_R.p1", pipe) + create(b"_R.p2", pipe) +
                  create(b"_R.p3", {"name": "PIPE2", "subjects": ["pipe.x"]}) +
                  create(b"_R.p4", dict(pipe, max_msgs=5)) +
                  jsraw.pub_bytes("pipe.x", b"_P", b"right behind"))
        got = {}
        for _ in range(5):
            line, data = js.r.read_msg()
            got[line.split()[1]] = data
        ck.eq(sorted(got), [b"_P", b"_R.p1", b"_R.p2", b"_R.p3", b"_R.p4"], "five answers")
        first = json.loads(got.get(b"_R.p1", b"{}"))
        match(first, {"type": T + "stream_create_response",
                      "config": stream_config(name="PIPE", subjects=["pipe.*"]),
                      "created": TS, "state": EMPTY_STATE, "did_create": True})
        again = json.loads(got.get(b"_R.p2", b"{}"))
        match(again, {"type": T + "stream_create_response",
                      "config": stream_config(name="PIPE", subjects=["pipe.*"]),
                      "created": first.get("created"), "state": EMPTY_STATE, "did_create": True})
        ck.eq(got.get(b"_R.p3"), err_body("stream_create", 400, 10065, "subjects overlap with an existing stream"),
              "an overlapping create right behind")
        ck.eq(got.get(b"_R.p4"), err_body("stream_create", 400, 10058,
                                          "stream name already in use with a different configuration"),
              "a different config right behind")
        ck.eq(got.get(b"_P"), b'{"stream":"PIPE", "seq":1}', "the publish right behind the create is stored")
        ck.eq(js.request("$JS.API.STREAM.DELETE.PIPE")[1],
              ('{"type":"%sstream_delete_response","success":true}' % T).encode(), "DELETE PIPE")

    with ck.section("bad API input: invalid JSON, wrong types, unknown fields, missing things"):
        invalid = err_body("stream_create", 400, 10025, "invalid JSON")
        ck.eq(js.request("$JS.API.STREAM.CREATE.BAD", b"{bad json")[1], invalid, "invalid JSON")
        ck.eq(js.request("$JS.API.STREAM.CREATE.BAD", b"")[1], invalid, "empty create body")
        ck.eq(js.request("$JS.API.STREAM.CREATE.BAD", {"name": "BAD", "subjects": "bad.*"})[1],
              invalid, "subjects as a string")
        ck.eq(js.request("$JS.API.STREAM.CREATE.BAD", {"name": "BAD", "subjects": ["bad.*"],
                                                       "max_msgs": "ten"})[1],
              invalid, "max_msgs as a string")
        unk = js.api("$JS.API.STREAM.CREATE.UNK", {"name": "UNK", "subjects": ["unk.*"],
                                                   "bogus_field": 7, "another": {"a": [1]}})
        match(unk, {"type": T + "stream_create_response",
                    "config": stream_config(name="UNK", subjects=["unk.*"]),
                    "created": TS, "state": EMPTY_STATE, "did_create": True})
        ck.eq(js.request("$JS.API.CONSUMER.INFO.ORDERS.NOPE")[1],
              err_body("consumer_info", 404, 10014, "consumer not found"), "missing consumer")
        ck.eq(js.request("$JS.API.CONSUMER.INFO.NOPE.NOPE")[1],
              err_body("consumer_info", 404, 10059, "stream not found"),
              "consumer of a missing stream")
        ck.eq(js.request("$JS.API.CONSUMER.DELETE.ORDERS.NOPE")[1],
              err_body("consumer_delete", 404, 10014, "consumer not found"),
              "delete a missing consumer")
        ck.eq(js.request("$JS.API.CONSUMER.CREATE.UNK.H", b"{bad")[1],
              err_body("consumer_create", 400, 10025, "invalid JSON"), "consumer invalid JSON")
        ck.eq(js.request("$JS.API.CONSUMER.CREATE.NOPE.H", {
            "stream_name": "NOPE", "config": {"durable_name": "H", "ack_policy": "explicit"}})[1],
            err_body("consumer_create", 404, 10059, "stream not found"),
            "consumer on a missing stream")
        ck.eq(js.request("$JS.API.CONSUMER.CREATE.UNK.H", {
            "stream_name": "UNK", "config": {"durable_name": "H", "ack_policy": 7}})[1],
            err_body("consumer_create", 400, 10025, "invalid JSON"), "ack_policy as a number")
        h = js.api("$JS.API.CONSUMER.CREATE.UNK.H", {
            "stream_name": "UNK", "config": {"durable_name": "H", "ack_policy": "explicit",
                                             "bogus": 1}, "action": "create", "pedantic": False})
        ck.eq((h.get("name"), h["config"].get("ack_policy")), ("H", "explicit"),
              "consumer with unknown keys (nats.js sends action/pedantic)")
        ck.eq(js.request("$JS.API.STREAM.DELETE.UNK")[1],
              ('{"type":"%sstream_delete_response","success":true}' % T).encode(), "DELETE UNK")
        # MSG.NEXT to a consumer or stream that does not exist: no reply at all.
        js.next_req("ORDERS.NOPE", b"1", b"_N.nope")
        js.nothing("MSG.NEXT to a missing consumer")
        js.next_req("NOPE.NOPE", b"1", b"_N.nope2")
        js.nothing("MSG.NEXT to a missing stream")

    with ck.section("PubAck bytes: new, duplicate, expectation errors, no stream, no reply"):
        ck.eq(js.publish("orders.a", b"hello")[1], b'{"stream":"ORDERS", "seq":1}', "PubAck 1")
        ck.eq(js.publish("orders.b", b"")[1], b'{"stream":"ORDERS", "seq":2}', "PubAck of an empty payload")
        ck.eq(js.publish("orders.a", b"hi", [(b"Nats-Msg-Id", b"d1")])[1],
              b'{"stream":"ORDERS", "seq":3}', "PubAck with a Msg-Id")
        ck.eq(js.publish("orders.a", b"hi again", [(b"Nats-Msg-Id", b"d1")])[1],
              b'{"stream":"ORDERS", "seq":3,"duplicate": true}', "duplicate PubAck")
        ck.eq(js.publish("orders.a", b"x", [(b"Nats-Expected-Last-Sequence", b"99")])[1],
              b'{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 3"},'
              b'"stream":"ORDERS","seq":0}', "wrong last sequence")
        ck.eq(js.publish("orders.a", b"x", [(b"Nats-Expected-Stream", b"ZZ")])[1],
              b'{"error":{"code":400,"err_code":10060,"description":"expected stream does not match"},'
              b'"stream":"ORDERS","seq":0}', "wrong expected stream")
        ck.eq(js.publish("orders.c", b"hdrs", [(b"X-A", b"1"), (b"X-A", b"2"),
                                               (b"Nats-Expected-Last-Sequence", b"3")])[1],
              b'{"stream":"ORDERS", "seq":4}', "PubAck with repeated headers and a right expectation")
        line, ack = js.publish("nostream.x", b"x")
        ck.eq((line.split()[0], ack), (b"HMSG", b"NATS/1.0 503\r\n\r\n"), "no stream: 503 status")
        js.send(b"PUB orders.b 5\r\nnorep\r\n")  # stored, nothing answered
        js.ping("publish without reply")
        js.nothing("publish without reply")
        st = js.api("$JS.API.STREAM.INFO.ORDERS")["state"]
        match(st, {"messages": 5, "bytes": INT, "first_seq": 1, "first_ts": TS, "last_seq": 5,
                   "last_ts": TS, "num_subjects": 3, "consumer_count": 0})

    with ck.section("STREAM.MSG.GET: data and headers base64, missing seq"):
        import base64
        m = js.api("$JS.API.STREAM.MSG.GET.ORDERS", {"seq": 4})
        match(m, {"type": T + "stream_msg_get_response", "message": {
            "subject": "orders.c", "seq": 4, "hdrs": STR, "data": "aGRycw==", "time": TS}})
        ck.eq(base64.b64decode(m["message"]["hdrs"]),
              b"NATS/1.0\r\nX-A: 1\r\nX-A: 2\r\nNats-Expected-Last-Sequence: 3\r\n\r\n",
              "stored header block, byte-exact")
        m = js.api("$JS.API.STREAM.MSG.GET.ORDERS", {"seq": 2})
        match(m, {"type": T + "stream_msg_get_response", "message": {
            "subject": "orders.b", "seq": 2, "time": TS}})
        ck.eq(js.request("$JS.API.STREAM.MSG.GET.ORDERS", {"seq": 99})[1],
              err_body("stream_msg_get", 404, 10037, "no message found"), "MSG.GET of a missing seq")

    with ck.section("CONSUMER.CREATE (nats.go body) shape, deliveries, 9-token ack subject"):
        wcfg = {"durable_name": "W", "deliver_policy": "all", "ack_policy": "explicit",
                "filter_subject": "orders.*", "replay_policy": "instant",
                "max_ack_pending": 65536, "num_replicas": 0}
        c = js.api("$JS.API.CONSUMER.CREATE.ORDERS.W.orders.*",
                   {"stream_name": "ORDERS", "config": wcfg})
        full_cfg = dict(wcfg, name="W", ack_wait=30000000000, max_deliver=-1, max_waiting=512)
        match(c, {"type": T + "consumer_create_response", "stream_name": "ORDERS", "name": "W",
                  "created": TS, "config": full_cfg,
                  "delivered": {"consumer_seq": 0, "stream_seq": 0},
                  "ack_floor": {"consumer_seq": 0, "stream_seq": 0},
                  "num_ack_pending": 0, "num_redelivered": 0, "num_waiting": 0,
                  "num_pending": 5})
        ci = js.api("$JS.API.CONSUMER.INFO.ORDERS.W")
        match(ci, dict(c, type=T + "consumer_info_response"))
        t_before = now_ns()
        js.next_req("ORDERS.W", {"batch": 2, "expires": 2000000000}, b"_N.a")
        subj, sid, reply, hdr, data = delivery(js, "first delivery")
        ck.eq((subj, sid, hdr, data), (b"orders.a", b"3", None, b"hello"),
              "delivery 1 keeps the stream subject, goes to the inbox's sid, no headers")
        f = ack_fields(reply)
        ck.eq(f[:5] + f[6:], ("ORDERS", "W", 1, 1, 1, 4), "ack fields stream/consumer/"
              "delivered/stream_seq/consumer_seq/pending")
        ck.ok(t_before - 10 * 10**9 < f[5] < now_ns() + 10 * 10**9,
              "ack timestamp %d is the store time in Unix ns" % f[5])
        ack1 = reply
        subj, sid, reply, hdr, data = delivery(js, "second delivery")
        ck.eq((subj, sid, hdr, data), (b"orders.b", b"3", None, b""), "delivery 2 (empty payload)")
        ck.eq(ack_fields(reply)[2:5] + ack_fields(reply)[6:], (1, 2, 2, 3), "delivery 2 ack fields")
        ack2 = reply
        # +ACK with a reply: an empty MSG; without: nothing.
        js.send(b"PUB %s _N.ackr 4\r\n+ACK\r\n" % ack1)
        line, data = js.read_msg()
        ck.eq((line.split(), data), ([b"MSG", b"_N.ackr", b"3", b"0"], b""), "+ACK reply")
        js.send(b"PUB %s 4\r\n+ACK\r\n" % ack2)
        js.ping("+ACK without reply")
        # +NXT: ack and ask for the next one on the ack's reply subject.
        js.next_req("ORDERS.W", b"1", b"_N.b")
        subj, sid, reply, hdr, data = delivery(js, "third delivery")
        ck.eq((subj, hdr, data), (b"orders.a", b"NATS/1.0\r\nNats-Msg-Id: d1\r\n\r\n", b"hi"),
              "delivery 3: stored headers kept byte-exact (HMSG)")
        ck.eq(ack_fields(reply)[2:5] + ack_fields(reply)[6:], (1, 3, 3, 2), "delivery 3 ack fields")
        js.send(b"PUB %s _N.nxt 4\r\n+NXT\r\n" % reply)
        line, data = js.read_msg()
        p = line.split()
        ck.eq((p[0], p[1], p[2], data[int(p[4]):]), (b"HMSG", b"orders.c", b"3", b"hdrs"),
              "+NXT delivers the next message (to the ack's reply inbox)")
        ck.eq(data[:int(p[4])], b"NATS/1.0\r\nX-A: 1\r\nX-A: 2\r\nNats-Expected-Last-Sequence: 3\r\n\r\n",
              "repeated headers delivered in order")
        ack4 = p[3]
        ck.eq(ack_fields(ack4)[2:5] + ack_fields(ack4)[6:], (1, 4, 4, 1), "delivery 4 ack fields")
        # -NAK: redelivered at once with delivered 2 and a new consumer sequence.
        js.send(b"PUB %s _N.nak 4\r\n-NAK\r\n" % ack4)
        line, data = js.read_msg()
        ck.eq((line.split(), data), ([b"MSG", b"_N.nak", b"3", b"0"], b""), "-NAK reply")
        js.next_req("ORDERS.W", b"1", b"_N.c")
        subj, sid, reply, hdr, data = delivery(js, "redelivery after -NAK", timeout=2.0)
        ck.eq((subj, data), (b"orders.c", b"hdrs"), "-NAK redelivers the same message first")
        ck.eq(ack_fields(reply)[2:5] + ack_fields(reply)[6:], (2, 4, 5, 1), "redelivery ack fields")
        # +TERM: removed from the work queue, never redelivered.
        js.send(b"PUB %s _N.term 5\r\n+TERM\r\n" % reply)
        line, data = js.read_msg()
        ck.eq((line.split(), data), ([b"MSG", b"_N.term", b"3", b"0"], b""), "+TERM reply")
        js.next_req("ORDERS.W", b"1", b"_N.d")
        subj, sid, reply, hdr, data = delivery(js, "last message")
        ck.eq((subj, data), (b"orders.b", b"norep"), "the message published without reply")
        ack5 = reply
        ck.eq(ack_fields(reply)[2:5] + ack_fields(reply)[6:], (1, 5, 6, 0), "last ack fields")
        # An ack from a connection that never consumed acks all the same (acks go by subject).
        other = Raw(t)
        other.send(CONNECT + b"SUB _O 1\r\nPUB %s _O 4\r\n+ACK\r\n" % ack5)
        line, data = other.read_msg()
        ck.eq((line.split(), data), ([b"MSG", b"_O", b"1", b"0"], b""),
              "ack from another connection: empty reply")
        other.close()
        # An ack for a message that is gone (acked already) still gets the empty reply.
        js.send(b"PUB %s _N.gone 4\r\n+ACK\r\n" % ack1)
        line, data = js.read_msg()
        ck.eq((line.split(), data), ([b"MSG", b"_N.gone", b"3", b"0"], b""), "ack of a gone message")
        deadline = time.monotonic() + 5
        while True:
            st = js.api("$JS.API.STREAM.INFO.ORDERS")["state"]
            if st["messages"] == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        match(st, {"messages": 0, "bytes": 0, "first_seq": 6, "first_ts": "1970-01-01T00:00:00Z",
                   "last_seq": 5, "last_ts": TS, "consumer_count": 1})
        ci = js.api("$JS.API.CONSUMER.INFO.ORDERS.W")
        match(ci, {"type": T + "consumer_info_response", "stream_name": "ORDERS", "name": "W",
                   "created": c["created"], "config": full_cfg,
                   "delivered": {"consumer_seq": 6, "stream_seq": 5, "last_active": TS},
                   "ack_floor": {"consumer_seq": 6, "stream_seq": 5, "last_active": TS},
                   "num_ack_pending": 0, "num_redelivered": 0, "num_waiting": INT,
                   "num_pending": 0})
        # An ack for a sequence the consumer never delivered: the empty reply all the same. Acks
        # for a missing consumer or a malformed ack subject: nobody subscribes them, so a
        # no-responders 503 (the server subscribes $JS.ACK.<stream>.<consumer>.> per consumer).
        js.send(b"PUB $JS.ACK.ORDERS.W.1.99.99.1.0 _N.x1 4\r\n+ACK\r\n")
        js.send(b"PUB $JS.ACK.ORDERS.NOPE.1.1.1.1.0 _N.x2 4\r\n+ACK\r\n")
        js.send(b"PUB $JS.ACK.bad _N.x3 4\r\n+ACK\r\n")
        got = {}
        for _ in range(3):  # their order differs from run to run
            line, data = js.read_msg()
            p = line.split()
            got[p[1]] = (p[0], data)
        ck.eq(got, {b"_N.x1": (b"MSG", b""), b"_N.x2": (b"HMSG", b"NATS/1.0 503\r\n\r\n"),
                    b"_N.x3": (b"HMSG", b"NATS/1.0 503\r\n\r\n")}, "acks that match nothing")
        js.nothing("after the stray acks")

    with ck.section("MSG.NEXT statuses: 404, 408 + pending, 409, 400, 100 heartbeats"):
        js.api("$JS.API.STREAM.CREATE.ST", {"name": "ST", "subjects": ["st.*"]})
        js.api("$JS.API.CONSUMER.CREATE.ST.E", {"stream_name": "ST", "config": {
            "durable_name": "E", "ack_policy": "explicit", "max_waiting": 1}})
        js.next_req("ST.E", {"batch": 1, "no_wait": True}, b"_N.1")
        ck.eq(status(js, b"_N.1", "no_wait on empty"), b"NATS/1.0 404 No Messages\r\n\r\n", "404")
        t0 = time.monotonic()
        js.next_req("ST.E", {"batch": 3, "expires": 300000000}, b"_N.2")
        ck.eq(status(js, b"_N.2", "expires on empty"),
              b"NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 3\r\nNats-Pending-Bytes: 0\r\n\r\n",
              "408 with pending headers")
        el = time.monotonic() - t0
        ck.ok(0.25 <= el < 1.5, "408 after %.2f s, want ~0.3 s" % el)
        js.next_req("ST.E", {"batch": 3, "expires": 1000000000, "idle_heartbeat": 600000000}, b"_N.3")
        ck.eq(status(js, b"_N.3", "heartbeat > expires/2"),
              b"NATS/1.0 400 Bad Request - heartbeat value too large\r\n\r\n", "400")
        t0 = time.monotonic()
        js.next_req("ST.E", {"batch": 3, "expires": 1200000000, "idle_heartbeat": 500000000}, b"_N.4")
        hb = b"NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 0\r\nNats-Last-Stream: 0\r\n\r\n"
        ck.eq(status(js, b"_N.4", "heartbeat 1"), hb, "idle heartbeat 1")
        ck.eq(status(js, b"_N.4", "heartbeat 2"), hb, "idle heartbeat 2")
        ck.eq(status(js, b"_N.4", "end"),
              b"NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 3\r\nNats-Pending-Bytes: 0\r\n\r\n",
              "408 after the heartbeats")
        el = time.monotonic() - t0
        ck.ok(1.1 <= el < 2.5, "heartbeat request ended after %.2f s, want ~1.2 s" % el)
        # max_waiting 1: a second waiting request is refused, the first keeps waiting.
        js.next_req("ST.E", {"batch": 2}, b"_N.5")
        js.next_req("ST.E", {"batch": 2, "expires": 500000000}, b"_N.6")
        ck.eq(status(js, b"_N.6", "second waiting request"),
              b"NATS/1.0 409 Exceeded MaxWaiting\r\n\r\n", "409")
        js.publish("st.a", b"m1")
        subj, sid, reply, hdr, data = delivery(js, "message to the waiting request")
        ck.eq((subj, data), (b"st.a", b"m1"), "the first request still waits and gets m1")
        # no_wait with messages: what there is, then 408 with the batch left.
        js.api("$JS.API.CONSUMER.CREATE.ST.F", {"stream_name": "ST", "config": {
            "durable_name": "F", "ack_policy": "explicit"}})
        js.publish("st.b", b"m2")
        subj, sid, reply, hdr, data = delivery(js, "m2 to E's request")
        ck.eq(data, b"m2", "E's request (batch 2) gets m2 too")
        js.next_req("ST.F", {"batch": 5, "no_wait": True}, b"_N.7")
        for subj_want, want in ((b"st.a", b"m1"), (b"st.b", b"m2")):
            line, data = js.read_msg()
            ck.eq((line.split()[:3], data), ([b"MSG", subj_want, b"3"], want), "no_wait delivery")
        ck.eq(status(js, b"_N.7", "no_wait end"),
              b"NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 3\r\nNats-Pending-Bytes: 0\r\n\r\n",
              "no_wait with 2 of 5: 408, 3 pending")
        # batch as a bare integer body, empty body = batch 1.
        js.api("$JS.API.CONSUMER.CREATE.ST.G", {"stream_name": "ST", "config": {
            "durable_name": "G", "ack_policy": "explicit"}})
        js.next_req("ST.G", b"2", b"_N.8")
        ck.eq([delivery(js, "bare integer batch")[4] for _ in range(2)], [b"m1", b"m2"],
              "bare integer body 2")
        js.publish("st.a", b"m3")
        js.publish("st.a", b"m4")
        js.next_req("ST.G", b"", b"_N.9")
        ck.eq(delivery(js, "empty body")[4], b"m3", "empty body = batch 1")
        js.nothing("empty body delivered one")
        ck.eq(js.request("$JS.API.STREAM.DELETE.ST")[1],
              ('{"type":"%sstream_delete_response","success":true}' % T).encode(), "DELETE ST")

    with ck.section("STREAM.DELETE ORDERS, then everything about it is gone"):
        ck.eq(js.request("$JS.API.STREAM.DELETE.ORDERS")[1],
              ('{"type":"%sstream_delete_response","success":true}' % T).encode(), "DELETE ORDERS")
        ck.eq(js.request("$JS.API.CONSUMER.INFO.ORDERS.W")[1],
              err_body("consumer_info", 404, 10059, "stream not found"), "consumer of a deleted stream")
        line, ack = js.publish("orders.a", b"x")
        ck.eq(ack, b"NATS/1.0 503\r\n\r\n", "publish after delete: 503")
        ck.eq(js.request("$JS.API.STREAM.NAMES", b"{}")[1],
              ('{"type":"%sstream_names_response","total":0,"offset":0,"limit":1024,'
               '"streams":null}' % T).encode(), "NAMES after deleting everything")

    with ck.section("a consumer updated through CREATE keeps its new config across kill -9"):
        js.api("$JS.API.STREAM.CREATE.UPDR", {"name": "UPDR", "subjects": ["updr.*"]})
        for subj in (b"updr.a", b"updr.b", b"updr.b"):
            js.publish(subj.decode(), b"x")
        create = "$JS.API.CONSUMER.DURABLE.CREATE.UPDR.D"
        r = js.api(create, {"stream_name": "UPDR", "config": {"durable_name": "D", "ack_policy": "explicit",
                                                               "filter_subject": "updr.a"}})
        ck.eq(r.get("num_pending"), 1, "pending for updr.a")
        new_cfg = {"durable_name": "D", "ack_policy": "explicit", "filter_subject": "updr.b",
                   "ack_wait": 7000000000, "max_deliver": 3, "max_ack_pending": 20}
        r = js.api(create, {"stream_name": "UPDR", "config": new_cfg})
        ck.eq((r["config"]["filter_subject"], r["config"]["ack_wait"], r["num_pending"]),
              ("updr.b", 7000000000, 2), "update answered (after the config is stored)")
        # A stream whose create was answered is there after kill -9 too (answered once durable).
        late = js.api("$JS.API.STREAM.CREATE.LATE", {"name": "LATE", "subjects": ["late.*"]})
        if t.kind == "sluice":
            js.close()
            t.broker.kill9()
            t.start()  # waits for the NATS port too
            js = Js(t)
            info = js.api("$JS.API.STREAM.INFO.LATE")
            ck.eq((info.get("config", {}).get("subjects"), info.get("created")), (["late.*"], late["created"]),
                  "a stream created just before kill -9")
            r = js.api("$JS.API.CONSUMER.INFO.UPDR.D")
            c = r["config"]
            ck.eq((c["filter_subject"], c["ack_wait"], c["max_deliver"], c["max_ack_pending"], r["num_pending"]),
                  ("updr.b", 7000000000, 3, 20, 2), "after kill -9")
        ck.eq(js.api("$JS.API.STREAM.DELETE.UPDR").get("success"), True, "delete UPDR")
        ck.eq(js.api("$JS.API.STREAM.DELETE.LATE").get("success"), True, "delete LATE")
    js.close()


if __name__ == "__main__":
    natsh.run("js_raw_test", body, time_limit=240)
