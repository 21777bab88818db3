#!/usr/bin/env bash
# kill9_append.sh: the kill -9 crash test of the storage engine.
#
#   kill9_append.sh WRITER VERIFY      (CTest passes the two binaries)
#
# Each iteration starts crash_writer (one fdatasync per append; it reports every durable batch),
# kills it with SIGKILL after a random 50-400 ms, then runs crash_verify, which reopens the store
# (recovery runs) and checks every batch byte-for-byte, the offsets' continuity, and that every
# batch ever reported durable is still there. Every few iterations the active segment gets a
# fake torn write -- garbage, zeros, a cut-off next batch, a next batch with a flipped byte, or a
# whole next batch behind a hole of zeros -- and a second verify must see it dropped and the log
# end unchanged: nothing after a tear may become visible. Verifies alternate between a clean
# close and a plain exit, so both the trusted-index and the scanning open are exercised.
# Environment: CRASH_ITERATIONS (default 40), CRASH_SEED (default: from the clock; printed, and
# the run repeats its kill times, segment sizes and tears given the same seed).
set -u

if [ $# -ne 2 ]; then
    echo "usage: $0 WRITER VERIFY" >&2
    exit 2
fi
writer=$1
verify=$2
iterations=${CRASH_ITERATIONS:-40}
seed=${CRASH_SEED:-$(( 10#$(date +%N) % 32768 ))}
RANDOM=$seed
content_seed=$(( seed * 7919 + 1 ))
echo "kill9_append: seed $seed (rerun with CRASH_SEED=$seed), $iterations iterations"

# fdatasync and recovery only mean something on a real file system: not tmpfs, not ramfs.
base=${TMPDIR:-/tmp}
case $(stat -f -c %T "$base" 2>/dev/null) in
    tmpfs|ramfs|"") base=$(cd "$(dirname "$writer")" && pwd) ;;
esac
work=$(mktemp -d "$base/sluice-kill9.XXXXXX") || exit 2
data=$work/data
reports=$work/durable.all
: > "$reports"
echo "kill9_append: data in $data ($(stat -f -c %T "$work"))"

fail() {
    echo "kill9_append: FAIL (seed $seed, iteration $iter): $*"
    echo "kill9_append: writer stderr (last lines):"
    tail -n 20 "$work/writer.err" 2>/dev/null
    echo "kill9_append: left $work for inspection"
    exit 1
}

# The writer is killed, so its leak report would only be noise.
writer_env="ASAN_OPTIONS=detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"

max_durable=0
last_summary=""
run_verify() { # $1: "close" or "no-close"; sets last_summary, fails the test on a violation
    local flag=()
    [ "$1" = no-close ] && flag=(--no-close)
    last_summary=$("$verify" "${flag[@]}" "$data" "$content_seed" "$max_durable" "$reports" 2>"$work/verify.err")
    local rc=$?
    [ $rc -eq 77 ] && { echo "kill9_append: skipped: io_uring unavailable"; exit 77; }
    if [ $rc -ne 0 ]; then
        cat "$work/verify.err"
        fail "verifier exit $rc: $last_summary"
    fi
}
summary_field() { # $1: field name in the verifier's summary line
    echo "$last_summary" | awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }'
}

active_segment() { # the highest base offset; names are zero-padded, so globs sort them
    local f last=""
    for f in "$data"/crash-0/*.log; do [ -e "$f" ] && last=$f; done
    echo "$last"
}

# Appends a fake torn write to the active segment after a verify left it exact; $1 is the end.
tear() {
    local end=$1 seg mode n len pos byte
    seg=$(active_segment)
    [ -n "$seg" ] || fail "no segment to tear"
    "$verify" --print-batch "$content_seed" "$end" > "$work/next.batch" || fail "--print-batch"
    len=$(stat -c %s "$work/next.batch")
    mode=$(( RANDOM % 5 ))
    case $mode in
        0) n=$(( 1 + RANDOM % 8192 )); head -c "$n" /dev/urandom >> "$seg"; tear_desc="garbage $n B" ;;
        1) n=$(( 1 + RANDOM % 8192 )); head -c "$n" /dev/zero >> "$seg"; tear_desc="zeros $n B" ;;
        # At least the base offset and the length: a shorter cut can be all zeros (a base
        # offset below 2^32), which is preallocation as far as recovery can know.
        2) n=$(( 12 + RANDOM % (len - 12) )); head -c "$n" "$work/next.batch" >> "$seg"
           tear_desc="next batch cut at $n of $len B" ;;
        3) pos=$(( 16 + RANDOM % (len - 16) ))
           byte=$(od -An -tu1 -j "$pos" -N1 "$work/next.batch" | tr -d ' ')
           printf '%b' "\\$(printf '%03o' $(( byte ^ 0x5a )))" |
               dd of="$work/next.batch" bs=1 seek="$pos" conv=notrunc status=none
           cat "$work/next.batch" >> "$seg"; tear_desc="next batch with byte $pos of $len flipped" ;;
        4) n=$(( 1 + RANDOM % 4096 )); head -c "$n" /dev/zero >> "$seg"; cat "$work/next.batch" >> "$seg"
           tear_desc="whole next batch behind $n zero bytes" ;;
    esac
    # Zeros alone are preallocation as far as recovery knows: kept quiet, but still trimmed.
    tear_must_drop=$(( mode != 1 ))
}

tears=0
for (( iter = 1; iter <= iterations; iter++ )); do
    seg_sizes=(16384 65536 1048576)
    seg_bytes=${seg_sizes[RANDOM % 3]}
    sleep_ms=$(( 50 + RANDOM % 351 ))
    env "$writer_env" "$writer" "$data" "$content_seed" "$seg_bytes" 30 \
        > "$work/writer.out" 2> "$work/writer.err" &
    pid=$!
    sleep "$(printf '0.%03d' "$sleep_ms")"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null # the shell's "Killed" notice is expected, not news
    rc=$?
    [ $rc -eq 77 ] && { echo "kill9_append: skipped: io_uring unavailable"; exit 77; }
    [ $rc -eq 137 ] || fail "writer exited with $rc before it was killed"

    start=$(awk '$1 == "start" { print $2 }' "$work/writer.out")
    if [ -n "$start" ] && [ "$start" -lt "$max_durable" ]; then
        fail "writer resumed at $start, below the durable end $max_durable"
    fi
    grep -E '^durable [0-9]+ [0-9]+ ok$' "$work/writer.out" >> "$reports"
    last=$(grep -E '^durable [0-9]+ [0-9]+ ok$' "$work/writer.out" | tail -n 1 | awk '{ print $3 }')
    if [ -n "$last" ] && [ "$last" -gt "$max_durable" ]; then max_durable=$last; fi
    reported=$(grep -cE '^durable [0-9]+ [0-9]+ ok$' "$work/writer.out")

    # Sometimes garbage lands straight after whatever the killed writer left (often behind
    # its preallocated zeros), before any recovery has looked at the file.
    raw=""
    if (( iter % 5 == 0 )); then
        seg=$(active_segment)
        if [ -n "$seg" ]; then
            n=$(( 1 + RANDOM % 4096 ))
            head -c "$n" /dev/urandom >> "$seg"
            raw=" +raw garbage $n B"
        fi
    fi

    if (( iter % 2 )); then mode=close; else mode=no-close; fi
    run_verify "$mode"
    end=$(summary_field end)
    # The verifier already proved the .log files hold nothing but verified batches; this
    # checks recovery also said so: counted as dropped, or the segment deleted as one that
    # only followed the tear (a kill right after rolls leaves such empty segments).
    if [ -n "$raw" ] && [ "$(summary_field dropped)" -eq 0 ] &&
       ! grep -q "later segment" "$work/verify.err"; then
        fail "raw garbage was not reported dropped: $last_summary"
    fi
    echo "iter $iter: seg $seg_bytes, killed after $sleep_ms ms, start ${start:-?}, reported $reported, durable end $max_durable, $mode$raw: $last_summary"

    if (( iter % 3 == 0 )); then
        tear "$end"
        if [ "$mode" = close ]; then mode=no-close; else mode=close; fi
        run_verify "$mode"
        [ "$(summary_field end)" = "$end" ] || fail "after a tear ($tear_desc) the end moved from $end: $last_summary"
        if [ "$tear_must_drop" -eq 1 ] && [ "$(summary_field dropped)" -eq 0 ]; then
            fail "tear ($tear_desc) was not reported dropped: $last_summary"
        fi
        tears=$(( tears + 1 ))
        echo "iter $iter: tear: $tear_desc, $mode: $last_summary"
    fi
done

echo "kill9_append: $iterations iterations, $(summary_field batches) batches verified, end offset $(summary_field end)," \
     "$(wc -l < "$reports") durable reports held, $tears tears dropped, ${SECONDS}s"
rm -rf "$work"
exit 0
