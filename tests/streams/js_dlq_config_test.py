#!/usr/bin/python3
"""js_dlq_config_test.py: the native dead-letter queue set by configuration (Sluice only:
nats-server has no native DLQ; SLUICE_NATS_REFERENCE skips).

sluice-server --jetstream --jetstream_dlq 'DEAD_{stream}' (the server default, a template):
  - stream WORK (workqueue) and stream DEAD_WORK (subject dead.work). A poison order published
    with headers is NAKed by a raw pull worker until max_deliver (2); it lands in DEAD_WORK
    byte-exact: payload, its own headers first, then Sluice-Dlq-Stream/-Sequence/-Consumer/
    -Deliveries/-Reason; WORK is empty. A confluent-kafka consumer reads it from topic
    DEAD_WORK with the same headers, in order, and key dead.work.
  - WORK's stream config is untouched (no dlq field in STREAM.INFO; creating it again with the
    same config is idempotent, as nats.go's AddStream relies on).
  - stream PLAIN: its topic config sluice.dlq.stream = SIDE (Kafka AlterConfigs), shown by
    DescribeConfigs; an order termed with +TERM and a reason lands in SIDE (Reason terminated,
    Text the reason), not in DEAD_PLAIN, which exists. Set to "" the topic config turns dead
    letters off for the stream even though the default names an existing stream.
  - The DLQ is looked up when a message dead-letters: with none, a message past max_deliver
    stays in the work queue (as on nats-server); a DLQ set after the consumer was created
    takes the next one.
"""
import base64
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "nats"))
import natsh  # noqa: E402
import jsraw  # noqa: E402
from natsh import CheckFailed, Skip  # noqa: E402

CONNECT = jsraw.CONNECT

POISON = b"poison-order\x00\xff\r\n binary tail"
HDRS = [(b"X-Order", b"17"), (b"X-Rep", b"a"), (b"X-Rep", b"b")]


class Js(jsraw.Js):
    extra_subs = b"SUB _D 3\r\nSUB _A.* 4\r\n"

    def pull(self, stream, consumer, expires_ms):
        """One MSG.NEXT (batch 1): (subject, ack reply, header block, payload), or None when the
        request expires (408) first."""
        body = json.dumps({"batch": 1, "expires": expires_ms * 1000000}).encode()
        self.r.send(b"PUB $JS.API.CONSUMER.MSG.NEXT.%s.%s _D %d\r\n%s\r\n"
                    % (stream.encode(), consumer.encode(), len(body), body))
        line, data = self.r.read_msg(timeout=expires_ms / 1000.0 + 5)
        p = line.split()
        if p[0] == b"MSG" and len(p) == 5 and p[2] == b"3" and p[3].startswith(b"$JS.ACK."):
            return p[1], p[3], b"", data
        if p[0] == b"HMSG" and len(p) == 6 and p[2] == b"3" and p[3].startswith(b"$JS.ACK."):
            hl = int(p[4])
            return p[1], p[3], data[:hl], data[hl:]
        if p[0] == b"HMSG" and b"408" in data.split(b"\r\n")[0]:
            return None
        raise CheckFailed("MSG.NEXT %s.%s: %s %s" % (stream, consumer, natsh.show(line), natsh.show(data)))

    def ack(self, reply, body, what):
        self.n += 1
        inbox = b"_A.%d" % self.n
        self.r.send(b"PUB %s %s %d\r\n%s\r\n" % (reply, inbox, len(body), body))
        line, _ = self.r.read_msg()
        if line.split()[:2] != [b"MSG", inbox]:
            raise CheckFailed("%s: reply %s" % (what, natsh.show(line)))


def hdr_block(pairs):
    return b"NATS/1.0\r\n" + b"".join(b"%s: %s\r\n" % kv for kv in pairs) + b"\r\n"


def wait_messages(ck, js, stream, n, what, timeout=5.0):
    deadline = time.monotonic() + timeout
    st = None
    while time.monotonic() < deadline:
        st = js.api("$JS.API.STREAM.INFO." + stream)["state"]
        if st["messages"] == n:
            break
        time.sleep(0.05)
    ck.eq(st["messages"], n, what)


def consumer_cfg(name, max_deliver):
    return {"durable_name": name, "ack_policy": "explicit", "deliver_policy": "all",
            "ack_wait": 30 * 1000000000, "max_deliver": max_deliver, "replay_policy": "instant"}


