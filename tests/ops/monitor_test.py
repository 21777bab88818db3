#!/usr/bin/python3
"""monitor_test: the monitoring port of a real sluice-server (--http_port, nats-server's -m).

(a) routes: /healthz {"status":"ok"}; /varz with the broker's own ports and limits and counters
    that move with real NATS traffic; /subsz; /jsz counting a stream's messages; 404 for an
    unknown path, 405 with Allow for POST, HEAD with Content-Length and no body; two pipelined
    requests on one keep-alive connection answered in order; HTTP/1.0 closes.
(b) /connz: 1,000 NATS connections open at once: /varz says 1000, /connz pages them
    (offset/limit), sorts by msgs_from, shows name/lang from CONNECT and per-connection
    counters; a bad sort or offset is 400.
(c) bad HTTP input closes that connection only: garbage (400), a 16 KiB header (431), a request
    with a body (413), a request dripped byte by byte past 10 s (408, slowloris); /healthz
    answers on a new connection after each.
(d) /metrics: Prometheus text 0.0.4 that `promtool check metrics` accepts with no output; the
    families the alerts use exist; the fdatasync histogram counts grow under fsync group while
    Kafka produces.
(e) a real Prometheus (Debian's) scrapes the broker every second: a consumer group that
    committed half of 400 messages shows lag 200 in Prometheus, then 0 after it caught up.
(f) our users' command line as written (`-js -m PORT --maxpayload=10MB --writedeadline=2s
    --max_connections=5000`, plus the test's ports) and their nats-server.conf (blocks, unknown
    keys warned with their line): /varz shows the limits, JetStream answers, logs are JSON lines
    with --log-format json; `-t` validates and exits 0, a bad file exits 2 naming the line.
"""
import json
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import harness  # noqa: E402
from harness import CheckFailed  # noqa: E402

NAME = "monitor_test"


