"""gutil.py: helpers shared by the Python consumer-group tests (confluent-kafka side).

Imports tests/integration/harness.py (through gproto) without changing it. Import this module
only after harness.run() checked that confluent_kafka is importable (the modules= argument), or
inside the test body.
"""
import threading
import time

from gproto import harness

CheckFailed = harness.CheckFailed


def create_topic(bootstrap, topic, partitions, timeout=20.0):
    from confluent_kafka.admin import AdminClient, NewTopic
    a = AdminClient({"bootstrap.servers": bootstrap})
    fs = a.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)],
                         request_timeout=timeout)
    fs[topic].result(timeout=timeout)
    # Wait (bounded) until metadata lists every partition with a leader.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        t = a.list_topics(topic=topic, timeout=5).topics.get(topic)
        if t is not None and t.error is None and len(t.partitions) == partitions and \
                all(p.leader >= 0 for p in t.partitions.values()):
            return
        time.sleep(0.1)
    raise CheckFailed("topic %s: %d partitions not ready within %.0f s" % (topic, partitions, timeout))


class KeyedProducer:
    """A confluent-kafka producer (acks=all) in a thread: `count` keyed messages, `batch` at a
    time every `interval` s (bounded). sent[(partition, offset)] = (key, value) from the delivery
    reports."""

    def __init__(self, bootstrap, topic, count, batch=20, interval=0.05, prefix="m"):
        from confluent_kafka import Producer
        self.p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                           "enable.idempotence": True})
        self.topic, self.count, self.batch, self.interval, self.prefix = \
            topic, count, batch, interval, prefix
        self.sent = {}
        self.errors = []
        self.produced = 0
        self.done = threading.Event()
        self.stop_flag = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)

    def _dr(self, err, msg):
        if err is not None:
            self.errors.append(str(err))
            return
        self.sent[(msg.partition(), msg.offset())] = (msg.key(), msg.value())

    def start(self):
        self.t.start()
        return self

    def _run(self):
        try:
            i = 0
            while i < self.count and not self.stop_flag.is_set():
                for _ in range(min(self.batch, self.count - i)):
                    k = ("%s-key-%05d" % (self.prefix, i)).encode()
                    v = ("%s-value-%05d-" % (self.prefix, i)).encode() + bytes([i % 251]) * (i % 97)
                    self.p.produce(self.topic, key=k, value=v, on_delivery=self._dr)
                    i += 1
                self.produced = i
                self.p.poll(0)
                time.sleep(self.interval)
            left = self.p.flush(30)
            if left:
                self.errors.append("%d messages not delivered within 30 s" % left)
        except Exception as e:  # reported by wait()
            self.errors.append(repr(e))
        finally:
            self.done.set()

    def wait(self, timeout=60):
        if not self.done.wait(timeout):
            raise CheckFailed("producer did not finish within %d s" % timeout)
        if self.errors:
            raise CheckFailed("producer errors: %s" % self.errors[:5])
        if len(self.sent) != self.count:
            raise CheckFailed("producer: %d delivery reports for %d messages" % (len(self.sent),
                                                                              self.count))
        return self.sent


def wait_for(cond, timeout, what, step=0.05):
    """Bounded wait: cond() polled every `step` s until true, at most `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(step)
    raise CheckFailed("%s: not within %.0f s" % (what, timeout))


def check_exactly_once(ck, sent, consumed, what, allowed_dups=None):
    """sent: {(p, off): (key, value)}; consumed: [(who, p, off, key, value)]. Every sent message
    must be consumed with the same key and value; a message consumed twice is an error unless
    (p, off) is in allowed_dups. Returns the list of duplicates."""
    seen = {}
    dups = []
    for who, p, off, k, v in consumed:
        want = sent.get((p, off))
        ck.ok(want is not None, "%s: %s consumed partition %d offset %d, which was never produced"
              % (what, who, p, off))
        ck.eq((k, v), want, "%s: partition %d offset %d (consumed by %s): key/value" % (what, p, off, who))
        if (p, off) in seen:
            dups.append((p, off, seen[(p, off)], who))
        else:
            seen[(p, off)] = who
    missing = sorted(set(sent) - set(seen))
    ck.ok(not missing, "%s: %d of %d messages never consumed, first %s" % (
        what, len(missing), len(sent), missing[:10]))
    bad = [d for d in dups if allowed_dups is None or (d[0], d[1]) not in allowed_dups]
    ck.ok(not bad, "%s: %d messages consumed twice (partition, offset, first, second), first %s"
          % (what, len(bad), bad[:10]))
    return dups
