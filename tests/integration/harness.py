"""harness.py: runs a real sluice-server for the integration tests and checks what they see.

start_broker() starts build/<kind>/sluice-server (env SLUICE_SERVER) on 127.0.0.1 with three free
ports it picks itself, in a fresh data directory, and waits (bounded) until the Kafka port
accepts TCP connections. The broker's output goes to <data_dir>/.broker.log (a dot name, which the
store skips when it opens the directory); its tail is printed when a test fails.

SLUICE_EXTERNAL_KAFKA=host:port points every test at a Kafka peer that is already running
(for example librdkafka's mock cluster while the broker's listener is being written): no broker
is started, and tests that must stop or restart it skip. SLUICE_KEEP_DATA=1 keeps data dirs.

start_mock() starts tests/tools/kafka_mock (env SLUICE_KAFKA_MOCK, else build/<kind>/tests/tools/
kafka_mock): librdkafka's mock cluster as the peer, for a test that proves its expectations there
before it holds Sluice to them. SLUICE_PEER=mock makes start_broker() return one too. The mock
cannot be restarted (kill9/restart skip), and it names no controller, so topics with a chosen
partition count are made with its create_topic() (harness.create_topic() picks the right way).

Also a command line, for tests written in other languages:
    python3 harness.py run [--require PROG] [--require-path PATH] [--require-env VAR] -- CMD...
starts a broker, runs CMD with SLUICE_KAFKA_BOOTSTRAP (and _PORT, SLUICE_NATS_PORT,
SLUICE_HTTP_PORT) in its environment, stops the broker (exit code 0 required) and exits with
CMD's code. A missing PROG / PATH / VAR exits 77 (skipped) before any broker starts.
"""
import contextlib
import fcntl
import glob
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback

SKIP = 77
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
START_TIMEOUT = 10.0
STOP_TIMEOUT = 15.0

_brokers = []  # every broker started by this process, for the failure report and cleanup


class Skip(Exception):
    """Raised to end a test with exit code 77 (skipped) and a reason."""


class CheckFailed(AssertionError):
    pass


def skip(reason):
    raise Skip(reason)


def external():
    return os.environ.get("SLUICE_EXTERNAL_KAFKA") or None


def needs_own_broker(why):
    """Skips a test that starts brokers of its own (with flags of its own) when the suite runs
    against an external Kafka or the mock peer."""
    if external() or os.environ.get("SLUICE_PEER") == "mock":
        skip(why)


@contextlib.contextmanager
def scratch_dir(prefix):
    """A temporary directory for a test's certificates and files, removed however it ends."""
    d = tempfile.mkdtemp(prefix=prefix)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


PORT_LO, PORT_HI = 20000, 32767  # below Linux's ephemeral range (32768-60999)
PORT_DIR = "/tmp/sluice-test-ports"


def _port_owner_alive(path):
    try:
        with open(path) as f:
            pid = int(f.read().strip() or "0")
        if pid <= 0:
            return False
        os.kill(pid, 0)
        return True
    except (OSError, ValueError):
        return False


