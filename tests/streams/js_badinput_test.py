#!/usr/bin/python3
"""js_badinput_test.py: bad input on the JetStream API, raw sockets, answered byte for byte as
nats-server 2.9.10 answers it, and nothing lost.

Stream API: invalid JSON (every operation), bodies that are not objects, wrong types, unknown
fields (accepted), subjects that overlap another stream (10065) or each other (10052), invalid
subjects, stream names that differ from the subject or are missing (10056), bodies where none is
expected (10038), MSG.GET / MSG.DELETE of what is not there, operations on a missing stream
(10059, with the extra fields each response type carries). Consumer API: create on a missing
stream, invalid JSON and wrong types, names that differ (10017), durable expectations
(10018 / 10020), push/pull field rules (10079-10089, 10108), deliver policy rules (10094), filter
(10093), backoff (10116), deliver subject cycles (10081), updates that change what can not change
(10012), the work-queue rules (10084, 10098-10101). Acks: for a message that is gone, for one never
delivered, from a connection that never consumed, malformed ack bodies. Publishes with
malformed expectation headers. After all of it the server answers, every published message that
was not acked is still delivered, and every acked one is gone.

Arguments: sections to run (stream, consumer, acks, publish; default all).

Runs against sluice-server --jetstream (default), nats-server -js (SLUICE_NATS_REFERENCE=1) or a
running server (SLUICE_EXTERNAL_NATS=host:port, JetStream on, no streams named as here). Every
read has a deadline."""
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "nats"))
import natsh  # noqa: E402
from natsh import Raw, CheckFailed  # noqa: E402
from js_raw_test import CONNECT, T, Js, ack_fields, delivery, err_body, match, INT, TS  # noqa: E402


def names_err(kind, code, err_code, desc, empty):
    """The error body of a NAMES / LIST style response: the paging fields follow the error."""
    return err_body(kind, code, err_code, desc, ',"total":0,"offset":0,"limit":0,"%s":%s' % empty)


def check_table(ck, js, cases):
    """Every case runs; the differences are printed in full and fail the section together."""
    bad = []
    for subj, body, want, what in cases:
        if isinstance(body, (dict, list)):
            body = json.dumps(body, separators=(",", ":")).encode()
        elif isinstance(body, str):
            body = body.encode()
        got = js.request(subj, body)[1]
        try:
            if callable(want):
                want(got, what)
            else:
                ck.eq(got, want, what)
        except CheckFailed:
            print("     %s (%s %s):\n       got  %s\n       want %s"
                  % (what, subj, body.decode("utf-8", "replace")[:100], got.decode("utf-8", "replace"),
                     want.decode() if isinstance(want, bytes) else "success"))
            bad.append(what)
    if bad:
        raise CheckFailed("%d of %d cases differ: %s" % (len(bad), len(cases), "; ".join(bad)))


def created(ck, kind):
    """A checker for a create that must succeed."""
    def f(got, what):
        d = json.loads(got)
        ck.ok("error" not in d and d.get("type") == T + kind, "%s: want success, got %s" % (what, natsh.show(got)))
    return f


