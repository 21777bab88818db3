#!/usr/bin/env bash
# run_storage.sh [sl_storage_bench args...]: builds Release and runs the storage append
# benchmark with its scratch data under build/, which is on the repository's disk (a tmpfs
# /tmp would measure memory, not the disk). Arguments are passed through, e.g. --seconds 5.
# Build output goes to stderr, so stdout is only the table.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -x scripts/build.sh ]]; then
    scripts/build.sh release >&2
else
    cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >&2
    cmake --build build/release -j2 >&2
fi

data_dir="build/bench-data"
mkdir -p "$data_dir"
exec build/release/bench/sl_storage_bench --dir "$data_dir" "$@"
