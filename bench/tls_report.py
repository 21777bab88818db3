"""tls_report.py: the table of bench/run_tls.sh from its results file.

Usage: tls_report.py RESULTS ROUNDS ELAPSED_S. Each line of RESULTS is one run,
"round=R row=ROW target=NAME srv_cpu_pct=C key=value ...". Targets come in pairs, NAME-plain and
NAME-tls (sluice, before, nats). For every row and pair it prints the range over the rounds of
plaintext and TLS, and the TLS cost per round (1 - TLS / plaintext of the same round, so drift
between rounds on the shared machine does not count), then the issue's target per row.
"""
import statistics
import sys

ROWS = [  # row, metric, unit, higher is better
    ("kafka-produce", "mb_s", "MB/s", True),
    ("kafka-produce-users", "mb_s", "MB/s", True),
    ("kafka-fetch", "mb_s", "MB/s", True),
    ("kafka-latency", "e2e_p99_us", "µs p99", False),
    ("nats-pubsub-128", "msgs_per_s", "msgs/s", True),
    ("nats-pubsub-16k", "mb_per_s", "MB/s", True),
    ("nats-latency-128", "p99_us", "µs p99", False),
]
LABELS = {
    "kafka-produce": "Kafka produce 1 KiB (librdkafka)",
    "kafka-produce-users": "Kafka produce 1 KiB, users' settings (snappy, 512 KiB, idempotent)",
    "kafka-fetch": "Kafka fetch of the backlog",
    "kafka-latency": "Kafka produce->consume 1 KiB at 2 k/s",
    "nats-pubsub-128": "NATS pub/sub 128 B (nats.go)",
    "nats-pubsub-16k": "NATS pub/sub 16 KiB",
    "nats-latency-128": "NATS pub->sub 128 B at 5 k/s",
}


def fmt(v):
    if v >= 10000:
        return "{:,.0f}".format(v)
    if v >= 100:
        return "{:.0f}".format(v)
    return "{:.1f}".format(v)


def rng(vals):
    if not vals:
        return "n/a"
    lo, hi = min(vals), max(vals)
    return fmt(lo) if fmt(lo) == fmt(hi) else "%s-%s" % (fmt(lo), fmt(hi))


def main():
    path, rounds, elapsed = sys.argv[1], sys.argv[2], sys.argv[3]
    runs = {}  # (row, target) -> {round: kv}
    for line in open(path):
        kv = dict(x.split("=", 1) for x in line.split())
        if "run_failed" in kv:
            continue
        runs.setdefault((kv["row"], kv["target"]), {})[kv["round"]] = kv
    pairs = []
    for _, t in runs:
        base = t.rsplit("-", 1)[0]
        if base not in pairs:
            pairs.append(base)
    order = {"sluice": 0, "before": 1, "nats": 2}
    pairs.sort(key=lambda p: order.get(p, 9))
    print("| row | server | plaintext | TLS | TLS cost per round | median cost | server CPU % plain / TLS |")
    print("|---|---|---:|---:|---:|---:|---:|")
    misses = []
    for row, key, unit, higher in ROWS:
        for p in pairs:
            plain, tls = runs.get((row, p + "-plain"), {}), runs.get((row, p + "-tls"), {})
            if not plain and not tls:
                continue
            pv = [float(r[key]) for r in plain.values() if key in r]
            tv = [float(r[key]) for r in tls.values() if key in r]
            costs = []
            for rd in plain:
                if rd in tls and key in plain[rd] and key in tls[rd]:
                    a, b = float(plain[rd][key]), float(tls[rd][key])
                    if a > 0:
                        costs.append((1 - b / a) * 100 if higher else (b / a - 1) * 100)
            cpu_p = [float(r["srv_cpu_pct"]) for r in plain.values()]
            cpu_t = [float(r["srv_cpu_pct"]) for r in tls.values()]
            cost_rng = "n/a" if not costs else "%+.0f..%+.0f %%" % (min(costs), max(costs))
            med = statistics.median(costs) if costs else None
            print("| %s | %s | %s %s | %s %s | %s | %s | %s / %s |" % (
                LABELS[row], p, rng(pv), unit, rng(tv), unit, cost_rng,
                "n/a" if med is None else "%+.0f %%" % med,
                rng(cpu_p), rng(cpu_t)))
            if higher and p == "sluice" and med is not None and med > 30:
                misses.append("%s (%.0f %%)" % (LABELS[row], med))
    print()
    print("(%s rounds, plaintext and TLS alternating, order flipped every round; cost = 1 - TLS/plaintext "
          "of the same round, for latency TLS/plaintext - 1; server CPU = utime+stime over the run, %% of "
          "one core; whole benchmark %s s)" % (rounds, elapsed))
    print()
    if misses:
        print("target: TLS costs <= 30 %% of plaintext throughput: MISS: %s" % ", ".join(misses))
    else:
        print("target: TLS costs <= 30 % of plaintext throughput: PASS on every Sluice throughput row")


if __name__ == "__main__":
    main()