def stream_cases(ck):
    sc = "stream_create"
    inv = err_body(sc, 400, 10025, "invalid JSON")
    mismatch = err_body(sc, 400, 10056, "stream name in subject does not match request")
    overlap = err_body(sc, 400, 10065, "subjects overlap with an existing stream")
    c = "$JS.API.STREAM.CREATE.C"
    cc = {"name": "C", "subjects": ["c.x"]}
    return [
        ("$JS.API.STREAM.CREATE.A", {"name": "A", "subjects": ["a.b", "a.c.*"]}, created(ck, "stream_create_response"),
         "create A"),
        # Overlaps with A.
        ("$JS.API.STREAM.CREATE.B", {"name": "B", "subjects": ["a.>"]}, overlap, "a.> overlaps a.b"),
        ("$JS.API.STREAM.CREATE.B", {"name": "B", "subjects": ["a.*"]}, overlap, "a.* overlaps a.b"),
        ("$JS.API.STREAM.CREATE.B", {"name": "B", "subjects": ["*.b"]}, overlap, "*.b overlaps a.b"),
        ("$JS.API.STREAM.CREATE.B", {"name": "B", "subjects": ["b.x", "a.c.z"]}, overlap, "a.c.z overlaps a.c.*"),
        # Within one stream.
        ("$JS.API.STREAM.CREATE.B", {"name": "B", "subjects": ["b.x", "b.x"]},
         err_body(sc, 500, 10052, "duplicate subjects detected"), "duplicate subjects"),
        ("$JS.API.STREAM.CREATE.B", {"name": "B", "subjects": ["b.>", "b.x"]},
         err_body(sc, 500, 10052, 'subject \\"b.\\u003e\\" overlaps with \\"b.x\\"'), "b.> overlaps b.x"),
        ("$JS.API.STREAM.CREATE.B", {"name": "B", "subjects": ["b..x"]},
         err_body(sc, 500, 10052, "invalid subject"), "empty token"),
        ("$JS.API.STREAM.CREATE.B", {"name": "B", "subjects": [""]},
         err_body(sc, 500, 10052, "invalid subject"), "empty subject"),
        # Invalid JSON and wrong types.
        (c, "{bad", inv, "invalid JSON"),
        (c, "", inv, "empty body"),
        (c, '{"name":"C","subjects":["c.x"]} trailing', inv, "trailing garbage"),
        (c, "[1,2]", inv, "an array"),
        (c, '"C"', inv, "a string"),
        (c, "null", mismatch, "null: no name"),
        (c, dict(cc, max_age="1h"), inv, "max_age as a string"),
        (c, dict(cc, retention=5), inv, "retention as a number"),
        (c, dict(cc, retention="bogus"), inv, "unknown retention"),
        (c, dict(cc, discard="sideways"), inv, "unknown discard"),
        (c, dict(cc, storage="disk"), inv, "unknown storage"),
        (c, {"name": "C", "subjects": [1]}, inv, "a subject as a number"),
        (c, {"name": "C", "subjects": "c.x"}, inv, "subjects as a string"),
        (c, dict(cc, num_replicas="1"), inv, "num_replicas as a string"),
        (c, dict(cc, sealed="no"), inv, "sealed as a string"),
        (c, dict(cc, max_msgs=1.5), inv, "max_msgs as a float"),
        (c, {"name": 5, "subjects": ["c.x"]}, inv, "name as a number"),
        # Names.
        (c, {"name": "D", "subjects": ["c.x"]}, mismatch, "name differs from the subject"),
        (c, {"subjects": ["c.x"]}, mismatch, "no name"),
        (c, {"name": "", "subjects": ["c.x"]}, mismatch, "empty name"),
        # Unknown fields are ignored.
        (c, dict(cc, bogus=1, another={"a": [1]}), created(ck, "stream_create_response"), "unknown fields"),
        (c, dict(cc, retention="workqueue"),
         err_body(sc, 400, 10058, "stream name already in use with a different configuration"), "C again, other config"),
        # UPDATE.
        ("$JS.API.STREAM.UPDATE.C", {"name": "C", "subjects": ["a.b"]},
         err_body("stream_update", 400, 10065, "subjects overlap with an existing stream"), "update into A's subjects"),
        ("$JS.API.STREAM.UPDATE.C", {"name": "X", "subjects": ["c.x"]},
         err_body("stream_update", 400, 10056, "stream name in subject does not match request"), "update, other name"),
        ("$JS.API.STREAM.UPDATE.NOPE", {"name": "NOPE", "subjects": ["n.x"]},
         err_body("stream_update", 404, 10059, "stream not found"), "update a missing stream"),
        ("$JS.API.STREAM.UPDATE.C", "{bad", err_body("stream_update", 400, 10025, "invalid JSON"), "update, invalid JSON"),
        ("$JS.API.STREAM.UPDATE.C", dict(cc, storage="memory"),
         err_body("stream_update", 500, 10052, "stream configuration update can not change storage type"),
         "update the storage type"),
        # The other operations.
        ("$JS.API.STREAM.INFO.C", "{bad", err_body("stream_info", 400, 10025, "invalid JSON",
                                                    ',"total":0,"offset":0,"limit":0'), "INFO, invalid JSON"),
        ("$JS.API.STREAM.DELETE.C", "{bad", err_body("stream_delete", 400, 10038, "expected an empty request payload"),
         "DELETE with a body"),
        ("$JS.API.STREAM.PURGE.C", "{bad", err_body("stream_purge", 400, 10025, "invalid JSON", ',"purged":0'),
         "PURGE, invalid JSON"),
        ("$JS.API.STREAM.PURGE.C", {"filter": 5}, err_body("stream_purge", 400, 10025, "invalid JSON", ',"purged":0'),
         "PURGE, filter as a number"),
        ("$JS.API.STREAM.PURGE.NOPE", {}, err_body("stream_purge", 404, 10059, "stream not found", ',"purged":0'),
         "PURGE a missing stream"),
        ("$JS.API.STREAM.MSG.GET.C", "{bad", err_body("stream_msg_get", 400, 10025, "invalid JSON"),
         "MSG.GET, invalid JSON"),
        ("$JS.API.STREAM.MSG.GET.C", {"seq": "1"}, err_body("stream_msg_get", 400, 10025, "invalid JSON"),
         "MSG.GET, seq as a string"),
        ("$JS.API.STREAM.MSG.GET.C", {"seq": 0}, err_body("stream_msg_get", 400, 10003, "bad request"), "MSG.GET seq 0"),
        ("$JS.API.STREAM.MSG.GET.C", {}, err_body("stream_msg_get", 400, 10003, "bad request"), "MSG.GET {}"),
        ("$JS.API.STREAM.MSG.GET.C", "", err_body("stream_msg_get", 400, 10003, "bad request"), "MSG.GET, no body"),
        ("$JS.API.STREAM.MSG.GET.NOPE", {"seq": 1}, err_body("stream_msg_get", 404, 10059, "stream not found"),
         "MSG.GET on a missing stream"),
        ("$JS.API.STREAM.MSG.DELETE.C", "{bad", err_body("stream_msg_delete", 400, 10025, "invalid JSON"),
         "MSG.DELETE, invalid JSON"),
        ("$JS.API.STREAM.MSG.DELETE.C", {"seq": "x"}, err_body("stream_msg_delete", 400, 10025, "invalid JSON"),
         "MSG.DELETE, seq as a string"),
        ("$JS.API.STREAM.MSG.DELETE.C", {"seq": 1}, err_body("stream_msg_delete", 500, 10057, "stream store EOF"),
         "MSG.DELETE on an empty stream"),
        ("$JS.API.STREAM.MSG.DELETE.NOPE", {"seq": 1}, err_body("stream_msg_delete", 404, 10059, "stream not found"),
         "MSG.DELETE on a missing stream"),
        ("$JS.API.STREAM.NAMES", "{bad", names_err("stream_names", 400, 10025, "invalid JSON", ("streams", "null")),
         "NAMES, invalid JSON"),
        ("$JS.API.STREAM.NAMES", {"offset": "x"},
         names_err("stream_names", 400, 10025, "invalid JSON", ("streams", "null")), "NAMES, offset as a string"),
        ("$JS.API.STREAM.NAMES", {"subject": 5},
         names_err("stream_names", 400, 10025, "invalid JSON", ("streams", "null")), "NAMES, subject as a number"),
        ("$JS.API.STREAM.LIST", "{bad", names_err("stream_list", 400, 10025, "invalid JSON", ("streams", "[]")),
         "LIST, invalid JSON"),
    ]


