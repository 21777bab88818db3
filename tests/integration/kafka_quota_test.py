#!/usr/bin/python3
"""kafka_quota_test: Kafka byte-rate quotas and the per-principal connection limit, with confluent-kafka.

A broker with SASL PLAIN (users slow, fast, limited), a kafka_quota_file giving slow 1 MB/s to produce
and 1 MB/s to fetch, Kafka's 11-sample window shortened to 50 ms samples (so the test needs seconds,
not minutes), and kafka_max_connections_per_principal 2:
- slow produces as fast as librdkafka can for 5 s (after the first window): the bytes acked over the wall
  time are within 10 % of 1 MB/s, and librdkafka reports throttle_time_ms (throttle_cb);
- fast (no quota) produces 8 MB well above that, never throttled;
- slow consumes for 5 s: within 10 % of 1 MB/s, throttled; fast reads everything unthrottled; every
  byte either consumes is compared with what was produced at its offset;
- /metrics counts the throttled requests and the throttle time;
- the third connection of "limited" is closed after it authenticates, with a log line; fast still
  connects, and limited connects again once one of its two is gone.
librdkafka's mock cluster has no quotas, so there is no peer half.
"""
import os
import struct
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import kafka_sasl_test as ks  # noqa: E402

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402

kb = ks.kb  # kafka_badinput_test's frame writers and Reader
DESCRIBE_QUOTAS, ALTER_QUOTAS = 48, 49
MATCH_EXACT, MATCH_DEFAULT, MATCH_ANY = 0, 1, 2
INVALID_REQUEST = 42

RATE = 1 << 20
VALUE = 10000
RUN_S = 5.0
WINDOW_MS = 50  # kafka_quota_window_size_ms; 11 samples: a 0.55 s window
# Kafka's rate lets a young sensor take a window's worth at once (its elapsed time is padded to
# window_num - 1 samples, and the burst leaves when its sample expires): the rate is measured
# over RUN_S after the first whole window, as an operator's graph would show it.
WARM_S = 11 * WINDOW_MS / 1000.0


def conf(broker, user, **extra):
    c = {"bootstrap.servers": broker.bootstrap, "security.protocol": "SASL_PLAINTEXT",
         "sasl.mechanisms": "PLAIN", "sasl.username": user, "sasl.password": user + "-secret"}
    c.update(extra)
    return c


