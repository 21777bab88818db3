#!/usr/bin/python3
"""report.py: turns bench/run.sh's raw results (DIR/raw/) into DIR/report.md and PNG plots
(gnuplot), and answers run.sh's "has this server saturated?" question while it steps the load.

    python3 bench/report.py DIR
    python3 bench/report.py --saturated RESULTS SCEN SERVER X REP   (exit 0: saturated)

raw/results.txt has one line of key=value pairs per run: scen, server, x (the swept value), rep,
the server's CPU and memory measured by run.sh (srv_cpu_pct, srv_rss_kb, srv_hwm_kb), then the
load generator's own result line. A failed run has cell_failed=1 and a why; a skipped one skipped=1.
Every table shows the median over the runs of a cell.
"""
import os
import statistics
import subprocess
import sys

NAMES = {"sluice": "Sluice", "sluice-group": "Sluice (fsync group)", "nats-server": "nats-server 2.9.10",
         "kafka-mock": "librdkafka mock", "redis": "Redis 7 streams"}
PEER = {"nats": "nats-server", "kafka": "kafka-mock"}


def load(path):
    rows = []
    if not os.path.exists(path):
        return rows
    for line in open(path):
        kv = {}
        for tok in line.split():
            if "=" in tok:
                k, v = tok.split("=", 1)
                kv[k] = v
        if "scen" in kv:
            rows.append(kv)
    return rows


def num(r, *keys):
    for k in keys:
        if k in r:
            try:
                v = float(r[k])
            except ValueError:
                continue
            if v >= 0:
                return v
    return None


def tput(r):
    return num(r, "msgs_s", "rate")


def cpu(r):
    # nats_load measures the server over its measured interval only; for the others run.sh's
    # figure covers the whole command (connect and warm-up included).
    if r["scen"] == "users-nats-tput" or r["scen"] in (
            "size-nats", "conns-nats", "load-nats"):
        v = num(r, "cpu_pct")
        if v is not None:
            return v
    return num(r, "srv_cpu_pct")


def p(r, q):
    keys = {"p50": ("p50_us", "e2e_p50_us"), "p99": ("p99_us", "e2e_p99_us"),
            "p999": ("p999_us", "e2e_p999_us")}[q]
    return num(r, *keys)


def achieved(r):
    return num(r, "rate_actual", "msgs_s")


def ok(r):
    return "cell_failed" not in r and "skipped" not in r


class Results:
    def __init__(self, rows):
        self.rows = rows

    def runs(self, scen, srv, x=None):
        return [r for r in self.rows if r["scen"] == scen and r["server"] == srv and (x is None or r["x"] == str(x))]

    def med(self, scen, srv, x, f):
        vals = [f(r) for r in self.runs(scen, srv, x) if ok(r)]
        vals = [v for v in vals if v is not None]
        return statistics.median(vals) if vals else None

    def state(self, scen, srv, x):
        rs = self.runs(scen, srv, x)
        if not rs:
            return "not run"
        if all("skipped" in r for r in rs):
            return "saturated"
        if not any(ok(r) for r in rs):
            return "failed"
        return None

    def xs(self, scen):
        seen = []
        for r in self.rows:
            if r["scen"] == scen and r["x"] not in seen:
                seen.append(r["x"])
        return sorted(seen, key=float)

    def servers(self, scen):
        seen = []
        for r in self.rows:
            if r["scen"] == scen and r["server"] not in seen:
                seen.append(r["server"])
        return seen


def fmt(v, unit=""):
    if v is None:
        return "n/a"
    if abs(v) >= 1e6:
        return "{:.2f}M{}".format(v / 1e6, unit)
    if abs(v) >= 1000:
        return "{:,.0f}{}".format(v, unit)
    if abs(v) >= 10:
        return "{:.0f}{}".format(v, unit)
    return "{:.1f}{}".format(v, unit)


def us(v):
    if v is None:
        return "n/a"
    return "%.2f ms" % (v / 1000) if v >= 1000 else "%.0f µs" % v