def consumer_cases(ck):
    cc = "consumer_create"
    inv = err_body(cc, 400, 10025, "invalid JSON")

    def dur(name, stream="C", **cfg):
        body = {"stream_name": stream, "config": dict({"durable_name": name, "ack_policy": "explicit"}, **cfg)}
        return "$JS.API.CONSUMER.DURABLE.CREATE.%s.%s" % (stream, name), body

    def case(name, want, what, stream="C", **cfg):
        subj, body = dur(name, stream, **cfg)
        return (subj, body, want, what)

    ok = created(ck, "consumer_create_response")
    return [
        case("D", err_body(cc, 404, 10059, "stream not found"), "create on a missing stream", stream="NOPE"),
        ("$JS.API.CONSUMER.CREATE.NOPE", {"stream_name": "NOPE", "config": {"ack_policy": "explicit"}},
         err_body(cc, 404, 10059, "stream not found"), "ephemeral on a missing stream"),
        ("$JS.API.CONSUMER.CREATE.C", "{bad", inv, "invalid JSON"),
        ("$JS.API.CONSUMER.CREATE.C", "", inv, "empty body"),
        ("$JS.API.CONSUMER.CREATE.C", {"stream_name": "C", "config": "E"}, inv, "config as a string"),
        ("$JS.API.CONSUMER.DURABLE.CREATE.C.D",
         {"stream_name": "X", "config": {"durable_name": "D", "ack_policy": "explicit"}},
         err_body(cc, 400, 10056, "stream name in subject does not match request"), "stream name differs"),
        ("$JS.API.CONSUMER.DURABLE.CREATE.C.D", {"config": {"durable_name": "D", "ack_policy": "explicit"}},
         err_body(cc, 400, 10056, "stream name in subject does not match request"), "no stream name"),
        case("E1", inv, "unknown ack policy", ack_policy="sometimes"),
        case("E2", inv, "ack_wait as a string", ack_wait="30s"),
        case("E3", inv, "max_deliver as a string", max_deliver="3"),
        case("E4", inv, "unknown deliver policy", deliver_policy="sometime"),
        case("E5", inv, "backoff of strings", backoff=["1s"]),
        case("E6", inv, "filter_subject as a number", filter_subject=7),
        case("E7", inv, "flow_control as a string", flow_control="yes"),
        case("E8", inv, "unknown replay policy", replay_policy="fast"),
        # Names.
        ("$JS.API.CONSUMER.CREATE.C", {"stream_name": "C", "config": {"durable_name": "R", "ack_policy": "explicit"}},
         err_body(cc, 400, 10020, "consumer expected to be ephemeral but a durable name was set in request"),
         "CREATE.<stream> with a durable name"),
        ("$JS.API.CONSUMER.CREATE.C.Q", {"stream_name": "C", "config": {"durable_name": "R", "ack_policy": "explicit"}},
         err_body(cc, 400, 10017, "consumer name in subject does not match durable name in request"),
         "CREATE.<stream>.Q with durable R"),
        ("$JS.API.CONSUMER.DURABLE.CREATE.C.Q",
         {"stream_name": "C", "config": {"durable_name": "R", "ack_policy": "explicit"}},
         err_body(cc, 400, 10017, "consumer name in subject does not match durable name in request"),
         "DURABLE.CREATE.<stream>.Q with durable R"),
        ("$JS.API.CONSUMER.DURABLE.CREATE.C.GG", {"stream_name": "C", "config": {"ack_policy": "explicit"}},
         err_body(cc, 400, 10018, "consumer expected to be durable but a durable name was not set"),
         "DURABLE.CREATE without a durable name"),
        # Push and pull fields.
        case("P1", err_body(cc, 400, 10080, "consumer in push mode can not set max waiting"),
             "push with max_waiting", deliver_subject="ds.p1", max_waiting=5),
        case("P2", err_body(cc, 400, 10089, "consumer flow control requires a push based consumer"),
             "pull with flow control", flow_control=True),
        case("P3", err_body(cc, 400, 10088, "consumer idle heartbeat requires a push based consumer"),
             "pull with idle heartbeat", idle_heartbeat=1000000000),
        case("P4", err_body(cc, 400, 10108, "consumer with flow control also needs heartbeats"),
             "push with flow control, no heartbeat", deliver_subject="ds.p4", flow_control=True),
        case("P5", err_body(cc, 400, 10083, "consumer idle heartbeat needs to be \\u003e= 100ms"),
             "push with a 50 ms heartbeat", deliver_subject="ds.p5", idle_heartbeat=50000000),
        case("P6", err_body(cc, 400, 10079, "consumer deliver subject has wildcards"),
             "deliver subject with a wildcard", deliver_subject="ds.*"),
        case("P7", err_body(cc, 400, 10081, "consumer deliver subject forms a cycle"),
             "deliver subject inside the stream", deliver_subject="c.x"),
        case("P8", err_body(cc, 400, 10087, "consumer max waiting needs to be positive"),
             "max_waiting -1", max_waiting=-1),
        case("P9", err_body(cc, 400, 10082, "consumer requires ack policy for max ack pending"),
             "ack none with max_ack_pending", ack_policy="none", deliver_subject="ds.p9", max_ack_pending=5),
        case("PA", err_body(cc, 400, 10086, "consumer in pull mode can not have rate limit set"),
             "pull with a rate limit", rate_limit_bps=1000),
        # Deliver policies, filters, backoff.
        case("Q1", err_body(cc, 400, 10094, "consumer delivery policy is deliver by start sequence, but optional "
                                            "start sequence is not set"),
             "by_start_sequence without opt_start_seq", deliver_policy="by_start_sequence"),
        case("Q2", err_body(cc, 400, 10094, "consumer delivery policy is deliver all, but optional start sequence "
                                            "is also set"),
             "all with opt_start_seq", deliver_policy="all", opt_start_seq=5),
        case("Q3", err_body(cc, 400, 10094, "consumer delivery policy is deliver by start time, but optional start "
                                            "time is not set"),
             "by_start_time without opt_start_time", deliver_policy="by_start_time"),
        case("Q4", err_body(cc, 400, 10094, "consumer delivery policy is deliver last per subject, but optional "
                                            "filter subject is not set"),
             "last_per_subject without a filter", deliver_policy="last_per_subject"),
        case("Q5", err_body(cc, 400, 10093, "consumer filter subject is not a valid subset of the interest subjects"),
             "filter outside the stream", filter_subject="x.y"),
        case("Q6", err_body(cc, 400, 10093, "consumer filter subject is not a valid subset of the interest subjects"),
             "filter with an empty token", filter_subject="c..x"),
        case("Q7", err_body(cc, 400, 10116, "max deliver is required to be \\u003e length of backoff values"),
             "backoff longer than max_deliver", max_deliver=2, backoff=[1000000000, 2000000000, 3000000000]),
        # Unknown fields are ignored; what can not change on an existing consumer.
        case("U1", ok, "unknown config fields", bogus=1, another=[1]),
        case("U1", err_body(cc, 500, 10012, "ack policy can not be updated"), "U1 with ack all", ack_policy="all"),
        case("U1", err_body(cc, 500, 10012, "max waiting can not be updated"), "U1 turned push",
             deliver_subject="ds.u1"),
        # Work-queue rules (stream W).
        case("W1", err_body(cc, 400, 10098, "workqueue stream requires explicit ack"), "ack all on a work queue",
             stream="W", ack_policy="all"),
        case("W1", err_body(cc, 400, 10084, "consumer in pull mode requires ack policy"), "ack none pull",
             stream="W", ack_policy="none"),
        case("W1", err_body(cc, 400, 10101, "consumer must be deliver all on workqueue stream"), "deliver new",
             stream="W", deliver_policy="new"),
        case("W1", err_body(cc, 400, 10101, "consumer must be deliver all on workqueue stream"), "deliver last",
             stream="W", deliver_policy="last"),
        case("W1", ok, "the first unfiltered consumer", stream="W"),
        case("W2", err_body(cc, 400, 10099, "multiple non-filtered consumers not allowed on workqueue stream"),
             "a second unfiltered consumer", stream="W"),
        case("W2", err_body(cc, 400, 10100, "filtered consumer not unique on workqueue stream"),
             "a filtered consumer beside an unfiltered one", stream="W", filter_subject="w.a"),
        ("$JS.API.CONSUMER.DELETE.W.W1", "", ('{"type":"%sconsumer_delete_response","success":true}' % T).encode(),
         "delete W1"),
        case("W2", ok, "filtered w.a", stream="W", filter_subject="w.a"),
        case("W3", err_body(cc, 400, 10100, "filtered consumer not unique on workqueue stream"), "w.a again",
             stream="W", filter_subject="w.a"),
        case("W3", err_body(cc, 400, 10100, "filtered consumer not unique on workqueue stream"), "w.> over w.a",
             stream="W", filter_subject="w.>"),
        case("W3", err_body(cc, 400, 10099, "multiple non-filtered consumers not allowed on workqueue stream"),
             "unfiltered beside w.a", stream="W"),
        case("W3", ok, "filtered w.b", stream="W", filter_subject="w.b"),
        # The other operations.
        ("$JS.API.CONSUMER.INFO.C.NOPE", "", err_body("consumer_info", 404, 10014, "consumer not found"),
         "INFO of a missing consumer"),
        ("$JS.API.CONSUMER.INFO.NOPE.D", "", err_body("consumer_info", 404, 10059, "stream not found"),
         "INFO on a missing stream"),
        ("$JS.API.CONSUMER.DELETE.C.NOPE", "", err_body("consumer_delete", 404, 10014, "consumer not found"),
         "DELETE of a missing consumer"),
        ("$JS.API.CONSUMER.INFO.C.U1", "{bad",
         err_body("consumer_info", 400, 10038, "expected an empty request payload"), "INFO with a body"),
        ("$JS.API.CONSUMER.DELETE.C.U1", "{bad",
         err_body("consumer_delete", 400, 10038, "expected an empty request payload"), "DELETE with a body"),
        ("$JS.API.CONSUMER.NAMES.C", "{bad",
         names_err("consumer_names", 400, 10025, "invalid JSON", ("consumers", "[]")), "NAMES, invalid JSON"),
        ("$JS.API.CONSUMER.NAMES.NOPE", {},
         names_err("consumer_names", 404, 10059, "stream not found", ("consumers", "[]")), "NAMES, missing stream"),
        ("$JS.API.CONSUMER.LIST.C", "{bad",
         names_err("consumer_list", 400, 10025, "invalid JSON", ("consumers", "[]")), "LIST, invalid JSON"),
    ]


