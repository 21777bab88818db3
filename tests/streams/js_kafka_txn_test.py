#!/usr/bin/python3
"""js_kafka_txn_test.py: Kafka transactions into a stream's topic, as NATS consumers see them
(Sluice only: nats-server has no Kafka side; SLUICE_NATS_REFERENCE skips).

A confluent-kafka transactional producer writes into topic TXN, the topic of stream TXN
(subjects txn.>): transaction 1 (5 records) commits, transaction 2 (4 records) aborts, and
transaction 3 (3 records) is flushed but left open. A raw pull consumer must then receive
exactly transaction 1's records (subject = key, payload = value, stream sequence = offset + 1)
and nothing else: not the aborted records, not the open ones (they sit above the partition's
last stable offset), not the markers (control batches, which take an offset each and so leave
sequence gaps). STREAM.INFO counts 8 messages: what is stored, the open transaction's
included, as Kafka's high watermark does. Once transaction 3 commits, the consumer receives its
3 records. After a kill -9 and restart the stream,
rebuilt from the log, still counts 8 and a new consumer receives the same 8, none aborted."""
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "nats"))
import natsh  # noqa: E402
import jsraw  # noqa: E402
from natsh import Raw, CheckFailed, Skip  # noqa: E402

CONNECT = jsraw.CONNECT


class Js(jsraw.Js):
    pass


class Puller:
    """A durable pull consumer (AckExplicit) on a raw connection: pull() returns what one
    request delivers before its expiry, acked with AckSync."""

    def __init__(self, t, stream, durable):
        self.r = Raw(t)
        self.stream, self.durable, self.k = stream.encode(), durable.encode(), 0
        self.r.send(CONNECT + b"SUB _CR.* 1\r\nSUB _CN.* 3\r\nSUB _CA.* 4\r\nPING\r\n")
        if self.r.read_line() != b"PONG\r\n":
            raise CheckFailed("CONNECT")
        cfg = json.dumps({"stream_name": stream, "config": {"durable_name": durable, "ack_policy": "explicit",
                                                           "deliver_policy": "all"}}).encode()
        self.r.send(b"PUB $JS.API.CONSUMER.DURABLE.CREATE.%s.%s _CR.1 %d\r\n%s\r\n"
                    % (self.stream, self.durable, len(cfg), cfg))
        _, data = self.r.read_msg()
        if b"error" in json.loads(data):
            raise CheckFailed("consumer create: %s" % data)

    def pull(self, batch, expires_ms):
        """{seq: (subject, payload)} delivered by one request of batch messages."""
        self.k += 1
        req = json.dumps({"batch": batch, "expires": expires_ms * 1000000}).encode()
        inbox = b"_CN.%d" % self.k
        self.r.send(b"PUB $JS.API.CONSUMER.MSG.NEXT.%s.%s %s %d\r\n%s\r\n"
                    % (self.stream, self.durable, inbox, len(req), req))
        got, acks = {}, []
        deadline = time.monotonic() + expires_ms / 1000.0 + 5
        while len(got) < batch and time.monotonic() < deadline:
            line, data = self.r.read_msg(timeout=expires_ms / 1000.0 + 5)
            p = line.split()
            if p[0] == b"HMSG" and len(p) == 5:  # a status: 408 when the request expires
                break
            if p[0] != b"MSG" or len(p) != 5:
                raise CheckFailed("want a delivery, got %s" % natsh.show(line))
            seq = int(p[3].split(b".")[5])
            if seq in got:
                raise CheckFailed("seq %d delivered twice" % seq)
            got[seq] = (p[1], data)
            acks.append(p[3])
        for i, reply in enumerate(acks):
            self.r.send(b"PUB %s _CA.%d 4\r\n+ACK\r\n" % (reply, i))
        for i in range(len(acks)):
            line, data = self.r.read_msg()
            if not line.split()[1].startswith(b"_CA."):
                raise CheckFailed("AckSync reply %d: %s" % (i, natsh.show(line)))
        return got

    def close(self):
        self.r.close()


