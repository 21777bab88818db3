#!/usr/bin/env bash
# run_tls.sh: what TLS costs against plaintext, on loopback, with real clients (issue 15's
# target: TLS costs <= 30 % of plaintext throughput).
#
# Certificates come from the openssl CLI (a CA and a server certificate for 127.0.0.1). Two
# sluice-server processes run side by side, one plaintext and one with --tls --kafka-tls, and so
# do two nats-server 2.9.10 (the NATS peer). Rows, each measured on the plaintext and the TLS
# server in turn, round after round (the order flips every round, so drift on the shared machine
# falls on both):
#   Kafka produce   librdkafka (bench/kafka_load.c), TBENCH_KAFKA_MSGS x 1 KiB to one partition,
#                   linger.ms=5, acks=1; MB/s from first produce to flush done
#   Kafka produce, users' settings: the same with snappy, 512 KiB batches, idempotence, acks=all
#   Kafka fetch     the same client reading that backlog from offset 0 (every offset checked)
#   Kafka latency   1 KiB at 2,000 msgs/s, produce -> consume p99 (same process, one clock)
#   NATS pub/sub    nats.go (bench/tls_nats_bench.go), one publishing and one subscribed
#                   connection, 128 B and 16 KiB; rate from first publish to last delivery
#   NATS latency    128 B at 5,000 msgs/s, publish -> delivery p99
# Every run also records the server's CPU (utime+stime over the run, % of one core): client and
# server share the machine's cores, so a client working harder for TLS slows the server's side.
#
# SLUICE_BASE_SERVER=path/to/sluice-server adds a "before" pair (plaintext and TLS) of that
# binary to every round, for comparing two builds in one run (README "Security: TLS").
# Environment: SLUICE_BUILD_DIR (build/release), TBENCH_ROUNDS (3), TBENCH_KAFKA_MSGS (200000),
# TBENCH_NATS_MSGS (400000 at 128 B; a sixteenth of it at 16 KiB), TBENCH_LAT_SECONDS (3),
# TBENCH_PERF=FILE (perf record -g on the TLS sluice-server for the whole run, into FILE),
# TBENCH_KAFKA_SETS="k=v ..." (librdkafka settings for every Kafka run, plaintext and TLS alike),
# NATS_SERVER. Prints one Markdown table: ranges over the rounds, and the TLS cost per round
# (1 - TLS/plaintext of the same round). Exit status 0 when every run completed.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh # free ports, waiting for a listener, CPU ticks

build_dir="${SLUICE_BUILD_DIR:-build/release}"
rounds="${TBENCH_ROUNDS:-3}"
kmsgs="${TBENCH_KAFKA_MSGS:-200000}"
nmsgs="${TBENCH_NATS_MSGS:-400000}"
lat_secs="${TBENCH_LAT_SECONDS:-3}"
base_server="${SLUICE_BASE_SERVER:-}"
data_root="build/tls-bench"
gocode=/usr/share/gocode
nats_server="${NATS_SERVER:-$(command -v nats-server || echo /usr/sbin/nats-server)}"
for need in openssl go; do
    command -v "$need" >/dev/null || { echo "run_tls: $need missing (scripts/setup.sh)" >&2; exit 1; }
done
if [[ ! -x "$nats_server" || ! -d $gocode/src/github.com/nats-io/nats.go ]]; then
    echo "run_tls: nats-server or nats.go missing: scripts/setup.sh installs nats-server and golang-github-nats-io-go-nats-dev" >&2
    exit 1
fi

cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" -j2 --target sluice-server sl_kafka_load >/dev/null
server="$build_dir/sluice-server"
kload="$build_dir/bench/sl_kafka_load"

rm -rf "$data_root"
mkdir -p "$data_root/gopath/src/sluice_tls_bench" "$data_root/certs"
cp bench/tls_nats_bench.go "$data_root/gopath/src/sluice_tls_bench/main.go"
GO111MODULE=off GOFLAGS= GOPATH="$PWD/$data_root/gopath:$gocode" GOCACHE="${GOCACHE:-$PWD/build/go-cache}" \
    go build -o "$data_root/tls_nats_bench" sluice_tls_bench