def value_of(i):
    head = b"%010d:" % i
    return (head * (VALUE // len(head) + 1))[:VALUE]


def produce_for(broker, user, topic, seconds=None, count=None):
    """Produces value_of(i) as fast as librdkafka takes them, for seconds or count messages.
    Returns (bytes acked within the measured part of the run, its seconds, throttle events, offsets by i)."""
    throttles = []
    # A 1 MB local queue: "as fast as it can" is then as fast as the broker acks, and the
    # flush at the end has little left to send.
    p = Producer(conf(broker, user, **{"batch.size": 65536, "linger.ms": 2, "queue.buffering.max.kbytes": 1024,
                                       "throttle_cb": lambda ev: throttles.append(int(ev.throttle_time * 1000))}))
    acked = {"bytes": 0, "errors": []}
    offsets = {}
    t0 = time.monotonic()
    begin = t0 + WARM_S if seconds else t0
    end = begin + seconds if seconds else t0 + 60

    def report(err, msg, i):
        if err:
            acked["errors"].append(err)
            return
        offsets[i] = msg.offset()
        if begin <= time.monotonic() <= end:
            acked["bytes"] += len(msg.value())

    i = 0
    while time.monotonic() < end and (count is None or i < count):
        try:
            p.produce(topic, value_of(i), on_delivery=lambda e, m, i=i: report(e, m, i))
            i += 1
        except BufferError:
            p.poll(0.01)
        p.poll(0)
    if count is not None:
        p.flush(60)
    elapsed = min(time.monotonic(), end) - begin
    left = p.flush(60)
    assert left == 0 and not acked["errors"], (left, acked["errors"][:3])
    if count is not None:
        acked["bytes"] = count * VALUE
    return acked["bytes"], elapsed, throttles, offsets


def consume_for(ck, broker, user, topic, seconds, want, warm=WARM_S):
    """Reads from offset 0 for seconds (or until want messages); checks every value against its
    offset. Returns (bytes, seconds, throttle events, messages)."""
    throttles = []
    c = Consumer(conf(broker, user, **{"group.id": harness.unique("g"), "enable.auto.commit": False,
                                       "fetch.max.bytes": 32768, "max.partition.fetch.bytes": 32768,
                                       "message.max.bytes": 32768,
                                       "receive.message.max.bytes": 1 << 20,
                                       "throttle_cb": lambda ev: throttles.append(int(ev.throttle_time * 1000))}))
    c.assign([TopicPartition(topic, 0, 0)])
    got, nbytes, bad = 0, 0, []
    t0 = time.monotonic()
    begin = t0 + warm
    while time.monotonic() - begin < seconds and got < want:
        m = c.poll(0.05)
        if m is None or m.error():
            continue
        if m.offset() != got or m.value() != value_of(got):
            bad.append(m.offset())
        got += 1
        if time.monotonic() >= begin:
            nbytes += len(m.value())
    elapsed = min(time.monotonic(), begin + seconds) - begin
    c.close()
    ck.eq(bad[:5], [], "%s: consumed values differ from those produced at their offsets" % user)
    return nbytes, elapsed, throttles, got


def is_closed(w, timeout):
    """True if the broker closed w within timeout (it sends nothing unasked)."""
    w.s.settimeout(timeout)
    try:
        return w.s.recv(1) == b""
    except ConnectionResetError:
        return True
    except OSError:
        return False


# ---- the client-quota APIs over the wire (librdkafka 2.0.2 has no admin call for them), v0 ----

def entity(parts):
    return kb.i32(len(parts)) + b"".join(kb.string(t) + kb.string(n) for t, n in parts)


def read_entity(rd):
    return tuple(rd.array(lambda: (rd.string(), rd.string())))


def alter_quotas(w, entries, validate_only=False):
    """entries: [(entity parts, [(key, value, remove)])] -> [(error, message, entity)]."""
    body = kb.i32(len(entries))
    for parts, ops in entries:
        body += entity(parts) + kb.i32(len(ops))
        for key, value, remove in ops:
            body += kb.string(key) + struct.pack(">d", value) + kb.i8(1 if remove else 0)
    rd = kb.Reader(w.request(ALTER_QUOTAS, 0, body + kb.i8(1 if validate_only else 0)))
    rd.i32()  # ThrottleTimeMs
    res = rd.array(lambda: (rd.i16(), rd.string(), read_entity(rd)))
    rd.end("AlterClientQuotas response")
    return res


def describe_quotas(w, components, strict=False):
    """components: [(type, match type, match)] -> (error, message, {entity: {key: value}} or None)."""
    body = kb.i32(len(components)) + b"".join(kb.string(t) + kb.i8(m) + kb.string(n) for t, m, n in components)
    rd = kb.Reader(w.request(DESCRIBE_QUOTAS, 0, body + kb.i8(1 if strict else 0)))
    rd.i32()
    err, msg = rd.i16(), rd.string()
    entries = rd.array(lambda: (read_entity(rd), dict(rd.array(lambda: (rd.string(),
                                                                         struct.unpack(">d", rd.take(8))[0])))))
    rd.end("DescribeClientQuotas response")
    return err, msg, None if entries is None else dict(entries)


def metric(broker, name, labels):
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % broker.http_port, timeout=10).read().decode()
    for line in text.splitlines():
        if line.startswith(name + labels + " "):
            return float(line.split()[-1])
    return None


def body(ck):
    tmp = os.environ.get("TMPDIR", "/tmp")
    users = os.path.join(tmp, "sluice-quota-users-%d" % os.getpid())
    quotas = os.path.join(tmp, "sluice-quota-file-%d" % os.getpid())
    with open(users, "w") as f:
        f.write("slow:slow-secret\nfast:fast-secret\nlimited:limited-secret\n")
    with open(quotas, "w") as f:
        f.write("# user quotas\nuser=slow producer_byte_rate=%d consumer_byte_rate=%d\n"
                "user=nobody client-id=<default> producer_byte_rate=1\n" % (RATE, RATE))
    broker = harness.start_broker(["--kafka_sasl_mechanisms", "PLAIN", "--kafka_sasl_users_file", users,
                                   "--kafka_quota_file", quotas, "--kafka_quota_window_size_ms", str(WINDOW_MS),
                                   "--kafka_max_connections_per_principal", "2"])
    if broker.external:
        harness.skip("needs its own broker with quotas")
    slow_topic, fast_topic = harness.unique("quota-slow"), harness.unique("quota-fast")

    with ck.section("produce: 1 MB/s quota held within 10 % over 5 s, throttle_time_ms seen"):
        nbytes, secs, throttles, _ = produce_for(broker, "slow", slow_topic, seconds=RUN_S)
        rate = nbytes / secs
        print("slow producer: %d bytes acked in %.2f s = %.3f MB/s, %d throttle events (max %d ms)"
              % (nbytes, secs, rate / RATE, len(throttles), max(throttles or [0])))
        ck.ok(0.9 * RATE <= rate <= 1.1 * RATE, "slow producer rate %.3f MB/s outside 1 MB/s +- 10 %%" % (rate / RATE))
        ck.ok(throttles and max(throttles) > 0, "no throttle_time_ms reported to the slow producer")

    with ck.section("produce: a user without a quota is not throttled"):
        n = 800
        nbytes, secs, throttles, offsets = produce_for(broker, "fast", fast_topic, count=n)
        rate = nbytes / secs
        print("fast producer: %d bytes in %.2f s = %.2f MB/s, %d throttle events" % (nbytes, secs, rate / RATE,
                                                                                 len(throttles)))
        ck.ok(rate > 3 * RATE, "fast producer only %.2f MB/s" % (rate / RATE))
        ck.eq(sum(1 for t in throttles if t > 0), 0, "throttle events for the unquoted producer")
        ck.eq(sorted(offsets.values()), list(range(n)), "fast producer offsets")

    with ck.section("fetch: 1 MB/s quota held within 10 % over 5 s; every byte compared"):
        nbytes, secs, throttles, got = consume_for(ck, broker, "slow", fast_topic, RUN_S, 800)
        rate = nbytes / secs
        print("slow consumer: %d records, %d bytes in %.2f s = %.3f MB/s, %d throttle events (max %d ms)"
              % (got, nbytes, secs, rate / RATE, len(throttles), max(throttles or [0])))
        ck.ok(0.9 * RATE <= rate <= 1.1 * RATE, "slow consumer rate %.3f MB/s outside 1 MB/s +- 10 %%" % (rate / RATE))
        ck.ok(throttles and max(throttles) > 0, "no throttle_time_ms reported to the slow consumer")

    with ck.section("fetch: the unquoted user reads everything at once"):
        nbytes, secs, throttles, got = consume_for(ck, broker, "fast", fast_topic, 20, 800, warm=0)
        print("fast consumer: %d records in %.2f s, %d throttle events" % (got, secs, len(throttles)))
        ck.eq(got, 800, "fast consumer records")
        ck.ok(nbytes / secs > 3 * RATE, "fast consumer only %.2f MB/s" % (nbytes / secs / RATE))
        ck.eq(sum(1 for t in throttles if t > 0), 0, "throttle events for the unquoted consumer")

    slow_entity = (("user", "slow"),)
    nobody_entity = (("user", "nobody"), ("client-id", None))
    with ck.section("DescribeClientQuotas / AlterClientQuotas over the wire, and their effect"):
        w = ks.plain_login(broker, "fast", "fast-secret")
        rd = kb.Reader(w.request(ks.API_VERSIONS, 0, b""))
        rd.i16()
        apis = {k: (lo, hi) for k, lo, hi in rd.array(lambda: (rd.i16(), rd.i16(), rd.i16()))}
        ck.eq((apis.get(DESCRIBE_QUOTAS), apis.get(ALTER_QUOTAS)), ((0, 1), (0, 1)), "ApiVersions: 48 and 49")
        err, _, got = describe_quotas(w, [])
        ck.eq((err, got), (0, {slow_entity: {"producer_byte_rate": RATE, "consumer_byte_rate": RATE},
                               nobody_entity: {"producer_byte_rate": 1.0}}), "describe everything (the quota file)")
        res = alter_quotas(w, [([("user", "fast")], [("request_percentage", 50, False)]),
                               ([("ip", "1.2.3.4")], [("producer_byte_rate", 1000, False)]),
                               ([("user", "fast")], [("producer_byte_rate", -5, False)]),
                               ([("user", "fast"), ("user", "x")], [("producer_byte_rate", 1000, False)])])
        ck.eq([e for e, _, _ in res], [INVALID_REQUEST] * 4, "refused alterations")
        ck.ok(all(m for _, m, _ in res), "refusals carry a message: %s" % [m for _, m, _ in res])
        res = alter_quotas(w, [([("user", "fast")], [("producer_byte_rate", 262144, False)])], validate_only=True)
        ck.eq(res, [(0, None, (("user", "fast"),))], "validate_only answer")
        ck.eq(describe_quotas(w, [("user", MATCH_EXACT, "fast")])[2], {}, "validate_only changed nothing")
        res = alter_quotas(w, [([("user", "fast")], [("producer_byte_rate", 262144, False)]),
                               ([("user", None), ("client-id", "batch")], [("consumer_byte_rate", 5e5, False)])])
        ck.eq([e for e, _, _ in res], [0, 0], "alterations applied")
        ck.eq(describe_quotas(w, [("user", MATCH_EXACT, "fast")])[2],
              {(("user", "fast"),): {"producer_byte_rate": 262144.0}}, "exact match")
        ck.eq(set(describe_quotas(w, [("user", MATCH_ANY, None)], strict=True)[2]),
              {slow_entity, (("user", "fast"),)}, "strict: user entities only")
        ck.eq(set(describe_quotas(w, [("user", MATCH_ANY, None)])[2]),
              {slow_entity, (("user", "fast"),), nobody_entity, (("user", None), ("client-id", "batch"))},
              "not strict: with a client-id part too")
        ck.eq(set(describe_quotas(w, [("user", MATCH_DEFAULT, None)])[2]),
              {(("user", None), ("client-id", "batch"))}, "default user match")
        ck.eq(describe_quotas(w, [("ip", MATCH_ANY, None)])[:1], (INVALID_REQUEST,), "an ip filter")
        nbytes, secs, throttles, _ = produce_for(broker, "fast", harness.unique("quota-alter"), seconds=2.0)
        print("fast at 256 KB/s: %d bytes in %.2f s = %.3f MB/s, %d throttle events"
              % (nbytes, secs, nbytes / secs / RATE, len(throttles)))
        ck.ok(throttles and nbytes / secs < 0.35 * RATE, "altered quota not applied: %.3f MB/s" % (nbytes / secs / RATE))
        res = alter_quotas(w, [([("user", "fast")], [("producer_byte_rate", 0, True)])])
        ck.eq([e for e, _, _ in res], [0], "quota removed")
        ck.eq(describe_quotas(w, [("user", MATCH_EXACT, "fast")])[2], {}, "fast has no quota left")
        w.close()

    with ck.section("/metrics: throttled requests and throttle time"):
        for t in ("produce", "fetch"):
            n = metric(broker, "sluice_kafka_quota_throttled_requests_total", '{type="%s"}' % t)
            s = metric(broker, "sluice_kafka_quota_throttle_seconds_total", '{type="%s"}' % t)
            ck.ok(n and n > 0 and s and s > 0, "%s: throttled %s, throttle seconds %s" % (t, n, s))
        r = metric(broker, "sluice_kafka_quota_byte_rate", '{type="produce",user="slow",client_id=""}')
        ck.ok(r is not None, "the slow user's produce sensor in /metrics")

    with ck.section("connections per principal: the third of 'limited' is closed after authenticating"):
        # librdkafka may hold a third connection of its own (a coordinator's) in the sections
        # before, which the same limit closes: count this section's refusals only.
        refused0 = metric(broker, "sluice_kafka_principal_connections_refused_total", "") or 0.0
        a = ks.plain_login(broker, "limited", "limited-secret")
        b = ks.plain_login(broker, "limited", "limited-secret")
        c = ks.plain_login(broker, "limited", "limited-secret")  # the answer goes out, then the close
        ck.ok(is_closed(c, 5), "third connection of 'limited' still open")
        ck.ok(not is_closed(a, 0.3) and not is_closed(b, 0.3), "the first two connections of 'limited' closed")
        f = ks.plain_login(broker, "fast", "fast-secret")
        ck.ok(f.request(ks.METADATA, 1, b"\xff\xff\xff\xff") is not None, "fast: Metadata while limited is full")
        a.close()
        deadline = time.monotonic() + 5
        d = None
        while time.monotonic() < deadline:
            d = ks.plain_login(broker, "limited", "limited-secret")
            if not is_closed(d, 0.3):
                break
            time.sleep(0.1)
        ck.ok(d.request(ks.METADATA, 1, b"\xff\xff\xff\xff") is not None, "limited connects again after one closed")
        ck.eq(metric(broker, "sluice_kafka_principal_connections_refused_total", "") - refused0, 1.0,
              "refused counter")
        log = broker.log_text(b"User:limited already has 2 connections").decode("utf-8", "replace")
        ck.ok("User:limited already has 2 connections (kafka_max_connections_per_principal 2)" in log,
              "no log line for the refused connection")
        for w in (b, d, f):
            w.close()

    with ck.section("altered quotas survive kill -9 and win over kafka_quota_file"):
        broker.restart(kill=True)
        w = ks.plain_login(broker, "fast", "fast-secret")
        ck.eq(describe_quotas(w, [])[2], {slow_entity: {"producer_byte_rate": RATE, "consumer_byte_rate": RATE},
                                          nobody_entity: {"producer_byte_rate": 1.0},
                                          (("user", None), ("client-id", "batch")): {"consumer_byte_rate": 5e5}},
              "quotas after kill -9")
        w.close()
        ck.ok(b"(altered with AlterClientQuotas) is read, not kafka_quota_file"
              in broker.log_text(b"(altered with AlterClientQuotas)"), "no start-up line")
    os.unlink(users)
    os.unlink(quotas)


if __name__ == "__main__":
    harness.run("kafka_quota_test", body, modules=["confluent_kafka"], time_limit=110)