def free_ports(n):
    """n distinct free TCP ports on 127.0.0.1, reserved for this process's life.

    Tests run in parallel (ctest -j2) and kill and restart their brokers on the same ports: a
    port the kernel hands out for bind(0) may be one a killed broker of another test is about to
    take again. So the ports come from below the ephemeral range (no client connection or bind(0)
    gets them) and each is marked in PORT_DIR with the pid that took it; a port marked by a live
    process is never handed out again. A mark of a dead process is taken over."""
    os.makedirs(PORT_DIR, exist_ok=True)
    out = []
    with open(os.path.join(PORT_DIR, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        rng = random.Random(os.getpid() ^ time.monotonic_ns())
        for _ in range(20000):
            if len(out) == n:
                break
            port = rng.randint(PORT_LO, PORT_HI)
            mark = os.path.join(PORT_DIR, str(port))
            if port in out or _port_owner_alive(mark):
                continue
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            finally:
                s.close()
            with open(mark, "w") as f:
                f.write(str(os.getpid()))
            out.append(port)
    if len(out) != n:
        raise CheckFailed("no %d free ports in %d-%d" % (n, PORT_LO, PORT_HI))
    return out


def port_open(host, port, timeout=0.5):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_port(host, port, timeout=START_TIMEOUT, proc=None):
    """Waits until host:port accepts a TCP connection. False on timeout or if proc exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        if port_open(host, port):
            return True
        time.sleep(0.05)
    return False


def server_binary():
    path = os.environ.get("SLUICE_SERVER")
    if path:
        return path
    for kind in ("release", "dev", "debug", "sanitize"):
        cand = os.path.join(REPO, "build", kind, "sluice-server")
        if os.access(cand, os.X_OK):
            return cand
    raise CheckFailed("no broker binary: set SLUICE_SERVER or run scripts/build.sh")


class Broker:
    """A sluice-server process. Ports and data dir stay the same across restarts."""

    def __init__(self, extra_args=(), data_dir=None):
        self.external = None
        self.host = "127.0.0.1"
        self.binary = server_binary()
        self.extra_args = list(extra_args)
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="sluice-it-")
        self.log_path = os.path.join(self.data_dir, ".broker.log")
        self.kafka_port, self.nats_port, self.http_port = free_ports(3)
        self.proc = None
        self.starts = 0
        _brokers.append(self)

    @property
    def bootstrap(self):
        return "%s:%d" % (self.host, self.kafka_port)

    def args(self):
        return [self.binary, "--data_dir", self.data_dir, "--kafka_port", str(self.kafka_port),
                "--port", str(self.nats_port), "--http_port", str(self.http_port),
                "--host", self.host, "--log_level", "info"] + self.extra_args

    def start(self):
        assert self.proc is None or self.proc.poll() is not None, "broker already running"
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(("---- start #%d: %s\n" % (self.starts, " ".join(self.args()))).encode())
            log.flush()
            self.proc = subprocess.Popen(self.args(), stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        if not wait_port(self.host, self.kafka_port, START_TIMEOUT, self.proc):
            rc = self.proc.poll()
            if rc is None:
                raise CheckFailed("broker did not accept connections on %s within %.0f s"
                                  % (self.bootstrap, START_TIMEOUT))
            raise CheckFailed("broker exited with code %d during start-up" % rc)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGTERM, wait at most 15 s, and require exit code 0."""
        if self.proc is None or self.proc.poll() is not None:
            rc = None if self.proc is None else self.proc.returncode
            raise CheckFailed("stop: broker is not running (exit code %s)" % rc)
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT)
            raise CheckFailed("broker did not exit within %.0f s of SIGTERM" % STOP_TIMEOUT)
        if rc != 0:
            raise CheckFailed("broker exited with code %d after SIGTERM" % rc)

    def kill9(self):
        if not self.alive():
            raise CheckFailed("kill9: broker is not running")
        self.proc.kill()
        self.proc.wait(timeout=STOP_TIMEOUT)
        self.wait_ports_closed()

    def wait_ports_closed(self, timeout=5.0):
        """After a kill -9 the kernel tears the process's io_uring down after the process is
        reaped: until then its listening sockets still complete handshakes that nobody serves,
        and a start that waits for the port would take the dead socket for the new broker."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and port_open(self.host, self.kafka_port, 0.2):
            time.sleep(0.02)

    def restart(self, kill=False):
        """Stops (SIGTERM, or SIGKILL with kill=True) and starts again on the same dir and ports."""
        if self.alive():
            self.kill9() if kill else self.stop()
        return self.start()

    def log_text(self, needle=b"", timeout=5.0):
        """The broker's log as bytes, once it holds needle (or after timeout): the broker writes
        its log from a thread of its own, a moment after the event that logged the line."""
        deadline = time.monotonic() + timeout
        while True:
            with open(self.log_path, "rb") as f:
                data = f.read()
            if needle in data or time.monotonic() >= deadline:
                return data
            time.sleep(0.02)

    def log_tail(self, lines=40):
        try:
            with open(self.log_path, "rb") as f:
                data = f.read()
        except OSError as e:
            return "(no log: %s)" % e
        text = data.decode("utf-8", "replace").splitlines()
        # A sanitizer report: show its start (the first stacks name the culprit), then the end.
        for i, line in enumerate(text):
            if ("Sanitizer" in line and "ERROR" in line) or "runtime error:" in line:
                head = text[i:i + 50]
                return "\n".join(head + ["..."] + text[max(i + 50, len(text) - 10):])
        return "\n".join(text[-lines:])

    def cleanup(self, keep=False):
        if self.alive():
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT)
        if keep or os.environ.get("SLUICE_KEEP_DATA"):
            print("harness: data dir kept: %s" % self.data_dir)
        elif self.own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)


class ExternalBroker:
    """A Kafka peer we did not start (SLUICE_EXTERNAL_KAFKA): nothing to stop or restart."""

    def __init__(self, hostport):
        self.external = hostport
        self.host, port = hostport.rsplit(":", 1)
        self.kafka_port = int(port)
        self.nats_port = self.http_port = None
        self.data_dir = None
        self.log_path = None
        self.proc = None
        _brokers.append(self)

    @property
    def bootstrap(self):
        return self.external

    def start(self):
        if not wait_port(self.host, self.kafka_port, START_TIMEOUT):
            raise CheckFailed("external Kafka %s does not accept connections" % self.external)
        return self

    def alive(self):
        return port_open(self.host, self.kafka_port)

    def stop(self):
        pass

    def kill9(self):
        skip("needs a broker process of its own (SLUICE_EXTERNAL_KAFKA is set)")

    def restart(self, kill=False):
        skip("needs a broker process of its own (SLUICE_EXTERNAL_KAFKA is set)")

    def log_tail(self, lines=40):
        return "(external broker %s: no log)" % self.external

    def cleanup(self, keep=False):
        pass


class MockPeer:
    """librdkafka's mock cluster (tests/tools/kafka_mock), a process of our own that speaks
    Kafka but keeps no data dir. Its stdin is a pipe we hold: its EOF stops the mock, so the mock
    never outlives the test. Commands go over the same pipe (kafka_mock.c lists them)."""

    def __init__(self):
        self.external = "mock"  # run() must not stop() it as a sluice-server (exit code 0 check)
        self.host = "127.0.0.1"
        self.binary = mock_binary()
        self.data_dir = None
        self.log_path = os.path.join(tempfile.gettempdir(), "sluice-mock-%d-%06x.log"
                                     % (os.getpid(), random.getrandbits(24)))
        self.proc = None
        self.bootstrap = None
        self.kafka_port = None
        self.nats_port = self.http_port = None
        _brokers.append(self)

    def _readline(self, timeout):
        """One line of the mock's stdout, waiting at most timeout seconds."""
        import select
        deadline = time.monotonic() + timeout
        buf = b""
        fd = self.proc.stdout.fileno()
        while not buf.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise CheckFailed("kafka_mock: no answer within %.0f s" % timeout)
            ch = os.read(fd, 1)
            if not ch:
                raise CheckFailed("kafka_mock exited (code %s)" % self.proc.poll())
            buf += ch
        return buf.decode().strip()

    def start(self):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([self.binary], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=log)
        self.bootstrap = self._readline(START_TIMEOUT)
        self.kafka_port = int(self.bootstrap.split(",")[0].rsplit(":", 1)[1])
        if not wait_port(self.host, self.kafka_port, START_TIMEOUT, self.proc):
            raise CheckFailed("kafka_mock does not accept connections on %s" % self.bootstrap)
        return self

    def command(self, line, timeout=5.0):
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()
        answer = self._readline(timeout)
        if answer != "ok":
            raise CheckFailed("kafka_mock %r: %s" % (line, answer))

    def create_topic(self, name, partitions):
        self.command("topic %s %d" % (name, partitions))

    def inject_errors(self, api_key, code, count=1):
        """The next count requests of api_key fail with Kafka error code."""
        self.command("error %d %d %d" % (api_key, code, count))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if not self.alive():
            return
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT)
            raise CheckFailed("kafka_mock did not exit within %.0f s of stdin EOF" % STOP_TIMEOUT)

    def kill9(self):
        skip("needs a broker process that can be killed and restarted (the peer is the mock)")

    def restart(self, kill=False):
        skip("needs a broker process that can be killed and restarted (the peer is the mock)")

    def log_tail(self, lines=40):
        try:
            with open(self.log_path, "rb") as f:
                return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-lines:])
        except OSError as e:
            return "(no log: %s)" % e

    def cleanup(self, keep=False):
        if self.alive():
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT)
        if not keep:
            try:
                os.unlink(self.log_path)
            except OSError:
                pass


