#!/usr/bin/env bash
# run_js.sh: the JetStream benchmark. nats-server 2.9.10 (Debian, -js, file store) and
# sluice-server --jetstream, once with fsync group (PubAcks durable) and once with fsync none,
# side by side in one run on loopback, all driven by the same nats.go generator
# (bench/js_bench.go, our users' settings: work-queue stream, PublishAsyncMaxPending(256), pull
# consumers with AckExplicit and batches of 256):
#   pub      async publish for JBENCH_SECONDS, 128 B and 1 KiB
#   consume  pull-consume a backlog of JBENCH_COUNT messages, 128 B and 1 KiB
#   pubsub   publish and consume at once (two connections), 128 B
#   e2e      10 k msgs/s, latency publish -> push consumer, p50/p99/p99.9, 128 B
#   rawpub   the pub row's load from bench/nats_load.c (jspub: the same stream, 256 PubAcks
#            outstanding, no client library), to show the server's own ceiling: nats.go's
#            publisher takes about a core at ~300 k msgs/s here, which bounds the pub row
# Each row runs on every server, JBENCH_REPS times (default 3) interleaved; the table shows
# medians, the server's CPU over the measured interval (utime+stime from /proc, % of one core)
# and its VmRSS at the end. Then the issue's targets with PASS/MISS:
#   publish and consume >= 3x nats-server at no more CPU, with fsync group.
# Environment: SLUICE_BUILD_DIR (default build/release), JBENCH_SECONDS (2), JBENCH_COUNT
# (200000), JBENCH_REPS (3), JBENCH_ROWS (a comma-separated subset of the rows, e.g.
# "pub 128,rawpub 128"; default all), NATS_SERVER (nats-server in PATH or /usr/sbin).
# Exit status 0 when every run completed (targets may still MISS), 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh # free ports, waiting for a listener

build_dir="${SLUICE_BUILD_DIR:-build/release}"
secs="${JBENCH_SECONDS:-2}"
count="${JBENCH_COUNT:-200000}"
reps="${JBENCH_REPS:-3}"
data_root="build/js-bench"
gocode=/usr/share/gocode
nats_server="${NATS_SERVER:-$(command -v nats-server || echo /usr/sbin/nats-server)}"
if [[ ! -x "$nats_server" ]]; then
    echo "run_js: nats-server not found: apt-get install nats-server (scripts/setup.sh)" >&2
    exit 1
fi
if ! command -v go >/dev/null || [[ ! -d $gocode/src/github.com/nats-io/nats.go ]]; then
    echo "run_js: Go or nats.go missing: scripts/setup.sh installs golang-go and golang-github-nats-io-go-nats-dev" >&2
    exit 1
fi

cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" -j2 --target sluice-server sl_nats_load >/dev/null
server="$build_dir/sluice-server"
raw_load="$build_dir/bench/sl_nats_load"

rm -rf "$data_root"
mkdir -p "$data_root/gopath/src/sluice_js_bench" "$data_root/nats" "$data_root/group" "$data_root/none"
cp bench/js_bench.go "$data_root/gopath/src/sluice_js_bench/main.go"
GO111MODULE=off GOFLAGS= GOPATH="$PWD/$data_root/gopath:$gocode" GOCACHE="${GOCACHE:-$PWD/build/go-cache}" \
    go build -o "$data_root/js_bench" sluice_js_bench
load="$data_root/js_bench"

pids=()
cleanup() {
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
}
trap cleanup EXIT

read -r nport gport nonep k1 k2 h1 h2 < <(bench_free_ports 7)

"$nats_server" -js -sd "$data_root/nats" -a 127.0.0.1 -p "$nport" >"$data_root/nats-server.log" 2>&1 &
nats_pid=$!
pids+=("$nats_pid")
"$server" --jetstream --fsync group --data_dir "$data_root/group" --port "$gport" --kafka_port "$k1" \
    --http_port "$h1" --host 127.0.0.1 >"$data_root/sluice-group.log" 2>&1 &
