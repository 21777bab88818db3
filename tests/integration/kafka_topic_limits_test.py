#!/usr/bin/python3
"""kafka_topic_limits_test: partitions against file descriptors, and creation all or nothing.

- Descriptors: the broker runs under `prlimit --nofile=1000:1000`. Every partition holds one
  open file, so the broker allows what the limit leaves after its reserve (its start-up log says
  how many). A CreateTopics past it gets POLICY_VIOLATION with a message naming the open files
  limit, and so does a CreatePartitions past it; a topic that fits is created; at the limit a
  JetStream stream create (which makes a one-partition topic) is refused with 10049 and the
  same message; the broker then restarts under the same limit and still serves the topic.
- kill -9 while a CreateTopics of 10,000 partitions is under way, at three random delays (two
  in a Debug build) and once after it answered: after the restart the topic either has all
  10,000 partitions (in Metadata and on disk) or does not exist at all (no partition directory
  left), and the broker answers. A topic that survived is deleted before the next round, and
  that deletion may be cut short by the next kill: the restart finishes it.
"""
import os
import random
import re
import shutil
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import kafka_admin_stall_test as ks  # noqa: E402

ERR_UNKNOWN_TOPIC, ERR_POLICY_VIOLATION = 3, 44
# Starting on (and stopping) 10,000 partitions, some cut short, takes longer than the default
# bounds in a Debug build with ASan; the release build takes 1-3 s.
harness.START_TIMEOUT = 60.0
harness.STOP_TIMEOUT = 60.0
NOFILE = 1000
PARTITIONS = 10000


class LimitedBroker(harness.Broker):
    """A broker whose open files limit is NOFILE (soft and hard: it cannot raise it)."""

    def args(self):
        return ["prlimit", "--nofile=%d:%d" % (NOFILE, NOFILE), "--"] + super().args()


def partitions_max(broker):
    found = re.findall(rb"partitions: (\d+) open, at most (\d+)", broker.log_text(b"partitions: "))
    if not found:
        raise harness.CheckFailed("the start-up log does not say how many partitions the limit allows")
    used, most = found[-1]
    return int(used), int(most)


def nats_request(broker, subject, body, timeout=10):
    s = socket.create_connection((broker.host, broker.nats_port), timeout=timeout)
    f = s.makefile("rb")
    f.readline()
    s.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\nSUB _INBOX.lim 1\r\n')
    s.sendall(b"PUB %s _INBOX.lim %d\r\n%s\r\nPING\r\n" % (subject.encode(), len(body), body))
    for _ in range(20):
        line = f.readline()
        if line.startswith(b"MSG "):
            n = int(line.split()[-1])
            data = f.read(n + 2)[:n]
            s.close()
            return data.decode()
        if not line:
            break
    s.close()
    raise harness.CheckFailed("no reply to %s" % subject)


def descriptors(ck):
    if not shutil.which("prlimit"):
        harness.skip("prlimit (util-linux) is missing")
    broker = LimitedBroker(["--auto_create_topics", "false", "-js"])
    broker.start()
    used, most = partitions_max(broker)
    print("     open files limit %d: %d partitions open, at most %d" % (NOFILE, used, most), flush=True)
    ck.ok(100 < most < NOFILE, "partitions allowed under ulimit -n %d: %d" % (NOFILE, most))
    c = ks.Conn(broker)
    too_many, fits = harness.unique("toomany"), harness.unique("fits")
    got = ks.parse_create_topics_v4(c.call(ks.API_CREATE_TOPICS, 4, ks.create_topics_body([(too_many, most)])))
    ck.eq([(n, e) for n, e, _ in got], [(too_many, ERR_POLICY_VIOLATION)], "CreateTopics past the limit")
    ck.ok("open files limit" in (got[0][2] or ""), "the refusal names the open files limit: %r" % got[0][2])
    print("     refusal: %s" % got[0][2], flush=True)
    ck.eq(ks.metadata_of(c, too_many)[0][1], ERR_UNKNOWN_TOPIC, "the refused topic does not exist")
    ck.eq(ks.partition_dirs(broker, too_many), 0, "no directory of the refused topic")
    room = most - used
    ck.eq(ks.parse_create_topics_v4(c.call(ks.API_CREATE_TOPICS, 4, ks.create_topics_body([(fits, room - 1)]))),
          [(fits, 0, None)], "a topic that fits")
    got = ks.parse_create_partitions_v1(c.call(ks.API_CREATE_PARTITIONS, 1,
                                               ks.create_partitions_body([(fits, room + 1)])))
    ck.eq([(n, e) for n, e, _ in got], [(fits, ERR_POLICY_VIOLATION)], "CreatePartitions past the limit")
    ck.eq(ks.metadata_of(c, fits), [(fits, 0, room - 1)], "the topic kept its partitions")
    c.close()
    # One partition left: a stream takes it; the next one is refused through JetStream too.
    ok = nats_request(broker, "$JS.API.STREAM.CREATE.LIM1", b'{"name":"LIM1","subjects":["lim1"]}')
    ck.ok('"error"' not in ok, "a stream that fits: %s" % ok)
    refused = nats_request(broker, "$JS.API.STREAM.CREATE.LIM2", b'{"name":"LIM2","subjects":["lim2"]}')
    ck.ok('"err_code":10049' in refused and "open files limit" in refused,
          "a stream past the limit is refused, naming it: %s" % refused)
    broker.restart()
    c = ks.Conn(broker)
    ck.eq(ks.metadata_of(c, fits), [(fits, 0, room - 1)], "the topic after a restart under the same limit")
    c.close()
    broker.stop()


