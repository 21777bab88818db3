#!/usr/bin/env bash
# build.sh [release|debug|sanitize]: configures and builds one kind into build/<kind>.
# sanitize is a Debug build with AddressSanitizer and UndefinedBehaviorSanitizer (SL_SANITIZE).
set -euo pipefail
cd "$(dirname "$0")/.."

kind="${1:-release}"
case "$kind" in
    release)  args=(-DCMAKE_BUILD_TYPE=Release) ;;
    debug)    args=(-DCMAKE_BUILD_TYPE=Debug) ;;
    sanitize) args=(-DCMAKE_BUILD_TYPE=Debug -DSL_SANITIZE=ON) ;;
    *) echo "usage: $0 [release|debug|sanitize]" >&2; exit 2 ;;
esac

cmake -S . -B "build/$kind" "${args[@]}"
cmake --build "build/$kind" -j"$(nproc)"
