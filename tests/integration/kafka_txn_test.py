#!/usr/bin/python3
"""kafka_txn_test: Kafka transactions with confluent-kafka (librdkafka 2.0.2), proven first on
librdkafka's mock cluster (tests/tools/kafka_mock), then held against a fresh sluice-server.

Sections, each run on both peers and reported as "<peer>: <section>":
  a. interleaved: a transactional producer writes 20 transactions to a 3-partition topic (5
     records per partition each, distinct payloads), committing the even ones and aborting the
     odd ones (flushed first, so the aborted records are in the log). read_committed sees
     exactly the committed records, read_uncommitted all of them, each at its exact offset
     (transaction t's record j of a partition is at t*6+j: one offset per transaction goes to
     its marker), in order, no control record; the delivery reports gave the same offsets; the
     high watermark and the last stable offset are 120.
  b. open transaction: 4 committed records, then 3 in a transaction left open. read_committed
     stops at the last stable offset (4 records, ListOffsets with read_committed answers 5, the
     first offset of the open transaction) while read_uncommitted sees all 7 (high watermark 8);
     after the commit read_committed sees the 3 at offsets 5-7 and both answers are 9.
  c. fenced zombie: producer A (transactional.id X) produces 3 flushed records in a transaction;
     B (same X) calls init_transactions, which aborts A's transaction; A's next produce is
     refused (INVALID_PRODUCER_EPOCH) and its commit_transaction raises a fatal error with code
     _FENCED (-144): librdkafka normalizes INVALID_PRODUCER_EPOCH and PRODUCER_FENCED to it
     (txn_requires_abort() is False: a fatal error cannot be aborted away). B then commits 2
     records: read_committed sees only B's, read_uncommitted A's 3 and B's 2.
  d. consume-transform-produce: 3,000 records over 3 partitions consumed by group G
     (read_committed), transformed ("out-" + value) into an output topic partition for
     partition, in transactions of ~100 with send_offsets_to_transaction. Against Sluice the
     broker is kill -9'ed and restarted 3 times mid-transaction; the loop recovers (new producer
     and consumer, init_transactions fences and aborts the old one, consumption resumes from
     G's committed offsets). At the end read_committed of the output is exactly the input,
     partition for partition, in order, once; G's committed offsets are the input's ends.
  e. transaction timeout: a producer with transaction.timeout.ms=5000 leaves a transaction open
     after 2 committed records; a plain record written after it is held back from
     read_committed until the coordinator aborts the stalled transaction, not before 5 s
     (Kafka checks every transaction.abort.timed.out.transaction.cleanup.interval.ms, 10 s by
     default: the test waits up to 25 s), then read_committed sees the 2 and the plain record,
     never the stalled 3, and the stalled producer's commit fails.

What librdkafka 2.0.2's mock cluster supports (each point asserted here, so a newer mock that
changes shows up): the transactional protocol is accepted end to end (InitProducerId,
AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, EndTxn), but the mock writes no control
records (a transaction's records take contiguous offsets), keeps no last stable offset and no
aborted-transaction list (read_committed sees aborted and open records, and ListOffsets answers
the high watermark at either isolation level), does not fence (a second init_transactions with
the same id leaves the first producer able to commit; the test makes the mock answer
INVALID_PRODUCER_EPOCH to A's Produce instead, to prove what librdkafka then reports), does not
store offsets sent with TxnOffsetCommit (G has no committed offset afterwards), has no
transaction timeout (a transaction stalled past transaction.timeout.ms still commits), and
cannot be killed and restarted (section d runs without kills there). What librdkafka itself
does is the same on both peers: abort_transaction purges unsent records, a fatal error fails
commit_transaction.

SLUICE_TXN_PEER_ONLY=1 (or --peer-only) runs the mock only: tests/integration/CMakeLists.txt
sets it until Sluice serves transactions.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition  # noqa: E402

PEER_ONLY = os.environ.get("SLUICE_TXN_PEER_ONLY") == "1" or "--peer-only" in sys.argv

# What a peer does: True asserts Kafka's semantics, False asserts the 2.0.2 mock's behaviour.
KAFKA = {"markers": True, "lso": True, "fencing": True, "txn_offsets": True, "timeout": True,
         "kill": True, "max_timeout": True}
MOCK = {"markers": False, "lso": False, "fencing": False, "txn_offsets": False, "timeout": False,
        "kill": False, "max_timeout": False}

API_PRODUCE = 0
INVALID_PRODUCER_EPOCH = 47
OP_TIMEOUT = 15.0  # every transactional call is bounded by this (seconds)
TXN_TIMEOUT_MS = 5000  # section e: long enough to see the LSO held before the abort


class Rebalanced(Exception):
    pass


class Txn:
    """A transactional producer that records delivery reports and client errors."""

    def __init__(self, peer, txid, extra=None):
        self.errors = []   # error_cb
        self.reports = []  # (error, partition, offset, value) per delivery report
        conf = {"bootstrap.servers": peer.bootstrap, "transactional.id": txid, "linger.ms": 5,
                "error_cb": self.errors.append}
        conf.update(extra or {})
        self.p = Producer(conf)
        self.p.init_transactions(OP_TIMEOUT)

    def _report(self, err, msg):
        self.reports.append((err, msg.partition(), msg.offset(), msg.value()))

    def produce(self, topic, recs):
        """recs: [(partition, key, value)]; flushed, so every record has its report."""
        for part, key, value in recs:
            self.p.produce(topic, key=key, value=value, partition=part, on_delivery=self._report)
        left = self.p.flush(OP_TIMEOUT)
        if left:
            raise harness.CheckFailed("%d records not delivered within %.0f s" % (left, OP_TIMEOUT))

    def delivered(self, ck, what):
        bad = [r for r in self.reports if r[0] is not None]
        ck.eq(bad, [], "%s: delivery errors" % what)
        out = {(r[1], r[3]): r[2] for r in self.reports}
        self.reports = []
        return out


def reader(peer, iso, parts, topic):
    c = Consumer({"bootstrap.servers": peer.bootstrap, "group.id": harness.unique("txn-test-reader"),
                  "isolation.level": iso, "enable.auto.commit": False,
                  "enable.partition.eof": True, "auto.offset.reset": "error",
                  "fetch.wait.max.ms": 50, **({"debug": os.environ["TXN_DEBUG"]} if os.environ.get("TXN_DEBUG") else {})})
    c.assign([TopicPartition(topic, p, 0) for p in range(parts)])
    return c


def drain(c, parts, settle=1.0, timeout=20.0, again=False):
    """Polls until every partition has reported its end since its last record and nothing has
    come for `settle` seconds. Returns {p: [(offset, key, value)]}. again: the consumer has
    reported every end before (librdkafka reports an end once, until a new record comes)."""
    got = {p: [] for p in range(parts)}
    at_end = set(range(parts)) if again else set()
    deadline = time.monotonic() + timeout
    quiet_since = time.monotonic()
    while True:
        now = time.monotonic()
        if len(at_end) == parts and now - quiet_since >= settle:
            return got
        if now > deadline:
            raise harness.CheckFailed("drain %s: partitions at end %s of %d after %.0f s (read %s)" %
                                      (c, sorted(at_end), parts, timeout,
                                       {p: len(v) for p, v in got.items()}))
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                at_end.add(m.partition())
                continue
            raise harness.CheckFailed("consume error: %s" % m.error())
        got[m.partition()].append((m.offset(), m.key(), m.value()))
        at_end.discard(m.partition())
        quiet_since = time.monotonic()


def read_all(peer, iso, parts, topic, **kw):
    c = reader(peer, iso, parts, topic)
    try:
        return drain(c, parts, **kw)
    finally:
        c.close()


def ends(c, topic, parts):
    """ListOffsets (latest) at the consumer's isolation level: high watermark or LSO."""
    return [c.get_watermark_offsets(TopicPartition(topic, p), timeout=OP_TIMEOUT, cached=False)[1]
            for p in range(parts)]