def kill_and_restart(broker):
    """kill -9, then start again once the old listening socket is gone: the kernel tears a dead
    process's io_uring down after it exits, and directory fsyncs still in flight keep the ring,
    and the listener it polls, open until they end."""
    broker.kill9()
    deadline = time.monotonic() + 30
    while harness.port_open(broker.host, broker.kafka_port, 0.2) and time.monotonic() < deadline:
        time.sleep(0.05)
    broker.start()


def big_create_killed(ck, broker, delay):
    topic = harness.unique("kill")
    c = ks.Conn(broker)
    c.corr += 1
    c.s.sendall(ks.frame(ks.header(ks.API_CREATE_TOPICS, 4, c.corr, "sluice-kill")
                         + ks.create_topics_body([(topic, PARTITIONS)])))
    time.sleep(delay)
    dirs_before = ks.partition_dirs(broker, topic)
    c.close()
    kill_and_restart(broker)
    c = ks.Conn(broker)
    got = ks.metadata_of(c, topic)
    dirs = ks.partition_dirs(broker, topic)
    print("     killed after %.2f s (%d directories made): after the restart %s, %d directories"
          % (delay, dirs_before, "the topic exists" if got[0][1] == 0 else "no topic", dirs), flush=True)
    if got[0][1] == 0:
        ck.eq(got, [(topic, 0, PARTITIONS)], "the topic after kill -9 has every partition")
        ck.eq(dirs, PARTITIONS, "every partition directory is there")
        ck.eq(ks.parse_delete_topics_v3(c.call(ks.API_DELETE_TOPICS, 3, ks.delete_topics_body([topic]))),
              [(topic, 0)], "delete the surviving topic")
    else:
        ck.eq(got, [(topic, ERR_UNKNOWN_TOPIC, 0)], "no topic after kill -9")
        ck.eq(dirs, 0, "no partition directory left")
    c.close()


def killed_creations(ck):
    broker = harness.start_broker(["--auto_create_topics", "false"])
    if broker.external:
        harness.skip("kills its own broker")
    rng = random.Random(os.environ.get("KILL_SEED") or time.time_ns())
    # Three kills; two in a Debug build with ASan, where each restart on 10,000 partitions is slow.
    slow = any(k in os.environ.get("SLUICE_SERVER", "") for k in ("/sanitize/", "/debug/"))
    for delay in sorted(rng.uniform(0.1, 2.0) for _ in range(2 if slow else 3)):
        big_create_killed(ck, broker, delay)
    # Once answered, the topic survives a kill -9 whole. A deletion still removing directories
    # holds their files: wait for it, or the new topic would not fit the limit beside them.
    deadline = time.monotonic() + 60
    while any(d.startswith("kill-") for d in os.listdir(broker.data_dir)) and time.monotonic() < deadline:
        time.sleep(0.1)
    topic = harness.unique("done")
    c = ks.Conn(broker)
    ck.eq(ks.parse_create_topics_v4(c.call(ks.API_CREATE_TOPICS, 4, ks.create_topics_body([(topic, PARTITIONS)]))),
          [(topic, 0, None)], "CreateTopics answered")
    c.close()
    kill_and_restart(broker)
    c = ks.Conn(broker)
    ck.eq(ks.metadata_of(c, topic), [(topic, 0, PARTITIONS)], "an answered creation survives kill -9")
    ck.eq(ks.partition_dirs(broker, topic), PARTITIONS, "with every directory")
    c.close()


def body(ck):
    with ck.section("partitions against the open files limit"):
        descriptors(ck)
    with ck.section("kill -9 during a CreateTopics of %d partitions" % PARTITIONS):
        killed_creations(ck)


if __name__ == "__main__":
    harness.run("kafka_topic_limits_test", body, time_limit=240)
