#!/usr/bin/python3
"""build_check.py: runs docker/Dockerfile without Docker, to prove its build where no Docker engine
runs. Each stage's FROM becomes a fresh Debian 12 root made by mmdebstrap (--variant=apt, from
the machine's Debian mirror). COPY copies from the repository, or from an earlier stage with
--from. WORKDIR and USER are honoured, and every RUN runs in the root with chroot. The final root
is then started as its ENTRYPOINT + CMD would be, as its USER, on free ports of 127.0.0.1. The
script checks the HEALTHCHECK command answers, that a NATS client gets INFO with JetStream on, and
that the image's `sluice` CLI works against it on both ports (a topic and a stream made and
listed).

    sudo docker/build_check.py [--keep DIR]

Needs root, mmdebstrap (Debian package) and the Debian mirror; takes about two minutes. CTest
runs it once, in the Release build (ops/docker_build_test); without root or mmdebstrap it
exits 77 (skipped).
"""
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def instructions(path):
    text = open(path).read().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def sh(cmd, **kw):
    print("+ %s" % (cmd if isinstance(cmd, str) else " ".join(shlex.quote(c) for c in cmd)), flush=True)
    subprocess.run(cmd, check=True, **kw)


def free_ports(n):
    ss = [socket.socket() for _ in range(n)]
    for s in ss:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in ss]
    for s in ss:
        s.close()
    return ports


class Root:
    def __init__(self, base, name, image):
        self.dir = os.path.join(base, name)
        self.workdir = "/"
        self.user = None
        self.entrypoint, self.cmd, self.healthcheck = [], [], None
        if not image.startswith("debian:12"):
            raise SystemExit("build_check: only debian:12 images are understood, not %s" % image)
        sh(["mmdebstrap", "--variant=apt", "--quiet", "bookworm", self.dir], stdin=subprocess.DEVNULL)
        self.mounts = []

    def mount(self):
        for what, opts in (("proc", ["-t", "proc", "proc"]), ("dev", ["--bind", "/dev"])):
            target = os.path.join(self.dir, what)
            sh(["mount"] + opts + [target])
            self.mounts.append(target)

    def umount(self):
        for target in reversed(self.mounts):
            subprocess.run(["umount", "-l", target])
        self.mounts = []

    def path(self, p):
        return os.path.join(self.dir, p.lstrip("/"))

    def run(self, command):
        spec = ["--userspec=%s" % self.user] if self.user and self.user != "root" else []
        sh(["chroot"] + spec + [self.dir, "/bin/sh", "-c", "cd %s && %s" % (shlex.quote(self.workdir), command)])


def main():
    keep = None
    if len(sys.argv) == 3 and sys.argv[1] == "--keep":
        keep = sys.argv[2]
    if os.geteuid() != 0 or shutil.which("mmdebstrap") is None:
        print("SKIP: build_check needs root and mmdebstrap (apt-get install mmdebstrap)")
        sys.exit(77)
    base = keep or tempfile.mkdtemp(prefix="sluice-build-check-")
    os.makedirs(base, exist_ok=True)
    stages, root = {}, None
    t0 = time.monotonic()
    try:
        for word, rest in instructions(os.path.join(REPO, "docker", "Dockerfile")):
            if word == "FROM":
                if root:
                    root.umount()
                m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", rest, re.I)
                name = m.group(2) or "stage%d" % len(stages)
                root = Root(base, name, m.group(1))
                root.mount()
                stages[name] = root
            elif word == "WORKDIR":
                root.workdir = rest
                os.makedirs(root.path(rest), exist_ok=True)
            elif word == "COPY":
                args = shlex.split(rest)
                src_root = REPO
                if args[0].startswith("--from="):
                    src_root = stages[args[0].split("=", 1)[1]].dir
                    args = args[1:]
                *srcs, dst = args
                dst_abs = root.path(dst if dst.startswith("/") else os.path.join(root.workdir, dst))
                for s in srcs:
                    src = os.path.join(src_root, s.lstrip("/"))
                    if os.path.isdir(src):
                        shutil.copytree(src, dst_abs, dirs_exist_ok=True,
                                        ignore=shutil.ignore_patterns("node_modules", "build"))
                    else:
                        os.makedirs(dst_abs if dst.endswith("/") else os.path.dirname(dst_abs), exist_ok=True)
                        shutil.copy2(src, dst_abs)
            elif word == "RUN":
                root.run(rest)
            elif word == "USER":
                root.user = rest
            elif word == "ENTRYPOINT":
                root.entrypoint = __import__("json").loads(rest)
            elif word == "CMD":
                root.cmd = __import__("json").loads(rest)
            elif word == "HEALTHCHECK":
                root.healthcheck = rest.split("CMD", 1)[1].strip()
        built = time.monotonic() - t0
        # Start the final image as `docker run` would, on free ports.
        k, n, h = free_ports(3)
        argv = root.entrypoint + root.cmd + ["--host", "127.0.0.1", "--kafka_port", str(k), "--port", str(n),
                                             "--http_port", str(h)]
        health = root.healthcheck.replace("127.0.0.1:8222", "127.0.0.1:%d" % h)
        spec = ["--userspec=%s" % root.user] if root.user else []
        # `docker run` bind-mounts its own /etc/hosts (localhost included) into every container;
        # the image advertises Kafka as localhost, so the CLI inside needs the name too.
        with open(root.path("/etc/hosts"), "w") as f:
            f.write("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
        proc = subprocess.Popen(["chroot"] + spec + [root.dir] + argv)
        try:
            ok = False
            for _ in range(100):
                r = subprocess.run(["chroot", root.dir, "/bin/sh", "-c", health], capture_output=True)
                if r.returncode == 0:
                    ok = True
                    break
                time.sleep(0.1)
            if not ok:
                raise SystemExit("build_check: FAIL: the HEALTHCHECK never passed")
            info = socket.create_connection(("127.0.0.1", n), timeout=5).recv(4096)
            if b'"jetstream":true' not in info:
                raise SystemExit("build_check: FAIL: INFO without JetStream: %r" % info[:200])
            cli = ["chroot"] + spec + [root.dir, "/usr/local/bin/sluice", "--brokers", "127.0.0.1:%d" % k,
                                       "--server", "nats://127.0.0.1:%d" % n, "--timeout", "10s"]
            for args, want in ((["topic", "create", "orders", "--partitions", "3"], b"orders"),
                               (["topic", "list"], b"orders"),
                               (["stream", "add", "ORDERS", "--subjects", "orders.*"], b"created stream ORDERS"),
                               (["stream", "list"], b"ORDERS")):
                r = subprocess.run(cli + args, capture_output=True, timeout=60)
                if r.returncode != 0 or want not in r.stdout:
                    raise SystemExit("build_check: FAIL: sluice %s: exit %d, %r %r" %
                                     (" ".join(args), r.returncode, r.stdout[:300], r.stderr[:300]))
        finally:
            proc.terminate()
            rc = proc.wait(30)
        if rc != 0:
            raise SystemExit("build_check: FAIL: the broker exited %d on SIGTERM" % rc)
        size = os.path.getsize(root.path("/usr/local/bin/sluice-server"))
        print("build_check: PASS: both stages built from a clean Debian 12 root in %.0f s; the runtime "
              "image (user %s) answered its HEALTHCHECK, NATS INFO with JetStream and its sluice CLI, and stopped cleanly "
              "(binary %d KiB)" % (built, root.user, size // 1024))
    finally:
        for r in stages.values():
            r.umount()
        if not keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
