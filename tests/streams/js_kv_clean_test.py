#!/usr/bin/python3
"""js_kv_clean_test.py: a KV-style stream (max_msgs_per_subject 1) keeps the newest message per
subject, and on Sluice the removed ones leave the disk through the log cleaner, as a compacted
topic's older values do.

Both servers: stream KV (subjects kv.>, max_msgs_per_subject 1) takes one message on
kv.pinned, never updated, then 20,000 updates over 10 other subjects (payload "<subject> <n>"
padded to 100 bytes); STREAM.INFO then counts 11 messages and 11 subjects, MSG.GET
last_by_subj gives each subject's newest message, and a pull consumer from the start receives
exactly those 11 (sequence and payload). The pinned message holds the stream's first sequence at
1, so the log start cannot move: only the cleaner can free what the updates removed.

Sluice only (it runs with 16 KiB segments): within 20 s the cleaner has taken the removed
messages out of the sealed segments, so the partition's files hold well under a quarter of the
~2.4 MB written, /metrics counts the removed records, and after kill -9 and a restart the same
11 messages are there, read back from the cleaned log."""
import json
import os
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "nats"))
import natsh  # noqa: E402
import jsraw  # noqa: E402
from natsh import Raw, CheckFailed  # noqa: E402

CONNECT = jsraw.CONNECT
SUBJECTS = 10
UPDATES = 20000


class Js(jsraw.Js):
    extra_subs = b"SUB _Q.* 3\r\n"  # windowed PubAcks, one inbox each

    def publish_many(self, msgs, window=256):
        """Publishes with a reply each, at most window unanswered; returns the PubAck seqs."""
        seqs = [None] * len(msgs)
        sent = done = 0
        while done < len(msgs):
            while sent < len(msgs) and sent - done < window:
                subj, data = msgs[sent]
                self.r.send(b"PUB %s _Q.%d %d\r\n%s\r\n" % (subj, sent, len(data), data))
                sent += 1
            line, data = self.r.read_msg(timeout=10)
            p = line.split()
            i = int(p[1].split(b".")[1])
            ack = json.loads(data)
            if "seq" not in ack:
                raise CheckFailed("PubAck %d: %s" % (i, data))
            seqs[i] = ack["seq"]
            done += 1
        return seqs


def payload(subj, n):
    return (b"%s %d " % (subj, n)).ljust(100, b".")


def pull_all(t, durable, n):
    r = Raw(t)
    r.send(CONNECT + b"SUB _CR.* 1\r\nSUB _CN.* 3\r\nPING\r\n")
    if r.read_line() != b"PONG\r\n":
        raise CheckFailed("CONNECT")
    cfg = json.dumps({"stream_name": "KV", "config": {"durable_name": durable, "ack_policy": "none",
                                                     "deliver_policy": "all"}}).encode()
    r.send(b"PUB $JS.API.CONSUMER.DURABLE.CREATE.KV.%s _CR.1 %d\r\n%s\r\n" % (durable.encode(), len(cfg), cfg))
    r.read_msg()
    req = json.dumps({"batch": n + 5, "expires": 1500 * 1000000}).encode()
    r.send(b"PUB $JS.API.CONSUMER.MSG.NEXT.KV.%s _CN.1 %d\r\n%s\r\n" % (durable.encode(), len(req), req))
    got = {}
    for _ in range(n + 5):
        line, data = r.read_msg(timeout=5)
        p = line.split()
        if p[0] == b"HMSG":  # 408: the request expired
            break
        got[int(p[3].split(b".")[5])] = (p[1], data)
    r.close()
    return got


def dir_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            if f.endswith(".log"):
                total += os.path.getsize(os.path.join(root, f))
    return total


def metric(t, name):
    body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % t.broker.http_port, timeout=5).read().decode()
    for line in body.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def body(ck):
    sluice = not natsh.reference_binary() and not os.environ.get("SLUICE_EXTERNAL_NATS")
    if sluice:
        t = natsh.SluiceNats({"segment_bytes": 16384}, jetstream=True).start()
    else:
        t = natsh.start_nats(jetstream=True)
    js = Js(t)
    with ck.section("stream KV: subjects kv.>, max_msgs_per_subject 1"):
        created = js.api("$JS.API.STREAM.CREATE.KV", {"name": "KV", "subjects": ["kv.>"], "max_msgs_per_subject": 1})
        ck.eq(created.get("did_create"), True, "created")

    subjects = [b"kv.key%d" % i for i in range(SUBJECTS)]
    msgs = [(b"kv.pinned", payload(b"kv.pinned", 0))]
    msgs += [(subjects[(i * 7) % SUBJECTS], payload(subjects[(i * 7) % SUBJECTS], i)) for i in range(UPDATES)]
    newest = {}
    with ck.section("kv.pinned, then %d updates over %d subjects" % (UPDATES, SUBJECTS)):
        seqs = js.publish_many(msgs)
        ck.eq(seqs, list(range(1, UPDATES + 2)), "PubAck sequences")
        for i, (subj, data) in enumerate(msgs):
            newest[subj] = (i + 1, data)

    def check_state(what):
        st = js.api("$JS.API.STREAM.INFO.KV")["state"]
        ck.eq((st["messages"], st["num_subjects"], st["first_seq"], st["last_seq"]),
              (SUBJECTS + 1, SUBJECTS + 1, 1, UPDATES + 1),
              "%s: STREAM.INFO messages, subjects, first and last seq" % what)
        for subj, (seq, data) in sorted(newest.items()):
            m = js.api("$JS.API.STREAM.MSG.GET.KV", {"last_by_subj": subj.decode()})["message"]
            ck.eq((m["seq"], m["subject"].encode(), m.get("data")),
                  (seq, subj, __import__("base64").b64encode(data).decode()), "%s: last of %s" % (what, subj))

    with ck.section("the newest per subject, and a consumer from the start receives only those"):
        check_state("after the updates")
        got = pull_all(t, "ALL1", SUBJECTS + 1)
        ck.eq(got, {seq: (subj, data) for subj, (seq, data) in newest.items()}, "delivered")

    if not sluice:
        return
    part_dir = os.path.join(t.data_dir, "KV-0")
    written = sum(len(d) for _, d in msgs)
    with ck.section("the cleaner takes the removed messages off the disk"):
        deadline = time.monotonic() + 20
        size = dir_bytes(part_dir)
        while size > written // 4 and time.monotonic() < deadline:
            time.sleep(0.25)
            size = dir_bytes(part_dir)
        print("     %d bytes of payload written, %d bytes of segment files left" % (written, size), flush=True)
        ck.ok(size <= written // 4, "segment files %d bytes, at most a quarter of %d" % (size, written))
        removed = metric(t, "sluice_cleaner_removed_records_total")
        ck.ok(removed is not None and removed >= UPDATES // 2, "sluice_cleaner_removed_records_total %s" % removed)

    with ck.section("kill -9 and restart: the same newest messages, read back from the cleaned log"):
        t.broker.restart(kill=True)
        natsh.wait_pong(t, t.broker.proc)
        js = Js(t)
        check_state("after the restart")
        got = pull_all(t, "ALL2", SUBJECTS + 1)
        ck.eq(got, {seq: (subj, data) for subj, (seq, data) in newest.items()}, "delivered")


if __name__ == "__main__":
    natsh.run("js_kv_clean_test", body, time_limit=120)
