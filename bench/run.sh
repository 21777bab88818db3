#!/usr/bin/env bash
# run.sh: the whole bench suite in one command. Builds what it needs, starts Sluice and the peers
# found on this machine side by side on loopback (nats-server 2.9.10 with JetStream, librdkafka's
# mock cluster, redis-server 7), runs every scenario with the servers alternating run by run, and
# writes DIR/report.md plus PNG plots (gnuplot) into DIR.
#
#   bench/run.sh [--quick] [--out DIR] [--no-build] [--reps N]
#
#   --quick     every scenario, briefly, on a reduced grid (about a minute): what CI runs
#   --out DIR   the report folder (default bench/results/<UTC date-time>/)
#   --no-build  use the binaries in $SLUICE_BUILD_DIR (default build/release) as they are
#   --reps N    runs per cell (default 3, --quick 1); the report shows medians
#
# Progress goes to stderr, one line per run. Raw results (one key=value line per run) are kept in
# DIR/raw/, and bench/report.py turns them into the report, so a report can be rebuilt without
# rerunning. Exit 0 when the report was written; a failed cell is shown as "failed" in it, not
# fatal. Scenarios and the reading of each section: bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

quick=0
out=""
build=1
reps=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) quick=1 ;;
        --out) out="$2"; shift ;;
        --no-build) build=0 ;;
        --reps) reps="$2"; shift ;;
        -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "run.sh: unknown option $1 (--help)" >&2; exit 2 ;;
    esac
    shift
done
[[ -n "$reps" ]] || reps=$(( quick ? 1 : 3 ))
[[ -n "$out" ]] || out="bench/results/$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$out/raw"
out=$(cd "$out" && pwd)
raw="$out/raw"
build_dir="${SLUICE_BUILD_DIR:-build/release}"
t_start=$(date +%s.%N)

since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
log() { printf '[%5ss] %s\n' "$(since "$t_start")" "$*" >&2; }

# ---- build -------------------------------------------------------------------------------------
if [[ $build -eq 1 ]]; then
    log "building release (scripts/build.sh release) ..."
    if [[ "$build_dir" == build/release ]]; then
        bash scripts/build.sh release >"$raw/build.log" 2>&1 || { tail -20 "$raw/build.log" >&2; exit 1; }
    else
        cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >"$raw/build.log" 2>&1
        cmake --build "$build_dir" -j2 >>"$raw/build.log" 2>&1 || { tail -20 "$raw/build.log" >&2; exit 1; }
    fi
fi
server="$build_dir/sluice-server"
nload="$build_dir/bench/sl_nats_load"
kload="$build_dir/bench/sl_kafka_load"
kmock="$build_dir/bench/sl_kafka_mock"
for f in "$server" "$nload"; do
    [[ -x "$f" ]] || { echo "run.sh: $f missing: build first (or drop --no-build)" >&2; exit 1; }
done
notes="$raw/notes.txt"
: >"$notes"
note() { echo "$*" >>"$notes"; log "note: $*"; }
[[ -x "$kload" && -x "$kmock" ]] || { note "librdkafka not found (librdkafka-dev): Kafka rows skipped"; kload=""; kmock=""; }

# nats.go's generator, GOPATH mode against Debian's nats.go, as bench/run_js.sh builds it.
jsb=""
gocode=/usr/share/gocode
if command -v go >/dev/null && [[ -d $gocode/src/github.com/nats-io/nats.go ]]; then
    gp="$(cd "$build_dir" && pwd)/bench/gopath"
    mkdir -p "$gp/src/sluice_js_bench"
    cp bench/js_bench.go "$gp/src/sluice_js_bench/main.go"
    if [[ -x "$build_dir/bench/js_bench" && "$build_dir/bench/js_bench" -nt bench/js_bench.go ]]; then
        jsb="$build_dir/bench/js_bench"
    elif log "building bench/js_bench.go (nats.go) ..." && GO111MODULE=off GOFLAGS="" GOPATH="$gp:$gocode" GOCACHE="${GOCACHE:-$PWD/build/go-cache}" \
            go build -o "$build_dir/bench/js_bench" sluice_js_bench >>"$raw/build.log" 2>&1; then
        jsb="$build_dir/bench/js_bench"
    else
        note "js_bench.go did not build (see raw/build.log): JetStream rows skipped"
    fi
