#!/usr/bin/env bash
# setup.sh: installs the Debian 12 packages Sluice builds and tests with, and nothing else.
# Fast when everything is there: apt is touched only if a package is missing. Needs root then.
set -euo pipefail

# One list; later work adds its clients and tools here (librdkafka-dev, kcat, golang, nodejs...).
PACKAGES="build-essential cmake pkg-config git ca-certificates liburing-dev libxxhash-dev libzstd-dev check procps python3"

missing=()
for pkg in $PACKAGES; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    if [[ "$status" != "install ok installed" ]]; then
        missing+=("$pkg")
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi

if [[ "$(id -u)" -ne 0 ]]; then
    echo "setup: missing packages: ${missing[*]}" >&2
    echo "setup: run as root to install them (sudo $0), or apt-get install them yourself" >&2
    exit 1
fi

echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"
