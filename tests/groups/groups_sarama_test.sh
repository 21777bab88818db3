#!/usr/bin/env bash
# groups_sarama_test.sh [OUT_DIR]: builds groups_sarama_test.go in GOPATH mode against Debian's
# golang-github-shopify-sarama-dev (as tests/integration/kafka_sarama_test.sh does) into OUT_DIR
# (default: a temporary directory), then runs it against a broker started by
# tests/integration/harness.py. Exit 77 if Go or sarama is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
gocode=/usr/share/gocode

if ! command -v go >/dev/null; then
    echo "SKIP: go not found (run scripts/setup.sh)"
    exit 77
fi
if [[ ! -d $gocode/src/github.com/Shopify/sarama ]]; then
    echo "SKIP: sarama not found in $gocode (run scripts/setup.sh)"
    exit 77
fi

if [[ $# -ge 1 ]]; then
    out=$1
    mkdir -p "$out"
else
    out=$(mktemp -d)
    trap 'rm -rf "$out"' EXIT
fi
gopath=$out/sarama-gopath
mkdir -p "$gopath/src/sluice_sarama_groups_test"
# A *_test.go file is not a program to go build: copy it in as main.go.
cp "$here/groups_sarama_test.go" "$gopath/src/sluice_sarama_groups_test/main.go"
CGO_CFLAGS="-O2 -Wno-deprecated-declarations" GO111MODULE=off GOFLAGS= GOPATH="$gopath:$gocode" \
    GOCACHE="${GOCACHE:-$out/go-cache}" go build -o "$out/groups_sarama_test" sluice_sarama_groups_test

rc=0
/usr/bin/python3 "$here/../integration/harness.py" run -- "$out/groups_sarama_test" || rc=$?
exit $rc
