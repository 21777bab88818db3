#!/usr/bin/python3
"""run_check.py: CTest's check of the bench suite (label bench). Runs `bench/run.sh --quick
--no-build --out TMP` against the binaries of $SLUICE_BUILD_DIR and checks the report's
STRUCTURE only, never a speed: the sections, each table's header and rows (the swept values of
the quick grid, one cell per column), at least one figure from Sluice in every table (the suite
really ran), and every plot a valid PNG (signature, chunk CRCs, IHDR size, IEND). Exit 77
(skipped) when a peer the report needs (nats-server, gnuplot, librdkafka's tools) is missing.
"""
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECTIONS = ["# Sluice bench report", "## Setup", "## 1. Our users' table",
            "## 2. Throughput vs message size, partitions and connections", "## 3. Latency vs offered load",
            "## 4. Durability, work queues, rebalance and memory", "### Durable vs non-durable",
            "### Work queue: publish + consume", "### Consumer-group rebalance time",
            "### Broker memory (RSS)", "## Notes"]
PLOTS = ["throughput_vs_size_nats", "throughput_vs_size_kafka", "throughput_vs_partitions",
         "throughput_vs_connections", "throughput_vs_producers_kafka", "latency_vs_load_nats", "latency_vs_load_kafka"]
FIGURE = re.compile(r"^[0-9][0-9,.]*(M|%| µs| ms|×)?$")
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def check_png(path):
    data = open(path, "rb").read()
    if len(data) < 8 or data[:8] != b"\x89PNG\r\n\x1a\n":
        return "no PNG signature"
    pos, chunks = 8, []
    while pos + 12 <= len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if pos + 12 + n > len(data):
            return "chunk %r runs past the end of the file (truncated)" % kind
        body = data[pos + 8:pos + 8 + n]
        crc = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0]
        if zlib.crc32(kind + body) & 0xffffffff != crc:
            return "bad CRC in chunk %r" % kind
        chunks.append((kind, body))
        pos += 12 + n
    if not chunks or chunks[0][0] != b"IHDR" or chunks[-1][0] != b"IEND" or pos != len(data):
        return "chunks do not run IHDR ... IEND to the end of the file"
    w, h = struct.unpack(">II", chunks[0][1][:8])
    if not (w > 0 and h > 0):
        return "empty image"
    if not any(k == b"IDAT" for k, _ in chunks):
        return "no image data"
    return None


def tables(md, heading):
    """The first Markdown table after `heading`: (header cells, [row cells])."""
    lines = md.split("\n")
    i = lines.index(heading)
    while i < len(lines) and not lines[i].startswith("|"):
        i += 1
    rows = []
    while i < len(lines) and lines[i].startswith("|"):
        rows.append([c.strip() for c in lines[i].strip().strip("|").split("|")])
        i += 1
    return rows[0], rows[2:]


def check_table(md, heading, first_col, want_rows, sluice_cols):
    if heading not in md.split("\n"):
        fail("missing %r" % heading)
        return
    hdr, rows = tables(md, heading)
    for r in rows:
        if len(r) != len(hdr):
            fail("%s: row %r has %d cells, header %d" % (heading, r[0], len(r), len(hdr)))
    if [r[0] for r in rows] != want_rows:
        fail("%s: rows %r, want %r" % (heading, [r[0] for r in rows], want_rows))
    if hdr[0] != first_col:
        fail("%s: first column %r, want %r" % (heading, hdr[0], first_col))
    cols = [i for i, h in enumerate(hdr) if any(h.startswith(s) for s in sluice_cols)]
    if not cols:
        fail("%s: no Sluice column in %r" % (heading, hdr))
    elif not any(FIGURE.match(r[i]) for r in rows for i in cols):
        fail("%s: no figure at all from Sluice (every run failed?)" % heading)


def size_label(x):
    x = int(x)
    if x >= 1 << 20 and x % (1 << 20) == 0:
        return "%d MiB" % (x >> 20)
    if x >= 1024 and x % 1024 == 0:
        return "%d KiB" % (x >> 10)
    return "%d B" % x