def mock_binary():
    path = os.environ.get("SLUICE_KAFKA_MOCK")
    if path:
        return path
    for kind in ("release", "dev", "debug", "sanitize"):
        cand = os.path.join(REPO, "build", kind, "tests", "tools", "kafka_mock")
        if os.access(cand, os.X_OK):
            return cand
    skip("no kafka_mock binary (needs librdkafka-dev at build time): set SLUICE_KAFKA_MOCK "
         "or run scripts/build.sh")


def start_mock():
    return MockPeer().start()


def create_topic(peer, name, partitions, timeout=15.0):
    """Creates a topic with `partitions` partitions on any peer: through the mock's command pipe,
    or with confluent-kafka's AdminClient (bounded wait)."""
    if isinstance(peer, MockPeer):
        peer.create_topic(name, partitions)
        return
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": peer.bootstrap})  # must outlive the futures
    fs = admin.create_topics([NewTopic(name, partitions, 1)], request_timeout=timeout)
    for f in fs.values():
        f.result(timeout=timeout)


def start_broker(extra_args=(), data_dir=None):
    ext = external()
    if ext:
        return ExternalBroker(ext).start()
    if os.environ.get("SLUICE_PEER") == "mock":
        return start_mock()
    return Broker(extra_args, data_dir).start()


