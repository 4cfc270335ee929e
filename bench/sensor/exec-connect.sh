#!/usr/bin/env bash
# Sensor overhead on fork+exec and loopback TCP connects, measured side by side with peers in one run: every round
# runs the workloads with nothing attached and then under one tracer, for each tracer in turn, so each ratio compares
# runs seconds apart.
# The workload is pinned to one vCPU (cross-vCPU wake-ups dominate otherwise); the tracers are not.
# Usage (root, after `dotnet build Sensor -c Release`):
#   bench/sensor/exec-connect.sh [N=20000] [ROUNDS=3] [MODES="sensor execsnoop bpftrace"]
# Modes: sensor (this repo's sensor with the default rule pack loaded, shipping to an unreachable service so alerts
# stay in a temp spool), execsnoop (libbpf-tools), bpftrace (execve + connect tracepoints printing one line each),
# auditd (auditctl -S execve -S connect; off unless asked: it is global to the machine).
# Prints one line per measurement and the median ratio per mode and workload.
set -euo pipefail
N=${1:-20000}
ROUNDS=${2:-3}
MODES=${3:-"sensor execsnoop bpftrace"}
CPU=${CPU:-1}
WARM=${WARM:-500}
root=$(cd "$(dirname "$0")/../.." && pwd)
dll="$root"/Sensor/bin/Release/net10.0/Sensor.dll
[ -f "$dll" ] || { echo "build the sensor first: dotnet build Sensor -c Release" >&2; exit 1; }
work=$(mktemp -d)
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
metrics_port=$(free_port)
echo_port=$(free_port)

# A loopback server that accepts and closes, for the connect workload. Pinned with the client: the workload is client
# plus server on one vCPU; unpinned, a server starved by the other vCPU's load lets the accept backlog fill and the
# client's SYN retransmit timer (1 s) measures the scheduler, not the tracer. It closes with a reset (SO_LINGER 0):
# a normal close leaves each of the N connections in TIME_WAIT, and the second run of every pair then paid for the
# first run's sockets (execsnoop, which does not trace connect, "cost" 1.21x on connects that way).
taskset -c "$CPU" python3 - "$echo_port" <<'PY' &
import socket, struct, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(4096)
reset = struct.pack("ii", 1, 0)
while True:
    c, _ = s.accept(); c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, reset); c.close()
PY
server=$!
cleanup() { kill "$server" 2>/dev/null || true; [ -n "${tracer:-}" ] && kill "$tracer" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
sleep 0.5

now() { date +%s.%N; }
execs() { local s e; s=$(now); taskset -c "$CPU" /bin/busybox sh -c "i=0; while [ \$i -lt $N ]; do /bin/true; i=\$((i+1)); done"; e=$(now); echo "$e - $s" | bc; }
connects() {
  local s e; s=$(now)
  taskset -c "$CPU" python3 -c "
import socket
for _ in range($N):
    c = socket.create_connection(('127.0.0.1', $echo_port)); c.close()"
  e=$(now); echo "$e - $s" | bc
}

start() {
  case $1 in
    none) tracer="" ;;
    sensor)
      dotnet "$dll" --Sensor:SpoolDir="$work/spool" --Sensor:MetricsUrl=http://127.0.0.1:$metrics_port \
        --Sensor:ServiceUrl=http://127.0.0.1:1/ >"$work/sensor.log" 2>&1 &
      tracer=$!
      for _ in $(seq 100); do curl -sf http://127.0.0.1:$metrics_port/metrics >/dev/null && return; sleep 0.3; done
      echo "sensor did not start: $(cat "$work/sensor.log")" >&2; exit 1 ;;
    execsnoop) /usr/sbin/execsnoop >/dev/null 2>&1 & tracer=$!; sleep 2 ;;
    bpftrace)
      bpftrace -e 'tracepoint:syscalls:sys_enter_execve { printf("%d %s\n", pid, str(args->filename)); }
                   tracepoint:syscalls:sys_exit_connect { printf("%d connect %d\n", pid, args->ret); }' >/dev/null 2>&1 &
      tracer=$!; sleep 4 ;;
    auditd) auditctl -a exit,always -F arch=b64 -S execve -S connect -k bench >/dev/null; tracer="" ;;
  esac
}

stop() {
  case $1 in
    sensor)
      drops=$(curl -s http://127.0.0.1:$metrics_port/metrics | awk '/^sensor_kernel_drops\{/{s+=$2} END {print s+0}')
      echo "    sensor kernel drops: $drops" ;;
  esac
  if [ "$1" = auditd ]; then auditctl -d exit,always -F arch=b64 -S execve -S connect -k bench >/dev/null; fi
  if [ -n "${tracer:-}" ]; then
    kill "$tracer" 2>/dev/null || true
    # The sensor does not always exit on SIGTERM (see bench/RESULTS.md): give it 5 s, then SIGKILL.
    for _ in $(seq 50); do kill -0 "$tracer" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$tracer" 2>/dev/null || true
    wait "$tracer" 2>/dev/null || true; tracer=""
  fi
}

declare -A ratio
for r in $(seq "$ROUNDS"); do
  for m in $MODES; do
    # A fresh baseline right before each tracer: a pair measured seconds apart on the same loaded machine.
    base_exec=$(execs); base_conn=$(connects)
    echo "round $r: none: $N fork+exec ${base_exec}s, $N connects ${base_conn}s"
    start "$m"
    N=$WARM execs >/dev/null; N=$WARM connects >/dev/null   # start-up (JIT, first lookups) is not steady-state cost
    e=$(execs); c=$(connects)
    re=$(echo "scale=3; $e / $base_exec" | bc); rc=$(echo "scale=3; $c / $base_conn" | bc)
    echo "round $r: $m: fork+exec ${e}s (x$re), connects ${c}s (x$rc)"
    stop "$m"
    ratio[$m.exec]+="$re "; ratio[$m.connect]+="$rc "
  done
done
for m in $MODES; do
  for w in exec connect; do
    printf '%s\n' ${ratio[$m.$w]} | sort -n | awk -v m="$m" -v w="$w" '{a[NR]=$1} END {print "median ratio " m " " w ": " a[int((NR+1)/2)]}'
  done
done
