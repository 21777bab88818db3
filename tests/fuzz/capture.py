#!/usr/bin/python3
"""capture.py: records real client traffic against a real sluice-server into the seed corpora
of tests/fuzz/corpus/<target>/ (one file per distinct input, named by its SHA-1).

    /usr/bin/python3 tests/fuzz/capture.py [--server build/release/sluice-server] [--out DIR]

Starts the broker on free loopback ports with a fresh data directory, puts a recording proxy in
front of its Kafka, NATS and HTTP ports (the broker advertises the proxy, so clients never go
around it), and runs the clients the test suites use: kcat (produce with every codec, consume,
group consume, metadata), kafka-python and confluent-kafka (admin APIs, groups, idempotent
producer), nats.js (core and JetStream, from tests/streams/node_modules) and curl. Then it
stops the broker with SIGTERM and takes the files it left: segments (recovery), indexes
(index), the offsets and metadata logs (kvlog), and every stored batch (records).

Kafka requests go to kafka_req as sent (frame without its size); responses to kafka_resp as
api_key i16, api_version i16, frame. NATS client streams go to nats (after a mode byte 0:
server side, 1: client side for what the server sent); JetStream API bodies to jsapi (selector byte: 0 stream config, 1 pull request,
2 consumer create); HTTP requests to http."""
import argparse
import hashlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SEP = b"\n--8<--\n"
MAX_SEED = 16 * 1024


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Corpus:
    def __init__(self, out):
        self.out = out
        self.lock = threading.Lock()
        self.count = {}

    def add(self, target, data):
        if not data or len(data) > MAX_SEED:
            return
        d = os.path.join(self.out, target)
        name = hashlib.sha1(data).hexdigest()
        with self.lock:
            os.makedirs(d, exist_ok=True)
            path = os.path.join(d, name)
            if not os.path.exists(path):
                with open(path, "wb") as f:
                    f.write(data)
                self.count[target] = self.count.get(target, 0) + 1


class Proxy(threading.Thread):
    """Accepts on a free port, relays to target, hands each direction's bytes to on_data."""

    def __init__(self, target_port, on_conn):
        super().__init__(daemon=True)
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(64)
        self.port = self.ls.getsockname()[1]
        self.target_port = target_port
        self.on_conn = on_conn

    def run(self):
        while True:
            c, _ = self.ls.accept()
            s = socket.create_connection(("127.0.0.1", self.target_port))
            rec = self.on_conn()
            for a, b, d in ((c, s, "c2s"), (s, c, "s2c")):
                threading.Thread(target=self.pump, args=(a, b, d, rec), daemon=True).start()

    @staticmethod
    def pump(a, b, direction, rec):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                rec.feed(direction, data)
                b.sendall(data)
        except OSError:
            pass
        finally:
            try:
                b.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            rec.close(direction)


class KafkaRec:
    def __init__(self, corpus):
        self.corpus = corpus
        self.buf = {"c2s": b"", "s2c": b""}
        self.inflight = {}  # correlation id -> (key, version)
        self.lock = threading.Lock()

    def feed(self, d, data):
        with self.lock:
            self.buf[d] += data
            while len(self.buf[d]) >= 4:
                n = struct.unpack(">i", self.buf[d][:4])[0]
                if len(self.buf[d]) < 4 + n:
                    break
                frame, self.buf[d] = self.buf[d][4:4 + n], self.buf[d][4 + n:]
                if d == "c2s":
                    key, ver, cid = struct.unpack(">hhi", frame[:8])
                    self.inflight[cid] = (key, ver)
                    self.corpus.add("kafka_req", frame)
                else:
                    cid = struct.unpack(">i", frame[:4])[0]
                    kv = self.inflight.pop(cid, None)
                    if kv:
                        self.corpus.add("kafka_resp", struct.pack(">hh", *kv) + frame)

    def close(self, d):
        pass


