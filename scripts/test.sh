#!/usr/bin/env bash
# test.sh: installs what is missing, then builds and runs the whole test suite twice: Release,
# and Debug with ASan+UBSan; then builds the libFuzzer targets (build/fuzz, clang-14) and runs
# each for 15 s (ctest label fuzz; one skipped test if clang-14 is missing). Keeps going through
# all of it so the count is complete, and ends with one line, alone and last:
# "tests: P passed, F failed" (", S skipped" if any were skipped).
# A build that fails counts as one failed test. Exits non-zero on any failure or if no test passed.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

passed=0
failed=0
skipped=0
logdir=$(mktemp -d)
trap 'rm -rf "$logdir"' EXIT

# Adds one ctest run's numbers, read from its summary ("67% tests passed, 1 tests failed out
# of 3") and its "(Skipped)" lines; ctest counts a skipped test among the passed ones.
count_ctest() {
    local log="$1" line fail total skip
    line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1 || true)
    if [[ -z "$line" ]]; then
        return 0
    fi
    fail=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
    total=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$line")
    skip=$(grep -cE '^[[:space:]]*[0-9]+ - .* \(Skipped\)$' "$log" || true)
    passed=$((passed + total - fail - skip))
    failed=$((failed + fail))
    skipped=$((skipped + skip))
}

run_kind() {
    local kind="$1"
    shift
    echo "==== $kind: build" >&2
    if ! bash scripts/build.sh "$kind"; then
        echo "==== $kind: build FAILED" >&2
        failed=$((failed + 1))
        return 0
    fi
    echo "==== $kind: ctest" >&2
    ctest --test-dir "build/$kind" --output-on-failure -j2 "$@" 2>&1 | tee "$logdir/$kind.log" || true
    count_ctest "$logdir/$kind.log"
}

run_kind release
# The sanitizers check our code: the runs of a test against the reference nats-server
# (ctest name ending @nats-server) proved its semantics in the Release pass already, and the
# peer is the same binary in both, so the sanitizer pass leaves them out (about a minute).
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_kind sanitize -E '@nats-server$'

# The fuzz targets: their own build (clang-14), one ctest entry that runs each for 15 s.
echo "==== fuzz: build" >&2
rc=0
bash scripts/build.sh fuzz || rc=$?
if [[ $rc -eq 77 ]]; then
    echo "==== fuzz: clang-14 missing, skipped" >&2
    skipped=$((skipped + 1))
elif [[ $rc -ne 0 ]]; then
    echo "==== fuzz: build FAILED" >&2
    failed=$((failed + 1))
else
    echo "==== fuzz: ctest" >&2
    ctest --test-dir build/fuzz --output-on-failure -L fuzz 2>&1 | tee "$logdir/fuzz.log" || true
    count_ctest "$logdir/fuzz.log"
fi

summary="tests: $passed passed, $failed failed"
if [[ $skipped -gt 0 ]]; then
    summary+=", $skipped skipped"
fi
echo "$summary"
# Nothing passed means nothing was checked, even if every test was skipped.
if [[ $failed -gt 0 || $passed -eq 0 ]]; then
    exit 1
fi
