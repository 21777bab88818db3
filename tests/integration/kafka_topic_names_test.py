#!/usr/bin/python3
"""kafka_topic_names_test: CreateTopics answers Kafka's topic-name rules, through librdkafka's
AdminClient (confluent-kafka-python).

Kafka (clients' Topic.validate, KRaft's ReplicationControlManager): a name is 1..249 characters of
[a-zA-Z0-9._-] and not "." or ".."; anything else is INVALID_TOPIC_EXCEPTION (17). The same name
again is TOPIC_ALREADY_EXISTS (36); a name equal to an existing one once '.' and '_' are the same
character (Topic.hasCollision) is INVALID_TOPIC_EXCEPTION, checked after the exact match. The
refused names leave no topic behind (Metadata lists exactly the created ones).
Then a topic named like a temporary file ("a.tmp", with retention.ms=4242) keeps its config and
its messages across a clean restart and a kill -9.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import ckutil  # noqa: E402

from confluent_kafka import KafkaException, Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic  # noqa: E402

INVALID_TOPIC_EXCEPTION, TOPIC_ALREADY_EXISTS = 17, 36


def create(admin, name, config=None):
    """The Kafka error code CreateTopics answers for name (0 for created)."""
    fs = admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1, config=config or {})],
                             request_timeout=30)
    try:
        fs[name].result(timeout=30)
        return 0
    except KafkaException as e:
        return e.args[0].code()


def described(admin, topic, key):
    res = ConfigResource("topic", topic)
    entries = admin.describe_configs([res], request_timeout=30)[res].result(timeout=30)
    return entries[key].value if key in entries else None


def names(ck, broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    ok = ["n" * 249, "a-b.c_D9", "...", "x..y", "_x", "a.tmp"]
    for name in ok:
        ck.eq(create(admin, name), 0, "create %s" % harness.show(name, 40))
    bad = ["n" * 250, ".", "..", "a b", "a/b", "a:b", "é", "a\\b", "a*"]
    for name in bad:
        ck.eq(create(admin, name), INVALID_TOPIC_EXCEPTION, "create %s" % harness.show(name, 40))
    ck.eq(create(admin, "a-b.c_D9"), TOPIC_ALREADY_EXISTS, "create a-b.c_D9 again")
    for name in ["a-b_c.D9", "a-b_c_D9", "a-b.c.D9", "a_tmp", ".x", "x_.y", "_._"]:
        ck.eq(create(admin, name), INVALID_TOPIC_EXCEPTION, "create %s (collides)" % name)
    ck.eq(create(admin, "a-b-c_D9"), 0, "create a-b-c_D9 ('-' is not in the rule)")
    md = admin.list_topics(timeout=10)
    ck.eq(sorted(md.topics), sorted(ok + ["a-b-c_D9"]), "topics after the refusals")


def tmp_name_survives(ck, broker):
    topic = "keep.tmp"
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    ck.eq(create(admin, topic, {"retention.ms": "4242"}), 0, "create keep.tmp")
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all"})
    for i in range(10):
        p.produce(topic, key=b"k%d" % i, value=b"v%d" % i, partition=0)
    ck.eq(p.flush(30), 0, "produce to keep.tmp")
    for kill in (False, True):
        broker.restart(kill=kill)
        what = "after %s" % ("kill -9" if kill else "a clean restart")
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        ck.eq(described(admin, topic, "retention.ms"), "4242", "keep.tmp retention.ms " + what)
        got = ckutil.consume(broker.bootstrap, topic, {0: 10})
        ck.eq([(m["offset"], m["key"], m["value"]) for m in got[0]],
              [(i, b"k%d" % i, b"v%d" % i) for i in range(10)], "keep.tmp messages " + what)


def body(ck):
    broker = harness.start_broker(["--auto_create_topics=false"])
    with ck.section("names"):
        names(ck, broker)
    with ck.section("a topic named like a temporary file"):
        tmp_name_survives(ck, broker)


if __name__ == "__main__":
    harness.run("kafka_topic_names_test", body, modules=["confluent_kafka"])