group_pid=$!
pids+=("$group_pid")
"$server" --jetstream --fsync none --data_dir "$data_root/none" --port "$nonep" --kafka_port "$k2" \
    --http_port "$h2" --host 127.0.0.1 >"$data_root/sluice-none.log" 2>&1 &
none_pid=$!
pids+=("$none_pid")
for sp in "$nport:$nats_pid" "$gport:$group_pid" "$nonep:$none_pid"; do
    if ! bench_wait_port "${sp%%:*}" "${sp##*:}"; then
        echo "run_js: a server did not start; logs in $data_root" >&2
        exit 1
    fi
done

rows=("pub 128" "pub 1024" "consume 128" "consume 1024" "pubsub 128" "e2e 128" "rawpub 128")
if [[ -n "${JBENCH_ROWS:-}" ]]; then # a subset, e.g. JBENCH_ROWS="pub 128,rawpub 128"
    IFS=, read -r -a rows <<<"$JBENCH_ROWS"
fi
results="$data_root/results.txt"
: >"$results"
ok=1
t_start=$(date +%s)
for rep in $(seq "$reps"); do
    for row in "${rows[@]}"; do
        set -- $row
        for srv in nats group none; do
            case $srv in
            nats) port=$nport pid=$nats_pid ;;
            group) port=$gport pid=$group_pid ;;
            none) port=$nonep pid=$none_pid ;;
            esac
            if [[ $1 == rawpub ]]; then
                if line=$(timeout 120 "$raw_load" --port "$port" --mode jspub --size "$2" --seconds "$secs" \
                        --pid "$pid" 2>"$data_root/err.txt"); then
                    line="RESULT mode=rawpub $(tr ' ' '\n' <<<"$line" | grep -E '^(msgs_s|cpu_pct|rss_kb)=' |
                        sed 's/^msgs_s=/rate=/' | tr '\n' ' ')"
                    echo "server=$srv rep=$rep size=$2 ${line#RESULT }" >>"$results"
                else
                    echo "run_js: $srv $1 $2 failed: $(tail -2 "$data_root/err.txt" | tr '\n' ' ')" >&2
                    echo "server=$srv rep=$rep mode=$1 size=$2 failed=1" >>"$results"
                    ok=0
                fi
                continue
            fi
            if line=$(timeout 120 "$load" -url "nats://127.0.0.1:$port" -mode "$1" -size "$2" \
                    -seconds "$secs" -count "$count" -rate 10000 -pid "$pid" 2>"$data_root/err.txt" |
                    grep '^RESULT'); then
                echo "server=$srv rep=$rep size=$2 ${line#RESULT }" >>"$results"
            else
                echo "run_js: $srv $1 $2 failed: $(tail -2 "$data_root/err.txt" | tr '\n' ' ')" >&2
                echo "server=$srv rep=$rep mode=$1 size=$2 failed=1" >>"$results"
                ok=0
                if ! kill -0 "$pid" 2>/dev/null; then
                    echo "run_js: $srv exited; see $data_root" >&2
                    exit 1
                fi
            fi
        done
    done
done
elapsed=$(( $(date +%s) - t_start ))

python3 - "$results" "$elapsed" "$reps" "$secs" "$count" <<'EOF'
import statistics, sys
path, elapsed, reps, secs, count = sys.argv[1:]
runs = {}
for line in open(path):
    kv = dict(x.split("=", 1) for x in line.split())
    runs.setdefault((kv["mode"], int(kv["size"]), kv["server"]), []).append(kv)

def med(mode, size, srv, key):
    vals = [float(r[key]) for r in runs.get((mode, size, srv), []) if "failed" not in r and key in r]
    return statistics.median(vals) if vals else None

def fmt(v):
    if v is None:
        return "n/a"
    return "{:,.0f}".format(v) if abs(v) >= 100 else "{:.1f}".format(v)