def sec_interleaved(ck, peer, caps):
    topic = harness.unique("txn-a")
    parts, txns, per = 3, 20, 5
    harness.create_topic(peer, topic, parts)
    t = Txn(peer, harness.unique("txid-a"))
    step = per + 1 if caps["markers"] else per  # the marker takes one offset per transaction
    want_all = {p: [] for p in range(parts)}
    want_committed = {p: [] for p in range(parts)}
    for n in range(txns):
        commit = n % 2 == 0
        t.p.begin_transaction()
        recs = [(p, b"k-%02d-%d" % (n, j), b"txn%02d-p%d-r%d-%s" % (
            n, p, j, b"commit" if commit else b"abort")) for j in range(per) for p in range(parts)]
        t.produce(topic, recs)
        offs = t.delivered(ck, "transaction %d" % n)
        for p, k, v in recs:
            rec = (n * step + int(v.split(b"-r")[1].split(b"-")[0]), k, v)
            ck.eq(offs[(p, v)], rec[0], "delivery offset of %r" % v)
            want_all[p].append(rec)
            if commit:
                want_committed[p].append(rec)
        if commit:
            t.p.commit_transaction(OP_TIMEOUT)
        else:
            t.p.abort_transaction(OP_TIMEOUT)
    # One more aborted transaction whose records were never flushed: librdkafka purges them at
    # abort_transaction, so no peer ever sees them.
    t.p.begin_transaction()
    for p in range(parts):
        t.p.produce(topic, value=b"purged-%d" % p, partition=p)
    t.p.abort_transaction(OP_TIMEOUT)
    ck.eq(t.errors, [], "producer errors")

    end = txns * step
    ru = read_all(peer, "read_uncommitted", parts, topic)
    rc = read_all(peer, "read_committed", parts, topic)
    for p in range(parts):
        ck.eq(ru[p], want_all[p], "read_uncommitted partition %d" % p)
        if caps["lso"]:
            ck.eq(rc[p], want_committed[p], "read_committed partition %d" % p)
        else:  # the mock keeps no aborted-transaction list: read_committed sees aborted records
            ck.eq(rc[p], want_all[p], "read_committed partition %d (mock: aborted ones too)" % p)
        seen = {o for o, _, _ in ru[p]}
        gaps = sorted(set(range(end)) - seen)
        ck.eq(gaps, [n * step + per for n in range(txns)] if caps["markers"] else [],
              "partition %d: offsets left to the markers" % p)
    for iso in ("read_uncommitted", "read_committed"):
        c = reader(peer, iso, parts, topic)
        got = ends(c, topic, parts)
        # The purged transaction leaves an abort marker (one offset, no record: read_uncommitted
        # above saw none) on each partition librdkafka had added to it before the abort, as
        # Kafka does; whether it got that far is a race.
        ck.ok(all(e == end or (caps["markers"] and e == end + 1) for e in got),
              "ListOffsets latest (%s): %s, want %d%s" % (iso, got, end, " or %d" % (end + 1) if caps["markers"] else ""))
        c.close()
    print("     %d transactions, %d records per partition read_uncommitted, %d read_committed; "
          "end offset %d" % (txns, len(ru[0]), len(rc[0]), end))


