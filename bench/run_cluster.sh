#!/usr/bin/env bash
# run_cluster.sh: Kafka produce throughput and p99 latency with replication factor 3 against
# replication factor 1, in one run, on one 3-broker Sluice cluster (issue 16).
#
#   bench/run_cluster.sh [--quick] [--out DIR] [--reps N] [--no-build] [--seconds S] [--rate N[,N]]
#                        [--size BYTES] [--fsync none|group|append] [--no-acks1] [--keep]
#                        [--max-restarts N]
#
#   --quick      one rep, short cells (about a minute): proves the script works, not a figure
#   --out DIR    the report folder: DIR/cluster.md, raw results in DIR/cluster-raw/
#                (default bench/results/<UTC date-time>/)
#   --reps N     passes over the cells (default 3, --quick 1); the report shows medians
#   --no-build   use the binaries in $SLUICE_BUILD_DIR (default build/release) as they are
#   --seconds S  produce time per throughput cell (default 12, --quick 3); the client's queue is
#                flushed after it, and the flush counts in the rate
#   --rate N,N   offered msgs/s of the latency cells, one cell per rate (default 10000,40000;
#                --quick 10000)
#   --size B     message size (default 1024)
#   --fsync P    the brokers' --fsync (default none: Kafka's default, durability by replication)
#   --no-acks1   leave out the acks=1 throughput cells
#   --keep       keep the brokers' data dirs and logs (they are also kept when a cell fails)
#   --max-restarts N  passes cut short by brokers stopped from outside run again on a fresh
#                cluster, at most N times in all (default 5; see below)
#
# Three sluice-server processes on free loopback ports form one Raft group (--node-id,
# --cluster-nodes) with data dirs in a fresh build/cluster-bench.XXXXXX. Topic A has replication
# factor 1, topic B replication factor 3, both 3 partitions (one led by each broker). Every
# cell bootstraps at all three brokers with the user's producer settings: batch.size 512 KiB,
# snappy, linger.ms 5, enable.idempotence=true, acks=all. Per pass, A and B alternate (the
# first of the pair swaps each pass):
#   produce acks=all   sl_kafka_load produce round robin over the 3 partitions: msgs/s, MB/s
#   latency acks=all   sl_kafka_load latency at each --rate on partition 0 of a fresh topic:
#                      end-to-end p50/p99/p99.9 (producer -> consumer; a consumer reads only
#                      below the high watermark, so with RF 3 this includes replication) and the
#                      producer's ack latency p50/p99 (delivery report)
#   produce acks=1     as the first, acks=1 and no idempotence (librdkafka wants acks=all for it)
# Around each cell: the brokers' CPU (sum of the three, % of one core), the bytes the followers
# appended (sluice_replica_bytes_total on /metrics: ~2x the produced batch bytes for RF 3,
# 0 for RF 1) and, for RF 3, the smallest ISR of its partitions afterwards (3 = no shrink).
# The report gives each cell, the median per topic, and RF3 ÷ RF1 ratios.
# Exit status: 0 when every cell ran and delivered everything, 1 otherwise (the report is still
# written). Every broker started here is stopped on exit, also on failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh # free ports, waiting for a listener, CPU ticks

quick=0
out=""
build=1
reps=""
secs=""
rates=""
size=1024
fsync=none
acks1=1
keep=0
max_restarts=5
while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) quick=1 ;;
        --out) out="$2"; shift ;;
        --reps) reps="$2"; shift ;;
        --no-build) build=0 ;;
        --seconds) secs="$2"; shift ;;
        --rate) rates="${2//,/ }"; shift ;;
        --size) size="$2"; shift ;;
        --fsync) fsync="$2"; shift ;;
        --no-acks1) acks1=0 ;;
        --keep) keep=1 ;;
        --max-restarts) max_restarts="$2"; shift ;;
        -h|--help) sed -n '2,/^set /{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "run_cluster: unknown option $1 (--help)" >&2; exit 2 ;;
    esac
    shift
