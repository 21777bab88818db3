"""natsh.py: starts the NATS server a tests/nats test talks to, on top of tests/integration/harness.py.

Three targets, picked by the environment:
  (default)                     a real sluice-server (SLUICE_SERVER, else build/*/sluice-server)
                                started by harness.Broker on free loopback ports with the
                                limits the test asks for (--max_payload, --max_pending, ...);
                                ready when its NATS port (--port) answers PING.
  SLUICE_NATS_REFERENCE=PATH|1  the reference nats-server (Debian 2.9.10; 1 = find it in PATH or
                                /usr/sbin) started the same way, the limits given in a config
                                file. Every test must pass against it unchanged.
  SLUICE_EXTERNAL_NATS=H:P      a server that is already running: nothing is started. Tests that
                                need their own limits (max_pending, max_payload) skip those
                                parts; SLUICE_EXTERNAL_NATS_PID=PID enables the RSS checks.

start_nats(max_payload=..., max_pending=..., ..., jetstream=False) returns an object with host, port, pid, kind
('sluice' | 'nats-server' | 'external'), url, configured (True when the limits were applied),
max_payload (the limit in force, None if unknown), alive() and rss_kb(). jetstream=True turns
JetStream on: nats-server gets a `jetstream { store_dir: ... }` block (the store inside its temp
dir), sluice-server gets --jetstream (its streams live in its data dir).

Command line, for tests written in Go or JavaScript:
    python3 natsh.py run [--require PROG] [--require-path PATH] [--arg K=V ...] [--jetstream] -- CMD...
starts the server, runs CMD with SLUICE_NATS_URL, SLUICE_NATS_HOST, SLUICE_NATS_PORT,
SLUICE_NATS_PID (may be empty), SLUICE_NATS_KIND and SLUICE_NATS_DATA_DIR (may be empty) in its
environment, stops the server (Sluice
must exit 0 on SIGTERM) and exits with CMD's code; a missing PROG / PATH exits 77 first.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import harness  # noqa: E402  (tests/integration/harness.py, owned by the Kafka tests)

from harness import CheckFailed, Skip, skip, run, show, free_ports, wait_port  # noqa: E402,F401

SKIP = harness.SKIP
NATS_START_TIMEOUT = 10.0

# Sizes go to the broker as flags and to nats-server as config values, spelled the same way.
_KNOWN = ("max_payload", "max_pending", "write_deadline", "max_connections")


def _size_bytes(v):
    """'8MB' -> 8388608 (K/KB/M/MB/G/GB mean powers of 1024, as both servers read them)."""
    if v is None:
        return None
    s = str(v).strip().upper()
    for suf, mul in (("GIB", 1 << 30), ("MIB", 1 << 20), ("KIB", 1 << 10), ("GB", 1 << 30),
                     ("MB", 1 << 20), ("KB", 1 << 10), ("G", 1 << 30), ("M", 1 << 20),
                     ("K", 1 << 10), ("B", 1)):
        if s.endswith(suf):
            return int(float(s[:-len(suf)]) * mul)
    return int(s)


def reference_binary():
    v = os.environ.get("SLUICE_NATS_REFERENCE")
    if not v:
        return None
    if v != "1":
        return v
    for cand in (shutil.which("nats-server"), "/usr/sbin/nats-server", "/usr/bin/nats-server"):
        if cand and os.access(cand, os.X_OK):
            return cand
    skip("SLUICE_NATS_REFERENCE=1 but no nats-server found (apt-get install nats-server)")


def rss_kb(pid):
    """VmRSS of pid in KiB, or None."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


class _Target:
    host = "127.0.0.1"
    port = None
    kind = None
    data_dir = None  # the server's data directory, when natsh.py made it
    configured = True
    max_payload = 1 << 20

    @property
    def url(self):
        return "nats://%s:%d" % (self.host, self.port)

    @property
    def pid(self):
        p = getattr(self, "proc", None)
        return p.pid if p is not None else None

    def rss_kb(self):
        return rss_kb(self.pid) if self.pid else None