def sec_open(ck, peer, caps):
    topic = harness.unique("txn-b")
    harness.create_topic(peer, topic, 1)
    t = Txn(peer, harness.unique("txid-b"))
    t.p.begin_transaction()
    t.produce(topic, [(0, None, b"c%d" % i) for i in range(4)])
    t.p.commit_transaction(OP_TIMEOUT)
    t.p.begin_transaction()
    t.produce(topic, [(0, None, b"o%d" % i) for i in range(3)])
    t.delivered(ck, "records")
    m = 1 if caps["markers"] else 0
    committed = [(i, None, b"c%d" % i) for i in range(4)]
    opened = [(4 + m + i, None, b"o%d" % i) for i in range(3)]

    ru = reader(peer, "read_uncommitted", 1, topic)
    got_ru = drain(ru, 1)[0]
    rc = reader(peer, "read_committed", 1, topic)
    got_rc = drain(rc, 1)[0]
    ck.eq(got_ru, committed + opened, "read_uncommitted with the transaction open")
    hw = 4 + m + 3
    if caps["lso"]:
        ck.eq(got_rc, committed, "read_committed with the transaction open (held at the LSO)")
        ck.eq(ends(rc, topic, 1), [4 + m], "ListOffsets read_committed: the LSO")
    else:
        ck.eq(got_rc, committed + opened, "read_committed with the transaction open (mock: no LSO)")
        ck.eq(ends(rc, topic, 1), [hw], "ListOffsets read_committed (mock: the high watermark)")
    ck.eq(ends(ru, topic, 1), [hw], "ListOffsets read_uncommitted: the high watermark")

    t.p.commit_transaction(OP_TIMEOUT)
    ck.eq(t.errors, [], "producer errors")
    after = drain(rc, 1, again=True)[0]
    ck.eq(after, opened if caps["lso"] else [], "read_committed after the commit")
    ck.eq(drain(ru, 1, settle=0.3, again=True)[0], [], "read_uncommitted after the commit")
    ck.eq(ends(rc, topic, 1), [hw + m], "ListOffsets read_committed after the commit")
    ck.eq(ends(ru, topic, 1), [hw + m], "ListOffsets read_uncommitted after the commit")
    rc.close()
    ru.close()


