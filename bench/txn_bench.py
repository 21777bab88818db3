#!/usr/bin/python3
"""txn_bench.py: transactional produce throughput against idempotent produce (confluent-kafka).

    /usr/bin/python3 bench/txn_bench.py --peer mock              # librdkafka's mock cluster
    /usr/bin/python3 bench/txn_bench.py --peer sluice            # a fresh build/release broker
    /usr/bin/python3 bench/txn_bench.py --bootstrap HOST:PORT    # any running Kafka peer
    options: --messages N (200000) --size BYTES (1024) --txn-sizes 100,10000 --repeat R (3)

Each row produces --messages records of --size bytes to partition 0 of a fresh one-partition
topic with acks=all, linger.ms=5, batch.size 1 MiB: the `idempotent` row with
enable.idempotence, each `txn-N` row with a transactional.id, committing every N records
(begin, N produce() calls, commit_transaction, which flushes). The clock runs from the first
produce to the last delivery report (idempotent) or the last commit (transactional); every
record must be reported delivered without error. A row is run --repeat times, interleaved, and
the median run by msgs/s is shown. "vs idem" is the row's msgs/s over the idempotent row's.

The Python client itself is part of what is measured (one produce() call per record); the
peer's cost shows in the ratio between the rows, which all pay the same client overhead.
"""
import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration"))
import harness  # noqa: E402

from confluent_kafka import Producer  # noqa: E402

COMMON = {"acks": "all", "linger.ms": 5, "batch.size": 1 << 20, "queue.buffering.max.messages": 1000000,
          "queue.buffering.max.kbytes": 1 << 20}


def run_row(bootstrap, topic, kind, txn_size, n, payload):
    failed = []
    delivered = [0]

    def report(err, msg):
        if err is not None:
            failed.append(err)
        else:
            delivered[0] += 1

    conf = dict(COMMON, **{"bootstrap.servers": bootstrap})
    if kind == "idempotent":
        conf["enable.idempotence"] = True
    else:
        conf["transactional.id"] = harness.unique("bench-txid")
    p = Producer(conf)
    if kind != "idempotent":
        p.init_transactions(30)
    # Warm-up: one record (not counted) so connections, metadata and, for the transactional
    # rows, the coordinator are in place before the clock starts.
    if kind != "idempotent":
        p.begin_transaction()
    p.produce(topic, value=b"warm-up", partition=0)
    if kind != "idempotent":
        p.commit_transaction(30)
    p.flush(30)
    t0 = time.monotonic()
    i = 0
    while i < n:
        if kind != "idempotent":
            p.begin_transaction()
        end = n if kind == "idempotent" else min(n, i + txn_size)
        while i < end:
            try:
                p.produce(topic, value=payload, partition=0, on_delivery=report)
                i += 1
            except BufferError:
                p.poll(0.01)
        if kind != "idempotent":
            p.commit_transaction(60)
    left = p.flush(60)
    elapsed = time.monotonic() - t0
    if left or failed or delivered[0] != n:
        raise SystemExit("txn_bench: %s: %d left, %d delivered of %d, errors %s" % (
            kind, left, delivered[0], n, failed[:3]))
    return elapsed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--peer", choices=("mock", "sluice"), default=None)
    ap.add_argument("--bootstrap", default=None)
    ap.add_argument("--messages", type=int, default=200000)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--txn-sizes", default="100,10000")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    if (a.peer is None) == (a.bootstrap is None):
        ap.error("give exactly one of --peer and --bootstrap")
    peer = None
    if a.peer == "mock":
        peer = harness.start_mock()
    elif a.peer == "sluice":
        peer = harness.Broker().start()
    bootstrap = a.bootstrap or peer.bootstrap
    payload = os.urandom(a.size)
    rows = [("idempotent", 0)] + [("txn-%d" % int(s), int(s)) for s in a.txn_sizes.split(",")]
    times = {name: [] for name, _ in rows}
    try:
        for r in range(a.repeat):
            for name, size in rows:
                topic = harness.unique("txn-bench")
                harness.create_topic(peer or harness.ExternalBroker(bootstrap), topic, 1)
                kind = "idempotent" if size == 0 else "txn"
                times[name].append(run_row(bootstrap, topic, kind, size, a.messages, payload))
                print("run %d %-10s %.2f s" % (r + 1, name, times[name][-1]), file=sys.stderr,
                      flush=True)
    finally:
        if peer is not None:
            peer.stop()
            peer.cleanup()
    print("peer: %s (%s), %d messages of %d bytes, median of %d" % (
        a.peer or "external", bootstrap, a.messages, a.size, a.repeat))
    print("%-10s %12s %10s %8s" % ("row", "msgs/s", "MB/s", "vs idem"))
    base = None
    for name, _ in rows:
        t = statistics.median(times[name])
        rate = a.messages / t
        base = base or rate
        print("%-10s %12.0f %10.1f %8.2f" % (name, rate, rate * a.size / 1e6, rate / base))


if __name__ == "__main__":
    main()