else
    note "Go or nats.go missing (golang-go, golang-github-nats-io-go-nats-dev): JetStream rows skipped"
fi
nats_server="${NATS_SERVER:-$(command -v nats-server || echo /usr/sbin/nats-server)}"
[[ -x "$nats_server" ]] || { note "nats-server not installed: its rows are skipped"; nats_server=""; }
redis_server="$(command -v redis-server || true)"
if [[ -z "$redis_server" ]] || ! /usr/bin/python3 -c 'import redis' 2>/dev/null; then
    note "redis-server or python3-redis not installed (scripts/setup.sh installs both): Redis streams rows skipped"
    redis_server=""
fi

# ---- the grid ----------------------------------------------------------------------------------
if [[ $quick -eq 1 ]]; then
    secs=1; nsecs=0.5; lsecs=0.8
    sizes="16 4096 1048576"; parts="1 100 1000"; conns="1 1000"; kconns="1 10"
    nrates="10000 100000 1000000"; krates="10000 100000"
    max_bytes=$((64 << 20)) # a Kafka size cell stops at 64 MiB, so 1 MiB cells do not queue 256 MiB
else
    secs=2; nsecs=1.5; lsecs=2
    sizes="16 128 1024 16384 65536 262144 1048576"; parts="1 10 100 1000"; conns="1 10 100 1000"
    kconns="1 10 100 1000"
    nrates="10000 20000 50000 100000 200000 500000 1000000 2000000 5000000"
    krates="10000 20000 50000 100000 200000 500000 1000000"
    max_bytes=$((1 << 30))
fi
cat >"$raw/setup.txt" <<EOF
quick=$quick
reps=$reps
seconds_kafka=$secs
seconds_nats=$nsecs
seconds_latency=$lsecs
sizes=$sizes
partitions=$parts
connections=$conns
kafka_producers=$kconns
nats_rates=$nrates
kafka_rates=$krates
host=$(uname -n) $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)
cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)
nats_server_version=$([[ -n "$nats_server" ]] && "$nats_server" --version 2>&1 | head -1)
redis_version=$([[ -n "$redis_server" ]] && "$redis_server" --version | head -1)
librdkafka=$(pkg-config --modversion rdkafka 2>/dev/null || echo none)
sluice_commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
EOF

# ---- servers -----------------------------------------------------------------------------------
data="$out/data"
rm -rf "$data"
mkdir -p "$data"
declare -A pid port kport
pids=()
cleanup() {
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    for p in "${pids[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$data"
}
trap cleanup EXIT

read -r p1 p2 p3 p4 p5 p6 p7 p8 < <(bench_free_ports 8)
# Sluice twice: --fsync none (the default comparison, like the in-memory peers) and --fsync group
# (every ack durable), both with JetStream; 2 MiB records so the 1 MiB cells fit.
start_sluice() { # NAME FSYNC NATS KAFKA HTTP
    mkdir -p "$data/$1"
    "$server" --data-dir "$data/$1" --host 127.0.0.1 --port "$3" --kafka-port "$4" --http-port "$5" \
        --fsync "$2" --jetstream --max-message-bytes 2MiB >"$raw/$1.log" 2>&1 &
    pid[$1]=$!; pids+=("$!"); port[$1]=$3; kport[$1]=$4
    bench_wait_port "$3" "${pid[$1]}" && bench_wait_port "$4" "${pid[$1]}" ||
        { tail -5 "$raw/$1.log" >&2; echo "run.sh: $1 did not start" >&2; exit 1; }
}
start_sluice sluice none "$p1" "$p2" "$p3"
start_sluice sluice-group group "$p4" "$p5" "$p6"
if [[ -n "$nats_server" ]]; then
    mkdir -p "$data/nats-server"
    "$nats_server" -a 127.0.0.1 -p "$p7" -js -sd "$data/nats-server" >"$raw/nats-server.log" 2>&1 &
    pid[nats-server]=$!; pids+=("$!"); port[nats-server]=$p7
    bench_wait_port "$p7" "${pid[nats-server]}" || { note "nats-server did not start"; nats_server=""; }