class StreamRec:
    """Keeps a connection's client bytes whole; NATS also yields the JetStream API bodies."""

    def __init__(self, corpus, target, prefix=b""):
        self.corpus, self.target, self.prefix = corpus, target, prefix
        self.data = b""
        self.answer = b""

    def feed(self, d, data):
        if d == "c2s":
            self.data += data
        else:
            self.answer += data

    def close(self, d):
        if d != "c2s":
            # What a NATS server sends is what our client library parses (mode byte 1).
            if self.target == "nats" and self.answer:
                self.corpus.add("nats", b"\x01" + self.answer[:4096])
            return
        # Long sessions are cut into seeds of whole lines, a few KiB each.
        chunk = b""
        for line in self.data.split(b"\n"):
            chunk += line + b"\n"
            if len(chunk) > 4096:
                self.corpus.add(self.target, self.prefix + chunk)
                chunk = b""
        if chunk.strip():
            self.corpus.add(self.target, self.prefix + chunk)
        if self.target == "nats":
            self.js_bodies()

    def js_bodies(self):
        lines = self.data.split(b"\r\n")
        for i, line in enumerate(lines):
            parts = line.split()
            if len(parts) < 3 or parts[0].upper() not in (b"PUB", b"HPUB"):
                continue
            subj = parts[1]
            body = lines[i + 1] if i + 1 < len(lines) else b""
            if parts[0].upper() == b"HPUB":
                body = body.split(b"\r\n\r\n")[-1]
            if subj.startswith(b"$JS.API.STREAM.CREATE") or subj.startswith(b"$JS.API.STREAM.UPDATE"):
                self.corpus.add("jsapi", b"\x00" + body)
            elif subj.startswith(b"$JS.API.CONSUMER.MSG.NEXT"):
                self.corpus.add("jsapi", b"\x01" + body)
            elif subj.startswith(b"$JS.API.CONSUMER.CREATE") or subj.startswith(b"$JS.API.CONSUMER.DURABLE"):
                self.corpus.add("jsapi", b"\x02" + body)


