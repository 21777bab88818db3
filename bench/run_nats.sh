#!/usr/bin/env bash
# run_nats.sh: the NATS benchmark, nats-server 2.9.10 (Debian) and sluice-server side by side in
# one run on loopback, both driven by the same raw-protocol load generator (bench/nats_load.c):
# publish-only and 1 publisher + 1 subscriber at 16 B, 128 B, 1 KiB and 16 KiB, a queue group of
# 2 at 128 B, and sequential request/reply latency (p50/p99/p99.9) at 128 B. Each row runs on
# nats-server, then on sluice-server, NBENCH_REPS times (default 3) interleaved; the table shows
# medians. Every row records the server's CPU (utime+stime from /proc/PID/stat over the measured
# interval, % of one core) and VmRSS at the end. Prints a Markdown table with the ratio
# Sluice / nats-server per row, then the targets with PASS/MISS:
#   1 pub + 1 sub at 128 B: Sluice >= 1.5x nats-server msgs/s at no more server CPU
#   request/reply p99: Sluice <= nats-server
# Environment: SLUICE_BUILD_DIR (default build/release), NBENCH_SECONDS (per run, default 1.5),
# NBENCH_REPS (default 3), NATS_SERVER (default: nats-server in PATH or /usr/sbin).
# Exit status: 0 when every run completed on both servers (targets may still MISS), 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh # free ports, waiting for a listener

build_dir="${SLUICE_BUILD_DIR:-build/release}"
secs="${NBENCH_SECONDS:-1.5}"
reps="${NBENCH_REPS:-3}"
data_root="build/nats-bench"
nats_server="${NATS_SERVER:-$(command -v nats-server || echo /usr/sbin/nats-server)}"
if [[ ! -x "$nats_server" ]]; then
    echo "run_nats: nats-server not found: apt-get install nats-server (scripts/setup.sh)" >&2
    exit 1
fi

cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" -j2 --target sl_nats_load >/dev/null
load="$build_dir/bench/sl_nats_load"
server="$build_dir/sluice-server"
sluice_built=1
if ! cmake --build "$build_dir" -j2 --target sluice-server >"$build_dir/nats-bench-build.log" 2>&1; then
    echo "run_nats: sluice-server does not build (see $build_dir/nats-bench-build.log); nats-server only" >&2
    sluice_built=0
fi

nats_pid=""
sluice_pid=""
cleanup() {
    for p in $nats_pid $sluice_pid; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
}
trap cleanup EXIT

read -r nport sport kport hport < <(bench_free_ports 4)

rm -rf "$data_root"
mkdir -p "$data_root/data"
"$nats_server" -a 127.0.0.1 -p "$nport" >"$data_root/nats-server.log" 2>&1 &
nats_pid=$!
if ! bench_wait_port "$nport" "$nats_pid"; then
    echo "run_nats: nats-server did not start; log:" >&2
    cat "$data_root/nats-server.log" >&2
    exit 1
fi
sluice_ok=0
if [[ $sluice_built -eq 1 ]]; then
    "$server" --data_dir "$data_root/data" --port "$sport" --kafka_port "$kport" --http_port "$hport" \
        --host 127.0.0.1 >"$data_root/sluice-server.log" 2>&1 &
    sluice_pid=$!
    if bench_wait_port "$sport" "$sluice_pid"; then
        sluice_ok=1
    else
        echo "run_nats: sluice-server's NATS port $sport does not answer; nats-server only. Log tail:" >&2
        tail -5 "$data_root/sluice-server.log" >&2
    fi
fi

rows=("pub 16" "pub 128" "pub 1024" "pub 16384" "pubsub 16" "pubsub 128" "pubsub 1024" "pubsub 16384"
      "queue 128" "reqrep 128")
results="$data_root/results.txt"
: >"$results"
ok=1
t_start=$(date +%s)
for rep in $(seq "$reps"); do
    for row in "${rows[@]}"; do
        set -- $row
        for srv in nats sluice; do
            if [[ $srv == nats ]]; then port=$nport pid=$nats_pid; else port=$sport pid=$sluice_pid; fi
            [[ $srv == sluice && $sluice_ok -eq 0 ]] && continue
            if line=$(timeout 90 "$load" --port "$port" --mode "$1" --size "$2" --seconds "$secs" \
                    --pid "$pid" 2>"$data_root/err.txt"); then
                echo "server=$srv rep=$rep $line" >>"$results"
            else
                echo "run_nats: $srv $1 $2 failed: $(tail -2 "$data_root/err.txt" | tr '\n' ' ')" >&2
                echo "server=$srv rep=$rep mode=$1 size=$2 failed=1" >>"$results"
                ok=0
                if ! kill -0 "$pid" 2>/dev/null; then
                    echo "run_nats: $srv exited; log tail:" >&2
                    tail -20 "$data_root/$([[ $srv == nats ]] && echo nats-server || echo sluice-server).log" >&2
                    [[ $srv == sluice ]] && sluice_ok=0
                    [[ $srv == nats ]] && exit 1
                fi
            fi
        done
    done