nload="$data_root/tls_nats_bench"

# A CA and a server certificate for 127.0.0.1 (P-256: the handshake is not what is measured).
certs="$data_root/certs"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=sluice bench CA" \
    -keyout "$certs/ca.key" -out "$certs/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$certs/server.key" -out "$certs/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$certs/san.ext"
openssl x509 -req -in "$certs/server.csr" -CA "$certs/ca.pem" -CAkey "$certs/ca.key" -CAcreateserial -days 2 \
    -extfile "$certs/san.ext" -out "$certs/server.pem" 2>/dev/null
tls_args=(--tlscert "$certs/server.pem" --tlskey "$certs/server.key")

pids=()
perf_pid=""
cleanup() {
    [[ -n $perf_pid ]] && { kill -INT "$perf_pid" 2>/dev/null || true; wait "$perf_pid" 2>/dev/null || true; }
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
}
trap cleanup EXIT

# Targets: name -> "pid nats_port kafka_port tls(0|1)"; kafka_port 0 for nats-server.
declare -A target
start_sluice() { # name binary tls
    local name=$1 bin=$2 tls=$3 np kp hp
    read -r np kp hp < <(bench_free_ports 3)
    mkdir -p "$data_root/$name"
    local extra=()
    [[ $tls == 1 ]] && extra=(--tls --kafka-tls "${tls_args[@]}")
    "$bin" --data_dir "$data_root/$name" --host 127.0.0.1 --port "$np" --kafka_port "$kp" --http_port "$hp" \
        "${extra[@]}" >"$data_root/$name.log" 2>&1 &
    local pid=$!
    pids+=("$pid")
    if ! bench_wait_port "$np" "$pid" || ! bench_wait_port "$kp" "$pid"; then
        echo "run_tls: $name did not start; log tail:" >&2
        tail -5 "$data_root/$name.log" >&2
        exit 1
    fi
    target[$name]="$pid $np $kp $tls"
}
start_nats() { # name tls
    local name=$1 tls=$2 np
    read -r np < <(bench_free_ports 1)
    local extra=()
    [[ $tls == 1 ]] && extra=(--tls "${tls_args[@]}")
    "$nats_server" -a 127.0.0.1 -p "$np" "${extra[@]}" >"$data_root/$name.log" 2>&1 &
    local pid=$!
    pids+=("$pid")
    bench_wait_port "$np" "$pid" || { echo "run_tls: $name did not start" >&2; cat "$data_root/$name.log" >&2; exit 1; }
    target[$name]="$pid $np 0 $tls"
}

start_sluice sluice-plain "$server" 0
start_sluice sluice-tls "$server" 1
sluice_names=(sluice-plain sluice-tls)
if [[ -n $base_server ]]; then
    start_sluice before-plain "$base_server" 0
    start_sluice before-tls "$base_server" 1
    sluice_names+=(before-plain before-tls)
fi
start_nats nats-plain 0
start_nats nats-tls 1
if [[ -n ${TBENCH_PERF:-} ]]; then
    read -r tls_pid _ < <(echo "${target[sluice-tls]}")
    perf record -g -o "$TBENCH_PERF" -p "$tls_pid" >"$data_root/perf.log" 2>&1 &
    perf_pid=$!
fi

results="$data_root/results.txt"
: >"$results"
ok=1

# run ROUND ROW NAME CMD...: one run against one target, its RESULT line tagged and kept.
run() {
    local round=$1 row=$2 name=$3
    shift 3
    local pid c0 c1 t0 t1 line
    read -r pid _ < <(echo "${target[$name]}")
    c0=$(bench_cpu_ticks "$pid")
    t0=$(date +%s%N)
    if line=$(timeout 180 "$@" 2>"$data_root/err.txt" | grep '^RESULT'); then
        t1=$(date +%s%N)
        c1=$(bench_cpu_ticks "$pid")
        local cpu
        cpu=$(( (c1 - c0) * 100 * 1000000000 / $(getconf CLK_TCK) / (t1 - t0) ))
        echo "round=$round row=$row target=$name srv_cpu_pct=$cpu ${line#RESULT }" >>"$results"
        echo "$line"
    else
        echo "run_tls: $row on $name failed: $(tail -2 "$data_root/err.txt" | tr '\n' ' ')" >&2
        echo "round=$round row=$row target=$name run_failed=1" >>"$results"
        ok=0
        return 1
    fi
}

