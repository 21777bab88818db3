"""netns.py: a small network of Linux network namespaces for one cluster test.

Net(n) builds, for the test process (names carry its pid, so parallel runs never meet):

  sl<pid>n1 .. sl<pid>n<n>   one namespace per broker, loopback up, a veth "eth0" with
                             10.X.Y.<i>/24 (X.Y derived from the pid, moved on if the /24
                             overlaps a route of the root namespace)
  sl<pid>br                  a namespace of its own holding the bridge "br0": every broker's
                             veth peer ("p<i>") and the root namespace's veth peer ("host") are
                             its ports
  sl<pid>h                   the one interface made in the root namespace: a veth to the bridge
                             with 10.X.Y.254/24, so the test process (which stays in the root
                             namespace) reaches every broker at its address

partition(i) sets broker i's port on the bridge down (heal(i): up): its packets vanish as a
pulled cable's would, while the broker's own interface stays up, so its address and local routes
stay and a check can still be run inside its namespace (run_in, http_in). ip_forward is not
needed: nothing is routed, everything is on one bridge.

NetnsBroker is harness.Broker started inside namespace i ("ip netns exec <ns> sluice-server ...",
which execs the broker: the Popen's pid is the broker's) and listening on the namespace's address.

close() (also from atexit and on SIGTERM/SIGHUP, and meant for a try/finally) kills what runs in
the namespaces, deletes every namespace (which removes their veths and the bridge) and the root
side veth if it is still there; it never raises, every step is bounded. require() skips the test
(exit 77 through harness.skip) when not root or when `ip netns` does not work here.
"""
import atexit
import http.client
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import harness  # noqa: E402

IP_TIMEOUT = 10.0  # any one `ip` command


def ip_binary():
    for cand in (shutil.which("ip"), "/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip"):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


def _ip(*args, check=True, ns=None):
    """Runs `ip [-n ns] args...`, bounded; the CompletedProcess (CheckFailed if check and it failed)."""
    argv = [ip_binary()] + (["-n", ns] if ns else []) + list(args)
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=IP_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise harness.CheckFailed("%s: no answer within %.0f s" % (" ".join(argv), IP_TIMEOUT))
    if check and p.returncode != 0:
        raise harness.CheckFailed("%s: exit %d: %s" % (" ".join(argv), p.returncode, (p.stderr or p.stdout).strip()))
    return p


def require():
    """Skips (77) unless this process is root and `ip netns` works (a probe namespace is made and
    deleted)."""
    if os.geteuid() != 0:
        harness.skip("network namespaces need root (euid %d)" % os.geteuid())
    if ip_binary() is None:
        harness.skip("no `ip` command (iproute2)")
    probe = "sl%dprobe" % os.getpid()
    p = _ip("netns", "add", probe, check=False)
    if p.returncode != 0:
        harness.skip("`ip netns add` does not work here: %s" % (p.stderr or p.stdout).strip())
    _ip("netns", "del", probe, check=False)


def _root_networks():
    out = _ip("-4", "route", "show", "table", "all", check=False).stdout
    nets = []
    for line in out.splitlines():
        words = line.split()
        if not words:
            continue
        w = words[0] if words[0] not in ("local", "broadcast", "unicast") else (words[1] if len(words) > 1 else "")
        if w == "default":
            continue
        try:
            nets.append(ipaddress.ip_network(w, strict=False))
        except ValueError:
            pass
    return nets


def pick_subnet(pid):
    """A /24 in 10/8 from the pid, the first that overlaps no route of the root namespace."""
    used = _root_networks()
    for k in range(256):
        x = 64 + ((pid >> 8) + k) % 128
        cand = ipaddress.ip_network("10.%d.%d.0/24" % (x, pid % 256))
        if not any(cand.overlaps(n) for n in used):
            return cand
    raise harness.CheckFailed("no free /24 in 10.64-191.x for pid %d" % pid)


_open_nets = []


def _close_all(*_):
    for net in list(_open_nets):
        net.close()


atexit.register(_close_all)


def _on_signal(signum, frame):
    _close_all()
    raise SystemExit(128 + signum)


