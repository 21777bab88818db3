#!/usr/bin/python3
"""nats_nkey_test.py: builds nats_nkey_go_test.go in GOPATH mode against Debian's nats.go and
nkeys, asks it for two fresh user nkeys, starts the server (sluice-server, or nats-server 2.9.10
with SLUICE_NATS_REFERENCE=1) from a config whose users are one of the nkeys (allowed to publish
nk.ok only), a bcrypt user and a user without $JS.API permissions, checks that INFO carries a
nonce, and runs the Go checks (see the .go file). Exit 77 without Go, nats.go or nkeys."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import natsh  # noqa: E402
from natsh import Raw  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
GOCODE = "/usr/share/gocode"
ALICE_HASH = "$2b$04$9RsH3nZfxDR5pybBGTCmp.t9PmaUG0Yt7VdIi59DH1HGDEPbMg3Re"  # "s3cret"


def build(out):
    gopath = os.path.join(out, "gopath")
    src = os.path.join(gopath, "src", "sluice_nats_nkey_test")
    os.makedirs(src)
    shutil.copy(os.path.join(HERE, "nats_nkey_go_test.go"), os.path.join(src, "main.go"))
    env = dict(os.environ, GO111MODULE="off", GOFLAGS="", GOPATH="%s:%s" % (gopath, GOCODE),
               GOCACHE=os.environ.get("GOCACHE", os.path.join(out, "go-cache")))
    prog = os.path.join(out, "nats_nkey_go_test")
    r = subprocess.run(["go", "build", "-o", prog, "sluice_nats_nkey_test"], cwd=src, env=env,
                       capture_output=True, text=True, timeout=240)
    if r.returncode != 0:
        raise natsh.CheckFailed("go build: %s" % r.stderr[-2000:])
    return prog


def body(ck):
    if os.environ.get("SLUICE_EXTERNAL_NATS"):
        natsh.skip("needs its own configuration")
    if not shutil.which("go") or not os.path.isdir(GOCODE + "/src/github.com/nats-io/nkeys"):
        natsh.skip("go or Debian's golang-github-nats-io-nkeys-dev missing")
    out = tempfile.mkdtemp(prefix="sluice-nkey-")
    try:
        prog = build(out)
        keys = subprocess.run([prog, "keys"], capture_output=True, text=True, timeout=30).stdout.split("\n")
        (seed, pub), (other_seed, _) = keys[0].split(), keys[1].split()
        conf = """
authorization {
  users = [
    {nkey: %s, permissions: { publish: "nk.ok", subscribe: ["nk.ok", "_INBOX.>"] }}
    {user: alice, password: "%s"}
    {user: bob, password: bobpw, permissions: { publish: ["orders.>"] }}
  ]
}
""" % (pub, ALICE_HASH)
        t = natsh.ConfNats(conf, jetstream=True).start()
        c = Raw(t)
        info = json.loads(c.info_line[5:].strip())
        ck.ok(info.get("auth_required") is True and len(info.get("nonce", "")) >= 11, "INFO has a nonce: %s" % info)
        c.close()
        r = subprocess.run([prog, "check", t.url, seed, other_seed], capture_output=True, text=True, timeout=60)
        sys.stdout.write(r.stdout + r.stderr)
        ck.eq(r.returncode, 0, "nats.go checks")
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    natsh.run("nats_nkey_test", body, time_limit=100)