def main():
    build = os.environ.get("SLUICE_BUILD_DIR", os.path.join(ROOT, "build/release"))
    for tool, why in ((shutil.which("nats-server") or "/usr/sbin/nats-server", "nats-server"),
                      (shutil.which("gnuplot") or "/usr/bin/gnuplot", "gnuplot-nox"),
                      (os.path.join(build, "bench/sl_kafka_mock"), "librdkafka-dev")):
        if not os.access(tool, os.X_OK):
            print("SKIP: %s missing (%s; scripts/setup.sh installs it)" % (tool, why))
            sys.exit(77)
    out = tempfile.mkdtemp(prefix="sluice-bench-")
    try:
        t0 = time.monotonic()
        env = dict(os.environ, SLUICE_BUILD_DIR=build)
        r = subprocess.run(["bash", os.path.join(ROOT, "bench/run.sh"), "--quick", "--no-build", "--out", out],
                           cwd=ROOT, env=env, timeout=280)
        print("bench/run.sh --quick took %.0f s (not checked)" % (time.monotonic() - t0))
        if r.returncode != 0:
            fail("bench/run.sh exited %d" % r.returncode)
            raise SystemExit(1)
        md = open(os.path.join(out, "report.md")).read()
        setup = dict(l.rstrip("\n").split("=", 1) for l in open(os.path.join(out, "raw/setup.txt")) if "=" in l)
        lines = md.split("\n")
        at = -1
        for s in SECTIONS:
            if s not in lines:
                fail("missing section %r" % s)
            elif lines.index(s) < at:
                fail("section %r out of order" % s)
            else:
                at = lines.index(s)
        if "**This is a --quick run**" not in md:
            fail("a --quick report does not say so")

        # 1. the users' table: three rows, the Kafka and NATS path of each server, ratios.
        hdr, rows = tables(md, "## 1. Our users' table")
        want_hdr = ["", "Sluice, Kafka path", "librdkafka mock, Kafka path", "Sluice, NATS path",
                    "nats-server, NATS path", "Sluice ÷ mock", "Sluice ÷ nats-server"]
        if hdr != want_hdr:
            fail("users' table header %r, want %r" % (hdr, want_hdr))
        check_table(md, "## 1. Our users' table", "", ["p99 latency", "throughput, msgs/s", "broker CPU %"],
                    ["Sluice, "])

        sizes = [size_label(x) for x in setup["sizes"].split()]
        check_table(md, "### NATS path: throughput vs message size", "message size", sizes, ["Sluice msgs/s"])
        check_table(md, "### Kafka path: throughput vs message size", "message size", sizes, ["Sluice msgs/s"])
        check_table(md, "### Kafka path: throughput vs partitions", "partitions", setup["partitions"].split(),
                    ["Sluice msgs/s"])
        check_table(md, "### NATS path: throughput vs connections", "subscriber connections",
                    setup["connections"].split(), ["Sluice msgs/s"])
        check_table(md, "### Kafka path: throughput vs producer connections", "producer connections",
                    setup["kafka_producers"].split(), ["Sluice msgs/s"])
        fmt_rate = lambda x: "{:.2f}M".format(x / 1e6) if x >= 1e6 else "{:,.0f}".format(x)
        check_table(md, "### NATS path: latency vs offered load", "offered msgs/s",
                    [fmt_rate(float(x)) for x in setup["nats_rates"].split()], ["Sluice p"])
        check_table(md, "### Kafka path: latency vs offered load", "offered msgs/s",
                    [fmt_rate(float(x)) for x in setup["kafka_rates"].split()], ["Sluice p"])
        check_table(md, "### Durable vs non-durable", "row",
                    ["Kafka produce 1 KiB, acks=all, linger.ms=5 (librdkafka)",
                     "JetStream async publish 128 B, 256 pending PubAcks (nats.go)"], ["fsync"])
        check_table(md, "### Work queue: publish + consume", "server",
                    ["Sluice (fsync group)", "Sluice (fsync none)", "nats-server 2.9.10", "Redis 7 streams"],
                    ["msgs/s"])
        rb = md.split("### Consumer-group rebalance time", 1)[-1].split("### Broker memory", 1)[0]
        if "4th member joins" not in rb:
            fail("the rebalance section has no rebalance_bench.py table")
        hdr, rows = tables(md, "### Broker memory (RSS)")
        if [r[0] for r in rows][:2] != ["Sluice", "Sluice (fsync group)"]:
            fail("memory table rows %r" % [r[0] for r in rows])

        for name in PLOTS:
            path = os.path.join(out, name + ".png")
            if not os.path.exists(path):
                fail("plot %s.png missing" % name)
                continue
            why = check_png(path)
            if why:
                fail("%s.png: %s" % (name, why))
            if "](%s.png)" % name not in md:
                fail("report.md does not show %s.png" % name)
    finally:
        if failures:
            print("report kept in " + out)
        else:
            shutil.rmtree(out, ignore_errors=True)
    print("%d passed, %d failed" % (1 if not failures else 0, 1 if failures else 0))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
