#!/usr/bin/python3
"""nats_budget_test.py: the broker's unsent output is bounded for the whole process, not only per
client, and memory comes back when connections go (Sluice only: nats-server has no broker-wide
budget, and holds 200 x 6 MiB here).

1. Server with max_pending 8MB (each stuck client may hold 8 MiB) and the default
   max_pending_total (256 MiB). 200 raw subscribers with small receive buffers subscribe to one
   subject and never read; a healthy subscriber reads; a publisher sends 6 MiB (96 x 64 KiB).
   Per-client limits alone would hold 200 x 6 MiB = 1.2 GB. Checks: the server's peak VmRSS
   stays under 600 MB, stuck subscribers past their share are closed as slow consumers
   (/varz slow_consumers counts them), the healthy subscriber gets all 96 messages byte for
   byte, and once everything is closed VmRSS falls back to within 100 MB of the start.
2. 10,000 connections (CONNECT + PING each) opened, then closed: /varz counts them while open,
   and VmRSS falls back to within 16 MB of what it was before they opened.
"""
import json
import os
import resource
import socket
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import natsh  # noqa: E402
from natsh import Raw, CheckFailed  # noqa: E402

QUIET = b'CONNECT {"verbose":false,"pedantic":false}\r\n'
MSG_SIZE = 64 * 1024
COUNT = 96  # 6 MiB
STUCK = 200
RSS_LIMIT_MB = 600
CONNS = 10000


def payload(i):
    return (b"%08d" % i) * (MSG_SIZE // 8)


def varz(t):
    port = t.broker.http_port
    with urllib.request.urlopen("http://127.0.0.1:%d/varz" % port, timeout=10) as r:
        return json.loads(r.read())


def asan_build(t):
    try:
        with open("/proc/%d/maps" % t.pid) as f:
            return "libasan" in f.read()
    except OSError:
        return False


def settle_rss(t, secs=3.0):
    """VmRSS after it stops falling (the broker frees on its loop; the kernel reclaims late)."""
    end = time.monotonic() + secs
    low = t.rss_kb()
    while time.monotonic() < end:
        time.sleep(0.2)
        low = min(low, t.rss_kb())
    return low


def body(ck):
    if os.environ.get("SLUICE_NATS_REFERENCE") or os.environ.get("SLUICE_EXTERNAL_NATS"):
        natsh.skip("Sluice only: max_pending_total is Sluice's")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < CONNS + 512:
        natsh.skip("RLIMIT_NOFILE hard limit %d < %d" % (hard, CONNS + 512))
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    os.environ["ASAN_OPTIONS"] = ":".join(
        x for x in (os.environ.get("ASAN_OPTIONS"), "quarantine_size_mb=16",
                    "allocator_release_to_os_interval_ms=200") if x)  # ASan's heap gives memory back too
    t = natsh.start_nats(max_pending="8MB", write_deadline="30s")
    print("target: %s %s pid %s" % (t.kind, t.url, t.pid))
    rss = {"max": 0}
    sampling = [True]

    def sample():
        while sampling[0]:
            rss["max"] = max(rss["max"], t.rss_kb() or 0)
            time.sleep(0.01)

    start_rss = settle_rss(t, 0.5)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()

    with ck.section("%d stuck subscribers x 6 MiB: the broker stays under %d MB" % (STUCK, RSS_LIMIT_MB)):
        stuck = []
        for i in range(STUCK):
            r = Raw(t, rcvbuf=16 * 1024)
            r.send(QUIET + b"SUB fan.t %d\r\nPING\r\n" % (i + 10))
            stuck.append(r)
        for r in stuck:
            ck.eq(r.read_line(), b"PONG\r\n", "stuck subscriber PONG")
        good = Raw(t, timeout=30)
        good.send(QUIET + b"SUB fan.t 2\r\nPING\r\n")
        ck.eq(good.read_line(), b"PONG\r\n", "healthy subscriber PONG")
        pub = Raw(t, timeout=60)
        pub.send(QUIET + b"".join(b"PUB fan.t %d\r\n%s\r\n" % (MSG_SIZE, payload(i)) for i in range(COUNT)) + b"PING\r\n")
        got = 0
        for i in range(COUNT):
            line, data = good.read_msg(timeout=60)
            ck.eq((line, data == payload(i)), (b"MSG fan.t 2 %d" % MSG_SIZE, True), "healthy subscriber message %d" % i)
            got += 1
        ck.eq(pub.read_line(timeout=60), b"PONG\r\n", "publisher PONG after 6 MiB")
        time.sleep(0.5)
        v = varz(t)
        closed = 0
        for r in stuck:
            try:
                _, c = r.read_until_close(timeout=0.05, limit=64 << 20)
                closed += bool(c)
            except (OSError, CheckFailed):
                closed += 1
        print("     peak VmRSS %.0f MB (start %.0f MB); %d of %d stuck subscribers closed; "
              "slow_consumers %d" % (rss["max"] / 1024, start_rss / 1024, closed, STUCK, v["slow_consumers"]))
        ck.ok(rss["max"] < RSS_LIMIT_MB * 1024, "peak VmRSS %.0f MB" % (rss["max"] / 1024))
        ck.ok(v["slow_consumers"] >= STUCK // 2, "slow consumers counted: %d" % v["slow_consumers"])
        for r in stuck + [good, pub]:
            r.close()
        after = settle_rss(t)
        print("     VmRSS after closing everything: %.0f MB" % (after / 1024))
        ck.ok(after < start_rss + 100 * 1024, "VmRSS back to %.0f MB (start %.0f MB)" % (after / 1024, start_rss / 1024))

    with ck.section("%d connections opened and closed: memory comes back" % CONNS):
        before = settle_rss(t, 1.0)
        socks = []
        try:
            for i in range(CONNS):
                s = socket.create_connection((t.host, t.port), timeout=10)
                s.sendall(QUIET + b"PING\r\n")
                socks.append(s)
            pongs = 0
            for s in socks:
                buf = b""
                while b"PONG\r\n" not in buf:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    buf += chunk
                pongs += b"PONG\r\n" in buf
            ck.eq(pongs, CONNS, "PONGs")
            ck.eq(varz(t)["connections"], CONNS, "/varz connections while open")
            during = t.rss_kb()
        finally:
            for s in socks:
                s.close()
        end = time.monotonic() + 20
        while time.monotonic() < end and varz(t)["connections"] != 0:
            time.sleep(0.1)
        ck.eq(varz(t)["connections"], 0, "/varz connections after closing")
        after = settle_rss(t)
        print("     VmRSS before %.0f MB, with %d connections %.0f MB, after %.0f MB"
              % (before / 1024, CONNS, during / 1024, after / 1024))
        if asan_build(t):
            # ASan keeps shadow memory and its own allocator's regions: what comes back is
            # glibc's heap, which only the release build measures.
            print("     (AddressSanitizer build: the memory-return check is the release build's)")
        else:
            ck.ok(after < before + 16 * 1024, "VmRSS back to %.0f MB (before %.0f MB)" % (after / 1024, before / 1024))
    sampling[0] = False


if __name__ == "__main__":
    natsh.run("nats_budget_test", body, time_limit=240)