def ratio(a, b):
    return "n/a" if a is None or b is None or b == 0 else "%.2f×" % (a / b)


def cell(res, scen, srv, x, f, form=fmt):
    st = res.state(scen, srv, x)
    if st:
        return st
    return form(res.med(scen, srv, x, f))


def size_label(x):
    x = int(float(x))
    if x >= 1 << 20 and x % (1 << 20) == 0:
        return "%d MiB" % (x >> 20)
    if x >= 1024 and x % 1024 == 0:
        return "%d KiB" % (x >> 10)
    return "%d B" % x


# ---- plots ---------------------------------------------------------------------------------

def gnuplot(script, out_dir):
    try:
        subprocess.run(["gnuplot"], input=script.encode(), cwd=out_dir, check=True, timeout=60,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return True
    except (OSError, subprocess.SubprocessError) as e:
        sys.stderr.write("report: gnuplot failed: %s\n" % e)
        return False


def plot_lines(out_dir, name, title, xlabel, ylabel, series, logx=True, logy=True, styles=None):
    """series: list of (label, [(x, y)]). Writes name.png; False if gnuplot is missing."""
    dat = os.path.join(out_dir, "raw", name + ".dat")
    with open(dat, "w") as f:
        for label, pts in series:
            f.write("# %s\n" % label)
            for x, y in pts:
                f.write("%g %g\n" % (x, y))
            f.write("\n\n")
    plots = []
    for i, (label, pts) in enumerate(series):
        if pts:
            style = styles[i] if styles else "lw 2 pt 7"
            plots.append("'raw/%s.dat' index %d with linespoints %s title '%s'" % (name, i, style, label))
    if not plots: # every run failed: an empty frame that says so, still a valid PNG
        logx = logy = False
        plots.append("[0:1] 1/0 notitle")
    script = "\n".join([
        "set terminal pngcairo size 900,560 noenhanced font ',10'" if has_cairo() else
        "set terminal png size 900,560 noenhanced",
        "set output '%s.png'" % name,
        "set title '%s'" % title,
        "set xlabel '%s'" % xlabel, "set ylabel '%s'" % ylabel,
        "set grid", "set key outside right top",
        "" if len(plots) > 1 or "1/0" not in plots[0] else "set label 'no data: every run failed' at graph 0.3,0.5",
        "set logscale x" if logx else "", "set logscale y" if logy else "",
        "plot " + ", ".join(plots), ""])
    return gnuplot(script, out_dir)


_cairo = None


def has_cairo():
    global _cairo
    if _cairo is None:
        try:
            r = subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True, timeout=20)
            _cairo = b"pngcairo" in r.stdout + r.stderr
        except (OSError, subprocess.SubprocessError):
            _cairo = False
    return _cairo


def points(res, scen, srv, f):
    pts = []
    for x in res.xs(scen):
        v = res.med(scen, srv, x, f)
        if v is not None and v > 0:
            pts.append((float(x), v))
    return pts


# ---- the report ----------------------------------------------------------------------------