class Net:
    def __init__(self, n):
        self.n = n
        self.pid = os.getpid()
        self.tag = "sl%d" % self.pid
        self.subnet = pick_subnet(self.pid)
        self.bridge_ns = self.tag + "br"
        self.host_if = self.tag + "h"
        self.made_ns = []
        self.host_if_made = False
        self.down = set()
        self.procs = []  # Popen objects started inside the namespaces (NetnsBroker adds them)
        self.closed = False
        _open_nets.append(self)
        for s in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(s) in (signal.SIG_DFL, None):
                signal.signal(s, _on_signal)
        try:
            self._build()
        except Exception:
            self.close()
            raise

    def ns(self, i):
        return "%sn%d" % (self.tag, i)

    def addr(self, i):
        return str(self.subnet.network_address + i)

    @property
    def host_addr(self):
        return str(self.subnet.network_address + 254)

    def _add_ns(self, name):
        _ip("netns", "add", name)
        self.made_ns.append(name)
        _ip("link", "set", "lo", "up", ns=name)

    def _build(self):
        plen = self.subnet.prefixlen
        self._add_ns(self.bridge_ns)
        _ip("link", "add", "br0", "type", "bridge", ns=self.bridge_ns)
        _ip("link", "set", "br0", "up", ns=self.bridge_ns)
        for i in range(1, self.n + 1):
            name = self.ns(i)
            self._add_ns(name)
            # made in the two namespaces directly: no name ever appears in the root namespace
            _ip("link", "add", "name", "eth0", "netns", name, "type", "veth",
                "peer", "name", "p%d" % i, "netns", self.bridge_ns)
            _ip("link", "set", "p%d" % i, "master", "br0", ns=self.bridge_ns)
            _ip("link", "set", "p%d" % i, "up", ns=self.bridge_ns)
            _ip("addr", "add", "%s/%d" % (self.addr(i), plen), "dev", "eth0", ns=name)
            _ip("link", "set", "eth0", "up", ns=name)
        # the root namespace's way in: one veth, its peer a port of the bridge
        self.host_if_made = True
        _ip("link", "add", "name", self.host_if, "type", "veth", "peer", "name", "host", "netns", self.bridge_ns)
        _ip("link", "set", "host", "master", "br0", ns=self.bridge_ns)
        _ip("link", "set", "host", "up", ns=self.bridge_ns)
        _ip("addr", "add", "%s/%d" % (self.host_addr, plen), "dev", self.host_if)
        _ip("link", "set", self.host_if, "up")
        self.wait_reachable(list(range(1, self.n + 1)))

    def wait_reachable(self, idx, timeout=10.0):
        """Waits (bounded) until the root namespace reaches each namespace in idx: a TCP connect
        to a port nobody listens on is refused (a RST came back) rather than unanswered."""
        deadline = time.monotonic() + timeout
        for i in idx:
            while True:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.settimeout(1.0)
                try:
                    s.connect((self.addr(i), 9))
                    ok = True
                except ConnectionRefusedError:
                    ok = True
                except OSError:
                    ok = False
                finally:
                    s.close()
                if ok:
                    break
                if time.monotonic() > deadline:
                    raise harness.CheckFailed("namespace %s (%s) not reachable within %.0f s"
                                              % (self.ns(i), self.addr(i), timeout))
                time.sleep(0.1)

    def partition(self, i):
        """Cuts namespace i off the bridge: its port goes down, its packets vanish."""
        _ip("link", "set", "p%d" % i, "down", ns=self.bridge_ns)
        self.down.add(i)

    def heal(self, i):
        _ip("link", "set", "p%d" % i, "up", ns=self.bridge_ns)
        self.down.discard(i)

    def partitioned(self, i):
        return i in self.down

    def run_in(self, i, argv, timeout=10.0):
        """Runs argv inside namespace i, bounded: the CompletedProcess."""
        return subprocess.run([ip_binary(), "netns", "exec", self.ns(i)] + list(argv), capture_output=True,
                              text=True, timeout=timeout)

    def http_in(self, i, host, port, method, path, body=None, headers=None, timeout=10.0):
        """An HTTP request made from inside namespace i (reaches a partitioned broker from its own
        side): (status, text), or (None, why) when it got no answer within timeout."""
        script = (
            "import http.client,json,sys\n"
            "a=json.loads(sys.argv[1])\n"
            "try:\n"
            " c=http.client.HTTPConnection(a['host'],a['port'],timeout=a['timeout'])\n"
            " c.request(a['method'],a['path'],body=a['body'],headers=a['headers'])\n"
            " r=c.getresponse();print(json.dumps([r.status,r.read().decode()]))\n"
            "except Exception as e:\n"
            " print(json.dumps([None,'%s: %s'%(type(e).__name__,e)]))\n")
        arg = json.dumps({"host": host, "port": port, "method": method, "path": path, "body": body,
                          "headers": headers or {}, "timeout": timeout})
        try:
            p = self.run_in(i, ["/usr/bin/python3", "-c", script, arg], timeout=timeout + 10)
        except subprocess.TimeoutExpired:
            return None, "no answer within %.0f s" % (timeout + 10)
        try:
            st, text = json.loads(p.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return None, "in %s: exit %d: %s" % (self.ns(i), p.returncode, (p.stderr or p.stdout).strip())
        return st, text

    def close(self):
        """Kills what runs in the namespaces and deletes everything made; never raises."""
        if self.closed:
            return
        self.closed = True
        for p in self.procs:
            try:
                if p.poll() is None:
                    p.kill()
                    p.wait(timeout=10)
            except Exception:  # noqa: BLE001 - teardown goes on
                pass
        for name in self.made_ns:
            # anything else still inside (a check's subprocess): only our own namespaces' pids
            try:
                pids = _ip("netns", "pids", name, check=False).stdout.split()
                for pid in pids:
                    os.kill(int(pid), signal.SIGKILL)
            except Exception:  # noqa: BLE001
                pass
        for name in reversed(self.made_ns):
            try:
                _ip("netns", "del", name, check=False)
            except Exception:  # noqa: BLE001
                pass
        if self.host_if_made:
            # gone with its peer when the bridge namespace went; delete it if it outlived that
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                try:
                    if _ip("link", "show", self.host_if, check=False).returncode != 0:
                        break
                    _ip("link", "del", self.host_if, check=False)
                except Exception:  # noqa: BLE001
                    break
                time.sleep(0.05)
        if self in _open_nets:
            _open_nets.remove(self)

    def leftovers(self):
        """Namespaces and the root-side link of this Net that still exist (for a final check)."""
        names = set(_ip("netns", "list", check=False).stdout.split())
        left = [n for n in self.made_ns if n in names]
        if _ip("link", "show", self.host_if, check=False).returncode == 0:
            left.append(self.host_if)
        return left


class NetnsBroker(harness.Broker):
    """harness.Broker run inside namespace i of net, listening on that namespace's address.
    The ports free_ports picks in the root namespace are free in a fresh namespace too."""

    def __init__(self, net, i, extra_args=(), data_dir=None):
        super().__init__(extra_args, data_dir)
        self.net, self.index, self.ns = net, i, net.ns(i)
        self.host = net.addr(i)

    def args(self):
        return [ip_binary(), "netns", "exec", self.ns] + super().args()

    def start(self):
        try:
            return super().start()
        finally:
            if self.proc is not None and self.proc not in self.net.procs:
                self.net.procs.append(self.proc)

    def http(self, method, path, body=None, token=None, timeout=10.0):
        """(status, parsed JSON or text) from this broker's monitoring port, or (None, why) on no
        answer: straight from the root namespace, or from inside its namespace while it is cut off."""
        headers = {"Authorization": "Bearer " + token} if token else {}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self.net.partitioned(self.index):
            st, text = self.net.http_in(self.index, self.host, self.http_port, method, path, body, headers, timeout)
        else:
            try:
                c = http.client.HTTPConnection(self.host, self.http_port, timeout=timeout)
                c.request(method, path, body=body, headers=headers)
                r = c.getresponse()
                st, text = r.status, r.read().decode()
                c.close()
            except OSError as e:  # includes socket.timeout
                return None, "%s: %s" % (type(e).__name__, e)
        if st is None:
            return None, text
        try:
            return st, json.loads(text)
        except ValueError:
            return st, text
