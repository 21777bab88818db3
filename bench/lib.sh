# shellcheck shell=bash
# lib.sh: shell helpers shared by the bench scripts (source it; it defines functions only).
# Free loopback ports, waiting for a listener, and a process's CPU ticks and memory from /proc.

# bench_free_ports N: N distinct free loopback ports on one line, bound together so the kernel
# cannot hand one out twice.
bench_free_ports() {
    python3 -c '
import socket, sys
ss = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])' "$1"
}

# bench_wait_port PORT PID: 0 once 127.0.0.1:PORT accepts, 1 if PID exits or 10 s pass.
bench_wait_port() {
    for _ in $(seq 200); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
            return 0
        fi
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# bench_cpu_ticks PID: utime+stime of PID in clock ticks (0 if it is gone).
bench_cpu_ticks() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
    stat=${stat##*) }
    set -- $stat
    echo $(( ${12} + ${13} ))
}

# bench_mem_kb PID FIELD: a /proc/PID/status field in kB (VmRSS, VmHWM), 0 if PID is gone.
bench_mem_kb() {
    awk -v f="$2:" '$1 == f { print $2; found = 1 } END { if (!found) print 0 }' "/proc/$1/status" 2>/dev/null || echo 0
}
