#!/usr/bin/env bash
# redis-benchmark throughput kept with a tracer attached (issue #3 target for the sensor: >= 0.95), side by side in
# one run with the peers the issue names. redis-server on 127.0.0.1 (a free port) and redis-benchmark are both pinned
# to one vCPU (CPU, default 1): cross-vCPU wake-ups dominate otherwise. Every round measures, for each mode in turn,
# a run with nothing attached and then a run under the tracer, seconds apart; the figure is the median of the
# with/without throughput ratios. Throughput = SET and GET requests over the time both took (REQUESTS each, 50
# clients, no pipelining).
# Modes:
#   sensor    this repository's sensor, default rule pack, alerts spooled (service unreachable);
#   auditd    auditd with exec and connect rules (auditctl -S execve -S connect). Uses the auditd already running, or
#             starts /sbin/auditd -n itself (and stops only that pid); its rules are removed after each measurement
#             and the kernel's audit enabled flag is put back as found;
#   bpftrace  a bpftrace program on every syscall: tracepoint:raw_syscalls:sys_enter counting by process name.
# Usage (root, after `dotnet build Sensor -c Release`):
#   bench/sensor/redis.sh [REQUESTS=100000] [ROUNDS=3] [MODES="sensor auditd bpftrace"]
set -euo pipefail
REQUESTS=${1:-100000}
ROUNDS=${2:-3}
MODES=${3:-"sensor auditd bpftrace"}
CPU=${CPU:-1}
source "$(dirname "$0")/lib.sh"
need_root
case " $MODES " in *" sensor "*) need_sensor ;; esac
tracer=""
audit_key=sensorbench-$$
audit_enabled_before=$(auditctl -s 2>/dev/null | awk '$1 == "enabled" { print $2 }')
our_auditd=""
finish() {
  [ -n "$tracer" ] && stop_pid "$tracer"
  auditctl -d exit,always -F arch=b64 -S execve -S connect -k "$audit_key" >/dev/null 2>&1 || true
  [ -n "$our_auditd" ] && stop_pid "$our_auditd"
  [ -n "$audit_enabled_before" ] && auditctl -e "$audit_enabled_before" >/dev/null 2>&1 || true
  cleanup_all
}
trap finish EXIT

port=$(free_port)
taskset -c "$CPU" redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --protected-mode yes \
  --daemonize no --logfile "$work/redis.log" &
started_pids+=($!)
for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done

# Requests per second over SET and GET together.
bench() {
  taskset -c "$CPU" redis-benchmark -h 127.0.0.1 -p "$port" -n "$1" -c 50 -t set,get -q --csv 2>/dev/null |
    awk -F'","' -v n="$1" '{ gsub(/"/, "", $2) } $2 ~ /^[0-9.]+$/ && $2 > 0 { t += n / $2 } END { printf "%.0f\n", 2 * n / t }'
}

start() {
  case $1 in
    sensor) start_sensor --Sensor:ServiceUrl=http://127.0.0.1:1/; tracer=$sensor_pid ;;
    auditd)
      if ! pgrep -x auditd >/dev/null; then
        /sbin/auditd -n >/dev/null 2>&1 &
        our_auditd=$!
        sleep 1
      fi
      auditctl -a exit,always -F arch=b64 -S execve -S connect -k "$audit_key" >/dev/null ;;
    bpftrace)
      bpftrace -e 'tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }' >/dev/null 2>&1 &
      tracer=$!; started_pids+=($tracer)
      sleep 4 ;;
  esac
}

stop() {
  case $1 in
    sensor) echo "    sensor kernel drops: $(metric_sum sensor_kernel_drops)"; stop_sensor; tracer="" ;;
    auditd) auditctl -d exit,always -F arch=b64 -S execve -S connect -k "$audit_key" >/dev/null ;;
    bpftrace) stop_pid "$tracer"; tracer="" ;;
  esac
}

echo "redis-benchmark: $REQUESTS SET + $REQUESTS GET, 50 clients, pinned to vCPU $CPU with redis-server on 127.0.0.1:$port"
echo "load average before: $(loadavg)"
bench 20000 >/dev/null   # first run: page faults, connections
declare -A ratio
for r in $(seq "$ROUNDS"); do
  for m in $MODES; do
    base=$(bench "$REQUESTS")
    start "$m"
    bench $((REQUESTS / 10)) >/dev/null   # the tracer's start-up is not steady-state cost
    with=$(bench "$REQUESTS")
    stop "$m"
    q=$(echo "scale=3; $with / $base" | bc)
    echo "round $r: $m: without ${base} req/s, with ${with} req/s, kept x$q"
    ratio[$m]+="$q "
  done
done
echo "load average after: $(loadavg)"
for m in $MODES; do
  printf '%s\n' ${ratio[$m]} | sort -n | awk -v m="$m" '{a[NR]=$1; s=s " " $1} END {print "median throughput kept under " m ": " a[int((NR+1)/2)] "  (rounds:" s ")"}'
done