def http(port, path, method="GET", timeout=5):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def raw_exchange(port, data, timeout=5.0, drip=None):
    """Sends data (all at once, or one byte per `drip` seconds) and reads until the server closes;
    returns what came back."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    got = b""
    try:
        if drip:
            for i in range(len(data)):
                try:
                    s.sendall(data[i:i + 1])
                except OSError:
                    break
                time.sleep(drip)
                s.setblocking(False)
                try:
                    chunk = s.recv(65536)
                    if chunk == b"":
                        break
                    got += chunk
                except BlockingIOError:
                    pass
                finally:
                    s.setblocking(True)
                    s.settimeout(timeout)
        else:
            s.sendall(data)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                return got, True
            got += chunk
        return got, False
    finally:
        s.close()


def status_of(resp):
    m = re.match(rb"HTTP/1\.1 (\d{3}) ", resp)
    return int(m.group(1)) if m else None


def nats_conn(port, name, lang="python3"):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.recv(4096)  # INFO
    s.sendall(b'CONNECT {"verbose":false,"pedantic":false,"name":"%s","lang":"%s","version":"1.0"}\r\nPING\r\n'
              % (name.encode(), lang.encode()))
    buf = b""
    while b"PONG" not in buf:
        buf += s.recv(4096)
    return s


def body(ck):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    b = harness.start_broker(["--jetstream", "--fsync", "group"])
    hp, np_ = b.http_port, b.nats_port

    with ck.section("(a) routes"):
        st, hd, bd = http(hp, "/healthz")
        ck.eq((st, json.loads(bd)), (200, {"status": "ok"}), "/healthz")
        ck.eq(hd.get("Content-Type"), "application/json", "/healthz content type")
        c = nats_conn(np_, "pub1")
        c.sendall(b"".join(b"PUB a.b 5\r\nhello\r\n" for _ in range(10)) + b"PING\r\n")
        time.sleep(0.2)
        st, _, bd = http(hp, "/varz")
        v = json.loads(bd)
        ck.eq(st, 200, "/varz status")
        ck.eq((v["port"], v["http_port"], v["kafka_port"]), (np_, hp, b.kafka_port), "/varz ports")
        ck.eq((v["max_payload"], v["max_connections"], v["connections"]), (1048576, 65536, 1), "/varz limits")
        ck.ok(v["in_msgs"] >= 10 and v["in_bytes"] >= 50, "/varz in_msgs %d in_bytes %d" % (v["in_msgs"], v["in_bytes"]))
        ck.ok(v["mem"] > 0 and v["cores"] >= 1 and re.match(r"^\d+(\.\d+)?[smhd]", v["uptime"]), "/varz process fields")
        c.close()
        st, _, bd = http(hp, "/subsz")
        ck.eq((st, sorted(json.loads(bd))[:3]), (200, ["avg_fanout", "cache_hit_rate", "max_fanout"]), "/subsz")
        js = nats_conn(np_, "js")
        cfg = json.dumps({"name": "ORDERS", "subjects": ["orders.*"], "retention": "workqueue"}).encode()
        js.sendall(b"SUB _R 1\r\nPUB $JS.API.STREAM.CREATE.ORDERS _R %d\r\n%s\r\n" % (len(cfg), cfg))
        js.sendall(b"".join(b"PUB orders.new _R 3\r\nabc\r\n" for _ in range(7)))
        time.sleep(0.5)
        st, _, bd = http(hp, "/jsz")
        j = json.loads(bd)
        ck.eq((st, j["streams"], j["messages"]), (200, 1, 7), "/jsz streams and messages")
        # Three deliveries to a pull consumer: the topic's sent records and bytes (3 x "abc").
        ccfg = json.dumps({"stream_name": "ORDERS",
                           "config": {"durable_name": "W", "ack_policy": "explicit"}}).encode()
        nreq = b'{"batch":3}'
        js.sendall(b"PUB $JS.API.CONSUMER.DURABLE.CREATE.ORDERS.W _R %d\r\n%s\r\nSUB _F 2\r\n"
                   b"PUB $JS.API.CONSUMER.MSG.NEXT.ORDERS.W _F %d\r\n%s\r\n" % (len(ccfg), ccfg, len(nreq), nreq))
        got, end = b"", time.monotonic() + 10
        while got.count(b"MSG orders.new 2 ") < 3 and time.monotonic() < end:
            js.settimeout(max(0.1, end - time.monotonic()))
            got += js.recv(65536)
        ck.eq(got.count(b"MSG orders.new 2 "), 3, "three deliveries")
        st, _, bd = http(hp, "/metrics")
        for fam in (b'sluice_topic_sent_records_total{topic="ORDERS"} 3\n',
                    b'sluice_topic_sent_bytes_total{topic="ORDERS"} 9\n'):
            ck.ok(fam in bd, "/metrics has %s" % fam.decode().strip())
        js.close()
        st, _, bd = http(hp, "/nope")
        ck.eq(st, 404, "unknown path")
        st, hd, _ = http(hp, "/varz", method="POST")
        ck.eq((st, hd.get("Allow")), (405, "GET, HEAD"), "POST /varz")
        resp, closed = raw_exchange(hp, b"HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        ck.ok(resp.startswith(b"HTTP/1.1 200 OK\r\n") and b"Content-Length: 15\r\n" in resp and resp.endswith(b"\r\n\r\n"),
              "HEAD: headers only, got %r" % resp)
        two = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        resp, closed = raw_exchange(hp, two)
        ck.eq([int(x) for x in re.findall(rb"HTTP/1\.1 (\d{3})", resp)], [200, 404], "pipelined keep-alive requests")
        ck.ok(closed, "Connection: close closes")
        resp, closed = raw_exchange(hp, b"GET /healthz HTTP/1.0\r\n\r\n")
        ck.ok(status_of(resp) == 200 and closed, "HTTP/1.0 answered and closed")

    with ck.section("(b) /connz with 1,000 NATS connections"):
        conns = []
        try:
            for i in range(1000):
                conns.append(nats_conn(np_, "c%04d" % i, lang="go" if i % 2 else "python3"))
            conns[7].sendall(b"".join(b"PUB x 1\r\n1\r\n" for _ in range(25)) + b"PING\r\n")
            time.sleep(0.3)
            st, _, bd = http(hp, "/varz")
            ck.eq(json.loads(bd)["connections"], 1000, "/varz connections")
            st, _, bd = http(hp, "/connz")
            z = json.loads(bd)
            ck.eq((st, z["total"], z["num_connections"], len(z["connections"])), (200, 1000, 1000, 1000), "/connz default")
            cids = [x["cid"] for x in z["connections"]]
            ck.eq(cids, sorted(cids), "/connz sorted by cid")
            st, _, bd = http(hp, "/connz?offset=990&limit=20")
            z = json.loads(bd)
            ck.eq((z["offset"], z["limit"], z["num_connections"], len(z["connections"])), (990, 20, 10, 10), "/connz paging")
            st, _, bd = http(hp, "/connz?sort=msgs_from&limit=1")
            top = json.loads(bd)["connections"][0]
            ck.eq((top["name"], top["lang"], top["in_msgs"], top["in_bytes"]), ("c0007", "go", 25, 25), "/connz sort=msgs_from")
            ck.ok("tcp_retransmits" in top and "pending_bytes" in top, "/connz per-connection TCP retransmits")
            st, _, bd = http(hp, "/connz?sort=nope")
            ck.eq((st, json.loads(bd)), (400, {"error": "invalid sorting option"}), "bad sort")
            st, _, _ = http(hp, "/connz?offset=-1")
            ck.eq(st, 400, "bad offset")
        finally:
            for s in conns:
                s.close()

    with ck.section("(c) bad HTTP input closes that connection only"):
        for what, data, want in (("garbage", b"\x16\x03\x01\x00\xa5garbage\r\n\r\n", 400),
                                 ("16 KiB header", b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 16384 + b"\r\n\r\n", 431),
                                 ("a body", b"POST /varz HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", 413)):
            resp, closed = raw_exchange(hp, data)
            ck.eq((status_of(resp), closed), (want, True), what)
            st, _, _ = http(hp, "/healthz")
            ck.eq(st, 200, "/healthz after %s" % what)
        t0 = time.monotonic()
        resp, closed = raw_exchange(hp, b"GET /varz HTTP/1.1\r\nHost: slow\r\nX-Drip: " + b"a" * 100, timeout=15, drip=0.11)
        ck.ok(status_of(resp) == 408 and closed and time.monotonic() - t0 < 14,
              "slowloris: 408 and closed after ~10 s, got %r closed=%s after %.1f s" % (resp[:40], closed, time.monotonic() - t0))
        st, _, _ = http(hp, "/healthz")
        ck.eq(st, 200, "/healthz after slowloris")

    with ck.section("(d) /metrics and promtool"):
        if shutil.which("promtool") is None:
            raise harness.Skip("promtool missing (scripts/setup.sh installs prometheus)")
        st, _, bd = http(hp, "/metrics")
        before = int(re.search(rb"^sluice_disk_fdatasync_duration_seconds_count (\d+)$", bd, re.M).group(1))
        from confluent_kafka import Producer
        p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "linger.ms": 0})
        for i in range(50):
            p.produce("m1", b"v%d" % i)
            p.flush(5)
        from confluent_kafka import Consumer
        cons = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "rebal", "auto.offset.reset": "earliest"})
        cons.subscribe(["m1"])
        seen = 0
        end = time.monotonic() + 20
        while seen < 50 and time.monotonic() < end:
            m = cons.poll(0.5)
            if m is not None and not m.error():
                seen += 1
        cons.close()
        ck.eq(seen, 50, "a subscribed group member read m1")
        # Errors by API and code: TOPIC_ALREADY_EXISTS (36) and UNKNOWN_TOPIC_OR_PARTITION (3).
        from confluent_kafka.admin import AdminClient, NewTopic
        adm = AdminClient({"bootstrap.servers": b.bootstrap})
        for what, fut in (("create m1 again", adm.create_topics([NewTopic("m1", 1, 1)])["m1"]),
                          ("delete nosuch", adm.delete_topics(["nosuch"])["nosuch"])):
            try:
                fut.result(10)
                ck.ok(False, "%s: no error" % what)
            except Exception as e:
                ck.eq(e.args[0].code(), 36 if what.startswith("create") else 3, what)
        st, hd, bd = http(hp, "/metrics")
        for fam in (b'sluice_kafka_errors_total{api="CreateTopics",code="36"} 1\n',
                    b'sluice_kafka_errors_total{api="DeleteTopics",code="3"} 1\n'):
            ck.ok(fam in bd, "/metrics has %s" % fam.decode().strip())
        ck.ok(re.search(rb'^sluice_kafka_errors_total\{api="(Produce|Fetch)"', bd, re.M) is None,
              "no Produce/Fetch errors counted for clean traffic")
        ck.eq((st, hd.get("Content-Type")), (200, "text/plain; version=0.0.4; charset=utf-8"), "/metrics type")
        ck.ok(int(re.search(rb"^sluice_kafka_rebalances_total (\d+)$", bd, re.M).group(1)) >= 1, "a rebalance counted")
        ck.ok(int(re.search(rb'^sluice_topic_sent_bytes_total\{topic="m1"\} (\d+)$', bd, re.M).group(1)) > 0,
              "fetched bytes counted")
        ck.eq(int(re.search(rb'^sluice_topic_sent_records_total\{topic="m1"\} (\d+)$', bd, re.M).group(1)), 50,
              "records fetched by the one group member")
        r = subprocess.run(["promtool", "check", "metrics"], input=bd, capture_output=True, timeout=30)
        ck.eq((r.returncode, r.stdout + r.stderr), (0, b""), "promtool check metrics")
        after = int(re.search(rb"^sluice_disk_fdatasync_duration_seconds_count (\d+)$", bd, re.M).group(1))
        ck.ok(after >= before + 50, "fdatasync count %d -> %d over 50 acks=all produces" % (before, after))
        for fam in (b"sluice_kafka_consumer_group_lag_messages", b"sluice_disk_write_duration_seconds_bucket",
                    b"sluice_host_tcp_retransmitted_segments_total", b"sluice_nats_slow_consumers_total",
                    b"sluice_jetstream_dlq_appends_total", b"sluice_process_resident_memory_bytes",
                    b"sluice_log_size_bytes{topic=\"m1\",partition=\"0\"}",
                    b"sluice_topic_received_records_total{topic=\"m1\"} 50\n",
                    b"sluice_kafka_rebalances_total", b"sluice_kafka_rebalance_duration_seconds_bucket",
                    b"sluice_txn_committed_total", b"sluice_txn_ongoing"):
            ck.ok(fam in bd, "/metrics has %s" % fam.decode())

    with ck.section("(e) a real Prometheus sees consumer lag rise and fall"):
        prom = shutil.which("prometheus")
        if prom is None:
            raise harness.Skip("prometheus missing (scripts/setup.sh installs it)")
        from confluent_kafka import Consumer, Producer, TopicPartition
        p = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 5})
        for i in range(400):
            p.produce("lagged", b"m%d" % i, partition=0)
        p.flush(10)
        c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "slowpoke", "enable.auto.commit": False,
                      "auto.offset.reset": "earliest"})
        c.assign([TopicPartition("lagged", 0, 0)])
        got = 0
        deadline = time.monotonic() + 20
        while got < 200 and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                got += 1
        ck.eq(got, 200, "consumed half")
        c.commit(offsets=[TopicPartition("lagged", 0, 200)], asynchronous=False)
        tmp = tempfile.mkdtemp(prefix="sluice-prom-")
        pport = harness.free_ports(1)[0]
        with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n"
                    "  - job_name: sluice\n    static_configs:\n      - targets: ['127.0.0.1:%d']\n" % hp)
        log = open(os.path.join(tmp, "prometheus.log"), "w")
        pr = subprocess.Popen([prom, "--config.file", os.path.join(tmp, "prometheus.yml"), "--storage.tsdb.path",
                               os.path.join(tmp, "data"), "--web.listen-address", "127.0.0.1:%d" % pport],
                              stdout=log, stderr=subprocess.STDOUT)
        try:
            def query(q):
                st, _, bd = http(pport, "/api/v1/query?query=" + urllib.request.quote(q))
                res = json.loads(bd)["data"]["result"] if st == 200 else []
                return [float(x["value"][1]) for x in res]

            def wait_for(q, want, secs=30):
                end = time.monotonic() + secs
                last = None
                while time.monotonic() < end:
                    try:
                        last = query(q)
                    except (OSError, ValueError, KeyError):
                        last = None
                    if last == want:
                        return last
                    time.sleep(0.5)
                raise CheckFailed("%s: got %s, want %s" % (q, last, want))

            lag = 'sluice_kafka_consumer_group_lag_messages{group="slowpoke",topic="lagged",partition="0"}'
            wait_for(lag, [200.0])
            wait_for('up{job="sluice"}', [1.0])
            while got < 400 and time.monotonic() < deadline + 20:
                m = c.poll(0.5)
                if m is not None and not m.error():
                    got += 1
            ck.eq(got, 400, "consumed the rest")
            c.commit(offsets=[TopicPartition("lagged", 0, 400)], asynchronous=False)
            wait_for(lag, [0.0])
            ck.ok(query("rate(sluice_kafka_requests_total[5s])"), "rate() over a sluice counter answers")
            # Every PromQL expression of the Grafana dashboard and the alert rules is valid against
            # this broker's series: Prometheus evaluates it without an error, and the dashboard's
            # ones that do not depend on traffic in the last minute return data.
            repo = os.path.dirname(os.path.dirname(HERE))
            dash = json.load(open(os.path.join(repo, "docker", "grafana", "dashboards", "sluice.json")))
            exprs = [t["expr"] for p_ in dash["panels"] for t in p_["targets"]]
            import yaml
            rules = yaml.safe_load(open(os.path.join(repo, "docker", "prometheus", "alerts.yml")))
            exprs += [r["expr"] for g in rules["groups"] for r in g["rules"]]
            time.sleep(2)
            empty = []
            for e in exprs:
                st, _, bd = http(pport, "/api/v1/query?query=" + urllib.request.quote(e))
                res = json.loads(bd)
                ck.eq((st, res.get("status")), (200, "success"), "Prometheus evaluates %s" % e)
                if not res["data"]["result"]:
                    empty.append(e)
            for e in ("sum by (group, topic) (sluice_kafka_consumer_group_lag_messages)", "sluice_kafka_connections",
                      "sum by (topic) (sluice_log_size_bytes)", "rate(sluice_disk_written_bytes_total[1m])"):
                ck.ok(e not in empty, "dashboard query %s has data" % e)
            print("     %d dashboard and alert expressions evaluated (%d empty now: alerts not firing, "
                  "or no traffic of that kind)" % (len(exprs), len(empty)))
        finally:
            c.close()
            pr.terminate()
            pr.wait(10)
            shutil.rmtree(tmp, ignore_errors=True)

    with ck.section("(g) SIGHUP reloads what can change and names what needs a restart"):
        binary = harness.server_binary()
        tmp = tempfile.mkdtemp(prefix="sluice-hup-")
        nport, nport2, kport, mport = harness.free_ports(4)
        conf = os.path.join(tmp, "sluice.conf")
        open(conf, "w").write("port: %d\nmax_payload: 1MB\nwrite_deadline: 10s\n" % nport)
        logp = os.path.join(tmp, "server.log")
        pr = subprocess.Popen([binary, "-c", conf, "-m", str(mport), "--kafka_port", str(kport), "-a", "127.0.0.1",
                               "--data_dir", os.path.join(tmp, "data")], stdout=open(logp, "w"), stderr=subprocess.STDOUT)
        try:
            ck.ok(harness.wait_port("127.0.0.1", mport, 10, pr), "monitoring port answers")
            old = socket.create_connection(("127.0.0.1", nport), timeout=5)
            old.recv(4096)
            open(conf, "w").write("port: %d\nmax_payload: 2MB\nwrite_deadline: 3s\nlog_level: debug\n" % nport2)
            pr.send_signal(1)  # SIGHUP
            end = time.monotonic() + 5
            v = {}
            while time.monotonic() < end:
                v = json.loads(http(mport, "/varz")[2])
                if v["max_payload"] == 2 << 20:
                    break
                time.sleep(0.1)
            ck.eq((v["max_payload"], v["write_deadline"], v["port"]), (2 << 20, 3 * 10**9, nport), "/varz after SIGHUP")
            s2 = socket.create_connection(("127.0.0.1", nport), timeout=5)
            ck.ok(b'"max_payload":2097152' in s2.recv(4096), "a new connection's INFO has the new max_payload")
            s2.close()
            old.sendall(b"PING\r\n")
            ck.ok(b"PONG" in old.recv(4096), "a connection made before the reload still works")
            open(conf, "w").write("port: %d\nmax_payload: lots\n" % nport)
            pr.send_signal(1)
            time.sleep(0.5)
            ck.eq(json.loads(http(mport, "/varz")[2])["max_payload"], 2 << 20, "a bad file changes nothing")
            pr.terminate()
            ck.eq(pr.wait(15), 0, "clean stop")
            text = open(logp).read()
            ck.ok("reload: port changed in the configuration but needs a restart" in text, "restart named: %s" % text[-800:])
            ck.ok("reloaded the configuration: 3 setting(s) changed" in text, "3 settings changed (log_level, max_payload, write_deadline)")
            ck.ok(re.search(r"reload refused, nothing changed: .*sluice.conf:2: max_payload: 'lots' is not a size", text),
                  "bad reload refused")
        finally:
            if pr.poll() is None:
                pr.kill()
                pr.wait()
            shutil.rmtree(tmp, ignore_errors=True)

    with ck.section("(f) our users' command line and nats-server.conf"):
        binary = harness.server_binary()
        tmp = tempfile.mkdtemp(prefix="sluice-cli-")
        nport, kport, mport = harness.free_ports(3)
        conf = os.path.join(tmp, "nats.conf")
        with open(conf, "w") as f:
            f.write("# a nats-server config\nport: %d\nserver_name: n1\njetstream {\n  store_dir: \"%s\"\n"
                    "  max_file_store: 10G\n}\nauthorization {\n  token: s3cret\n}\n" % (nport, os.path.join(tmp, "js")))
        r = subprocess.run([binary, "-c", conf, "-t"], capture_output=True, timeout=10)
        ck.eq((r.returncode, r.stdout), (0, b"sluice-server: configuration OK\n"), "-t on a nats-server.conf")
        ck.ok(b"nats.conf:3: server_name is not a Sluice setting: ignored" in r.stderr, "unknown key warned: %r" % r.stderr)
        with open(os.path.join(tmp, "bad.conf"), "w") as f:
            f.write("port: 1\nmax_payload: lots\n")
        r = subprocess.run([binary, "-c", os.path.join(tmp, "bad.conf"), "-t"], capture_output=True, timeout=10)
        ck.ok(r.returncode == 2 and b"bad.conf:2: max_payload: 'lots' is not a size" in r.stderr, "bad file: %r" % (r,))
        log = open(os.path.join(tmp, "server.log"), "w")
        pr = subprocess.Popen([binary, "-c", conf, "-js", "-m", str(mport), "--maxpayload=10MB", "--writedeadline=2s",
                               "--max_connections=5000", "--kafka_port", str(kport), "-a", "127.0.0.1",
                               "--log-format", "json"], stdout=log, stderr=subprocess.STDOUT)
        try:
            ck.ok(harness.wait_port("127.0.0.1", nport, 10, pr), "NATS port answers")
            harness.wait_port("127.0.0.1", mport, 10, pr)
            st, _, bd = http(mport, "/varz")
            v = json.loads(bd)
            ck.eq((v["max_payload"], v["write_deadline"], v["max_connections"], v["auth_required"]),
                  (10 << 20, 2 * 10**9, 5000, True), "/varz of the seed command line")
            s2 = socket.create_connection(("127.0.0.1", nport), timeout=5)
            info = s2.recv(4096)
            ck.ok(b'"jetstream":true' in info and b'"max_payload":10485760' in info, "INFO: %r" % info[:200])
            s2.sendall(b'CONNECT {"verbose":false,"auth_token":"s3cret","headers":true}\r\nSUB _R 1\r\n'
                       b'PUB $JS.API.INFO _R 0\r\n\r\n')
            got = b""
            end = time.monotonic() + 5
            while b"io.nats.jetstream.api.v1.account_info_response" not in got and time.monotonic() < end:
                got += s2.recv(4096)
            ck.ok(b"account_info_response" in got, "JetStream answers: %r" % got[:200])
            s2.close()
            pr.terminate()
            ck.eq(pr.wait(15), 0, "clean stop")
            lines = open(os.path.join(tmp, "server.log")).read().splitlines()
            parsed = [json.loads(x) for x in lines]
            ck.ok(len(parsed) >= 3 and all(set(x) == {"time", "level", "msg"} for x in parsed), "JSON log lines")
            ck.ok(any("max_file_store is accepted but not enforced" in x["msg"] for x in parsed), "jetstream block key said")
        finally:
            if pr.poll() is None:
                pr.kill()
                pr.wait()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    harness.run(NAME, body, time_limit=240)
