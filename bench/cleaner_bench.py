#!/usr/bin/python3
"""cleaner_bench.py: the log cleaner's throughput, and what it costs a producer meanwhile.

One release sluice-server (--fsync none) on loopback. A compacted topic `cmp` (8 MiB segments,
segment.ms 2 s) gets CLEAN_MB of 1 KiB updates over 10,000 keys from confluent-kafka, then one
more record after segment.ms so every update sits in a sealed segment and the cleaner takes
them on. While it runs, bench/kafka_load.c (librdkafka, acks=1, 1 KiB, no compression) produces
to another topic for LOAD_SECONDS; the same load also runs with no cleaning, interleaved
(baseline, cleaning, cleaning, baseline). Reported: the producer's msgs/s both ways and the
loss, and the cleaner's MB/s of dirty log read (sluice_cleaner_read_bytes_total over
sluice_cleaner_pass_seconds_total from /metrics), with the bytes it reclaimed.

Environment: SLUICE_BUILD_DIR (build/release), CLEAN_MB (150), LOAD_SECONDS (3).
Exit 0 when every run completed.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("SLUICE_BUILD_DIR", os.path.join(ROOT, "build/release"))
CLEAN_MB = int(os.environ.get("CLEAN_MB", "150"))
LOAD_SECONDS = float(os.environ.get("LOAD_SECONDS", "3"))
KEYS = 10000


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def wait_port(port, proc, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def metrics(http_port):
    body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % http_port, timeout=10).read().decode()
    out = {}
    for line in body.splitlines():
        m = re.match(r"^(sluice_cleaner_\w+) ([0-9.e+]+)$", line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def fill(bootstrap, topic, mb, round_no):
    p = Producer({"bootstrap.servers": bootstrap, "acks": "1", "linger.ms": 20, "batch.size": 1 << 20,
                  "queue.buffering.max.messages": 2000000})
    value = os.urandom(512).hex().encode()  # 1 KiB
    n = mb * 1024
    for i in range(n):
        while True:
            try:
                p.produce(topic, key=b"key-%05d" % (i % KEYS), value=value[:1000] + b"%08d%d" % (i, round_no))
                break
            except BufferError:
                p.poll(0.01)
    if p.flush(120):
        raise SystemExit("cleaner_bench: fill did not finish")


def roll(bootstrap, topic):
    time.sleep(2.2)
    p = Producer({"bootstrap.servers": bootstrap})
    p.produce(topic, key=b"roll", value=b"r")
    p.flush(30)


def load(load_bin, bootstrap, topic):
    out = subprocess.run([load_bin, "produce", "--brokers", bootstrap, "--topic", topic,
                          "--size", "1024", "--acks", "1", "--seconds", str(int(LOAD_SECONDS))],
                         capture_output=True, text=True, timeout=LOAD_SECONDS + 120)
    m = re.search(r"RESULT .*?\bmsgs_s=([0-9.]+)", out.stdout)
    if not m:
        raise SystemExit("cleaner_bench: kafka_load failed: %s %s" % (out.stdout[-300:], out.stderr[-300:]))
    return float(m.group(1))


def main():
    server = os.path.join(BUILD, "sluice-server")
    load_bin = os.path.join(BUILD, "bench", "sl_kafka_load")
    for b in (server, load_bin):
        if not os.access(b, os.X_OK):
            raise SystemExit("cleaner_bench: %s missing (scripts/build.sh release)" % b)
    data = os.path.join(ROOT, "build", "cleaner-bench")
    shutil.rmtree(data, ignore_errors=True)
    os.makedirs(data)
    kport, nport, hport = free_ports(3)
    log = open(os.path.join(data, "broker.log"), "wb")
    proc = subprocess.Popen([server, "--data_dir", os.path.join(data, "d"), "--kafka_port", str(kport),
                             "--port", str(nport), "--http_port", str(hport), "--host", "127.0.0.1"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        if not wait_port(kport, proc):
            raise SystemExit("cleaner_bench: broker did not start")
        bootstrap = "127.0.0.1:%d" % kport
        admin = AdminClient({"bootstrap.servers": bootstrap})
        cfg = {"cleanup.policy": "compact", "segment.bytes": str(8 << 20), "segment.ms": "2000"}
        fs = admin.create_topics([NewTopic("cmp", 1, 1, config=cfg), NewTopic("load", 1, 1)])
        for f in fs.values():
            f.result(timeout=30)
        base, loaded, speeds = [], [], []
        reclaimed = 0.0
        for round_no, kind in enumerate(("base", "clean", "clean", "base")):
            if kind == "base":
                base.append(load(load_bin, bootstrap, "load"))
                continue
            fill(bootstrap, "cmp", CLEAN_MB, round_no)
            before = metrics(hport)
            roll(bootstrap, "cmp")
            loaded.append(load(load_bin, bootstrap, "load"))
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                after = metrics(hport)
                if after.get("sluice_cleaner_read_bytes_total", 0) - before.get("sluice_cleaner_read_bytes_total", 0) \
                        >= CLEAN_MB * 0.9 * (1 << 20):
                    break
                time.sleep(0.2)
            read = after["sluice_cleaner_read_bytes_total"] - before.get("sluice_cleaner_read_bytes_total", 0)
            secs = after["sluice_cleaner_pass_seconds_total"] - before.get("sluice_cleaner_pass_seconds_total", 0)
            reclaimed += after["sluice_cleaner_reclaimed_bytes_total"] - before.get(
                "sluice_cleaner_reclaimed_bytes_total", 0)
            speeds.append(read / secs / 1e6 if secs > 0 else 0.0)
        b = sum(base) / len(base)
        c = sum(loaded) / len(loaded)
        print("| cleaner, %d MB of 1 KiB updates over %d keys per round | value |" % (CLEAN_MB, KEYS))
        print("|---|---:|")
        print("| cleaner throughput, MB/s of dirty log read (rounds) | %s |" % " / ".join("%.0f" % s for s in speeds))
        print("| bytes reclaimed in all | %.0f MB |" % (reclaimed / 1e6))
        print("| librdkafka produce 1 KiB acks=1, no cleaning, msgs/s | %.0f |" % b)
        print("| the same while the cleaner runs, msgs/s | %.0f |" % c)
        print("| throughput loss | %.1f%% |" % ((1 - c / b) * 100 if b else 0))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
