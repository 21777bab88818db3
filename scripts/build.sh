#!/usr/bin/env bash
# build.sh [release|debug|sanitize|fuzz]: configures and builds one kind into build/<kind>.
# sanitize is a Debug build with AddressSanitizer and UndefinedBehaviorSanitizer (SL_SANITIZE).
# fuzz builds only the libFuzzer targets of tests/fuzz (SL_FUZZ) with clang-14 into build/fuzz;
# it exits 77 if clang-14 is not installed.
set -euo pipefail
cd "$(dirname "$0")/.."

kind="${1:-release}"
case "$kind" in
    release)  args=(-DCMAKE_BUILD_TYPE=Release) ;;
    debug)    args=(-DCMAKE_BUILD_TYPE=Debug) ;;
    sanitize) args=(-DCMAKE_BUILD_TYPE=Debug -DSL_SANITIZE=ON) ;;
    fuzz)     args=(-DCMAKE_BUILD_TYPE=Release -DSL_FUZZ=ON -DSL_TESTS=OFF -DCMAKE_C_COMPILER=clang-14) ;;
    *) echo "usage: $0 [release|debug|sanitize|fuzz]" >&2; exit 2 ;;
esac

if [[ $kind == fuzz ]]; then
    if ! command -v clang-14 >/dev/null; then
        echo "build.sh fuzz: clang-14 not found (apt-get install clang-14)" >&2
        exit 77
    fi
    cmake -S . -B build/fuzz "${args[@]}"
    cmake --build build/fuzz -j"$(nproc)" --target sl_fuzz
    exit 0
fi

cmake -S . -B "build/$kind" "${args[@]}"
cmake --build "build/$kind" -j"$(nproc)"
