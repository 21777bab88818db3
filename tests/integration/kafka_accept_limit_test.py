#!/usr/bin/python3
"""kafka_accept_limit_test: out of file descriptors, the broker pauses accepting instead of
spinning, logs the failures at most once a second, and serves the waiting connections once
descriptors are free again.

The broker runs with RLIMIT_NOFILE lowered (prlimit on the running process) to what it has open
plus SPARE. The test opens CLIENTS connections, each sending ApiVersions v0 at once: SPARE or so
are accepted and answered, the rest wait in the listen backlog (accept fails with EMFILE).
Checked while they wait: over 2 s the broker's CPU time (utime+stime from /proc/PID/stat) stays
under 20% of the wall time, and the log has at most one accept-failure line per second. Then the
answered connections close: the waiting ones get their answers, in turn, as descriptors free up;
and after every client closes, a fresh connection is answered. The broker keeps running.
"""
import os
import resource
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from kafka_badinput_test import api_versions_req, parse_api_versions, read_response  # noqa: E402

SPARE, CLIENTS = 6, 40
LOG_LINE = "pausing accepts"


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def answered(sock, corr, timeout):
    """True if the ApiVersions sent on sock is answered within timeout."""
    sock.settimeout(timeout)
    try:
        err, keys = parse_api_versions(read_response(sock, corr), 0)
        return err == 0 and 18 in keys
    except (socket.timeout, OSError):
        return False


def log_lines(broker):
    with open(broker.log_path, errors="replace") as f:
        return sum(1 for line in f if LOG_LINE in line)


def body(ck):
    broker = harness.start_broker()
    if broker.external is not None:
        harness.skip("needs its own broker process")
    pid = broker.proc.pid
    open_fds = len(os.listdir("/proc/%d/fd" % pid))
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (open_fds + SPARE, open_fds + SPARE))
    socks = []
    with ck.section("connections past the descriptor limit wait"):
        for i in range(CLIENTS):
            s = socket.create_connection((broker.host, broker.kafka_port), timeout=5)
            s.sendall(api_versions_req(i + 1, 0))
            socks.append(s)
        served = [answered(s, i + 1, 0.3 if i < SPARE + 4 else 0.02) for i, s in enumerate(socks)]
        # Give the stragglers one more chance: every one answered must be among the first ones.
        served = [ok or answered(s, i + 1, 0.02) for i, (ok, s) in enumerate(zip(served, socks))]
        n = sum(served)
        # The broker opens and closes files of its own meanwhile: a few more may fit.
        ck.ok(1 <= n <= SPARE + 4, "connections answered under the limit: %d, want 1..%d" % (n, SPARE + 4))
        lines_before = log_lines(broker)
        ck.ok(lines_before >= 1, "an accept-failure line is logged")
        t0, c0 = time.monotonic(), cpu_seconds(pid)
        time.sleep(2.0)
        wall, cpu = time.monotonic() - t0, cpu_seconds(pid) - c0
        print("     broker CPU %.3f s over %.2f s wall while %d connections wait" % (cpu, wall, CLIENTS - n))
        ck.ok(cpu < 0.2 * wall, "broker CPU %.3f s over %.2f s wall: want < 20%%" % (cpu, wall))
        lines = log_lines(broker) - lines_before
        ck.ok(lines <= 3, "accept-failure lines over 2 s: %d, want at most 3" % lines)
        ck.ok(broker.alive(), "broker alive")
    with ck.section("waiting connections are served as descriptors free up"):
        waiting = [(i, s) for i, (ok, s) in enumerate(zip(served, socks)) if not ok]
        for i, s in enumerate(socks):
            if served[i]:
                s.close()
        got = 0
        deadline = time.monotonic() + 20
        # Each answered waiting connection is closed to make room for the next.
        while waiting and time.monotonic() < deadline:
            still = []
            for i, s in waiting:
                if answered(s, i + 1, 0.05):
                    got += 1
                    s.close()
                else:
                    still.append((i, s))
            waiting = still
        ck.eq(got, CLIENTS - n, "waiting connections answered")
        for _, s in waiting:
            s.close()
    with ck.section("a new connection after every client closed"):
        with socket.create_connection((broker.host, broker.kafka_port), timeout=5) as s:
            s.sendall(api_versions_req(99, 0))
            ck.ok(answered(s, 99, 5.0), "fresh connection answered")
        ck.ok(broker.alive(), "broker alive")


if __name__ == "__main__":
    harness.run("kafka_accept_limit_test", body)