def ack_sync(js, reply, body, inbox):
    js.send(b"PUB %s %s %d\r\n%s\r\n" % (reply, inbox, len(body), body))
    line, data = js.read_msg()
    return line.split()[:2] + [data]


SECTIONS = ("stream", "consumer", "acks", "publish")


def body(ck):
    t = natsh.start_nats(jetstream=True)
    print("target: %s %s" % (t.kind, t.url))
    js = Js(t)
    want = set(sys.argv[1:]) or set(SECTIONS)
    for w in want:
        if w not in SECTIONS:
            raise CheckFailed("unknown section %s (have %s)" % (w, ", ".join(SECTIONS)))

    with ck.section("stream API: invalid JSON, wrong types, unknown fields, overlaps, names"):
        if "stream" not in want:
            raise natsh.Skip("not asked for")
        check_table(ck, js, stream_cases(ck))

    with ck.section("consumer API: missing stream, bad configs, push/pull rules, work-queue rules"):
        if "consumer" not in want:
            raise natsh.Skip("not asked for")
        js.api("$JS.API.STREAM.CREATE.W", {"name": "W", "subjects": ["w.>"], "retention": "workqueue"})
        # C as the stream section left it (so a failure there does not hide these).
        js.api("$JS.API.STREAM.CREATE.C", {"name": "C", "subjects": ["c.x"]})
        check_table(ck, js, consumer_cases(ck))

    with ck.section("acks: gone, never delivered, from a connection that never consumed, malformed"):
        if "acks" not in want:
            raise natsh.Skip("not asked for")
        # Stream K (work queue), 6 messages, consumer K1.
        js.api("$JS.API.STREAM.CREATE.K", {"name": "K", "subjects": ["k.*"], "retention": "workqueue"})
        for i in range(1, 7):
            ck.eq(js.publish("k.%d" % i, b"m%d" % i)[1], b'{"stream":"K", "seq":%d}' % i, "PubAck %d" % i)
        js.api("$JS.API.CONSUMER.DURABLE.CREATE.K.K1", {"stream_name": "K", "config": {
            "durable_name": "K1", "ack_policy": "explicit", "ack_wait": 30000000000}})
        js.next_req("K.K1", {"batch": 4, "expires": 2000000000}, b"_N.k")
        d = [delivery(js, "delivery %d" % i) for i in range(4)]
        ck.eq([x[4] for x in d], [b"m1", b"m2", b"m3", b"m4"], "four delivered")
        acks = [x[2] for x in d]
        # AckSync m1, then the same ack again: the message is gone, the reply is still empty.
        ck.eq(ack_sync(js, acks[0], b"+ACK", b"_N.a1"), [b"MSG", b"_N.a1", b""], "AckSync m1")
        ck.eq(ack_sync(js, acks[0], b"+ACK", b"_N.a2"), [b"MSG", b"_N.a2", b""], "AckSync m1 again (gone)")
        ck.eq(ack_sync(js, acks[0], b"-NAK", b"_N.a3"), [b"MSG", b"_N.a3", b""], "-NAK of gone m1")
        ck.eq(ack_sync(js, acks[0], b"+TERM", b"_N.a4"), [b"MSG", b"_N.a4", b""], "+TERM of gone m1")
        ck.eq(ack_sync(js, acks[0], b"+WPI", b"_N.a5"), [b"MSG", b"_N.a5", b""], "+WPI of gone m1")
        # m2 acked by a connection that never consumed anything.
        other = Raw(t)
        other.send(CONNECT + b"SUB _O.* 1\r\nPUB %s _O.1 4\r\n+ACK\r\n" % acks[1])
        line, data = other.read_msg()
        ck.eq((line.split()[:2], data), ([b"MSG", b"_O.1"], b""), "ack of m2 from another connection")
        # An ack for a sequence past the end of the stream: empty reply, nothing changes.
        fake = b"$JS.ACK.K.K1.1.99.99.%d.0" % ack_fields(acks[2])[5]
        other.send(b"PUB %s _O.2 4\r\n+ACK\r\n" % fake)
        line, data = other.read_msg()
        ck.eq((line.split()[:2], data), ([b"MSG", b"_O.2"], b""), "ack of a sequence past the end")
        other.close()
        # Malformed ack bodies on m3: each gets the empty reply; unknown ones do nothing, a -NAK
        # whose delay does not parse is a plain -NAK (m3 comes back at once).
        for i, bad in enumerate((b"+FOO", b"ACK", b"-NAK {bad", b"+ACKX")):
            js.send(b"PUB %s _N.b%d %d\r\n%s\r\n" % (acks[2], i, len(bad), bad))
        # nats-server answers acks asynchronously (after a PING's PONG): collect for a while.
        got = js.r.read_for(1.0).replace(b"PING\r\n", b"")
        answered = re.findall(rb"MSG (_N\.b\d) 3 +0\r\n\r\n", got)
        ck.eq(re.sub(rb"MSG _N\.b\d 3 +0\r\n\r\n", b"", got), b"", "nothing but empty ack replies")
        ck.eq(sorted(answered), [b"_N.b0", b"_N.b1", b"_N.b2", b"_N.b3"], "malformed acks answered")
        ci = js.api("$JS.API.CONSUMER.INFO.K.K1")
        ck.eq((ci["num_ack_pending"], ci["ack_floor"]["stream_seq"]), (2, 2),
              "after the acks: m3 and m4 pending, floor 2")
        st = js.api("$JS.API.STREAM.INFO.K")["state"]
        ck.eq((st["messages"], st["first_seq"], st["last_seq"]), (4, 3, 6), "m1 and m2 gone, m3..m6 kept")

    with ck.section("publishes with malformed headers: stored or refused exactly"):
        if "publish" not in want:
            raise natsh.Skip("not asked for")
        js.api("$JS.API.STREAM.CREATE.P", {"name": "P", "subjects": ["p.*"]})
        for i in range(1, 7):
            ck.eq(js.publish("p.%d" % i, b"m%d" % i)[1], b'{"stream":"P", "seq":%d}' % i, "PubAck %d" % i)
        ck.eq(js.publish("p.x", b"v", [(b"Nats-Expected-Last-Sequence", b"abc")])[1],
              b'{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 6"},"stream":"P","seq":0}',
              "Nats-Expected-Last-Sequence: abc")
        ck.eq(js.publish("p.x", b"v", [(b"Nats-Expected-Stream", b"")])[1],
              b'{"stream":"P", "seq":7}', "an empty Nats-Expected-Stream is ignored")
        ck.eq(js.publish("p.x", b"v", [(b"Nats-Msg-Id", b"")])[1],
              b'{"stream":"P", "seq":8}', "an empty Nats-Msg-Id is no id")
        ck.eq(js.publish("p.x", b"v", [(b"Nats-Msg-Id", b"")])[1],
              b'{"stream":"P", "seq":9}', "an empty Nats-Msg-Id again: not a duplicate")
        ck.eq(js.publish("p.x", b"v", [(b"Nats-Expected-Last-Subject-Sequence", b"-3")])[1],
              b'{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 9"},"stream":"P","seq":0}',
              "Nats-Expected-Last-Subject-Sequence: -3")
        ck.eq(js.publish("p.x", b"v", [(b"Nats-Expected-Last-Sequence", b"")])[1],
              b'{"stream":"P", "seq":10}', "an empty Nats-Expected-Last-Sequence is not asked")
        st = js.api("$JS.API.STREAM.INFO.P")["state"]
        ck.eq((st["messages"], st["first_seq"], st["last_seq"]), (10, 1, 10), "P holds what was acked")

    with ck.section("nothing lost: every message not acked is delivered, the server still answers"):
        if "acks" not in want:
            raise natsh.Skip("not asked for (part of acks)")
        js.api("$JS.API.CONSUMER.DURABLE.CREATE.K.K1", {"stream_name": "K", "config": {
            "durable_name": "K1", "ack_policy": "explicit", "ack_wait": 30000000000}})
        js.next_req("K.K1", {"batch": 10, "expires": 1000000000}, b"_N.rest")
        rest = []
        while True:
            line, data = js.read_msg()
            p = line.split()
            if p[0] == b"HMSG" and len(p) == 5:
                break  # the 408 at the end
            rest.append((p[1], data if p[0] == b"MSG" else data[int(p[4]):], p[3]))
        ck.eq([(s, v, ack_fields(r)[2]) for s, v, r in rest],
              [(b"k.3", b"m3", 2), (b"k.5", b"m5", 1), (b"k.6", b"m6", 1)],
              "m3 again (-NAKed), then the undelivered messages, in order")
        for s, v, reply in rest:
            ack_sync(js, reply, b"+ACK", b"_N.fin")
        st = js.api("$JS.API.STREAM.INFO.K")["state"]
        ck.eq((st["messages"], st["first_seq"], st["last_seq"]), (1, 4, 6), "m4 still pending, the rest acked")
        fresh = Raw(t)
        fresh.send(CONNECT + b"PING\r\n")
        ck.eq(fresh.read_line(), b"PONG\r\n", "a new connection is served")
        fresh.close()
        ck.ok(t.alive(), "server alive")
    js.close()


if __name__ == "__main__":
    natsh.run("js_badinput_test", body, time_limit=120)
