#!/usr/bin/env bash
# setup.sh: installs the Debian 12 packages Sluice builds and tests with, and nothing else.
# Fast when everything is there: apt is touched only if a package is missing. Needs root then.
set -euo pipefail

# One list; later work adds its clients and tools here.
# The Kafka clients of tests/integration: kcat and confluent-kafka-python (librdkafka), kafka-python
# with its codecs (snappy, lz4, zstandard), sarama for Go in GOPATH mode (with xdg-go/scram for its
# SCRAM logins), and Node.js + npm for
# kafkajs (from the npm registry, below). The NATS tests and benchmark (tests/nats,
# bench/run_nats.sh): nats.go for Go in GOPATH mode, nats.js (npm, below) and the reference
# nats-server 2.9.10. The JetStream tests (tests/streams) add nats.c (libnats-dev) and nats.js v3.
# The monitoring port parses HTTP with libhttp-parser-dev; its tests scrape with a real Prometheus
# and check with promtool (prometheus); docker/build_check.py builds the Dockerfile in a fresh
# Debian root made by mmdebstrap. The libFuzzer targets (tests/fuzz) build with clang-14 and its
# runtime libraries (libclang-rt-14-dev holds libFuzzer). The bench suite (bench/run.sh) adds
# Redis 7 streams as a peer (redis-server, driven by python3-redis) and gnuplot-nox for its plots.
# The sluice CLI (client/) builds on librdkafka-dev, libnats-dev, libjansson-dev and, for the
# broker's admin routes (sluice user), libcurl4-openssl-dev. Clustering (broker/cluster/) runs
# canonical/raft (libraft-dev) on its own libuv loop (libuv1-dev).
PACKAGES="build-essential cmake pkg-config git ca-certificates liburing-dev libxxhash-dev libzstd-dev libjansson-dev libcrypt-dev libsnappy-dev liblz4-dev zlib1g-dev libssl-dev openssl check procps python3 libcurl4-openssl-dev curl
          kcat librdkafka-dev python3-confluent-kafka python3-kafka python3-snappy python3-lz4 python3-zstandard
          golang-go golang-github-shopify-sarama-dev golang-github-xdg-go-scram-dev nodejs npm
          golang-github-nats-io-go-nats-dev nats-server libnats-dev
          libhttp-parser-dev libraft-dev libuv1-dev prometheus python3-yaml mmdebstrap clang-14 libclang-rt-14-dev
          redis-server python3-redis gnuplot-nox"

# Installed, or provided by an installed package (a nodejs from elsewhere provides npm: asking
# apt for Debian's npm then would fight over /usr/bin/node).
provided=
installed() {
    local status
    status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] && return 0
    [[ -n "$provided" ]] || provided=$(dpkg-query -W -f='${Status}|${Provides}\n' 2>/dev/null |
        grep '^install ok installed|' | cut -d'|' -f2 | tr ',' '\n' | sed -E 's/^ *//; s/ .*$//')
    grep -qxF "$1" <<<"$provided"
}

missing=()
for pkg in $PACKAGES; do
    if ! installed "$pkg"; then
        missing+=("$pkg")
    fi
done

if [[ ${#missing[@]} -gt 0 ]]; then
    if [[ "$(id -u)" -ne 0 ]]; then
        echo "setup: missing packages: ${missing[*]}" >&2
        echo "setup: run as root to install them (sudo $0), or apt-get install them yourself" >&2
        exit 1
    fi
    echo "setup: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${missing[@]}"
fi

# kafkajs for tests/integration and nats.js for tests/nats, pinned by their package-lock.json;
# only when node_modules is missing or older than the lock.
for it in "$(dirname "$0")/../tests/integration" "$(dirname "$0")/../tests/nats" "$(dirname "$0")/../tests/streams"; do
    if [[ -f "$it/package.json" ]] && command -v npm >/dev/null; then
        if [[ ! -f "$it/node_modules/.package-lock.json" || "$it/package-lock.json" -nt "$it/node_modules/.package-lock.json" ]]; then
            echo "setup: npm packages for tests/$(basename "$it")" >&2
            if [[ -f "$it/package-lock.json" ]]; then
                npm ci --prefix "$it" --no-audit --no-fund --loglevel=error >/dev/null
            else
                npm install --prefix "$it" --no-audit --no-fund --loglevel=error >/dev/null
            fi
        fi
    fi
done