def ratio(a, b):
    return "n/a" if a is None or b is None or b == 0 else "{:.2f}x".format(a / b)

def sz(s):
    return "%d KiB" % (s // 1024) if s >= 1024 else "%d B" % s

names = {"pub": "async publish (256 pending)", "consume": "pull consume, AckExplicit, batch 256",
         "pubsub": "publish + consume at once", "rawpub": "async publish, raw generator (nats_load jspub)"}
print("| row | nats-server msgs/s | CPU % | RSS MB | Sluice group msgs/s | CPU % | RSS MB | group / nats | "
      "Sluice none msgs/s | CPU % | none / nats |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for mode, size in (("pub", 128), ("pub", 1024), ("consume", 128), ("consume", 1024), ("pubsub", 128),
                   ("rawpub", 128)):
    n, g, z = (med(mode, size, s, "rate") for s in ("nats", "group", "none"))
    rn, rg = med(mode, size, "nats", "rss_kb"), med(mode, size, "group", "rss_kb")
    print("| %s %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
        names[mode], sz(size), fmt(n), fmt(med(mode, size, "nats", "cpu_pct")), fmt(rn / 1024 if rn else None),
        fmt(g), fmt(med(mode, size, "group", "cpu_pct")), fmt(rg / 1024 if rg else None), ratio(g, n),
        fmt(z), fmt(med(mode, size, "none", "cpu_pct")), ratio(z, n)))
print()
# The client's own CPU: a row whose nats.go process is near 100 % of a core is bounded by the
# client, whatever the server does (nats.go publishes from one goroutine).
print("| nats.go client CPU % (same rows) | vs nats-server | vs Sluice group | vs Sluice none | "
      "client µs/msg vs Sluice group |")
print("|---|---:|---:|---:|---:|")
for mode, size in (("pub", 128), ("pub", 1024), ("consume", 128), ("consume", 1024), ("pubsub", 128)):
    cc = [med(mode, size, s, "client_cpu_pct") for s in ("nats", "group", "none")]
    if all(c is None for c in cc):
        continue
    g, cg = med(mode, size, "group", "rate"), cc[1]
    per = "n/a" if not g or cg is None else "{:.2f}".format(cg / 100.0 / g * 1e6)
    print("| %s %s | %s | %s | %s | %s |" % (names[mode], sz(size), *(fmt(c) for c in cc), per))
print()
print("| e2e 128 B at 10 k msgs/s (push consumer) | nats-server | Sluice group | Sluice none |")
print("|---|---:|---:|---:|")
for k, label in (("p50_us", "p50 µs"), ("p99_us", "p99 µs"), ("p999_us", "p99.9 µs"), ("cpu_pct", "server CPU %")):
    print("| %s | %s | %s | %s |" % (label, *(fmt(med("e2e", 128, s, k)) for s in ("nats", "group", "none"))))
print()
print("(medians of %s runs, interleaved; publish rows run %s s, consume rows drain a backlog of %s; "
      "CPU = server utime+stime over the measured interval, %% of one core; RSS = VmRSS at the end; "
      "whole benchmark %s s)" % (reps, secs, count, elapsed))
print()
for mode in ("pub", "consume"):
    n, g = med(mode, 128, "nats", "rate"), med(mode, 128, "group", "rate")
    cn, cg = med(mode, 128, "nats", "cpu_pct"), med(mode, 128, "group", "cpu_pct")
    if n is None or g is None:
        print("target: %s 128 B >= 3x nats-server at no more CPU (fsync group): MISS (no result)" % mode)
        continue
    good = g >= 3 * n and cg <= cn
    print("target: %s 128 B >= 3x nats-server at no more CPU (fsync group): %s (%.2fx; CPU %.1f%% vs %.1f%%)"
          % (mode, "PASS" if good else "MISS", g / n, cg, cn))
EOF
[[ $ok -eq 1 ]]
