#!/usr/bin/env bash
# run.sh [seconds] [target...]: runs every fuzz target (or the ones named) of build/fuzz for
# `seconds` each (default 20) with libFuzzer's -max_total_time, one after the other, starting
# from its seed corpus tests/fuzz/corpus/<target>/ (read only: what a run finds goes into a
# scratch directory, or into $FUZZ_KEEP/<target>/ if set). Prints executions per target and
# fails if any target crashed, leaked, hung or aborted on a broken invariant; the input that did
# it is kept as $FUZZ_ARTIFACTS/<target>-crash-... (default build/fuzz/artifacts).
# FUZZ_DIR (default build/fuzz) is where the targets are; FUZZ_JOBS=N runs N targets at a time.
# Exits 77 if the targets are not built (bash scripts/build.sh fuzz).
set -uo pipefail
cd "$(dirname "$0")/../.."

secs="${1:-20}"
shift || true
dir="${FUZZ_DIR:-build/fuzz}"
artifacts="${FUZZ_ARTIFACTS:-$dir/artifacts}"
jobs="${FUZZ_JOBS:-1}"
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    targets=(kafka_req kafka_resp records nats index recovery kvlog meta http jsapi nats_conf cluster_fsm nats_route)
fi
for t in "${targets[@]}"; do
    if [[ ! -x "$dir/fuzz_$t" ]]; then
        echo "run.sh: $dir/fuzz_$t is not built (bash scripts/build.sh fuzz)" >&2
        exit 77
    fi
done
mkdir -p "$artifacts"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

run_one() {
    local t="$1" out="$scratch/$1.corpus" log="$scratch/$1.log"
    if [[ -n "${FUZZ_KEEP:-}" ]]; then out="$FUZZ_KEEP/$t"; fi
    mkdir -p "$out"
    local seeds="tests/fuzz/corpus/$t"
    [[ -d $seeds ]] || seeds=""
    # -timeout: an input that takes 10 s is a hang; -rss_limit_mb: a bomb the limits missed.
    "$dir/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2560 -print_final_stats=1 \
        -artifact_prefix="$artifacts/$t-" "$out" $seeds >"$log" 2>&1
    echo $? >"$scratch/$t.rc"
}

if [[ $jobs -le 1 ]]; then
    for t in "${targets[@]}"; do run_one "$t"; done
else
    running=0
    for t in "${targets[@]}"; do
        run_one "$t" &
        running=$((running + 1))
        if [[ $running -ge $jobs ]]; then
            wait -n
            running=$((running - 1))
        fi
    done
    wait
fi

failed=0
printf '%-12s %14s %10s %8s  %s\n' target execs execs/s corpus result
for t in "${targets[@]}"; do
    log="$scratch/$t.log"
    rc=$(cat "$scratch/$t.rc")
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(grep -oE 'exec/s: [0-9]+' "$log" | tail -n 1 | sed 's/exec\/s: //')
    corp=$(grep -oE 'corp: [0-9]+' "$log" | tail -n 1 | sed 's/corp: //')
    result=ok
    if [[ $rc -ne 0 ]]; then
        result="FAILED (exit $rc)"
        failed=$((failed + 1))
    fi
    printf '%-12s %14s %10s %8s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "${corp:-?}" "$result"
    if [[ $rc -ne 0 ]]; then
        grep -E 'ERROR|SUMMARY|fuzz_[a-z_]*:|Test unit written|^ +#[0-9]+ ' "$log" | head -40 | sed "s/^/  $t: /"
    fi
done
echo "fuzz: ${#targets[@]} targets, $failed failed"
[[ $failed -eq 0 ]]
