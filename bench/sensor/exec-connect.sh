#!/usr/bin/env bash
# Sensor overhead on fork+exec and loopback connects, in interleaved without/with pairs, the workload pinned to one
# vCPU (cross-vCPU wake-ups dominate otherwise). Usage (root, after `dotnet build Sensor -c Release`):
#   bench/sensor/exec-connect.sh [N=20000] [PAIRS=3]
# Prints one line per run and the median ratio with/without. Peers (execsnoop, bpftrace, auditd) are not run by this
# script yet; see bench/RESULTS.md.
set -euo pipefail
N=${1:-20000}
PAIRS=${2:-3}
CPU=${CPU:-1}
root=$(cd "$(dirname "$0")/../.." && pwd)
dll=$(ls "$root"/Sensor/bin/Release/net10.0/Sensor.dll "$root"/Sensor/bin/Debug/net10.0/Sensor.dll 2>/dev/null | head -1 || true)
spool=$(mktemp -d)
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')

execs() { local s e; s=$(date +%s.%N); taskset -c "$CPU" /bin/busybox sh -c "i=0; while [ \$i -lt $N ]; do /bin/true; i=\$((i+1)); done"; e=$(date +%s.%N); echo "$e - $s" | bc; }

start_sensor() {
  dotnet "$dll" --Sensor:SpoolDir="$spool" --Sensor:MetricsUrl=http://127.0.0.1:$port --Sensor:ServiceUrl=http://127.0.0.1:1/ >/tmp/bench-sensor.log 2>&1 &
  sensor=$!
  for _ in $(seq 100); do curl -sf http://127.0.0.1:$port/metrics >/dev/null && return; sleep 0.3; done
  echo "sensor did not start" >&2; exit 1
}

ratios=()
for p in $(seq "$PAIRS"); do
  base=$(execs)
  start_sensor
  with=$(execs)
  drops=$(curl -s http://127.0.0.1:$port/metrics | awk '/^sensor_kernel_drops\{category="exec"\}/{print $2}')
  kill "$sensor"; wait "$sensor" 2>/dev/null || true
  r=$(echo "scale=3; $with / $base" | bc)
  ratios+=("$r")
  echo "pair $p: $N fork+exec without ${base}s, with sensor ${with}s, ratio $r, kernel exec drops $drops"
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print "median ratio " a[int((NR+1)/2)]}'
rm -rf "$spool"