def write_report(out_dir):
    raw = os.path.join(out_dir, "raw")
    res = Results(load(os.path.join(raw, "results.txt")))
    setup = {}
    if os.path.exists(os.path.join(raw, "setup.txt")):
        for line in open(os.path.join(raw, "setup.txt")):
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                setup[k] = v
    notes = [l.strip() for l in open(os.path.join(raw, "notes.txt"))] if os.path.exists(
        os.path.join(raw, "notes.txt")) else []
    quick = setup.get("quick") == "1"
    o = []
    w = o.append
    w("# Sluice bench report")
    w("")
    w("Made by `bench/run.sh%s` (see bench/README.md for what each section measures and how to "
      "read it). Every figure is the median of %s run(s) per cell; the servers ran side by side "
      "and alternated run by run. CPU is %% of one core (utime+stime from /proc). Ratios are "
      "Sluice ÷ peer: above 1 is better for throughput, below 1 is better for latency and CPU."
      % (" --quick" if quick else "", setup.get("reps", "?")))
    if quick:
        w("")
        w("**This is a --quick run** (short cells, reduced grid, one run per cell) on a machine "
          "with %s cores whose load average was %s at the start: it shows that the suite works, "
          "not what the servers can do. Do not quote its figures."
          % (setup.get("host", "? ? cores").split()[1], setup.get("loadavg_start", "?").split()[0]))
    w("")
    w("## Setup")
    w("")
    w("| item | value |")
    w("|---|---|")
    for k, label in (("date", "date"), ("host", "machine"), ("cpu", "CPU"),
                     ("loadavg_start", "load average at start"), ("loadavg_end", "load average at end"),
                     ("sluice_commit", "Sluice commit"), ("nats_server_version", "nats-server"),
                     ("librdkafka", "librdkafka (clients and mock)"), ("redis_version", "Redis"),
                     ("elapsed_s", "whole run, s")):
        w("| %s | %s |" % (label, setup.get(k, "") or "not installed"))
    w("| Sluice | `--fsync none --jetstream` (and a second one with `--fsync group` for durable rows) |")
    w("| cell length | Kafka %s s, NATS %s s, latency %s s |" % (
        setup.get("seconds_kafka"), setup.get("seconds_nats"), setup.get("seconds_latency")))
    w("")

    # 1. users' table
    w("## 1. Our users' table")
    w("")
    w("The comparison our users keep (Kafka: p99 8 ms, 80K msg/s, 45% CPU; NATS: p99 0.3 ms, "
      "500K msg/s, 12% CPU), measured here for the Kafka path and the NATS path of each server.")
    w("")
    w("Setup: **Kafka path**: librdkafka 2.0.2 (`bench/kafka_load.c`), 100 B messages, acks=1, "
      "linger.ms=5, batch.size 512 KiB, 1 partition, no compression; p99 is end-to-end (produce "
      "→ a tailing consumer, fetch.wait.max.ms=1) at 10,000 msgs/s; throughput is produce "
      "until flush. **NATS path**: raw-protocol generator (`bench/nats_load.c`), 128 B, "
      "p99 one-way publish → subscriber at 10,000 msgs/s; throughput is 1 publisher + 1 "
      "subscriber (received msgs/s). Sluice runs with `--fsync none` (the peers keep data in "
      "memory or the page cache). Broker CPU is taken during the latency run, so every server "
      "carries the same 10,000 msgs/s.")
    w("")
    cols = [("kafka", "sluice", "Sluice, Kafka path"), ("kafka", "kafka-mock", "librdkafka mock, Kafka path"),
            ("nats", "sluice", "Sluice, NATS path"), ("nats", "nats-server", "nats-server, NATS path")]
    w("| | " + " | ".join(c[2] for c in cols) + " | Sluice ÷ mock | Sluice ÷ nats-server |")
    w("|---|" + "---:|" * (len(cols) + 2))
    def users(path, srv, what):
        # The latency and CPU rows are the first step (10,000 msgs/s) of section 3's ladder.
        lat, tp = "load-%s" % path, "users-%s-tput" % path
        x_l, x_t = "10000", ("100" if path == "kafka" else "128")
        if what == "p99":
            return res.med(lat, srv, x_l, lambda r: p(r, "p99")), res.state(lat, srv, x_l)
        if what == "tput":
            return res.med(tp, srv, x_t, tput), res.state(tp, srv, x_t)
        return res.med(lat, srv, x_l, cpu), res.state(lat, srv, x_l)
    for what, label, form in (("p99", "p99 latency", us), ("tput", "throughput, msgs/s", fmt),
                              ("cpu", "broker CPU %", lambda v: fmt(v, "%"))):
        vals = [users(c[0], c[1], what) for c in cols]
        txt = [st if st else form(v) for v, st in vals]
        w("| %s | %s | %s | %s |" % (label, " | ".join(txt), ratio(vals[0][0], vals[1][0]),
                                     ratio(vals[2][0], vals[3][0])))
    w("")

    # 2. throughput sweeps
    w("## 2. Throughput vs message size, partitions and connections")
    w("")
    plots = []
    for scen, title, xl, what, setup_txt in (
            ("size-nats", "NATS path: throughput vs message size", "message size",
             "1 publisher + 1 subscriber, msgs/s received", "raw-protocol generator, 8 MiB in flight"),
            ("size-kafka", "Kafka path: throughput vs message size", "message size",
             "produce msgs/s", "librdkafka, acks=1, linger.ms=5, 1 partition"),
            ("parts-kafka", "Kafka path: throughput vs partitions", "partitions",
             "produce msgs/s", "librdkafka, 100 B, acks=1, linger.ms=5, round-robin over the partitions"),
            ("conns-nats", "NATS path: throughput vs connections", "subscriber connections",
             "1 publisher + N subscribers, deliveries/s (all subscribers)", "128 B, every subscriber gets every message"),
            ("conns-kafka", "Kafka path: throughput vs producer connections", "producer connections",
             "produce msgs/s, all producers together (connecting included)",
             "librdkafka, N producer instances in one process, messages dealt round robin, 100 B, "
             "acks=1, linger.ms=5, 10 partitions")):
        srvs = res.servers(scen)
        if not srvs:
            continue
        w("### %s" % title)
        w("")
        w("Setup: %s. Each cell: %s." % (setup_txt, what))
        w("")
        peer = PEER["nats" if "nats" in scen else "kafka"]
        hdr = [xl] + ["%s msgs/s" % NAMES[s] for s in srvs] + (["%s MB/s" % NAMES[s] for s in srvs] if scen.startswith("size") else []) \
            + ["%s CPU %%" % NAMES[s] for s in srvs] + ["Sluice ÷ %s" % NAMES[peer]]
        w("| " + " | ".join(hdr) + " |")
        w("|---|" + "---:|" * (len(hdr) - 1))
        for x in res.xs(scen):
            row = [size_label(x) if scen.startswith("size") else x]
            row += [cell(res, scen, s, x, tput) for s in srvs]
            if scen.startswith("size"):
                row += [cell(res, scen, s, x, lambda r: (tput(r) or 0) * float(r["x"]) / 1e6) for s in srvs]
            row += [cell(res, scen, s, x, cpu, lambda v: fmt(v, "%")) for s in srvs]
            row.append(ratio(res.med(scen, "sluice", x, tput), res.med(scen, peer, x, tput)))
            w("| " + " | ".join(row) + " |")
        w("")
        name = "throughput_vs_" + {"size-nats": "size_nats", "size-kafka": "size_kafka",
                                  "parts-kafka": "partitions", "conns-nats": "connections",
                                  "conns-kafka": "producers_kafka"}[scen]
        if plot_lines(out_dir, name, title, xl + (" (bytes)" if scen.startswith("size") else ""), "msgs/s",
                      [(NAMES[s], points(res, scen, s, tput)) for s in srvs]):
            w("![%s](%s.png)" % (title, name))
            w("")
            plots.append(name)

    # 3. latency vs offered load
    w("## 3. Latency vs offered load")
    w("")
    w("The offered rate steps up until the server saturates (a run below 90% of the offered rate, "
      "lost messages, a failed run or p99 over 1 s); higher rates are then skipped for that "
      "server (\"saturated\"). Latency is from the *scheduled* send time, so a server that falls "
      "behind shows its queueing delay: the knee of the curve is where it saturates.")
    w("")
    for scen, title, setup_txt in (
            ("load-nats", "NATS path: latency vs offered load",
             "128 B, one publisher paced on an absolute schedule, one subscriber, one-way"),
            ("load-kafka", "Kafka path: latency vs offered load",
             "100 B, librdkafka producer (acks=1, linger.ms=5) → consumer tailing with fetch.wait.max.ms=1, end to end")):
        srvs = res.servers(scen)
        if not srvs:
            continue
        w("### %s" % title)
        w("")
        w("Setup: %s." % setup_txt)
        w("")
        hdr = ["offered msgs/s"]
        for s in srvs:
            hdr += ["%s p50" % NAMES[s], "p99", "p99.9", "achieved msgs/s"]
        hdr.append("p99 Sluice ÷ peer")
        w("| " + " | ".join(hdr) + " |")
        w("|---|" + "---:|" * (len(hdr) - 1))
        peer = PEER["nats" if "nats" in scen else "kafka"]
        for x in res.xs(scen):
            row = [fmt(float(x))]
            for s in srvs:
                row += [cell(res, scen, s, x, lambda r: p(r, "p50"), us), cell(res, scen, s, x, lambda r: p(r, "p99"), us),
                        cell(res, scen, s, x, lambda r: p(r, "p999"), us), cell(res, scen, s, x, achieved)]
            row.append(ratio(res.med(scen, "sluice", x, lambda r: p(r, "p99")), res.med(scen, peer, x, lambda r: p(r, "p99"))))
            w("| " + " | ".join(row) + " |")
        w("")
        name = "latency_vs_load_" + ("nats" if "nats" in scen else "kafka")
        series, styles = [], []
        for si, s in enumerate(srvs):
            for qi, (q, ql) in enumerate((("p50", "p50"), ("p99", "p99"), ("p999", "p99.9"))):
                series.append(("%s %s" % (NAMES[s], ql), points(res, scen, s, lambda r, q=q: p(r, q))))
                # One colour per server, one dash pattern per percentile.
                styles.append("lc %d dt %d lw 2 pt %d" % (si + 1, qi + 1, 7 + 2 * qi))
        if plot_lines(out_dir, name, title, "offered load (msgs/s)", "latency (µs)", series, styles=styles):
            w("![%s](%s.png)" % (title, name))
            w("")
            plots.append(name)

    # 4. durability, work queues, rebalance, memory
    w("## 4. Durability, work queues, rebalance and memory")
    w("")
    w("### Durable vs non-durable")
    w("")
    w("The same load on two Sluice brokers: `--fsync none` (acknowledged once written to the page "
      "cache) and `--fsync group` (acknowledged once fdatasync'ed, one sync per tick for every "
      "waiting write).")
    w("")
    w("| row | fsync none msgs/s | CPU % | fsync group msgs/s | CPU % | group ÷ none |")
    w("|---|---:|---:|---:|---:|---:|")
    for scen, label in (("durable-kafka", "Kafka produce 1 KiB, acks=all, linger.ms=5 (librdkafka)"),
                        ("durable-js", "JetStream async publish 128 B, 256 pending PubAcks (nats.go)")):
        if not res.servers(scen):
            w("| %s | not run | | not run | | n/a |" % label)
            continue
        x = res.xs(scen)[0]
        a, b = res.med(scen, "sluice", x, tput), res.med(scen, "sluice-group", x, tput)
        w("| %s | %s | %s | %s | %s | %s |" % (
            label, cell(res, scen, "sluice", x, tput), cell(res, scen, "sluice", x, cpu, lambda v: fmt(v, "%")),
            cell(res, scen, "sluice-group", x, tput), cell(res, scen, "sluice-group", x, cpu, lambda v: fmt(v, "%")),
            ratio(b, a)))
    w("")
    w("### Work queue: publish + consume")
    w("")
    w("One connection publishes 128 B messages while another consumes and acknowledges them. "
      "JetStream (Sluice and nats-server, nats.go via `bench/js_bench.go`): a work-queue stream on "
      "file storage, `PublishAsyncMaxPending(256)`, a pull consumer with AckExplicit, batches of 256. "
      "Redis 7 streams (redis-py via `bench/redis_streams.py`): XADD in pipelines of 256, "
      "XREADGROUP COUNT 256 + XACK, no persistence (`--save \"\" --appendonly no`).")
    w("")
    w("| server | msgs/s | server CPU % | Sluice (fsync group) ÷ this |")
    w("|---|---:|---:|---:|")
    srvs = res.servers("workqueue")
    ref = res.med("workqueue", "sluice-group", "128", tput)
    for s in ("sluice-group", "sluice", "nats-server", "redis"):
        if s in srvs:
            w("| %s | %s | %s | %s |" % (NAMES[s] if s != "sluice" else "Sluice (fsync none)",
                                         cell(res, "workqueue", s, "128", tput),
                                         cell(res, "workqueue", s, "128", cpu, lambda v: fmt(v, "%")),
                                         ratio(ref, res.med("workqueue", s, "128", tput))))
        else:
            w("| %s | not run | | |" % NAMES[s])
    w("")
    w("### Consumer-group rebalance time")
    w("")
    w("`bench/rebalance_bench.py` on its own Sluice broker%s:" % (
        " (--quick: broker-side rows and 50 groups only; the confluent-kafka client rows take "
        "minutes of heartbeats)" if quick else ""))
    w("")
    w("```")
    rb = os.path.join(raw, "rebalance.txt")
    w(open(rb).read().rstrip() if os.path.exists(rb) and os.path.getsize(rb) else "(rebalance_bench.py did not run; see Notes)")
    w("```")
    w("")
    w("### Broker memory (RSS)")
    w("")
    w("| server | RSS at the end, MB | peak RSS during one run (max over runs), MB |")
    w("|---|---:|---:|")
    end = {}
    if os.path.exists(os.path.join(raw, "rss.txt")):
        for r in load_kv(os.path.join(raw, "rss.txt")):
            end[r.get("server")] = float(r.get("rss_kb", 0))
    for s in ("sluice", "sluice-group", "nats-server", "kafka-mock", "redis"):
        if s not in end:
            continue
        peaks = [num(r, "srv_hwm_kb") for r in res.rows if r["server"] == s]
        peaks = [v for v in peaks if v]
        w("| %s | %s | %s |" % (NAMES[s], fmt(end[s] / 1024), fmt(max(peaks) / 1024) if peaks else "n/a"))
    w("")
    w("## Notes")
    w("")
    fails = [r for r in res.rows if "cell_failed" in r]
    for n in notes:
        w("- %s" % n)
    if fails:
        w("- %d run(s) failed (shown as \"failed\"; their stderr is in raw/errors.txt):" % len(fails))
        for r in fails[:20]:
            w("  - %s %s x=%s: %s" % (r["scen"], r["server"], r["x"], r.get("why", "")))
    w("- The librdkafka mock keeps its partitions in memory (no disk, acks=all = acks=1): it is a "
      "client-side ceiling for the Kafka path, not a broker. nats-server's JetStream file store "
      "syncs on a timer, like `--fsync none`.")
    w("- The load generators share the machine's cores with the servers: compare servers within "
      "one report, not across machines or runs.")
    w("- Raw results: raw/results.txt (one line per run); plots' data: raw/*.dat.")
    w("")
    with open(os.path.join(out_dir, "report.md"), "w") as f:
        f.write("\n".join(o))
    return plots


def load_kv(path):
    out = []
    for line in open(path):
        out.append(dict(t.split("=", 1) for t in line.split() if "=" in t))
    return out


def saturated(results, scen, srv, x, rep):
    rows = [r for r in load(results) if r["scen"] == scen and r["server"] == srv and r["x"] == x and r["rep"] == rep]
    if not rows:
        return True
    r = rows[-1]
    if not ok(r):
        return True
    got, p99 = achieved(r), p(r, "p99")
    if got is None or got < 0.9 * float(x) or (p99 is not None and p99 > 1e6):
        return True
    return num(r, "lost") not in (None, 0.0)


def main():
    if len(sys.argv) == 7 and sys.argv[1] == "--saturated":
        sys.exit(0 if saturated(*sys.argv[2:]) else 1)
    if len(sys.argv) != 2:
        sys.exit("usage: report.py DIR | --saturated RESULTS SCEN SERVER X REP")
    write_report(sys.argv[1])


if __name__ == "__main__":
    main()