kafka_rows() { # round name
    local round=$1 name=$2 pid np kp tls line delivered
    read -r pid np kp tls < <(echo "${target[$name]}")
    local sets=() kv
    for kv in ${TBENCH_KAFKA_SETS:-}; do sets+=(--set "$kv"); done # the same on both sides
    [[ $tls == 1 ]] && sets+=(--set security.protocol=SSL --set "ssl.ca.location=$certs/ca.pem")
    local topic="tls-bench-$round"
    line=$(run "$round" kafka-produce "$name" "$kload" produce --brokers "127.0.0.1:$kp" --topic "$topic" \
        --size 1024 --max-msgs "$kmsgs" --seconds 120 --linger-ms 5 "${sets[@]}") || return 0
    delivered=$(sed -n 's/.* delivered=\([0-9]*\).*/\1/p' <<<"$line")
    # Our users' producer settings: snappy, 512 KiB batches, idempotence (so acks=all, at most
    # 5 requests in flight). A compressed batch is one buffer, so librdkafka writes it in full
    # 16 KiB records instead of a record per message value.
    run "$round" kafka-produce-users "$name" "$kload" produce --brokers "127.0.0.1:$kp" --topic "$topic-users" \
        --size 1024 --max-msgs "$kmsgs" --seconds 120 --linger-ms 5 --compression snappy --batch-bytes 524288 \
        --acks all --set enable.idempotence=true "${sets[@]}" >/dev/null || true
    run "$round" kafka-fetch "$name" "$kload" consume --brokers "127.0.0.1:$kp" --topic "$topic" \
        --expect "$delivered" "${sets[@]}" >/dev/null || true
    run "$round" kafka-latency "$name" "$kload" latency --brokers "127.0.0.1:$kp" --topic "$topic-lat" \
        --size 1024 --rate 2000 --seconds "$lat_secs" "${sets[@]}" >/dev/null || true
}

nats_rows() { # round name
    local round=$1 name=$2 pid np kp tls ca=""
    read -r pid np kp tls < <(echo "${target[$name]}")
    [[ $tls == 1 ]] && ca="$certs/ca.pem"
    local url="nats://127.0.0.1:$np"
    run "$round" nats-pubsub-128 "$name" "$nload" pubsub "$url" 128 "$nmsgs" $ca >/dev/null || true
    run "$round" nats-pubsub-16k "$name" "$nload" pubsub "$url" 16384 $((nmsgs / 16)) $ca >/dev/null || true
    run "$round" nats-latency-128 "$name" "$nload" latency "$url" 128 5000 "$lat_secs" $ca >/dev/null || true
}

t_start=$(date +%s)
for round in $(seq "$rounds"); do
    order=("${sluice_names[@]}" nats-plain nats-tls)
    if (( round % 2 == 0 )); then # TLS first on even rounds
        order=()
        for n in "${sluice_names[@]}" nats-plain nats-tls; do
            [[ $n == *-tls ]] && order+=("$n")
        done
        for n in "${sluice_names[@]}" nats-plain nats-tls; do
            [[ $n == *-plain ]] && order+=("$n")
        done
    fi
    echo "run_tls: round $round of $rounds: ${order[*]}" >&2
    for name in "${order[@]}"; do
        [[ $name == nats-* ]] || kafka_rows "$round" "$name"
        nats_rows "$round" "$name"
    done
done
elapsed=$(( $(date +%s) - t_start ))

python3 bench/tls_report.py "$results" "$rounds" "$elapsed"
[[ $ok -eq 1 ]]