def sec_fenced(ck, peer, caps):
    topic = harness.unique("txn-c")
    harness.create_topic(peer, topic, 1)
    txid = harness.unique("txid-c")
    a = Txn(peer, txid)
    a.p.begin_transaction()
    a.produce(topic, [(0, None, b"zombie-%d" % i) for i in range(3)])
    a.delivered(ck, "A's records")
    b = Txn(peer, txid)  # init_transactions: fences A and aborts A's open transaction
    zombie = [b"zombie-%d" % i for i in range(3)]
    if not caps["fencing"]:
        # The mock keeps A's epoch valid (A can still produce), so have it answer A's next
        # Produce as Kafka would.
        a.produce(topic, [(0, None, b"zombie-unfenced")])
        a.delivered(ck, "A's record after B's init_transactions (mock: not fenced)")
        zombie.append(b"zombie-unfenced")
        peer.inject_errors(API_PRODUCE, INVALID_PRODUCER_EPOCH)
    try:
        a.p.produce(topic, value=b"zombie-late", partition=0, on_delivery=a._report)
        a.p.flush(OP_TIMEOUT)
    except KafkaException as e:  # produce() itself refuses once the fatal error is known
        a.reports.append((e.args[0], 0, -1, b"zombie-late"))
    ck.eq(len(a.reports), 1, "A's late record: delivery reports")
    ck.ok(a.reports[0][0] is not None, "A's late record was refused (report %s)" % (a.reports[0],))
    print("     A's late record: %s" % a.reports[0][0])
    try:
        a.p.commit_transaction(OP_TIMEOUT)
        raise harness.CheckFailed("A's commit_transaction succeeded after B's init_transactions")
    except KafkaException as e:
        err = e.args[0]
        print("     A's commit: %s fatal=%s txn_requires_abort=%s" % (
            err, err.fatal(), err.txn_requires_abort()))
        ck.eq(err.code(), KafkaError._FENCED, "A's commit: error code")
        ck.eq(err.fatal(), True, "A's commit: fatal()")
        ck.eq(err.txn_requires_abort(), False, "A's commit: txn_requires_abort()")
    # (librdkafka 2.0.2 raises a transactional producer's fatal error through the API calls
    # only: error_cb was seen to get nothing, so it is not checked.)

    b.p.begin_transaction()
    b.produce(topic, [(0, None, b"b-%d" % i) for i in range(2)])
    b.p.commit_transaction(OP_TIMEOUT)
    ck.eq(b.errors, [], "B's errors")
    vals = lambda recs: [v for _, _, v in recs]  # noqa: E731
    rc = vals(read_all(peer, "read_committed", 1, topic)[0])
    ru = vals(read_all(peer, "read_uncommitted", 1, topic)[0])
    ck.eq(ru, zombie + [b"b-0", b"b-1"], "read_uncommitted: A's records, then B's")
    ck.eq(rc, [b"b-0", b"b-1"] if caps["fencing"] else zombie + [b"b-0", b"b-1"],
          "read_committed: only B's records" if caps["fencing"]
          else "read_committed (mock: A's transaction was never aborted)")