class SluiceNats(_Target):
    kind = "sluice"

    def __init__(self, limits, data_dir=None, jetstream=False):
        args = ["--jetstream"] if jetstream else []
        for k, v in limits.items():
            args += ["--" + k, str(v)]
        self.broker = harness.Broker(args, data_dir)
        self.port = self.broker.nats_port
        if limits.get("max_payload") is not None:
            self.max_payload = _size_bytes(limits["max_payload"])

    @property
    def proc(self):
        return self.broker.proc

    @property
    def data_dir(self):
        return self.broker.data_dir

    def start(self):
        self.broker.start()  # waits for the Kafka port
        if not wait_port(self.host, self.port, NATS_START_TIMEOUT, self.broker.proc):
            raise CheckFailed("sluice-server is up (Kafka port %d answers) but its NATS port %d "
                              "does not accept connections within %.0f s"
                              % (self.broker.kafka_port, self.port, NATS_START_TIMEOUT))
        wait_pong(self, self.broker.proc, NATS_START_TIMEOUT)
        return self

    def alive(self):
        return self.broker.alive()


class ReferenceNats(_Target):
    """nats-server, registered with harness so run() stops it and prints its log on failure."""
    kind = "nats-server"
    external = None
    own_dir = True

    def __init__(self, binary, limits, jetstream=False):
        self.binary = binary
        self.data_dir = tempfile.mkdtemp(prefix="sluice-nats-ref-")
        self.log_path = os.path.join(self.data_dir, ".server.log")
        self.port, = free_ports(1)
        self.proc = None
        conf = ["listen: %s:%d" % (self.host, self.port)]
        for k, v in limits.items():
            conf.append("%s: %s" % (k, '"%s"' % v if k == "write_deadline" else v))
        if jetstream:
            conf.append('jetstream { store_dir: "%s" }' % os.path.join(self.data_dir, "js"))
        if limits.get("max_payload") is not None:
            self.max_payload = _size_bytes(limits["max_payload"])
        self.conf_path = os.path.join(self.data_dir, "nats.conf")
        with open(self.conf_path, "w") as f:
            f.write("\n".join(conf) + "\n")
        harness._brokers.append(self)

    def start(self):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([self.binary, "-c", self.conf_path], stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if not wait_port(self.host, self.port, NATS_START_TIMEOUT, self.proc):
            raise CheckFailed("nats-server did not start on port %d" % self.port)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):  # nats-server exits 1 on SIGTERM: no exit-code check for the reference
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)

    def log_tail(self, lines=40):
        try:
            with open(self.log_path, "rb") as f:
                return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-lines:])
        except OSError as e:
            return "(no log: %s)" % e

    def cleanup(self, keep=False):
        if self.alive():
            self.proc.kill()
            self.proc.wait(timeout=15)
        if not keep and not os.environ.get("SLUICE_KEEP_DATA"):
            shutil.rmtree(self.data_dir, ignore_errors=True)


class ExternalNats(_Target):
    kind = "external"

    def __init__(self, hostport, limits):
        self.host, p = hostport.rsplit(":", 1)
        self.port = int(p)
        self.configured = not limits
        self.max_payload = None  # read it from INFO
        pid = os.environ.get("SLUICE_EXTERNAL_NATS_PID")
        self._pid = int(pid) if pid else None

    @property
    def pid(self):
        return self._pid

    def start(self):
        if not wait_port(self.host, self.port, NATS_START_TIMEOUT):
            raise CheckFailed("external NATS server %s:%d does not accept connections"
                              % (self.host, self.port))
        return self

    def alive(self):
        return harness.port_open(self.host, self.port)


def start_nats(jetstream=False, **limits):
    """Starts (or points at) the NATS server under test; limits: max_payload, max_pending,
    write_deadline, max_connections (values as both servers spell them: '8MB', '10s');
    jetstream=True turns JetStream on (an external server is taken as it is)."""
    limits = {k: v for k, v in limits.items() if v is not None}
    for k in limits:
        assert k in _KNOWN, k
    ext = os.environ.get("SLUICE_EXTERNAL_NATS")
    if ext:
        return ExternalNats(ext, limits).start()
    ref = reference_binary()
    if ref:
        return ReferenceNats(ref, limits, jetstream).start()
    return SluiceNats(limits, jetstream=jetstream).start()


