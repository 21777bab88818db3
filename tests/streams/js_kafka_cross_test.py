#!/usr/bin/python3
"""js_kafka_cross_test.py: a stream is a Kafka topic of the same name, both ways, on one
sluice-server --jetstream (Sluice only: nats-server has no Kafka side; SLUICE_NATS_REFERENCE skips).

NATS -> Kafka: raw NATS publishes (PUB and HPUB with repeated header keys, an empty payload,
binary bytes) are stored with their PubAcks; confluent-kafka then reads topic CROSS and must see,
byte for byte, key = subject, value = payload, headers = the NATS headers in order, offset =
seq - 1. Kafka -> NATS: confluent-kafka produces into the stream's topic (with and without a key
that is a stream subject, with headers); STREAM.INFO counts them (messages, last_seq,
num_subjects) and MSG.GET returns them (subject = key when it is a stream subject, else the
stream's first literal subject; headers as a NATS header block)."""
import base64
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "nats"))
import natsh  # noqa: E402
from natsh import Raw, CheckFailed, Skip  # noqa: E402

CONNECT = b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true}\r\n'
T = "io.nats.jetstream.api.v1."


class Js:
    def __init__(self, t):
        self.r = Raw(t)
        self.n = 0
        self.r.send(CONNECT + b"SUB _R.* 1\r\nSUB _P 2\r\nPING\r\n")
        if self.r.read_line() != b"PONG\r\n":
            raise CheckFailed("CONNECT")

    def api(self, subj, body=b""):
        if isinstance(body, dict):
            body = json.dumps(body, separators=(",", ":")).encode()
        self.n += 1
        inbox = b"_R.%d" % self.n
        self.r.send(b"PUB %s %s %d\r\n%s\r\n" % (subj.encode(), inbox, len(body), body))
        line, data = self.r.read_msg()
        if line.split()[:2] != [b"MSG", inbox]:
            raise CheckFailed("reply to %s: %s" % (subj, natsh.show(line)))
        return json.loads(data)

    def publish(self, subj, data, hdrs=None):
        if hdrs is None:
            self.r.send(b"PUB %s _P %d\r\n%s\r\n" % (subj, len(data), data))
        else:
            h = b"NATS/1.0\r\n" + b"".join(b"%s: %s\r\n" % kv for kv in hdrs) + b"\r\n"
            self.r.send(b"HPUB %s _P %d %d\r\n%s%s\r\n" % (subj, len(h), len(h) + len(data), h, data))
        line, ack = self.r.read_msg()
        return ack


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
            ck.eq(js.publish(subj, data, hdrs), b'{"stream":"CROSS", "seq":%d}' % (i + 1), "PubAck %d" % (i + 1))

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
        ck.eq(js.publish(b"cross.a", b"after kafka"), b'{"stream":"CROSS", "seq":8}', "NATS seq after the Kafka records")
        ck.eq(js.publish(b"cross.c", b"dup", [(b"Nats-Msg-Id", b"m-1")]),
              b'{"stream":"CROSS", "seq":4,"duplicate": true}', "msg id of the NATS publish still known")

    with ck.section("STREAM.DELETE removes the topic"):
        ck.eq(js.api("$JS.API.STREAM.DELETE.CROSS"), {"type": T + "stream_delete_response", "success": True},
              "delete")
        admin = ckf.admin.AdminClient({"bootstrap.servers": bootstrap})
        ck.eq("CROSS" in admin.list_topics(timeout=10).topics, False, "topic gone")


if __name__ == "__main__":
    natsh.run("js_kafka_cross_test", body, modules=("confluent_kafka",), time_limit=120)
