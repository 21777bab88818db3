#!/usr/bin/env bash
# js_go_test.sh [OUT_DIR] [SECTION...]: builds js_go_test.go in GOPATH mode against Debian's
# golang-github-nats-io-go-nats-dev (no module proxy here) into OUT_DIR (default: a temporary
# directory), then runs it against a JetStream server started by tests/nats/natsh.py run
# --jetstream (sluice-server --jetstream, or nats-server -js with SLUICE_NATS_REFERENCE=1, or
# SLUICE_EXTERNAL_NATS=host:port). SECTIONs pick sections (default all). Exit 77 if Go or nats.go
# is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
natsh=$here/../nats/natsh.py
gocode=/usr/share/gocode

if ! command -v go >/dev/null; then
    echo "SKIP: go not found (run scripts/setup.sh)"
    exit 77
fi
if [[ ! -d $gocode/src/github.com/nats-io/nats.go ]]; then
    echo "SKIP: nats.go not found in $gocode (run scripts/setup.sh: golang-github-nats-io-go-nats-dev)"
    exit 77
fi

if [[ $# -ge 1 && -n $1 ]]; then
    out=$1
    mkdir -p "$out"
else
    out=$(mktemp -d)
    trap 'rm -rf "$out"' EXIT
fi
shift || true
gopath=$out/jsgo-gopath
mkdir -p "$gopath/src/sluice_js_go_test"
# A *_test.go file is not a program to go build: copy it in as main.go.
cp "$here/js_go_test.go" "$gopath/src/sluice_js_go_test/main.go"
GO111MODULE=off GOFLAGS= GOPATH="$gopath:$gocode" GOCACHE="${GOCACHE:-$out/go-cache}" \
    go build -o "$out/js_go_test" sluice_js_go_test

rc=0
/usr/bin/python3 "$natsh" run --jetstream -- "$out/js_go_test" "$@" || rc=$?
exit $rc
