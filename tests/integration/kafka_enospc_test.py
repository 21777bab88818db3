#!/usr/bin/python3
"""kafka_enospc_test: a full disk is retriable, and what was acknowledged stays intact.

The broker's data dir is on a 24 MiB tmpfs the test mounts (root needed, else skipped), with
small segments and preallocation, and a filler file taking half of it. An idempotent
confluent-kafka producer (acks=all) writes numbered records until delivery reports fail (the
broker answers KAFKA_STORAGE_ERROR, which the client retries until message.timeout.ms), goes on
for a few seconds of full disk, then the test deletes the filler and the producer keeps going,
against the same broker process. At the end every record whose delivery report succeeded is
read back byte-exact at its reported offset, exactly once, in the order produced; no record is
there twice; records whose delivery failed may be absent (or present once, if the client gave
up on a request the broker did complete). The broker was never restarted and SIGTERM exits 0.
"""
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import ckutil  # noqa: E402

from confluent_kafka import Producer  # noqa: E402

FS_BYTES = 24 << 20
FILLER_BYTES = 12 << 20
FULL_SECONDS = 6.0   # producing against a full disk
AFTER_SECONDS = 5.0  # producing after space came back


def value_of(i):
    n = 1500 + (i * 7919) % 2500
    seed = (b"%08d" % i) * 8
    return (seed * (n // len(seed) + 1))[:n]


def key_of(i):
    return b"n%07d" % i


def mount_tmpfs(path):
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%d" % FS_BYTES, "tmpfs", path],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return r.returncode == 0, r.stdout.decode(errors="replace").strip()


def write_filler(path, n):
    chunk = b"\xa5" * (1 << 20)
    with open(path, "wb") as f:
        while n > 0:
            f.write(chunk[:min(n, len(chunk))])
            n -= len(chunk)


def body(ck):
    if harness.external():
        harness.skip("mounts a file system for its own broker (SLUICE_EXTERNAL_KAFKA is set)")
    root = tempfile.mkdtemp(prefix="sluice-enospc-")
    mounted, why = mount_tmpfs(root)
    if not mounted:
        os.rmdir(root)
        harness.skip("cannot mount a tmpfs (root needed): %s" % why)
    broker = None
    try:
        data = os.path.join(root, "data")
        os.mkdir(data)
        broker = harness.Broker(["--segment-bytes", "1MiB", "--preallocate-bytes", "256KiB",
                                 "--index-interval-bytes", "4KiB"], data_dir=data)
        # The broker's own log must not compete for the space under test.
        broker.log_path = os.path.join(tempfile.gettempdir(), "sluice-enospc-%d.log" % os.getpid())
        broker.start()
        topic = harness.unique("enospc")
        p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all",
                      "enable.idempotence": True, "linger.ms": 5, "batch.num.messages": 50,
                      "message.timeout.ms": 4000, "retry.backoff.ms": 100,
                      "queue.buffering.max.messages": 200000})
        ckutil.wait_topic(p, topic)
        filler = os.path.join(root, "filler")
        write_filler(filler, FILLER_BYTES)

        reports = {}

        def cb(i):
            def done(err, m):
                reports[i] = (err, m.offset() if err is None else None)
            return done

        with ck.section("produce until the disk is full, free space, keep producing"):
            i = 0
            t0 = time.monotonic()
            first_err = freed_at = None
            freed_from = None
            while True:
                now = time.monotonic()
                if now - t0 > 90:
                    raise harness.CheckFailed("the disk did not fill within 90 s")
                if first_err is None:
                    # Full: a failed delivery, or (a client that retries quietly) no room left.
                    errs = [k for k, r in reports.items() if r[0] is not None]
                    st = os.statvfs(root)
                    if errs or st.f_bavail * st.f_frsize < (64 << 10):
                        first_err = now
                        print("     disk full after %d produced; first failed delivery: %s"
                              % (i, "record %d (%s)" % (min(errs), reports[min(errs)][0]) if errs
                                 else "none yet"), flush=True)
                if first_err is not None and freed_at is None and now - first_err >= FULL_SECONDS:
                    os.unlink(filler)
                    freed_at, freed_from = now, i
                    print("     filler deleted after record %d" % i, flush=True)
                if freed_at is not None and now - freed_at >= AFTER_SECONDS:
                    break
                try:
                    p.produce(topic, key=key_of(i), value=value_of(i), partition=0, on_delivery=cb(i))
                    i += 1
                except BufferError:
                    p.poll(0.05)
                p.poll(0)
                time.sleep(0.0015 if first_err is None else 0.004)
            produced = i
            ck.eq(p.flush(60), 0, "records still undelivered 60 s after the last produce")
            ck.eq(len(reports), produced, "delivery reports")
            ok = sorted(k for k, r in reports.items() if r[0] is None)
            failed = sorted(k for k, r in reports.items() if r[0] is not None)
            print("     %d produced: %d delivered, %d failed" % (produced, len(ok), len(failed)), flush=True)
            if not failed:
                print("     no delivery report failed: every failed write was retried in time", flush=True)
            ck.ok(any(k >= freed_from for k in ok),
                  "nothing produced after space came back was delivered")
            ck.eq(broker.starts, 1, "broker starts (never restarted)")
            ck.ok(broker.alive(), "broker still running")

        with ck.section("every delivered record is there once, byte-exact, in order"):
            end = ckutil.high_watermarks(broker.bootstrap, topic, 1)[0]
            got = ckutil.consume(broker.bootstrap, topic, {0: end})[0]
            ck.eq([g["offset"] for g in got], list(range(end)), "offsets (no gaps)")
            seen = {}
            for g in got:
                k = g["key"]
                ck.ok(k is not None and len(k) == 8 and k.startswith(b"n"),
                      "unknown record at offset %d: key %r" % (g["offset"], k))
                n = int(k[1:])
                ck.ok(n < produced, "record %d at offset %d was never produced" % (n, g["offset"]))
                ck.eq(g["value"], value_of(n), "value of record %d at offset %d" % (n, g["offset"]))
                ck.ok(n not in seen, "record %d twice: offsets %s and %d" % (n, seen.get(n), g["offset"]))
                seen[n] = g["offset"]
            for n in ok:
                ck.eq(seen.get(n), reports[n][1], "record %d at its reported offset" % n)
            offsets = [seen[n] for n in ok]
            ck.ok(offsets == sorted(offsets), "delivered records out of order")
            present_failed = [n for n in failed if n in seen]
            print("     %d records in the log; %d with a failed delivery report are present anyway"
                  % (len(got), len(present_failed)), flush=True)

        with ck.section("SIGTERM exits 0"):
            broker.stop()
        if not ck.failed_sections:
            os.unlink(broker.log_path)
    finally:
        if broker is not None and broker.alive():
            broker.proc.kill()
            broker.proc.wait(timeout=15)
        subprocess.run(["umount", "-l", root])
        try:
            os.rmdir(root)
        except OSError:
            pass


if __name__ == "__main__":
    harness.run("kafka_enospc_test", body, modules=["confluent_kafka"])