def run(cmd, env=None, timeout=60):
    r = subprocess.run(cmd, env=env, timeout=timeout, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        print("capture: %s exited %d: %s" % (cmd[0], r.returncode, r.stdout.decode()[-500:]), file=sys.stderr)
    return r


def kafka_clients(bootstrap):
    msgs = "".join("key%d:value %d %s\n" % (i, i, "x" * (i * 7 % 40)) for i in range(20)).encode()
    for codec in ("none", "gzip", "snappy", "lz4", "zstd"):
        topic = "cap-%s" % codec
        subprocess.run(["kcat", "-b", bootstrap, "-P", "-t", topic, "-K:", "-z", codec, "-H", "h1=v1",
                        "-X", "linger.ms=50"], input=msgs, timeout=60, check=False)
        run(["kcat", "-b", bootstrap, "-C", "-t", topic, "-e", "-o", "beginning", "-q"])
    run(["kcat", "-b", bootstrap, "-L"])
    run(["kcat", "-b", bootstrap, "-G", "capgroup", "cap-none", "-e", "-q", "-X", "auto.offset.reset=earliest"])
    script = r'''
import sys, time
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic, NewPartitions, ConfigResource, ConfigResourceType
import confluent_kafka
from confluent_kafka.admin import AdminClient
b = sys.argv[1]
a = KafkaAdminClient(bootstrap_servers=b)
a.create_topics([NewTopic("cap-admin", 2, 1, topic_configs={"retention.ms": "3600000"})])
a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "cap-admin")])
a.alter_configs([ConfigResource(ConfigResourceType.TOPIC, "cap-admin", configs={"retention.ms": "7200000"})])
a.create_partitions({"cap-admin": NewPartitions(3)})
p = KafkaProducer(bootstrap_servers=b, compression_type="gzip")
for i in range(10): p.send("cap-admin", key=b"k%d" % i, value=b"v" * i, headers=[("h", b"x")])
p.flush()
c = KafkaConsumer("cap-admin", bootstrap_servers=b, group_id="capgroup2", auto_offset_reset="earliest",
                  consumer_timeout_ms=3000, enable_auto_commit=False)
for m in c: pass
c.commit(); c.close()
a.list_consumer_groups(); a.describe_consumer_groups(["capgroup2"])
a.list_consumer_group_offsets("capgroup2")
try: a.delete_records({TopicPartition("cap-admin", 0): 2})
except Exception as e: print(e)
a.delete_consumer_groups(["capgroup2"])
a.delete_topics(["cap-admin"])
pr = confluent_kafka.Producer({"bootstrap.servers": b, "enable.idempotence": True, "compression.type": "zstd"})
for i in range(10): pr.produce("cap-idem", key=b"k", value=b"v%d" % i)
pr.flush(10)
ca = AdminClient({"bootstrap.servers": b})
ca.list_topics(timeout=5)
cc = confluent_kafka.Consumer({"bootstrap.servers": b, "group.id": "capgroup3", "auto.offset.reset": "earliest"})
cc.subscribe(["cap-idem"])
t = time.time()
while time.time() - t < 4: cc.poll(0.2)
cc.commit(asynchronous=False); cc.close()
'''
    run(["/usr/bin/python3", "-c", script, bootstrap], timeout=120)


def nats_clients(url):
    mods = None
    for cand in (os.path.join(REPO, "tests", "streams", "node_modules"), "/work/main/tests/streams/node_modules"):
        if os.path.isdir(os.path.join(cand, "@nats-io", "jetstream")):
            mods = cand
            break
    if not mods:
        print("capture: no nats.js (run scripts/setup.sh): NATS seeds from hand-written lines only", file=sys.stderr)
        return
    env = dict(os.environ, SLUICE_NATS_URL=url, NODE_PATH=mods)
    run(["node", os.path.join(HERE, "capture_nats.js")], env=env)


def http_clients(port):
    for path in ("/varz", "/varz?subs=1", "/connz?limit=2&offset=0", "/metrics", "/healthz", "/nothing"):
        run(["curl", "-s", "-o", "/dev/null", "http://127.0.0.1:%d%s" % (port, path)])
    run(["curl", "-s", "-o", "/dev/null", "-I", "http://127.0.0.1:%d/varz" % port])


def take_files(corpus, data_dir):
    for name in sorted(os.listdir(data_dir)):
        ldir = os.path.join(data_dir, name)
        if not os.path.isdir(ldir):
            continue
        files = sorted(os.listdir(ldir))
        for f in files:
            if not f.endswith(".log"):
                continue
            seg = open(os.path.join(ldir, f), "rb").read()
            stem = os.path.join(ldir, f[:-4])
            # Every batch, for the record walk.
            pos = 0
            while pos + 61 <= len(seg):
                n = struct.unpack(">i", seg[pos + 8:pos + 12])[0] + 12
                corpus.add("records", seg[pos:pos + n])
                pos += n
            if seg[:8] == b"\0" * 8:
                idx = b""
                if os.path.exists(stem + ".index"):
                    idx = open(stem + ".index", "rb").read()
                    corpus.add("index", b"\x00" + idx + SEP + open(stem + ".timeindex", "rb").read())
                corpus.add("recovery", b"\x00" + seg)
                corpus.add("recovery", b"\x00" + seg[:len(seg) * 2 // 3])  # a torn tail
                if idx:
                    corpus.add("recovery", b"\x00" + seg + SEP + idx)
                if name.startswith("__consumer_offsets"):
                    corpus.add("kvlog", b"\x02" + seg)
                elif name.startswith("__"):
                    corpus.add("kvlog", b"\x00" + seg)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", default=None)
    ap.add_argument("--out", default=os.path.join(HERE, "corpus"))
    args = ap.parse_args()
    server = args.server
    if not server:
        for kind in ("release", "debug", "sanitize"):
            cand = os.path.join(REPO, "build", kind, "sluice-server")
            if os.access(cand, os.X_OK):
                server = cand
                break
    if not server:
        sys.exit("capture: no sluice-server (bash scripts/build.sh release)")
    corpus = Corpus(args.out)
    data_dir = tempfile.mkdtemp(prefix="sluice-capture-")
    kp, np_, hp = free_port(), free_port(), free_port()
    kproxy = Proxy(kp, lambda: KafkaRec(corpus))
    nproxy = Proxy(np_, lambda: StreamRec(corpus, "nats", b"\x00"))
    hproxy = Proxy(hp, lambda: StreamRec(corpus, "http"))
    for p in (kproxy, nproxy, hproxy):
        p.start()
    proc = subprocess.Popen([server, "--data_dir", data_dir, "--kafka_port", str(kp), "--port", str(np_),
                             "--http_port", str(hp), "--host", "127.0.0.1", "--jetstream",
                             "--advertised_port", str(kproxy.port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", kp), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        kafka_clients("127.0.0.1:%d" % kproxy.port)
        nats_clients("nats://127.0.0.1:%d" % nproxy.port)
        http_clients(hproxy.port)
        time.sleep(1)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    take_files(corpus, data_dir)
    shutil.rmtree(data_dir, ignore_errors=True)
    for t in sorted(corpus.count):
        print("capture: %s: %d new seeds" % (t, corpus.count[t]))


if __name__ == "__main__":
    main()