fi
if [[ -n "$kmock" ]]; then
    # The mock cannot create topics over the protocol: the partition grid is made up front.
    margs=()
    for n in $parts; do margs+=(--topic "parts-$n:$n"); done
    margs+=(--topic "producers:10")
    coproc MOCK { exec "$kmock" "${margs[@]}" 2>"$raw/kafka-mock.log"; }
    pid[kafka-mock]=$MOCK_PID; pids+=("$MOCK_PID")
    if read -r -t 10 word boot <&"${MOCK[0]}" && [[ $word == BOOTSTRAP ]]; then
        kport[kafka-mock]=${boot##*:}
    else
        note "librdkafka mock cluster did not start: its rows are skipped"; kmock=""
    fi
fi
if [[ -n "$redis_server" ]]; then
    "$redis_server" --port "$p8" --bind 127.0.0.1 --save "" --appendonly no --dir "$data" \
        >"$raw/redis.log" 2>&1 &
    pid[redis]=$!; pids+=("$!"); port[redis]=$p8
    bench_wait_port "$p8" "${pid[redis]}" || { note "redis-server did not start"; redis_server=""; }
fi

nats_servers="sluice${nats_server:+ nats-server}"
kafka_servers="sluice${kmock:+ kafka-mock}"
[[ -n "$kload" ]] || kafka_servers=""

# ---- running one cell --------------------------------------------------------------------------
results="$raw/results.txt"
: >"$results"
clk=$(getconf CLK_TCK)
cell_no=0
cells_total=0

# run_cell SCEN SERVER X REP CMD...: runs CMD (bounded), keeps its last result line with the
# server's CPU (utime+stime over the whole command, % of one core) and memory afterwards.
run_cell() {
    local scen=$1 srv=$2 x=$3 rep=$4
    shift 4
    cell_no=$((cell_no + 1))
    log "$cell_no/$cells_total $scen x=$x $srv (run $rep)"
    local p=${pid[$srv]} t0 c0 line rc=0 el c1
    [[ -n "$p" && -d /proc/$p ]] || { echo "scen=$scen server=$srv x=$x rep=$rep cell_failed=1 why=server_gone" >>"$results"; return 1; }
    echo 5 >"/proc/$p/clear_refs" 2>/dev/null || true # reset VmHWM: the peak of this cell only
    t0=$(date +%s.%N); c0=$(bench_cpu_ticks "$p")
    line=$(timeout 120 nice -n 5 "$@" 2>"$raw/last-err.txt" | grep -E '(^RESULT |^mode=)' | tail -1) || rc=$?
    c1=$(bench_cpu_ticks "$p"); el=$(since "$t0")
    local kv="scen=$scen server=$srv x=$x rep=$rep wall_s=$el"
    kv+=" srv_cpu_pct=$(awk -v d=$((c1 - c0)) -v k="$clk" -v e="$el" 'BEGIN { printf "%.1f", (e > 0) ? d * 100 / k / e : 0 }')"
    kv+=" srv_rss_kb=$(bench_mem_kb "$p" VmRSS) srv_hwm_kb=$(bench_mem_kb "$p" VmHWM)"
    if [[ -z "$line" || $rc -ne 0 ]]; then
        local why
        why=$(tail -1 "$raw/last-err.txt" | tr -c 'A-Za-z0-9_.:-' '_' | cut -c1-80)
        echo "$kv cell_failed=1 rc=$rc why=${why:-no_result} ${line#RESULT }" >>"$results"
        echo "--- $scen $srv x=$x rep=$rep rc=$rc" >>"$raw/errors.txt"
        cat "$raw/last-err.txt" >>"$raw/errors.txt"
        return 1
    fi
    echo "$kv ${line#RESULT }" >>"$results"
}

# Cell commands, by scenario and server.
kafka_brokers() { echo "127.0.0.1:${kport[$1]}"; }
create_flag() { [[ $1 == kafka-mock ]] && echo 0 || echo 1; } # the mock has the topics already

# The plan: every cell of every scenario in the order it runs (servers alternate innermost).
plan=()
for rep in $(seq "$reps"); do
    for s in $kafka_servers; do plan+=("users-kafka-tput $s 100 $rep"); done
    for s in $nats_servers; do plan+=("users-nats-tput $s 128 $rep"); done
    for x in $sizes; do for s in $nats_servers; do plan+=("size-nats $s $x $rep"); done; done
    for x in $sizes; do for s in $kafka_servers; do plan+=("size-kafka $s $x $rep"); done; done
    for x in $parts; do for s in $kafka_servers; do plan+=("parts-kafka $s $x $rep"); done; done
    for x in $conns; do for s in $nats_servers; do plan+=("conns-nats $s $x $rep"); done; done
    for x in $kconns; do for s in $kafka_servers; do plan+=("conns-kafka $s $x $rep"); done; done
    for x in $nrates; do for s in $nats_servers; do plan+=("load-nats $s $x $rep"); done; done
    for x in $krates; do for s in $kafka_servers; do plan+=("load-kafka $s $x $rep"); done; done
    for s in ${kload:+sluice sluice-group}; do plan+=("durable-kafka $s 1024 $rep"); done
    if [[ -n "$jsb" ]]; then
        for s in sluice sluice-group; do plan+=("durable-js $s 128 $rep"); done
    fi
    for s in ${jsb:+sluice-group sluice ${nats_server:+nats-server}} ${redis_server:+redis}; do
        plan+=("workqueue $s 128 $rep")
    done
done
cells_total=${#plan[@]}
log "servers: ${!pid[*]}; $cells_total runs, $reps per cell"

declare -A saturated
for cell in "${plan[@]}"; do
    set -- $cell
    scen=$1 srv=$2 x=$3 rep=$4
    ncmd=("$nload" --port "${port[$srv]:-0}" --pid "${pid[$srv]:-0}") # the NATS generator on this server
    case $scen in
        users-kafka-tput)
            run_cell "$scen" "$srv" "$x" "$rep" "$kload" produce --brokers "$(kafka_brokers "$srv")" \
                --topic "users-$rep" --size 100 --acks 1 --linger-ms 5 --seconds "$secs" || true ;;
        users-nats-tput)
            run_cell "$scen" "$srv" "$x" "$rep" "${ncmd[@]}" --mode pubsub --size 128 --seconds "$nsecs" || true ;;
        size-nats)
            run_cell "$scen" "$srv" "$x" "$rep" "${ncmd[@]}" --mode pubsub --size "$x" --seconds "$nsecs" || true ;;
        size-kafka)
            run_cell "$scen" "$srv" "$x" "$rep" "$kload" produce --brokers "$(kafka_brokers "$srv")" \
                --topic "size-$x-$rep" --size "$x" --acks 1 --linger-ms 5 --seconds "$secs" \
                --max-msgs $(( max_bytes / x > 64 ? max_bytes / x : 64 )) || true ;;
        parts-kafka)
            run_cell "$scen" "$srv" "$x" "$rep" "$kload" produce --brokers "$(kafka_brokers "$srv")" \
                --topic "parts-$x" --partitions "$x" --create "$(create_flag "$srv")" --size 100 --acks 1 \
                --linger-ms 5 --seconds "$secs" || true ;;
        conns-kafka)
            # N producer connections (librdkafka instances in one process) into 10 partitions.
            run_cell "$scen" "$srv" "$x" "$rep" "$kload" produce --brokers "$(kafka_brokers "$srv")" \
                --topic producers --partitions 10 --create "$(create_flag "$srv")" --producers "$x" \
                --size 100 --acks 1 --linger-ms 5 --seconds "$secs" || true ;;
        conns-nats)
            run_cell "$scen" "$srv" "$x" "$rep" "${ncmd[@]}" --mode pubsub --subs "$x" --size 128 --seconds "$nsecs" || true ;;
        load-nats|load-kafka)
            # Step the offered load up until the server saturates: once a run falls below 90% of
            # its offered rate, loses messages, fails, or p99 passes 1 s, higher rates are skipped.
            key="$scen/$srv/$rep"
            if [[ -n "${saturated[$key]:-}" ]]; then
                echo "scen=$scen server=$srv x=$x rep=$rep skipped=1" >>"$results"
                cell_no=$((cell_no + 1)); continue
            fi
            if [[ $scen == load-nats ]]; then
                run_cell "$scen" "$srv" "$x" "$rep" "${ncmd[@]}" --mode lat --size 128 --rate "$x" --seconds "$lsecs" || true
            else
                run_cell "$scen" "$srv" "$x" "$rep" "$kload" latency --brokers "$(kafka_brokers "$srv")" \
                    --topic "load-$x-$rep" --size 100 --acks 1 --linger-ms 5 --rate "$x" --seconds "$secs" || true
            fi
            if python3 bench/report.py --saturated "$results" "$scen" "$srv" "$x" "$rep"; then
                saturated[$key]=1
            fi ;;
        durable-kafka)
            run_cell "$scen" "$srv" "$x" "$rep" "$kload" produce --brokers "$(kafka_brokers "$srv")" \
                --topic "durable-$rep" --size 1024 --acks all --linger-ms 5 --seconds "$secs" || true ;;
        durable-js)
            run_cell "$scen" "$srv" "$x" "$rep" "$jsb" -url "nats://127.0.0.1:${port[$srv]}" -mode pub \
                -size 128 -seconds "$secs" -stream "DUR$rep" || true ;;
        workqueue)
            if [[ $srv == redis ]]; then
                run_cell "$scen" "$srv" "$x" "$rep" /usr/bin/python3 bench/redis_streams.py --port "${port[redis]}" \
                    --size 128 --seconds "$secs" --stream "wq-$rep" || true
            else
                run_cell "$scen" "$srv" "$x" "$rep" "$jsb" -url "nats://127.0.0.1:${port[$srv]}" -mode pubsub \
                    -size 128 -seconds "$secs" -stream "WQ$rep" || true
            fi ;;
    esac