def sec_ctp(ck, peer, caps):
    parts, total, batch = 3, 3000, 100
    src, dst = harness.unique("txn-d-in"), harness.unique("txn-d-out")
    harness.create_topic(peer, src, parts)
    harness.create_topic(peer, dst, parts)
    plain = Producer({"bootstrap.servers": peer.bootstrap, "enable.idempotence": True,
                      "linger.ms": 5})
    inputs = {p: [] for p in range(parts)}
    for i in range(total):
        v = b"in-%05d" % i
        plain.produce(src, key=b"%d" % i, value=v, partition=i % parts)
        inputs[i % parts].append(v)
    ck.eq(plain.flush(OP_TIMEOUT), 0, "input records left after flush")
    src_end = {p: len(inputs[p]) for p in range(parts)}
    group, txid = harness.unique("txn-d-group"), harness.unique("txid-d")
    kill_at = [3, 10, 18] if caps["kill"] else []  # batch numbers at which the broker dies
    state = {"batches": 0, "recoveries": 0, "commits": 0}

    assigned = [0]  # assignments seen (on_assign calls), across consumers

    def make():
        c = Consumer({"bootstrap.servers": peer.bootstrap, "group.id": group,
                      "isolation.level": "read_committed", "enable.auto.commit": False,
                      "auto.offset.reset": "earliest", "session.timeout.ms": 6000,
                      "fetch.wait.max.ms": 50})
        c.subscribe([src], on_assign=lambda _c, _p: assigned.__setitem__(0, assigned[0] + 1))
        return c, Txn(peer, txid)

    c = t = None
    deadline = time.monotonic() + (50 if caps["kill"] else 30)
    idle_polls = 0
    while True:
        if time.monotonic() > deadline:
            where = "no consumer"
            if c is not None:
                asg = c.assignment()
                where = "assigned %s, positions %s, want %s" % (
                    sorted(tp.partition for tp in asg),
                    {tp.partition: tp.offset for tp in c.position(asg)}, src_end)
            raise harness.CheckFailed("consume-transform-produce not done in time: %s; %s"
                                      % (state, where))
        try:
            if t is None:
                c, t = make()
                first = assigned[0]
            seen = assigned[0]
            msgs = c.consume(batch, 0.5)
            if assigned[0] != seen and seen != first:
                # A rebalance inside consume(): positions went back to G's committed offsets,
                # so these records may repeat ones already transformed; start over cleanly.
                raise Rebalanced("rebalance during consume")
            msgs = [m for m in msgs if not m.error()]
            if not msgs:
                asg = c.assignment()
                if len(asg) == parts:
                    pos = {tp.partition: tp.offset for tp in c.position(asg)}
                    # A partition finished before a recovery yields nothing to the new
                    # consumer, so it has no position (-1001): its committed offset says
                    # where it stands.
                    unset = [TopicPartition(src, p) for p, o in pos.items() if o < 0]
                    if unset:
                        for tp in c.committed(unset, timeout=OP_TIMEOUT):
                            pos[tp.partition] = tp.offset
                    if pos == src_end:
                        break
                idle_polls += 1
                ck.ok(idle_polls < 200, "consume-transform-produce: 200 empty polls")
                continue
            t.p.begin_transaction()
            nxt = {}
            for m in msgs:
                t.p.produce(dst, key=m.key(), value=b"out-" + m.value(), partition=m.partition())
                nxt[m.partition()] = m.offset() + 1
            state["batches"] += 1
            if state["batches"] in kill_at:
                t.p.flush(OP_TIMEOUT)
                peer.restart(kill=True)
            t.p.send_offsets_to_transaction([TopicPartition(src, p, o) for p, o in nxt.items()],
                                            c.consumer_group_metadata(), OP_TIMEOUT)
            t.p.commit_transaction(OP_TIMEOUT)
            state["commits"] += 1
        except (KafkaException, Rebalanced) as e:
            # Whatever failed (the broker died under us), start over from G's committed
            # offsets with a new producer: its init_transactions aborts what is left open.
            state["recoveries"] += 1
            ck.ok(state["recoveries"] <= 10, "consume-transform-produce: over 10 recoveries")
            print("     recovery %d after batch %d: %s" % (
                state["recoveries"], state["batches"], e.args[0] if e.args else e))
            if t is not None:
                t.p.purge()
            if c is not None:
                try:
                    c.close()
                except KafkaException:
                    pass
            c = t = None
            time.sleep(0.2)
    if caps["txn_offsets"]:
        got = c.committed([TopicPartition(src, p) for p in range(parts)], timeout=OP_TIMEOUT)
        ck.eq({tp.partition: tp.offset for tp in got}, src_end, "G's committed offsets")
    else:  # the mock takes TxnOffsetCommit but stores nothing
        got = c.committed([TopicPartition(src, p) for p in range(parts)], timeout=OP_TIMEOUT)
        ck.eq({tp.partition: tp.offset for tp in got}, {p: -1001 for p in range(parts)},
              "G's committed offsets (mock: none stored)")
    c.close()
    out = read_all(peer, "read_committed", parts, dst, timeout=30)
    for p in range(parts):
        ck.eq([v for _, _, v in out[p]], [b"out-" + v for v in inputs[p]],
              "output partition %d: every input once, in order" % p)
    print("     %d records, %d batches committed, %d broker kills, %d recoveries" % (
        total, state["commits"], len(kill_at), state["recoveries"]))