def unique(prefix):
    """A topic name no earlier run used (an external peer keeps its topics between runs)."""
    return "%s-%d-%06x" % (prefix, os.getpid(), random.getrandbits(24))


def show(v, limit=120):
    r = repr(v)
    return r if len(r) <= limit else r[:limit] + "...(%d chars)" % len(r)


class Checker:
    """Counts checks; a failed check raises CheckFailed with both sides shown. section() runs a
    block, records its failure and goes on, so one run reports every broken area."""

    def __init__(self, name):
        self.name = name
        self.checks = 0
        self.failed_sections = []

    def ok(self, cond, what):
        self.checks += 1
        if not cond:
            raise CheckFailed(what)

    def eq(self, actual, expected, what):
        self.checks += 1
        if actual != expected:
            raise CheckFailed("%s: got %s, want %s" % (what, show(actual), show(expected)))

    def section(self, title):
        return _Section(self, title)

    def fail_count(self):
        return len(self.failed_sections)


class _Section:
    def __init__(self, ck, title):
        self.ck, self.title = ck, title

    def __enter__(self):
        print("---- %s" % self.title, flush=True)
        self.t0 = time.monotonic()
        return self

    def __exit__(self, et, ev, tb):
        if et is None:
            print("     ok (%.1f s)" % (time.monotonic() - self.t0), flush=True)
            return False
        if issubclass(et, Skip):
            print("     skipped: %s" % ev, flush=True)
            return True
        if issubclass(et, (Exception,)):
            self.ck.failed_sections.append(self.title)
            print("FAIL [%s]: %s" % (self.title, ev), flush=True)
            if not isinstance(ev, CheckFailed):
                traceback.print_exception(et, ev, tb)
            return True
        return False


CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def disk_batches(data_dir, topic, partition):
    """The RecordBatch headers stored in <data_dir>/<topic>-<partition>/*.log (batches verbatim,
    back to back, then preallocated zeros): [(base_offset, records, attributes, producer_id)]."""
    out = []
    for path in sorted(glob.glob(os.path.join(data_dir, "%s-%d" % (topic, partition), "*.log"))):
        with open(path, "rb") as f:
            data = f.read()
        pos = 0
        while pos + 61 <= len(data):
            base, length = struct.unpack_from(">qi", data, pos)
            if length <= 0 or data[pos + 16] != 2:
                break
            attrs, = struct.unpack_from(">h", data, pos + 21)
            pid, = struct.unpack_from(">q", data, pos + 43)
            count, = struct.unpack_from(">i", data, pos + 57)
            out.append((base, count, attrs, pid))
            pos += 12 + length
    return out