done

# Consumer-group rebalance time: bench/rebalance_bench.py on its own broker (--quick: the
# broker-side rows only, the confluent-kafka rows take minutes of heartbeats).
log "consumer-group rebalance (bench/rebalance_bench.py) ..."
rb_args=(--server "$server")
if [[ $quick -eq 1 ]]; then rb_args+=(--skip-clients --reps 1 --groups 50); else rb_args+=(--reps "$reps"); fi
if ! timeout 900 nice -n 5 /usr/bin/python3 bench/rebalance_bench.py "${rb_args[@]}" >"$raw/rebalance.txt" 2>"$raw/rebalance.err"; then
    note "rebalance_bench.py failed: $(tail -1 "$raw/rebalance.err")"
fi

# Broker memory at the end of everything.
for s in "${!pid[@]}"; do
    echo "server=$s rss_kb=$(bench_mem_kb "${pid[$s]}" VmRSS)" >>"$raw/rss.txt"
done
echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$raw/setup.txt"
echo "elapsed_s=$(since "$t_start")" >>"$raw/setup.txt"

log "writing $out/report.md and plots ..."
python3 bench/report.py "$out"
# TLS against plaintext (bench/run_tls.sh, its own servers and certificates), appended as it
# prints; a few minutes, so not in --quick.
if [[ $quick -eq 0 ]]; then
    log "TLS against plaintext (bench/run_tls.sh) ..."
    if SLUICE_BUILD_DIR="$build_dir" TBENCH_ROUNDS="$reps" bash bench/run_tls.sh >"$raw/tls.txt" 2>"$raw/tls.err"; then
        printf '\n## TLS against plaintext (bench/run_tls.sh)\n\n' >>"$out/report.md"
        cat "$raw/tls.txt" >>"$out/report.md"
    else
        note "run_tls.sh failed: $(tail -1 "$raw/tls.err")"
    fi
fi
# Replication factor 3 against 1 on a 3-broker cluster (bench/run_cluster.sh, its own brokers),
# appended; a few minutes, so not in --quick.
if [[ $quick -eq 0 && -n "$kload" ]]; then
    log "replication factor 3 against 1 on 3 brokers (bench/run_cluster.sh) ..."
    if SLUICE_BUILD_DIR="$build_dir" bash bench/run_cluster.sh --no-build --reps "$reps" --out "$out" \
            >/dev/null 2>"$raw/cluster.err"; then
        printf '\n' >>"$out/report.md"
        cat "$out/cluster.md" >>"$out/report.md"
    else
        note "run_cluster.sh failed: $(tail -1 "$raw/cluster.err")"
        if [[ -s "$out/cluster.md" ]]; then
            printf '\n' >>"$out/report.md"
            cat "$out/cluster.md" >>"$out/report.md"
        fi
    fi
fi
log "done: $out/report.md"