def sec_timeout(ck, peer, caps):
    topic = harness.unique("txn-e")
    harness.create_topic(peer, topic, 1)
    t = Txn(peer, harness.unique("txid-e"), {"transaction.timeout.ms": TXN_TIMEOUT_MS})
    t.p.begin_transaction()
    t.produce(topic, [(0, None, b"ok-%d" % i) for i in range(2)])
    t.p.commit_transaction(OP_TIMEOUT)
    begun = time.monotonic()  # the stalled transaction starts on the broker after this
    t.p.begin_transaction()
    t.produce(topic, [(0, None, b"stalled-%d" % i) for i in range(3)])
    plain = Producer({"bootstrap.servers": peer.bootstrap, "linger.ms": 0})
    plain.produce(topic, value=b"after", partition=0)
    ck.eq(plain.flush(OP_TIMEOUT), 0, "plain record left after flush")
    rc = reader(peer, "read_committed", 1, topic)
    vals = lambda recs: [v for _, _, v in recs]  # noqa: E731
    first = vals(drain(rc, 1, settle=0.5)[0])
    ck.ok(time.monotonic() - begun < TXN_TIMEOUT_MS / 1000.0,
          "the first read ended within the transaction timeout (else the test proves nothing)")
    if not caps["timeout"]:
        ck.eq(first, [b"ok-0", b"ok-1", b"stalled-0", b"stalled-1", b"stalled-2", b"after"],
              "read_committed (mock: no LSO, the stalled records show)")
        time.sleep(TXN_TIMEOUT_MS / 1000.0 + 1.0)
        t.p.commit_transaction(OP_TIMEOUT)  # the mock has no timeout: this still commits
        print("     mock: the stalled transaction committed after its timeout (no coordinator "
              "timeout)")
        rc.close()
        return
    ck.eq(first, [b"ok-0", b"ok-1"], "read_committed while the transaction is stalled")
    later = []
    while time.monotonic() - begun < TXN_TIMEOUT_MS / 1000.0 + 20 and not later:
        later = vals(drain(rc, 1, settle=0.5, again=True)[0])
    took = time.monotonic() - begun
    ck.eq(later, [b"after"], "read_committed after the coordinator aborted the stalled transaction")
    ck.ok(took >= TXN_TIMEOUT_MS / 1000.0,
          "the stalled transaction was aborted after %.1f s, before its timeout" % took)
    print("     read_committed moved past the stalled transaction %.1f s after it began" % took)
    try:
        t.p.commit_transaction(OP_TIMEOUT)
        raise harness.CheckFailed("the timed-out transaction committed")
    except KafkaException as e:
        print("     the stalled producer's commit: %s (fatal=%s)" % (e.args[0], e.args[0].fatal()))
    rc.close()
    ru = vals(read_all(peer, "read_uncommitted", 1, topic)[0])
    ck.eq(ru, [b"ok-0", b"ok-1", b"stalled-0", b"stalled-1", b"stalled-2", b"after"],
          "read_uncommitted sees the aborted records too")