done
elapsed=$(( $(date +%s) - t_start ))

python3 - "$results" "$sluice_ok" "$sluice_built" "$elapsed" "$reps" "$secs" <<'EOF'
import statistics, sys
path, sluice_ok, built, elapsed, reps, secs = sys.argv[1:]
runs = {}
for line in open(path):
    kv = dict(x.split("=", 1) for x in line.split())
    runs.setdefault((kv["mode"], int(kv["size"]), kv["server"]), []).append(kv)

def med(mode, size, srv, key):
    vals = [float(r[key]) for r in runs.get((mode, size, srv), []) if "failed" not in r and key in r]
    return statistics.median(vals) if vals else None

def fmt(v, unit=""):
    if v is None:
        return "n/a"
    if abs(v) >= 100:
        return "{:,.0f}{}".format(v, unit)
    return "{:.1f}{}".format(v, unit)

def ratio(a, b):
    return "n/a" if a is None or b is None or b == 0 else "{:.2f}x".format(a / b)

names = {"pub": "publish only", "pubsub": "1 pub + 1 sub", "queue": "1 pub + queue group of 2",
         "reqrep": "request/reply (sequential)"}
def sz(s):
    return "%d KiB" % (s // 1024) if s >= 1024 else "%d B" % s

print("| row | nats-server msgs/s | CPU % | RSS MB | Sluice msgs/s | CPU % | RSS MB | Sluice / nats-server |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
seen = []
for (mode, size, srv) in runs:
    if (mode, size) not in seen:
        seen.append((mode, size))
for mode, size in seen:
    n, s = med(mode, size, "nats", "msgs_s"), med(mode, size, "sluice", "msgs_s")
    rn, rs = med(mode, size, "nats", "rss_kb"), med(mode, size, "sluice", "rss_kb")
    print("| %s %s | %s | %s | %s | %s | %s | %s | %s |" % (
        names[mode], sz(size), fmt(n), fmt(med(mode, size, "nats", "cpu_pct")),
        fmt(rn / 1024 if rn else None), fmt(s), fmt(med(mode, size, "sluice", "cpu_pct")),
        fmt(rs / 1024 if rs else None), ratio(s, n)))
print()
print("| request/reply 128 B latency | nats-server | Sluice | Sluice / nats-server |")
print("|---|---:|---:|---:|")
for k, label in (("p50_us", "p50 µs"), ("p99_us", "p99 µs"), ("p999_us", "p99.9 µs")):
    n, s = med("reqrep", 128, "nats", k), med("reqrep", 128, "sluice", k)
    print("| %s | %s | %s | %s |" % (label, fmt(n), fmt(s), ratio(s, n)))
print()
print("(medians of %s runs of %s s each, interleaved; CPU = server utime+stime over the run, %% of one core; "
      "RSS = server VmRSS at the end of the run; whole benchmark %s s)" % (reps, secs, elapsed))
print()
n, s = med("pubsub", 128, "nats", "msgs_s"), med("pubsub", 128, "sluice", "msgs_s")
cn, cs = med("pubsub", 128, "nats", "cpu_pct"), med("pubsub", 128, "sluice", "cpu_pct")
if s is None:
    print("target: 1 pub + 1 sub 128 B >= 1.5x nats-server msgs/s at no more CPU: MISS (no Sluice result)")
else:
    good = s >= 1.5 * n and cs <= cn
    print("target: 1 pub + 1 sub 128 B >= 1.5x nats-server msgs/s at no more CPU: %s "
          "(%.2fx; CPU %.1f%% vs %.1f%%)" % ("PASS" if good else "MISS", s / n, cs, cn))
n, s = med("reqrep", 128, "nats", "p99_us"), med("reqrep", 128, "sluice", "p99_us")
if s is None:
    print("target: request/reply p99 <= nats-server: MISS (no Sluice result)")
else:
    print("target: request/reply p99 <= nats-server: %s (%.1f us vs %.1f us)"
          % ("PASS" if s <= n else "MISS", s, n))
EOF

if [[ $sluice_ok -eq 0 ]]; then
    ok=0
fi
[[ $ok -eq 1 ]]