def kafka_read(bootstrap, topic, n):
    import confluent_kafka as ckf
    c = ckf.Consumer({"bootstrap.servers": bootstrap, "group.id": "dlq-reader-" + topic,
                      "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.assign([ckf.TopicPartition(topic, 0, 0)])
    got = []
    deadline = time.time() + 20
    try:
        while len(got) < n and time.time() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                raise CheckFailed("poll %s: %s" % (topic, m.error()))
            got.append(m)
    finally:
        c.close()
    return got


def body(ck):
    if os.environ.get("SLUICE_NATS_REFERENCE") or os.environ.get("SLUICE_EXTERNAL_NATS"):
        raise Skip("Sluice only: the native dead-letter queue")
    from confluent_kafka.admin import AdminClient, ConfigResource
    t = natsh.SluiceNats({"jetstream_dlq": "DEAD_{stream}"}, jetstream=True).start()
    bootstrap = "127.0.0.1:%d" % t.broker.kafka_port
    js = Js(t)
    work = {"name": "WORK", "subjects": ["work.*"], "retention": "workqueue", "storage": "file"}

    with ck.section("server default DEAD_{stream}: max_deliver reached, the order lands in DEAD_WORK"):
        ck.eq(js.api("$JS.API.STREAM.CREATE.WORK", work).get("did_create"), True, "WORK created")
        ck.eq(js.api("$JS.API.STREAM.CREATE.DEAD_WORK", {"name": "DEAD_WORK", "subjects": ["dead.work"]})
              .get("did_create"), True, "DEAD_WORK created")
        ck.eq(js.pub_json(b"work.new", POISON, HDRS), {"stream": "WORK", "seq": 1}, "PubAck")
        c = js.api("$JS.API.CONSUMER.CREATE.WORK.W", {"stream_name": "WORK", "config": consumer_cfg("W", 2)})
        ck.ok("error" not in c, "consumer W created: %s" % c)
        for d in (1, 2):
            got = js.pull("WORK", "W", 3000)
            ck.ok(got is not None, "delivery %d" % d)
            subj, reply, hdr, data = got
            ck.eq((subj, hdr, data), (b"work.new", hdr_block(HDRS), POISON), "delivery %d content" % d)
            js.ack(reply, b"-NAK", "NAK %d" % d)
        ck.eq(js.pull("WORK", "W", 1000), None, "no third delivery with max_deliver 2")
        wait_messages(ck, js, "DEAD_WORK", 1, "DEAD_WORK messages")
        wait_messages(ck, js, "WORK", 0, "WORK messages after the dead letter")
        m = js.api("$JS.API.STREAM.MSG.GET.DEAD_WORK", {"seq": 1})["message"]
        want_hdrs = HDRS + [(b"Sluice-Dlq-Stream", b"WORK"), (b"Sluice-Dlq-Sequence", b"1"),
                            (b"Sluice-Dlq-Consumer", b"W"), (b"Sluice-Dlq-Deliveries", b"2"),
                            (b"Sluice-Dlq-Reason", b"max_deliveries")]
        ck.eq((m["subject"], base64.b64decode(m["data"]), base64.b64decode(m["hdrs"])),
              ("dead.work", POISON, hdr_block(want_hdrs)), "DEAD_WORK seq 1: subject, data, headers")

    with ck.section("a Kafka consumer reads the dead letter from topic DEAD_WORK, with its headers"):
        got = kafka_read(bootstrap, "DEAD_WORK", 1)
        ck.eq(len(got), 1, "records")
        if got:
            ck.eq((got[0].offset(), got[0].key(), got[0].value()), (0, b"dead.work", POISON), "record")
            ck.eq(got[0].headers(), [(k.decode(), v) for k, v in want_hdrs], "record headers, in order")

    with ck.section("WORK's stream config is untouched: no dlq field, create again is idempotent"):
        info = js.api("$JS.API.STREAM.INFO.WORK")
        ck.eq("dlq" in info["config"], False, "no dlq in WORK's config")
        again = js.api("$JS.API.STREAM.CREATE.WORK", work)
        ck.eq(("error" in again, again.get("config", {}).get("name")), (False, "WORK"),
              "create again with the same config: no error (%s)" % again.get("error"))

    with ck.section("topic config sluice.dlq.stream on PLAIN's topic: +TERM lands in SIDE"):
        for name, subj in (("PLAIN", "plain.*"), ("SIDE", "side.dlq"), ("DEAD_PLAIN", "dead.plain")):
            ck.eq(js.api("$JS.API.STREAM.CREATE." + name, {"name": name, "subjects": [subj]})
                  .get("did_create"), True, name + " created")
        a = AdminClient({"bootstrap.servers": bootstrap})
        # AlterConfigs replaces every override: keep the stream's own (retention by the stream).
        res = ConfigResource("topic", "PLAIN", set_config={
            "sluice.dlq.stream": "SIDE", "retention.ms": "-1", "retention.bytes": "-1"})
        a.alter_configs([res], request_timeout=30)[res].result(timeout=30)
        d = a.describe_configs([ConfigResource("topic", "PLAIN")], request_timeout=30)
        cfg = {k: v.value for k, v in list(d.values())[0].result(timeout=30).items()}
        ck.eq(cfg.get("sluice.dlq.stream"), "SIDE", "DescribeConfigs sluice.dlq.stream")
        ck.eq(js.pub_json(b"plain.x", b"bad order"), {"stream": "PLAIN", "seq": 1}, "PubAck PLAIN")
        c = js.api("$JS.API.CONSUMER.CREATE.PLAIN.P", {"stream_name": "PLAIN", "config": consumer_cfg("P", 5)})
        ck.ok("error" not in c, "consumer P created: %s" % c)
        got = js.pull("PLAIN", "P", 3000)
        ck.ok(got is not None, "delivery of the bad order")
        js.ack(got[1], b"+TERM no such customer", "TERM")
        wait_messages(ck, js, "SIDE", 1, "SIDE messages")
        m = js.api("$JS.API.STREAM.MSG.GET.SIDE", {"seq": 1})["message"]
        ck.eq((m["subject"], base64.b64decode(m["data"]), base64.b64decode(m["hdrs"])),
              ("side.dlq", b"bad order", hdr_block([
                  (b"Sluice-Dlq-Stream", b"PLAIN"), (b"Sluice-Dlq-Sequence", b"1"),
                  (b"Sluice-Dlq-Consumer", b"P"), (b"Sluice-Dlq-Deliveries", b"1"),
                  (b"Sluice-Dlq-Reason", b"terminated"), (b"Sluice-Dlq-Text", b"no such customer")])),
              "SIDE seq 1")
        ck.eq(js.api("$JS.API.STREAM.INFO.DEAD_PLAIN")["state"]["messages"], 0, "DEAD_PLAIN untouched")

    with ck.section("sluice.dlq.stream set to \"\" turns dead letters off for the stream"):
        res = ConfigResource("topic", "PLAIN", set_config={
            "sluice.dlq.stream": "", "retention.ms": "-1", "retention.bytes": "-1"})
        a.alter_configs([res], request_timeout=30)[res].result(timeout=30)
        ck.eq(js.pub_json(b"plain.y", b"second bad order"), {"stream": "PLAIN", "seq": 2}, "PubAck PLAIN 2")
        got = js.pull("PLAIN", "P", 3000)
        ck.ok(got is not None, "delivery of the second bad order")
        js.ack(got[1], b"+TERM still bad", "TERM 2")
        js.api("$JS.API.STREAM.INFO.PLAIN")  # a round trip after the TERM
        ck.eq(js.api("$JS.API.STREAM.INFO.SIDE")["state"]["messages"], 1, "SIDE unchanged")
        ck.eq(js.api("$JS.API.STREAM.INFO.DEAD_PLAIN")["state"]["messages"], 0, "DEAD_PLAIN unchanged")

    with ck.section("the DLQ is looked up when a message dead-letters: none yet, then set late"):
        ck.eq(js.api("$JS.API.STREAM.CREATE.LATE", {"name": "LATE", "subjects": ["late.*"],
                                                    "retention": "workqueue"}).get("did_create"),
              True, "LATE created")
        c = js.api("$JS.API.CONSUMER.CREATE.LATE.L", {"stream_name": "LATE", "config": consumer_cfg("L", 1)})
        ck.ok("error" not in c, "consumer L created before any DLQ: %s" % c)
        # No DEAD_LATE yet: max_deliver reached, the order stays in the work queue (nats-server).
        ck.eq(js.pub_json(b"late.a", b"kept"), {"stream": "LATE", "seq": 1}, "PubAck LATE 1")
        got = js.pull("LATE", "L", 3000)
        ck.ok(got is not None, "delivery of late.a")
        js.ack(got[1], b"-NAK", "NAK late.a")
        ck.eq(js.pull("LATE", "L", 500), None, "no redelivery with max_deliver 1")
        ck.eq(js.api("$JS.API.STREAM.INFO.LATE")["state"]["messages"], 1, "LATE keeps late.a")
        # A DLQ set on the topic after the consumer was created counts for the next one.
        res = ConfigResource("topic", "LATE", set_config={
            "sluice.dlq.stream": "SIDE", "retention.ms": "-1", "retention.bytes": "-1"})
        a.alter_configs([res], request_timeout=30)[res].result(timeout=30)
        ck.eq(js.pub_json(b"late.b", b"dead late"), {"stream": "LATE", "seq": 2}, "PubAck LATE 2")
        got = js.pull("LATE", "L", 3000)
        ck.ok(got is not None and got[3] == b"dead late", "delivery of late.b")
        js.ack(got[1], b"-NAK", "NAK late.b")
        ck.eq(js.pull("LATE", "L", 500), None, "no redelivery of late.b")
        wait_messages(ck, js, "SIDE", 2, "SIDE holds late.b")
        m = js.api("$JS.API.STREAM.MSG.GET.SIDE", {"seq": 2})["message"]
        ck.eq(base64.b64decode(m["data"]), b"dead late", "SIDE seq 2 data")
        ck.eq(js.api("$JS.API.STREAM.INFO.LATE")["state"]["messages"], 1, "LATE: only late.a left")


if __name__ == "__main__":
    natsh.run("js_dlq_config_test", body, modules=("confluent_kafka",), time_limit=120)