def init_code(bootstrap, timeout_ms):
    """init_transactions of a new transactional producer asking for timeout_ms: None if it
    worked, else the error code."""
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": harness.unique("txid-f"),
                  "transaction.timeout.ms": timeout_ms})
    try:
        p.init_transactions(OP_TIMEOUT)
        return None
    except KafkaException as e:
        return e.args[0].code()


def sec_max_timeout(ck, peer, caps):
    """Kafka's transaction.max.timeout.ms (default 900000): InitProducerId asking more gets
    INVALID_TRANSACTION_TIMEOUT (50); Sluice's key transaction_max_timeout_ms moves it."""
    if not caps["max_timeout"]:
        # The 2.0.2 mock checks no maximum: the same request is served.
        ck.eq(init_code(peer.bootstrap, 900001), None, "mock: 900001 ms accepted (no maximum)")
        return
    ck.eq(init_code(peer.bootstrap, 900000), None, "900000 ms, the default maximum, accepted")
    ck.eq(init_code(peer.bootstrap, 900001), KafkaError.INVALID_TRANSACTION_TIMEOUT, "900001 ms refused")
    if harness.external():
        print("     an external broker: transaction_max_timeout_ms=20000 not tried")
        return
    b = harness.start_broker(["--transaction_max_timeout_ms", "20000"])
    try:
        ck.eq(init_code(b.bootstrap, 20000), None, "20000 ms accepted under transaction_max_timeout_ms=20000")
        ck.eq(init_code(b.bootstrap, 20001), KafkaError.INVALID_TRANSACTION_TIMEOUT,
              "20001 ms refused under transaction_max_timeout_ms=20000")
    finally:
        b.stop()


def sec_delete(ck, peer, caps):
    """Deleting a topic that held transactions: gone from Metadata; on Sluice its directories
    are gone (the partition's "transactions" flag file once kept them) and a restart does not
    adopt it back."""
    from confluent_kafka.admin import AdminClient
    topic = harness.unique("txdel")
    harness.create_topic(peer, topic, 2)
    t = Txn(peer, harness.unique("txdel-id"))
    t.p.begin_transaction()
    t.produce(topic, [(0, b"k", b"v0"), (1, b"k", b"v1")])
    t.p.commit_transaction(OP_TIMEOUT)
    t.delivered(ck, "records of the committed transaction")
    if not caps["markers"]:
        print("     the 2.0.2 mock serves no DeleteTopics: the deletion is Sluice's only")
        return
    a = AdminClient({"bootstrap.servers": peer.bootstrap})
    a.delete_topics([topic], operation_timeout=10)[topic].result(timeout=20)
    ck.ok(topic not in a.list_topics(timeout=10).topics, "deleted topic gone from Metadata")
    if harness.external():
        return
    dirs = [d for d in os.listdir(peer.data_dir) if d.startswith(topic + "-")]
    ck.eq(dirs, [], "no directory of the deleted topic is left")
    peer.restart()
    a = AdminClient({"bootstrap.servers": peer.bootstrap})
    ck.ok(topic not in a.list_topics(timeout=10).topics, "not back after a restart")


SECTIONS = [("a interleaved commit/abort", sec_interleaved),
            ("b open transaction and the LSO", sec_open),
            ("c fenced zombie", sec_fenced),
            ("d consume-transform-produce", sec_ctp),
            ("e transaction timeout", sec_timeout),
            ("f transaction timeout above the broker's maximum", sec_max_timeout),
            ("g deleting a topic that held transactions", sec_delete)]


def body(ck):
    peers = [("mock", harness.start_mock, MOCK)]
    if PEER_ONLY:
        print("SLUICE_TXN_PEER_ONLY: the mock cluster only, Sluice not run")
    else:
        peers.append(("sluice", harness.start_broker, KAFKA))
    for name, start, caps in peers:
        peer = start()
        print("==== peer %s at %s" % (name, peer.bootstrap), flush=True)
        for title, fn in SECTIONS:
            with ck.section("%s: %s" % (name, title)):
                fn(ck, peer, caps)
        if name == "mock":
            peer.stop()


if __name__ == "__main__":
    harness.run("kafka_txn_test", body, modules=("confluent_kafka",), time_limit=110)
