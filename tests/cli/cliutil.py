"""cliutil.py: runs the sluice CLI (env SLUICE_CLI, else build/<kind>/sluice) for tests/cli.

sluice(args, stdin=b"", timeout=60) -> (exit code, stdout bytes, stderr text, seconds); every run
is bounded by its timeout (a hang fails the test, it never blocks the suite).
"""
import os
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def cli_binary():
    path = os.environ.get("SLUICE_CLI")
    if path:
        return path
    for kind in ("release", "debug", "sanitize"):
        cand = os.path.join(REPO, "build", kind, "sluice")
        if os.access(cand, os.X_OK):
            return cand
    raise AssertionError("no sluice CLI binary: set SLUICE_CLI or run scripts/build.sh")


def sluice(args, stdin=b"", timeout=60, env=None):
    t0 = time.monotonic()
    # SLUICE_SERVER is the tests' path to sluice-server, not a NATS URL: keep it away from the CLI.
    e = dict(os.environ)
    e.pop("SLUICE_SERVER", None)
    e.pop("NATS_URL", None)
    e.pop("SLUICE_BROKERS", None)
    e.update(env or {})
    p = subprocess.run([cli_binary()] + list(args), input=stdin, capture_output=True,
                       timeout=timeout, env=e)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace"), time.monotonic() - t0


def ok(ck, args, stdin=b"", what=None, timeout=60):
    """Runs the CLI and requires exit code 0; returns stdout."""
    rc, out, err, _ = sluice(args, stdin, timeout)
    ck.eq(rc, 0, "%s: exit code (stderr: %s)" % (what or " ".join(args), err.strip()))
    return out