class ConfNats:
    """A server started from a nats-server config file (text), for the auth tests: sluice-server
    gets --config FILE (its ports as flags, which override the file), nats-server the same text
    after a listen line. rewrite(text) replaces the file and sends SIGHUP (both reload on it)."""

    def __init__(self, text, jetstream=False):
        self.dir = tempfile.mkdtemp(prefix="sluice-nats-conf-")
        self.path = os.path.join(self.dir, "auth.conf")
        self.jetstream = jetstream
        ref = reference_binary()
        if ref:
            self.target = ReferenceNats(ref, {}, jetstream)
            self.ref_head = open(self.target.conf_path).read()
            self.path = self.target.conf_path
        else:
            self.target = SluiceNats({"config": self.path}, jetstream=jetstream)
            self.ref_head = ""
        self.write(text)

    def write(self, text):
        with open(self.path + ".tmp", "w") as f:
            f.write(self.ref_head + text)
        os.replace(self.path + ".tmp", self.path)

    def start(self):
        self.target.start()
        return self.target

    def rewrite(self, text):
        self.write(text)
        self.target.proc.send_signal(signal.SIGHUP)


# ---- raw protocol helpers ------------------------------------------------------------------

def wait_pong(t, proc, timeout=NATS_START_TIMEOUT):
    """Waits until t's NATS port sends INFO (and, without auth, answers PING with PONG). A TCP
    connect is not enough after a kill -9: the dead process's listening socket lingers a few ms
    while the kernel tears its io_uring down (see broker/net/listener.c), accepts the probe, then
    vanishes, and the next connections are refused or reset."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise CheckFailed("broker exited with code %d during start-up" % proc.returncode)
        try:
            r = Raw(t, timeout=1)  # reads INFO: only a live server sends it
            r.send(b'CONNECT {"verbose":false}\r\nPING\r\n')
            line = r.read_line(timeout=1)
            ok = line == b"PONG\r\n" or line.startswith(b"-ERR 'Authorization Violation'")
            r.close()
            if ok:
                return
        except (OSError, CheckFailed):
            pass
        time.sleep(0.02)
    raise CheckFailed("NATS port did not answer PING within %.0f s of the start" % timeout)


class Raw:
    """A raw NATS connection: bytes in, bytes out, every read bounded by a deadline."""

    def __init__(self, target, timeout=5.0, rcvbuf=None, read_info=True):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((target.host, target.port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.buf = b""
        self.eof = False
        self.info_line = self.read_line(answer_pings=False) if read_info else None

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("deadline")
        self.sock.settimeout(left)
        try:
            d = self.sock.recv(1 << 20)
        except ConnectionResetError:
            d = b""
        if not d:
            self.eof = True
            return False
        self.buf += d
        return True

    def read_line(self, timeout=None, answer_pings=True):
        """One line including its CRLF; CheckFailed on EOF or timeout. A server PING (sent ~2 s
        after connect, then every 2 min) is answered and skipped unless answer_pings is False."""
        while True:
            line = self._read_line(timeout)
            if answer_pings and line == b"PING\r\n":
                self.send(b"PONG\r\n")
                continue
            return line

    def _read_line(self, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while b"\r\n" not in self.buf:
            try:
                if not self._fill(deadline):
                    raise CheckFailed("connection closed while waiting for a line; got %s"
                                      % show(self.buf))
            except socket.timeout:
                raise CheckFailed("no complete line within %.1f s; got %s"
                                  % (timeout or self.timeout, show(self.buf)))
        i = self.buf.index(b"\r\n") + 2
        line, self.buf = self.buf[:i], self.buf[i:]
        return line

    def read_exact(self, n, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while len(self.buf) < n:
            try:
                if not self._fill(deadline):
                    raise CheckFailed("connection closed after %d of %d bytes: %s"
                                      % (len(self.buf), n, show(self.buf)))
            except socket.timeout:
                raise CheckFailed("only %d of %d bytes within the deadline: %s"
                                  % (len(self.buf), n, show(self.buf)))
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_until_close(self, timeout=3.0, limit=1 << 20):
        """Everything until EOF. (data, closed): closed False if the deadline passed first."""
        deadline = time.monotonic() + timeout
        while not self.eof and len(self.buf) < limit:
            try:
                if not self._fill(deadline):
                    break
            except socket.timeout:
                break
            except OSError:
                self.eof = True
                break
        data, self.buf = self.buf, b""
        return data, self.eof

    def read_for(self, seconds):
        """Whatever arrives within `seconds` (the connection may stay open)."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                if not self._fill(deadline):
                    break
            except (socket.timeout, OSError):
                break
        data, self.buf = self.buf, b""
        return data

    def read_msg(self, timeout=None):
        """(control line without CRLF, payload bytes) of the next MSG/HMSG; PINGs are answered."""
        while True:
            line = self.read_line(timeout)
            parts = line[:-2].split()
            if parts and parts[0] == b"MSG":
                n = int(parts[-1])
            elif parts and parts[0] == b"HMSG":
                n = int(parts[-1])
            else:
                raise CheckFailed("expected MSG/HMSG, got %s" % show(line))
            body = self.read_exact(n + 2, timeout)
            if body[-2:] != b"\r\n":
                raise CheckFailed("payload of %s not followed by CRLF: %s" % (show(line), show(body[-2:])))
            return line[:-2], body[:-2]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def _cli(argv):
    if len(argv) < 2 or argv[1] != "run" or "--" not in argv:
        print(__doc__)
        return 2
    sep = argv.index("--")
    opts, cmd = argv[2:sep], argv[sep + 1:]
    limits = {}
    jetstream = False
    i = 0
    while i < len(opts):
        if opts[i] == "--jetstream":
            jetstream = True
            i += 1
            continue
        if opts[i] == "--require" and shutil.which(opts[i + 1]) is None:
            print("SKIP: %s not found (run scripts/setup.sh)" % opts[i + 1])
            return SKIP
        if opts[i] == "--require-path" and not os.path.exists(opts[i + 1]):
            print("SKIP: %s missing (run scripts/setup.sh)" % opts[i + 1])
            return SKIP
        if opts[i] == "--arg":
            k, v = opts[i + 1].split("=", 1)
            limits[k] = v
        i += 2
    try:
        t = start_nats(jetstream=jetstream, **limits)
    except Skip as e:
        print("SKIP: %s" % e)
        return SKIP
    except CheckFailed as e:
        print("FAIL: %s" % e)
        harness.print_broker_logs()
        for b in harness._brokers:
            b.cleanup(keep=True)
        return 1
    env = dict(os.environ, SLUICE_NATS_URL=t.url, SLUICE_NATS_HOST=t.host,
               SLUICE_NATS_PORT=str(t.port), SLUICE_NATS_PID=str(t.pid or ""),
               SLUICE_NATS_KIND=t.kind, SLUICE_NATS_DATA_DIR=t.data_dir or "")
    print("natsh: %s on %s (pid %s)" % (t.kind, t.url, t.pid), flush=True)
    try:
        rc = subprocess.run(cmd, env=env, timeout=280).returncode
    except subprocess.TimeoutExpired:
        print("FAIL: %s did not finish within 280 s" % " ".join(cmd))
        rc = 1
    if rc not in (0, SKIP):
        harness.print_broker_logs()
    else:
        for b in harness._brokers:
            if b.alive() and getattr(b, "external", None) is None:
                try:
                    b.stop()
                except CheckFailed as e:
                    print("FAIL: %s" % e)
                    harness.print_broker_logs()
                    rc = 1
    for b in harness._brokers:
        b.cleanup(keep=(rc not in (0, SKIP)))
    return rc


if __name__ == "__main__":
    sys.exit(_cli(sys.argv))