done
[[ -n "$reps" ]] || reps=$(( quick ? 1 : 3 ))
[[ -n "$secs" ]] || secs=$(( quick ? 3 : 12 ))
lat_secs=$(( quick ? 2 : 10 ))
[[ -n "$rates" ]] || rates=$([[ $quick -eq 1 ]] && echo 10000 || echo "10000 40000")
[[ -n "$out" ]] || out="bench/results/$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$out/cluster-raw"
out=$(cd "$out" && pwd)
raw="$out/cluster-raw"
build_dir="${SLUICE_BUILD_DIR:-build/release}"
t_start=$(date +%s.%N)
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
log() { printf '[%5ss] run_cluster: %s\n' "$(since "$t_start")" "$*" >&2; }

if [[ $build -eq 1 ]]; then
    log "building $build_dir (sluice-server, sl_kafka_load) ..."
    { cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release &&
        cmake --build "$build_dir" -j2 --target sluice-server sl_kafka_load; } >"$raw/build.log" 2>&1 ||
        { tail -20 "$raw/build.log" >&2; exit 1; }
fi
server="$build_dir/sluice-server"
load="$build_dir/bench/sl_kafka_load"
for f in "$server" "$load"; do
    [[ -x "$f" ]] || { echo "run_cluster: $f missing (librdkafka-dev for sl_kafka_load; or drop --no-build)" >&2; exit 1; }
done
py=/usr/bin/python3                         # the one with confluent_kafka, for the ISR check
"$py" -c 'import confluent_kafka' 2>/dev/null || py=""