def body(ck):
    if os.environ.get("SLUICE_NATS_REFERENCE") or os.environ.get("SLUICE_EXTERNAL_NATS"):
        raise Skip("Sluice only: the Kafka side of a stream")
    import confluent_kafka as ckf
    t = natsh.start_nats(jetstream=True)
    bootstrap = "127.0.0.1:%d" % t.broker.kafka_port
    js = Js(t)
    with ck.section("stream TXN on subjects txn.>"):
        ck.eq(js.api("$JS.API.STREAM.CREATE.TXN", {"name": "TXN", "subjects": ["txn.>"]}).get("did_create"), True,
              "created")

    p = ckf.Producer({"bootstrap.servers": bootstrap, "transactional.id": "js-txn-1", "linger.ms": 5})
    offsets = {}

    def produce(txn, n):
        for i in range(n):
            key, value = ("txn.t%d" % txn).encode(), ("t%d-%d" % (txn, i)).encode()
            p.produce("TXN", key=key, value=value, partition=0,
                      on_delivery=lambda err, msg, k=(txn, i): offsets.__setitem__(k, err or msg.offset()))
        ck.eq(p.flush(15), 0, "transaction %d flushed" % txn)

    with ck.section("transaction 1 commits (5), 2 aborts (4), 3 stays open (3)"):
        p.init_transactions(15)
        p.begin_transaction()
        produce(1, 5)
        p.commit_transaction(15)
        p.begin_transaction()
        produce(2, 4)
        p.abort_transaction(15)
        p.begin_transaction()
        produce(3, 3)
        ck.eq(sorted(offsets), [(x, i) for x, n in ((1, 5), (2, 4), (3, 3)) for i in range(n)], "all delivered")
        for k, v in offsets.items():
            ck.ok(isinstance(v, int), "record %s has an offset: %s" % (k, v))
        # Transaction 1 at 0..4, its marker at 5, transaction 2 at 6..9, its marker at 10, then 3.
        ck.eq([offsets[(1, i)] for i in range(5)], [0, 1, 2, 3, 4], "transaction 1 offsets")
        ck.eq([offsets[(2, i)] for i in range(4)], [6, 7, 8, 9], "transaction 2 offsets")
        ck.eq([offsets[(3, i)] for i in range(3)], [11, 12, 13], "transaction 3 offsets")

    want1 = {offsets[(1, i)] + 1: (b"txn.t1", b"t1-%d" % i) for i in range(5)}
    want3 = {offsets[(3, i)] + 1: (b"txn.t3", b"t3-%d" % i) for i in range(3)}
    puller = Puller(t, "TXN", "C1")
    with ck.section("a pull consumer receives transaction 1 only: not the aborted, not the open one"):
        ck.eq(puller.pull(50, 1500), want1, "delivered")
        ck.eq(puller.pull(50, 500), {}, "nothing more while transaction 3 is open")
        # STREAM.INFO counts what is stored, the open transaction's 3 included (as Kafka's high
        # watermark does); consumers stop at the last stable offset.
        st = js.api("$JS.API.STREAM.INFO.TXN")["state"]
        ck.eq(st["messages"], 8, "STREAM.INFO messages (5 committed, 3 in the open transaction)")

    with ck.section("transaction 3 commits: the consumer receives it"):
        p.commit_transaction(15)
        ck.eq(puller.pull(50, 1500), want3, "delivered")
        st = js.api("$JS.API.STREAM.INFO.TXN")["state"]
        ck.eq((st["messages"], st["last_seq"]), (8, 15), "STREAM.INFO messages, last_seq")
    puller.close()

    with ck.section("kill -9 and restart: the rebuilt stream keeps the aborted transaction out"):
        t.broker.restart(kill=True)
        natsh.wait_pong(t, t.broker.proc)
        js = Js(t)
        st = js.api("$JS.API.STREAM.INFO.TXN")["state"]
        ck.eq((st["messages"], st["last_seq"]), (8, 15), "STREAM.INFO messages, last_seq")
        puller = Puller(t, "TXN", "C2")
        want = dict(want1)
        want.update(want3)
        ck.eq(puller.pull(50, 1500), want, "a new consumer receives the 8 committed")
        puller.close()


if __name__ == "__main__":
    natsh.run("js_kafka_txn_test", body, modules=("confluent_kafka",), time_limit=120)