def check_codecs(ck, batches, codec, what):
    """The stored batches of a producer configured with `codec`: some must carry it, the rest
    may be uncompressed (clients send a batch as is when compressing does not make it smaller)."""
    want = CODECS[codec]
    got = sorted({b[2] & 7 for b in batches})
    ck.ok(want in got and set(got) <= {0, want},
          "%s: codecs of the stored batches %s, want %d (%s)%s" % (
              what, got, want, codec, "" if want in got else
              ": the client sent everything uncompressed (librdkafka 2.0.2 does so for gzip/"
              "snappy/lz4 unless the broker advertises Produce v0, and lz4 also needs "
              "FindCoordinator; zstd needs Produce >= 7 and Fetch >= 10)"))


class _Timeout(BaseException):  # not caught by sections
    pass


def _on_alarm(signum, frame):
    raise _Timeout("test exceeded its time limit")


def print_broker_logs():
    for b in _brokers:
        if getattr(b, "log_path", None):
            print("==== broker log tail (%s):" % b.log_path)
            print(b.log_tail())
            print("==== alive: %s" % b.alive())


def run(name, body, tools=(), modules=(), time_limit=270):
    """Entry point of a Python test: body(ck) returns normally or raises. Prints the PASS/FAIL line
    and exits 0 / 1 / 77."""
    missing = [t for t in tools if shutil.which(t) is None]
    for m in modules:
        try:
            __import__(m)
        except ImportError as e:
            missing.append("python module %s (%s)" % (m, e))
    if missing:
        print("SKIP: %s: missing %s (run scripts/setup.sh)" % (name, ", ".join(missing)))
        sys.exit(SKIP)
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(time_limit)
    ck = Checker(name)
    code = 0
    try:
        body(ck)
        if ck.failed_sections:
            raise CheckFailed("failed sections: %s" % ", ".join(ck.failed_sections))
        for b in _brokers:
            if b.alive() and b.external is None:
                b.stop()
    except Skip as e:
        print("SKIP: %s: %s" % (name, e))
        code = SKIP
    except BaseException as e:  # noqa: B902 - report everything, including the alarm
        if not isinstance(e, CheckFailed):
            traceback.print_exc()
        print("FAIL: %s: %s" % (name, e))
        print_broker_logs()
        code = 1
    signal.alarm(0)
    for b in _brokers:
        b.cleanup(keep=(code == 1))
    if code == 0:
        print("PASS: %s (%d checks)" % (name, ck.checks))
    sys.stdout.flush()
    os._exit(code)  # client libraries may keep threads; do not wait for them


def _cli(argv):
    if len(argv) < 2 or argv[1] != "run" or "--" not in argv:
        print(__doc__)
        return 2
    sep = argv.index("--")
    opts, cmd = argv[2:sep], argv[sep + 1:]
    i = 0
    while i < len(opts):
        if opts[i] == "--require" and shutil.which(opts[i + 1]) is None:
            print("SKIP: %s not found (run scripts/setup.sh)" % opts[i + 1])
            return SKIP
        if opts[i] == "--require-path" and not os.path.exists(opts[i + 1]):
            print("SKIP: %s missing (run scripts/setup.sh)" % opts[i + 1])
            return SKIP
        if opts[i] == "--require-env" and not os.environ.get(opts[i + 1]):
            print("SKIP: %s is not set" % opts[i + 1])
            return SKIP
        i += 2
    try:
        b = start_broker()
    except CheckFailed as e:
        print("FAIL: %s" % e)
        print_broker_logs()
        for x in _brokers:
            x.cleanup(keep=True)
        return 1
    env = dict(os.environ, SLUICE_KAFKA_BOOTSTRAP=b.bootstrap, SLUICE_KAFKA_PORT=str(b.kafka_port),
               SLUICE_NATS_PORT=str(b.nats_port or ""), SLUICE_HTTP_PORT=str(b.http_port or ""))
    try:
        rc = subprocess.run(cmd, env=env, timeout=280).returncode
    except subprocess.TimeoutExpired:
        print("FAIL: %s did not finish within 280 s" % " ".join(cmd))
        rc = 1
    if rc not in (0, SKIP):
        print_broker_logs()
    elif b.external is None:
        try:
            b.stop()
        except CheckFailed as e:
            print("FAIL: %s" % e)
            print_broker_logs()
            rc = 1
    b.cleanup(keep=(rc not in (0, SKIP)))
    return rc


if __name__ == "__main__":
    sys.exit(_cli(sys.argv))
