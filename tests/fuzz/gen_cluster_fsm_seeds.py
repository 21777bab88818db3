#!/usr/bin/env python3
"""gen_cluster_fsm_seeds.py: writes the fuzz_cluster_fsm seeds of the formats added with
failover (broker/core/cluster_fsm.h documents them): a type 4 command (partition state: a leader
elected, an ISR changed) and a version 3 snapshot (partitions with ISRs). The older seeds
(cmd_put, cmd_put_rf3, cmd_register, cmd_remove, snap_v1, snap_v2) were written by hand before
this script and are left as they are. NATS routes added a version 2 registration (with the route
address) and a version 4 snapshot (brokers with route addresses).

Each seed is fuzz_cluster_fsm's input: a selector byte (0: a command, 1: a snapshot), then the
bytes. Commands are padded with zeros to a multiple of 8, as cluster_cmd_encode writes them.

    /usr/bin/python3 tests/fuzz/gen_cluster_fsm_seeds.py [tests/fuzz/corpus/cluster_fsm]
"""
import os
import struct
import sys

CMD_VERSION = 1
SNAP_VERSION = 3


def u8(v):
    return struct.pack(">B", v)


def u16(v):
    return struct.pack(">H", v)


def u32(v):
    return struct.pack(">I", v)


def s16(text):
    b = text.encode()
    return u16(len(b)) + b


def pad8(b):
    return b + b"\0" * (-len(b) % 8)


def cmd_partition_state(name, topic_id, partition, epoch, leader, isr):
    body = s16(name) + topic_id + u32(partition) + u32(epoch) + u32(leader) + u8(len(isr))
    body += b"".join(u32(n) for n in isr)
    return pad8(u8(CMD_VERSION) + u8(4) + body)


def broker(node_id, kafka, nats, http):
    return u32(node_id) + s16(kafka) + s16(nats) + s16(http)


def cmd_register_route(node_id, kafka, nats, http, route):
    return pad8(u8(2) + u8(1) + broker(node_id, kafka, nats, http) + s16(route))


def snapshot_v4(brokers, topics):
    """brokers: (id, kafka, nats, http, route) each."""
    b = b"SLCF" + u8(4) + u32(len(brokers)) + b"".join(broker(*x[:4]) + s16(x[4]) for x in brokers)
    b += u32(len(topics)) + b"".join(topic(*t) for t in sorted(topics, key=lambda t: t[0].encode()))
    return b


def topic(name, topic_id, parts, configs):
    """parts: (leader_epoch, replicas, isr) each; configs: (key, value) each."""
    b = s16(name) + topic_id + u32(len(parts))
    for epoch, replicas, isr in parts:
        b += u32(epoch) + u8(len(replicas)) + b"".join(u32(n) for n in replicas)
        b += u8(len(isr)) + b"".join(u32(n) for n in isr)
    b += u16(len(configs)) + b"".join(s16(k) + s16(v) for k, v in configs)
    return b


def snapshot_v3(brokers, topics):
    b = b"SLCF" + u8(SNAP_VERSION) + u32(len(brokers)) + b"".join(broker(*x) for x in brokers)
    b += u32(len(topics)) + b"".join(topic(*t) for t in sorted(topics, key=lambda t: t[0].encode()))
    return b


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "cluster_fsm")
    os.makedirs(out, exist_ok=True)
    seeds = {
        # Broker 2 takes over partition 3 of "orders" at epoch 7 with ISR {2, 1}.
        "cmd_partition_state": b"\0" + cmd_partition_state("orders", bytes(range(1, 17)), 3, 7, 2, [2, 1]),
        # An ISR of the most replicas, at the largest epoch and partition.
        "cmd_partition_state_isr7": b"\0" + cmd_partition_state("rf7", bytes(range(0x10, 0x20)), 0xFFFFFFFF,
                                                                0xFFFFFFFE, 7, [7, 1, 2, 3, 4, 5, 6]),
        # Three brokers; "a": one partition, leader moved (epoch 2), one follower out of the ISR;
        # "b": three partitions of three replicas with a full ISR, an ISR of the leader alone and
        # one of two in another order than the replicas.
        "snap_v3": b"\x01" + snapshot_v3(
            [(1, "h1:9092", "h1:4222", "10.0.0.1:8222"),
             (2, "h2:9092", "h2:4222", "10.0.0.2:8222"),
             (3, "h3:9092", "h3:4222", "10.0.0.3:8222")],
            [("b", bytes(range(1, 17)),
              [(0, [1, 2, 3], [1, 2, 3]), (3, [2, 3, 1], [2]), (1, [3, 1, 2], [1, 3])],
              [("retention.ms", "1000"), ("cleanup.policy", "")]),
             ("a", bytes([0xa0] * 16), [(2, [2, 1], [2])], [("retention.ms", "86400000")])]),
        "cmd_register_route": b"\0" + cmd_register_route(2, "h2:9092", "h2:4222", "10.0.0.2:8222", "h2:6222"),
        # Two brokers, one with a route address and one without (empty); one topic.
        "snap_v4": b"\x01" + snapshot_v4(
            [(1, "h1:9092", "h1:4222", "10.0.0.1:8222", "h1:6222"),
             (2, "h2:9092", "h2:4222", "10.0.0.2:8222", "")],
            [("a", bytes([0xa0] * 16), [(2, [2, 1], [2])], [("retention.ms", "86400000")])]),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
