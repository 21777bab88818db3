#!/usr/bin/python3
"""scrape_bench.py: what a Prometheus scrape of /metrics costs, and whether scraping every second
disturbs traffic. Run by hand (not by CI):

    bench/scrape_bench.py [--build build/release] [--partitions 1,100,10000] [--reps 20]

For each partition count, a fresh sluice-server gets one topic with that many partitions (each
written once through Kafka, so every partition has a segment), then /metrics is fetched --reps
times over one keep-alive connection: the table shows the median and p90 scrape time, the body
size and the series count. Then NATS 1 pub + 1 sub at 128 B (bench/sl_nats_load) and a Kafka
producer at 100 B acks=1 (bench/sl_kafka_load, librdkafka), 3 s and 4 runs each, with no scraper
and with a scraper fetching /metrics every second, interleaved ABBA: the medians should be within noise.
"""
import argparse
import http.client
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_ports(n):
    ss = [socket.socket() for _ in range(n)]
    for s in ss:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in ss]
    for s in ss:
        s.close()
    return ports


def wait_port(port, secs=20):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("port %d did not open" % port)


def start(build, tmp, extra=()):
    k, n, h = free_ports(3)
    log = open(os.path.join(tmp, "server.log"), "a")
    p = subprocess.Popen([os.path.join(build, "sluice-server"), "--data_dir", os.path.join(tmp, "data"),
                          "--kafka_port", str(k), "--port", str(n), "--http_port", str(h), "--host", "127.0.0.1",
                          "--preallocate_bytes", "4096", *extra], stdout=log, stderr=subprocess.STDOUT)
    wait_port(h)
    return p, k, n, h


def scrape_table(build, counts, reps):
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic
    rows = []
    for count in counts:
        tmp = tempfile.mkdtemp(prefix="sluice-scrape-")
        p, k, _, h = start(build, tmp)
        try:
            admin = AdminClient({"bootstrap.servers": "127.0.0.1:%d" % k})
            f = admin.create_topics([NewTopic("t", num_partitions=count, replication_factor=1)], request_timeout=120)
            f["t"].result(120)
            prod = Producer({"bootstrap.servers": "127.0.0.1:%d" % k, "linger.ms": 50, "queue.buffering.max.messages": 1000000})
            for i in range(count):
                prod.produce("t", b"x", partition=i)
            prod.flush(120)
            conn = http.client.HTTPConnection("127.0.0.1", h, timeout=30)
            times, size, series = [], 0, 0
            for _ in range(reps):
                t0 = time.perf_counter()
                conn.request("GET", "/metrics")
                body = conn.getresponse().read()
                times.append(time.perf_counter() - t0)
                size = len(body)
                series = sum(1 for line in body.split(b"\n") if line and not line.startswith(b"#"))
            times.sort()
            del prod, admin  # their threads would retry the stopped broker
            rows.append((count, statistics.median(times) * 1000, times[int(len(times) * 0.9) - 1] * 1000, size, series))
        finally:
            p.terminate()
            p.wait(60)
            subprocess.run(["rm", "-rf", tmp])
    print("| partitions | scrape median ms | scrape p90 ms | body KiB | series |")
    print("|---:|---:|---:|---:|---:|")
    for c, med, p90, size, series in rows:
        print("| %d | %.2f | %.2f | %.0f | %d |" % (c, med, p90, size / 1024, series))


def nats_run(build, k, n, secs):
    out = subprocess.run([os.path.join(build, "bench", "sl_nats_load"), "--port", str(n), "--mode", "pubsub",
                          "--size", "128", "--seconds", str(secs)], capture_output=True, text=True, timeout=120)
    kv = dict(x.split("=", 1) for x in out.stdout.split() if "=" in x)
    return float(kv["msgs_s"])


def kafka_run(build, k, n, secs):
    out = subprocess.run([os.path.join(build, "bench", "sl_kafka_load"), "produce", "--brokers", "127.0.0.1:%d" % k,
                          "--topic", "scrape", "--size", "100", "--acks", "1", "--seconds", str(secs)],
                         capture_output=True, text=True, timeout=300)
    kv = dict(x.split("=", 1) for x in out.stdout.split() if "=" in x)
    return float(kv["msgs_s"])


def scrape_impact(build, secs=3, reps=4):
    tmp = tempfile.mkdtemp(prefix="sluice-scrape-")
    p, k, n, h = start(build, tmp, ["--fsync", "none"])
    try:
        rows = []
        for name, run in (("NATS 1 pub + 1 sub 128 B", nats_run), ("Kafka produce 100 B acks=1 (librdkafka)", kafka_run)):
            quiet, scraped = [], []
            for i in range(2 * reps):  # ABBA order: drift (a growing log, a warming cache) cancels
                if (i % 4) in (0, 3):
                    quiet.append(run(build, k, n, secs))
                    continue
                scraper = subprocess.Popen(["bash", "-c", "while true; do curl -s -o /dev/null "
                                            "http://127.0.0.1:%d/metrics; sleep 1; done" % h])
                try:
                    scraped.append(run(build, k, n, secs))
                finally:
                    scraper.kill()
                    scraper.wait()
            rows.append((name, statistics.median(quiet), statistics.median(scraped)))
        print()
        print("| msgs/s (median of %d) | no scraper | /metrics every second | ratio |" % reps)
        print("|---|---:|---:|---:|")
        for name, q, sc in rows:
            print("| %s | {:,.0f} | {:,.0f} | %.3f |".format(q, sc) % (name, sc / q))
    finally:
        p.terminate()
        p.wait(60)
        subprocess.run(["rm", "-rf", tmp])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(REPO, "build", "release"))
    ap.add_argument("--partitions", default="1,100,10000")
    ap.add_argument("--reps", type=int, default=20)
    a = ap.parse_args()
    scrape_table(a.build, [int(x) for x in a.partitions.split(",")], a.reps)
    scrape_impact(a.build)


if __name__ == "__main__":
    sys.exit(main())