# ---- the cluster -------------------------------------------------------------------------------
# start_cluster: three fresh brokers (new ports, new data dir), agreed, with the topics made and
# every RF 3 partition fully in sync. Called again when the brokers were stopped from outside.
mkdir -p build
token="bench-$RANDOM$RANDOM"
pids=()
data=""
ok=1
generation=0
stop_cluster() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    pids=()
    if [[ -n "$data" && -d "$data" ]]; then
        for p in "$data"/*.log; do [[ -e $p ]] && cp "$p" "$raw/cluster$generation-$(basename "$p")"; done
        if [[ $keep -eq 1 || $ok -eq 0 ]]; then
            log "data dirs kept in $data"
        else
            rm -rf "$data"
        fi
    fi
    data=""
}
trap stop_cluster EXIT
trap 'exit 130' INT TERM

# http GET PORT PATH: the body, with the cluster's token.
http_get() {
    python3 - "$1" "$2" "$token" <<'PY'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=5)
c.request("GET", sys.argv[2], headers={"Authorization": "Bearer " + sys.argv[3]})
r = c.getresponse()
sys.stdout.write(r.read().decode())
sys.exit(0 if r.status == 200 else 1)
PY
}
# dead_brokers: the node numbers of brokers that exited (stopped from outside, or crashed).
dead_brokers() {
    local i
    for i in 0 1 2; do kill -0 "${pids[i]}" 2>/dev/null || echo -n "$((i + 1)) "; done
}
create() { # TOPIC RF
    "$load" create --brokers "$brokers" --topic "$1" --partitions 3 --replication "$2" >/dev/null 2>>"$raw/create.err" ||
        { ok=0; cat "$raw/create.err" >&2; echo "run_cluster: CreateTopics $1 rf $2 failed" >&2; exit 1; }
}
# isr TOPIC...: "topic partition leader replicas isr" lines, the ISR as the leader reports it.
isr() {
    [[ -n "$py" ]] || return 0
    "$py" - "$brokers" "$@" <<'PY'
import sys
from confluent_kafka.admin import AdminClient
boots = sys.argv[1].split(",")
md = AdminClient({"bootstrap.servers": sys.argv[1]}).list_topics(timeout=10)
addr = {i: "%s:%d" % (b.host, b.port) for i, b in md.brokers.items()}
for t in sys.argv[2:]:
    tm = md.topics.get(t)
    if tm is None or tm.error:
        print(t, -1, -1, "?", "?")
        continue
    for p, pm in sorted(tm.partitions.items()):
        lmd = AdminClient({"bootstrap.servers": addr.get(pm.leader, boots[0])}).list_topics(topic=t, timeout=10)
        lp = lmd.topics[t].partitions[p]
        print(t, p, lp.leader, ",".join(map(str, sorted(lp.replicas))), ",".join(map(str, sorted(lp.isrs))))
PY
}
# min_isr TOPIC: the smallest ISR over its partitions ("?" without confluent_kafka).
min_isr() {
    [[ -n "$py" ]] || { echo "?"; return; }
    { isr "$1" 2>/dev/null || true; } | awk '{ n = split($5, a, ","); if (min == "" || n < min) min = n } END { print (min == "" ? "?" : min) }'
}

start_cluster() {
    local i n nodes="" agreed="" deadline dead views ports rf rep rate
    stop_cluster
    generation=$((generation + 1))
    data=$(mktemp -d "$PWD/build/cluster-bench.XXXXXX")
    read -r -a ports < <(bench_free_ports 12)   # per node: kafka, nats, http, raft
    kport=() hport=() brokers=""
    for i in 0 1 2; do nodes+="${nodes:+,}$((i + 1))@127.0.0.1:${ports[i * 4 + 3]}"; done
    for i in 0 1 2; do
        n=$((i + 1))
        kport[i]=${ports[i * 4]}; hport[i]=${ports[i * 4 + 2]}
        brokers+="${brokers:+,}127.0.0.1:${kport[i]}"
        mkdir -p "$data/node$n"
        "$server" --data_dir "$data/node$n" --kafka_port "${kport[i]}" --port "${ports[i * 4 + 1]}" \
            --http_port "${hport[i]}" --host 127.0.0.1 --fsync "$fsync" --node-id "$n" \
            --cluster-nodes "$nodes" --http-token "$token" --advertised-host 127.0.0.1 \
            >"$data/broker$n.log" 2>&1 &
        pids+=("$!")
    done
    for i in 0 1 2; do
        bench_wait_port "${kport[i]}" "${pids[i]}" ||
            { ok=0; tail -20 "$data/broker$((i + 1)).log" >&2; echo "run_cluster: broker $((i + 1)) did not start" >&2; exit 1; }
    done
    # Agreement as tests/cluster/cluster_topics_test.py wait_agreed(): one Raft leader known to
    # all three, and all three registered on each.
    log "waiting for the three brokers to agree (/clusterz) ..."
    deadline=$(( $(date +%s) + 20 ))
    while [[ $(date +%s) -lt $deadline ]]; do
        dead=$(dead_brokers)
        [[ -z "$dead" ]] || { ok=0; echo "run_cluster: broker(s) $dead exited during start-up; the end of their logs:" >&2
            for n in $dead; do tail -3 "$data/broker$n.log" >&2; done; exit 1; }
        views=""
        for i in 0 1 2; do views+="$(http_get "${hport[i]}" /clusterz 2>/dev/null || echo '{}')"$'\n'; done
        agreed=$(python3 -c '
import json, sys
vs = [json.loads(l) for l in sys.stdin.read().splitlines() if l.strip()]
leaders = {v.get("leader_id") for v in vs}
regs = [{b["id"] for b in v.get("brokers", [])} for v in vs]
if len(vs) == 3 and len(leaders) == 1 and not leaders & {0, None} and all(r >= {1, 2, 3} for r in regs):
    print(leaders.pop())' <<<"$views" 2>/dev/null || true)
        [[ -n "$agreed" ]] && break
        sleep 0.1
    done
    [[ -n "$agreed" ]] || { ok=0; echo "run_cluster: no agreement in 20 s: $views" >&2; exit 1; }
    log "cluster up: brokers $brokers, Raft leader node $agreed, fsync $fsync, data in $data"

    topics_all=()
    for rf in 1 3; do
        create "tput-rf$rf" "$rf"; topics_all+=("tput-rf$rf")
        for rep in $(seq "$reps"); do
            for rate in $rates; do create "lat-rf$rf-$rep-$rate" "$rf"; topics_all+=("lat-rf$rf-$rep-$rate"); done
        done
    done
    if [[ -n "$py" ]]; then
        # Followers start fetching once they learn the placement: wait until every RF 3
        # partition's leader reports all three in sync, so the first cell does not measure that.
        for _ in $(seq 100); do
            isr "${topics_all[@]}" >"$raw/placement.txt" 2>/dev/null || true
            awk '$1 ~ /rf3/ && split($5, a, ",") != 3 { bad = 1 } $1 ~ /rf1/ && split($4, a, ",") != 1 { bad = 1 }
                 END { exit bad }' "$raw/placement.txt" && break
            sleep 0.2
        done
        log "placement (topic partition leader replicas isr): $(grep tput "$raw/placement.txt" | tr '\n' ';')"
    else
        echo "no /usr/bin/python3 with confluent_kafka: ISR not checked" >"$raw/placement.txt"
        log "note: /usr/bin/python3 lacks confluent_kafka: ISR not checked"
    fi
    common=(--brokers "$brokers" --size "$size" --compression snappy --linger-ms 5 --batch-bytes 524288)
}
start_cluster

# ---- cells -------------------------------------------------------------------------------------
results="$raw/results.txt"
: >"$results"
clk=$(getconf CLK_TCK)
cpu_all() { local s=0 p; for p in "${pids[@]}"; do s=$((s + $(bench_cpu_ticks "$p"))); done; echo "$s"; }
machine_busy() { # all CPUs' busy ticks: user+nice+system+irq+softirq+steal
    local _cpu user nice sys irq softirq steal
    read -r _cpu user nice sys _ _ irq softirq steal _ </proc/stat
    echo $((user + nice + sys + irq + softirq + steal))
}
replica_bytes() { # sum over the brokers of sluice_replica_bytes_total
    local s=0 i v
    for i in 0 1 2; do
        v=$(http_get "${hport[i]}" /metrics 2>/dev/null | awk '$1 == "sluice_replica_bytes_total" { printf "%.0f", $2 }')
        s=$((s + ${v:-0}))
    done
    echo "$s"
}
idem=(--set enable.idempotence=true)
cell_no=0
nrates=$(wc -w <<<"$rates")
cells_total=$(( reps * 2 * (acks1 ? 2 + nrates : 1 + nrates) ))

# run_cell CELL RF REP TOPIC sl_kafka_load-args...: one client run, sampled around.
run_cell() {
    local cell=$1 rf=$2 rep=$3 topic=$4 line rc=0 t0 c0 c1 m0 m1 r0 r1 el isrmin="-"
    shift 4
    cell_no=$((cell_no + 1))
    log "$cell_no/$cells_total $cell rf=$rf (pass $rep)"
    local dead
    dead=$(dead_brokers)
    if [[ -n "$dead" ]]; then
        echo "cell=$cell rf=$rf rep=$rep topic=$topic cell_failed=1 why=broker_${dead// /_}gone" >>"$results"
        ok=0
        log "skipped: broker(s) $dead no longer running (logs: $raw/cluster$generation-broker*.log)"
        return 0
    fi
    sync                                    # earlier cells' dirty pages are not this cell's cost
    r0=$(replica_bytes); c0=$(cpu_all); m0=$(machine_busy); t0=$(date +%s.%N)
    line=$(timeout 300 "$load" "$@" --topic "$topic" 2>"$raw/client-$cell-rf$rf-$rep.err" | grep '^RESULT ' | tail -1) || rc=$?
    el=$(since "$t0"); c1=$(cpu_all); m1=$(machine_busy)
    sleep 0.5                               # followers' last fetches land
    r1=$(replica_bytes)
    if [[ $rf -eq 3 ]]; then isrmin=$(min_isr "$topic") || isrmin="?"; fi
    local kv="cell=$cell rf=$rf rep=$rep topic=$topic wall_s=$el"
    kv+=" brokers_cpu_pct=$(awk -v d=$((c1 - c0)) -v k="$clk" -v e="$el" 'BEGIN { printf "%.0f", (e > 0) ? d * 100 / k / e : 0 }')"
    kv+=" machine_cpu_pct=$(awk -v d=$((m1 - m0)) -v k="$clk" -v e="$el" 'BEGIN { printf "%.0f", (e > 0) ? d * 100 / k / e : 0 }')"
    kv+=" replicated_mb=$(awk -v d=$((r1 - r0)) 'BEGIN { printf "%.1f", d / 1e6 }') isr_min=$isrmin"
    if [[ -z "$line" || $rc -ne 0 ]]; then
        ok=0
        echo "$kv cell_failed=1 rc=$rc ${line#RESULT }" >>"$results"
        log "$cell rf=$rf pass $rep FAILED (rc $rc): $(tail -2 "$raw/client-$cell-rf$rf-$rep.err" | tr '\n' ' ')"
        return 0
    fi
    echo "$kv cell_failed=0 ${line#RESULT }" >>"$results"
    case "$line" in
        *" failed=0 "*|*"dr_failed=0 "*) ;;
        *) ok=0 ;;
    esac
}

echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)" >"$raw/setup.txt"
# A pass runs on one cluster. If its brokers are gone afterwards (this machine is shared: something
# outside this script has sent them SIGTERM), the pass's lines go to discarded.txt and it runs
# again on a fresh cluster, at most max_restarts times in all.
restarts=0
: >"$raw/discarded.txt"
rep=1
while [[ $rep -le $reps ]]; do
    pass_lines=$(wc -l <"$results")
    pass_ok=$ok
    order="1 3"
    (( rep % 2 == 0 )) && order="3 1"       # who goes first alternates, so drift cancels
    for rf in $order; do
        run_cell produce-acksall "$rf" "$rep" "tput-rf$rf" produce "${common[@]}" "${idem[@]}" --acks all \
            --partitions 3 --seconds "$secs"
    done
    for rate in $rates; do
        for rf in $order; do
            run_cell "latency-acksall-$rate" "$rf" "$rep" "lat-rf$rf-$rep-$rate" latency "${common[@]}" "${idem[@]}" \
                --acks all --rate "$rate" --seconds "$lat_secs"
        done
    done
    if [[ $acks1 -eq 1 ]]; then
        for rf in $order; do
            run_cell produce-acks1 "$rf" "$rep" "tput-rf$rf" produce "${common[@]}" --acks 1 \
                --partitions 3 --seconds "$secs"
        done
    fi
    dead=$(dead_brokers)
    if [[ -n "$dead" && $restarts -lt $max_restarts ]]; then
        restarts=$((restarts + 1))
        log "broker(s) $dead stopped during pass $rep (not by this script; their logs say why):" \
            "pass $rep runs again on a fresh cluster (restart $restarts of at most $max_restarts)"
        for n in $dead; do tail -n 2 "$data/broker$n.log" | sed "s/^/    broker $n: /" >&2; done
        tail -n +"$((pass_lines + 1))" "$results" >>"$raw/discarded.txt"
        head -n "$pass_lines" "$results" >"$results.tmp" && mv "$results.tmp" "$results"
        ok=$pass_ok
        cell_no=$((cell_no - (cells_total / reps)))
        start_cluster
        continue
    fi
    if [[ -n "$dead" ]]; then
        ok=0
        log "broker(s) $dead stopped during pass $rep, and $restarts restart(s) were used up: giving up"
        break
    fi
    rep=$((rep + 1))
done
isr "${topics_all[@]}" >"$raw/placement-end.txt" 2>/dev/null || true
cat >>"$raw/setup.txt" <<EOF
loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)
uptime=$(uptime)
host=$(uname -n) $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)
cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
librdkafka=$(pkg-config --modversion rdkafka 2>/dev/null || echo '?')
sluice_commit=$(git rev-parse --short HEAD 2>/dev/null || echo '?')
date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
reps=$reps
seconds=$secs
latency_seconds=$lat_secs
rates=$rates
size=$size
fsync=$fsync
quick=$quick
restarts=$restarts
elapsed_s=$(since "$t_start")
EOF

# ---- report ------------------------------------------------------------------------------------
python3 - "$raw" >"$out/cluster.md" <<'PY'
import statistics, sys
raw = sys.argv[1]
setup = dict(l.rstrip("\n").split("=", 1) for l in open(raw + "/setup.txt") if "=" in l)
rows = [dict(kv.split("=", 1) for kv in l.split() if "=" in kv) for l in open(raw + "/results.txt") if l.strip()]
placement = [l.split() for l in open(raw + "/placement.txt") if l.strip() and l.startswith("tput")]

def f(r, k):
    try:
        return float(r[k])
    except (KeyError, ValueError):
        return None

def k(x, d=0):
    return "n/a" if x is None else "{:,.{}f}".format(x, d)

def med(cell, rf, key):
    v = [f(r, key) for r in rows if r["cell"] == cell and r["rf"] == rf and r.get("cell_failed") == "0"]
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None

def ratio(a, b):
    return "n/a" if a is None or not b else "%.2f" % (a / b)

size = int(setup["size"])
ncpu = setup["host"].split()[1]
print("## Cluster: replication factor 3 against 1 (bench/run_cluster.sh)")
print()
if setup.get("quick") == "1":
    print("**This is a --quick run**: one pass of short cells; it proves the script works, its figures are not a measurement.")
    print()
print("3 Sluice brokers (one Raft group) on loopback, `--fsync %s`; topic A replication factor 1, topic B "
      "replication factor 3, 3 partitions each (one led by each broker). Producer: %d B messages, "
      "batch.size 512 KiB, snappy, linger.ms 5, bootstrapped at all three brokers; acks=all cells with "
      "enable.idempotence=true, acks=1 cells without. %s pass(es), A and B alternating, first of the pair "
      "swapped each pass; throughput cells %s s + flush, latency cells %s s at %s msgs/s on partition 0."
      % (setup["fsync"], size, setup["reps"], setup["seconds"], setup["latency_seconds"],
         " and ".join("{:,}".format(int(x)) for x in setup["rates"].split())))
print()
print("Setup: %s; %s; librdkafka %s; sluice %s; %s; load average at start %s, at end %s; %s s."
      % (setup["host"], setup["cpu"], setup["librdkafka"], setup["sluice_commit"], setup["date"],
         setup["loadavg_start"], setup["loadavg_end"], setup["elapsed_s"]))
print()
if setup.get("restarts", "0") != "0":
    print("**The cluster was restarted %s time(s)**: its brokers were stopped from outside this script (SIGTERM "
          "in their logs) during a pass; each such pass was discarded (cluster-raw/discarded.txt) and run again "
          "on a fresh cluster, so every pass below ran A and B on one cluster." % setup["restarts"])
    print()
if placement:
    print("Placement at the start (partition: leader, replicas, ISR as the leader reports it): " + "; ".join(
        "%s/%s: %s, [%s], [%s]" % tuple(p[:5]) for p in placement) + ".")
    print()

print("### Medians per topic")
print()
print("| | RF 1 (A) | RF 3 (B) | RF3 ÷ RF1 |")
print("|---|---:|---:|---:|")
def line(label, cell, key, d=0):
    a, b = med(cell, "1", key), med(cell, "3", key)
    print("| %s | %s | %s | %s |" % (label, k(a, d), k(b, d), ratio(b, a)))
line("acks=all produce, msgs/s", "produce-acksall", "msgs_s")
line("acks=all produce, MB/s", "produce-acksall", "mb_s", 1)
for x in setup["rates"].split():
    at = "@ %s msgs/s" % "{:,}".format(int(x))
    c = "latency-acksall-" + x
    line("acks=all e2e p50, µs, %s" % at, c, "e2e_p50_us")
    line("acks=all e2e p99, µs, %s" % at, c, "e2e_p99_us")
    line("acks=all e2e p99.9, µs, %s" % at, c, "e2e_p999_us")
    line("acks=all ack p50, µs, %s (delivery report)" % at, c, "dr_p50_us")
    line("acks=all ack p99, µs, %s (delivery report)" % at, c, "dr_p99_us")
if any(r["cell"] == "produce-acks1" for r in rows):
    line("acks=1 produce, msgs/s", "produce-acks1", "msgs_s")
    line("acks=1 produce, MB/s", "produce-acks1", "mb_s", 1)
line("brokers' CPU %, acks=all produce (sum of 3)", "produce-acksall", "brokers_cpu_pct")
line("client CPU %, acks=all produce", "produce-acksall", "client_cpu_pct")
line("machine CPU %, acks=all produce (all processes)", "produce-acksall", "machine_cpu_pct")
print()
print("Medians over the passes, each figure on its own (the p99 median need not be the p50's pass). "
      "Throughput: messages delivered ÷ (first produce → flush done), round robin over the 3 "
      "partitions, one producer, no rate limit. Latency: a paced producer (no coordinated omission) and a "
      "consumer tailing partition 0 in the same process; e2e = produce call → consumer receives it (the "
      "consumer sees only what is below the high watermark, i.e. on every in-sync replica for RF 3); "
      "ack = produce call → delivery report (the acks=all answer); p50 includes linger.ms 5 on both sides. "
      "A latency cell's payloads are one record with a 16-byte header that changes, so snappy shrinks "
      "them about 10x: those cells carry few bytes (see replicated MB). For throughput RF3 ÷ RF1 below 1 "
      "is the cost of replication; for latency above 1 is.")
print()
print("### Every cell")
print()
print("| pass | cell | RF | msgs/s | MB/s | e2e p50 / p99 / p99.9 µs | ack p50 / p99 µs | delivered | brokers CPU % | client CPU % | machine CPU % | replicated MB | min ISR after | wall s |")
print("|---:|---|---:|---:|---:|---|---|---|---:|---:|---:|---:|---:|---:|")
for r in rows:
    fail = (" **FAILED** " + r.get("why", "rc=" + r.get("rc", "?"))) if r.get("cell_failed") != "0" else ""
    if r["cell"].startswith("latency"):
        rate_s, mb = f(r, "rate_actual"), None
        if rate_s is not None:
            mb = rate_s * size / 1e6
        lat = "%s / %s / %s" % (k(f(r, "e2e_p50_us")), k(f(r, "e2e_p99_us")), k(f(r, "e2e_p999_us")))
        ack = "%s / %s" % (k(f(r, "dr_p50_us")), k(f(r, "dr_p99_us")))
        dl = "%s/%s recv, dups %s, dr_failed %s" % (k(f(r, "received")), k(f(r, "msgs")), r.get("dups", "?"), r.get("dr_failed", "?"))
        if r.get("dr_failed", "0") != "0" or r.get("received") != r.get("msgs"):
            fail = " **FAILED**"
    else:
        rate_s, mb = f(r, "msgs_s"), f(r, "mb_s")
        lat = ack = "—"
        dl = "%s/%s, failed %s" % (k(f(r, "delivered")), k(f(r, "msgs")), r.get("failed", "?") if "delivered" in r else "?")
        if "delivered" in r and r.get("delivered") != r.get("msgs"):
            fail = " **FAILED**"
    print("| %s | %s | %s | %s | %s | %s | %s | %s%s | %s | %s | %s | %s | %s | %s |" % (
        r["rep"], r["cell"], r["rf"], k(rate_s), k(mb, 1), lat, ack, dl, fail, r.get("brokers_cpu_pct", "?"),
        r.get("client_cpu_pct", "?"), r.get("machine_cpu_pct", "?"), r.get("replicated_mb", "?"), r.get("isr_min", "?"), r.get("wall_s", "?")))
print()
print("msgs/s of a latency cell is the offered rate it achieved. brokers CPU %% = utime+stime of the "
      "three sluice-server processes during the cell, %% of one core (this machine has %s00); client CPU %% = "
      "sl_kafka_load's own; machine CPU %% = every process on the machine (what is left of %s00 is idle, "
      "and machine minus brokers minus client is other tenants). replicated MB = "
      "batch bytes the followers appended during the cell (sluice_replica_bytes_total, summed over the "
      "brokers): about twice the compressed produced bytes for RF 3, 0 for RF 1. min ISR after = the "
      "smallest in-sync replica set of the topic's partitions after the cell (3: no follower fell out, "
      "so every acks=all answer waited for all three copies)." % (ncpu, ncpu))
PY
log "report: $out/cluster.md"
cat "$out/cluster.md"
[[ $ok -eq 1 ]] || { log "some cell failed or lost messages: see $raw/"; exit 1; }
