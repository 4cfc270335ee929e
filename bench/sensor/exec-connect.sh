#!/usr/bin/env bash
# Sensor overhead on fork+exec and loopback TCP connects, measured side by side with peers in one run: every round
# runs the workloads with nothing attached and under one tracer, for each tracer in turn, so each ratio compares runs
# seconds apart. The order inside a pair alternates (odd rounds: without first; even rounds: with first), so a drift
# of the machine (page cache, a neighbour's build starting) does not always favour the same side.
# The workload is pinned to one vCPU (cross-vCPU wake-ups dominate otherwise); the tracers are not.
#
# Two figures that do not depend on the machine's load are printed next to each ratio:
#   kernel ns/op  the tracer's BPF programs' run time per fork+exec (or connect), from the kernel's own BPF
#                 statistics (kernel.bpf_stats_enabled=1 while the script runs, put back as found; run_time_ns and
#                 run_cnt of every program the tracer holds, read from /proc/<pid>/fdinfo). It is the cost the
#                 tracer adds inside the workload's own syscalls. auditd has no BPF program: "-".
#   tracer µs/op  CPU time (user+system) of the tracer's process per operation while the workload ran. The tracer
#                 sees every process on the machine, so on a busy machine this includes other people's events.
#                 For the sensor also µs per event (CPU over the events it received, from its /metrics), which
#                 does not depend on who caused them.
# bpf_stats itself costs two clock reads per program run (tens of ns against a fork+exec of ~700 µs).
#
# Usage (root, after `dotnet build Sensor -c Release`):
#   bench/sensor/exec-connect.sh [N=20000] [ROUNDS=5] [MODES="sensor execsnoop bpftrace"]
#   WORKLOADS="exec connect" (default both), CPU=1 (the workload's vCPU), WARM=500 (operations before measuring).
# Modes: sensor (this repo's sensor with the default rule pack, started as run.sh deploys it, shipping to an
# unreachable service so alerts stay in a temp spool), execsnoop (libbpf-tools), bpftrace (execve + connect
# tracepoints printing one line each), auditd (auditctl -S execve -S connect; off unless asked: global to the machine).
# Prints one line per measurement and the medians per mode and workload.
set -euo pipefail
N=${1:-20000}
ROUNDS=${2:-5}
MODES=${3:-"sensor execsnoop bpftrace"}
CPU=${CPU:-1}
WARM=${WARM:-500}
WORKLOADS=${WORKLOADS:-"exec connect"}
source "$(dirname "$0")/lib.sh"
need_root
case " $MODES " in *" sensor "*) need_sensor ;; esac
echo_port=$(free_port)
tracer=""
stats_before=$(sysctl -n kernel.bpf_stats_enabled)
audit_key=sensorbench-$$
finish() {
  [ -n "$tracer" ] && stop_started "$tracer"
  auditctl -d exit,always -F arch=b64 -S execve -S connect -k "$audit_key" >/dev/null 2>&1 || true
  sysctl -q kernel.bpf_stats_enabled="$stats_before" || true
  cleanup_all
}
trap finish EXIT
sysctl -q kernel.bpf_stats_enabled=1

# A loopback server that accepts and closes, for the connect workload. Pinned with the client: the workload is client
# plus server on one vCPU; unpinned, a server starved by the other vCPU's load lets the accept backlog fill and the
# client's SYN retransmit timer (1 s) measures the scheduler, not the tracer. It closes with a reset (SO_LINGER 0):
# a normal close leaves each of the N connections in TIME_WAIT, and the second run of every pair then paid for the
# first run's sockets (execsnoop, which does not trace connect, "cost" 1.21x on connects that way).
if [[ " $WORKLOADS " == *" connect "* ]]; then
  taskset -c "$CPU" python3 - "$echo_port" <<'PY' &
import socket, struct, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(4096)
reset = struct.pack("ii", 1, 0)
while True:
    c, _ = s.accept(); c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, reset); c.close()
PY
  started_pids+=($!)
  sleep 0.5
fi

execs() { local n=$1 s e; s=$(now); taskset -c "$CPU" /bin/busybox sh -c "i=0; while [ \$i -lt $n ]; do /bin/true; i=\$((i+1)); done"; e=$(now); echo "$e - $s" | bc; }
connects() {
  local n=$1 s e; s=$(now)
  taskset -c "$CPU" python3 -c "
import socket
for _ in range($n):
    c = socket.create_connection(('127.0.0.1', $echo_port)); c.close()"
  e=$(now); echo "$e - $s" | bc
}
run_workload() { case $1 in exec) execs "$2" ;; connect) connects "$2" ;; esac; }

# "prog_id run_cnt run_time_ns" of every BPF program the process holds a descriptor of (links show prog_id without
# counters and are skipped; a program held twice is counted once).
prog_stats() {
  local f
  for f in /proc/"$1"/fdinfo/*; do
    awk '/^prog_id:/{id=$2} /^run_time_ns:/{t=$2} /^run_cnt:/{c=$2} END{if (id && c != "") print id, c, t}' "$f" 2>/dev/null || true
  done | sort -u -k1,1
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# Kernel ns per operation between two prog_stats snapshots; per-program detail goes to $work/progs.<mode>.<workload>.
kernel_ns_per_op() {
  join <(echo "$1") <(echo "$2") | awk -v n="$3" '{ t += $5 - $3 } END { printf "%.0f\n", t / n }'
}
program_detail() {
  join <(echo "$1") <(echo "$2") | while read -r id c1 t1 c2 t2; do
    [ $((c2 - c1)) -gt 0 ] || continue
    name=$(bpftool prog show id "$id" 2>/dev/null | awk 'NR==1 { for (i = 1; i < NF; i++) if ($i == "name") print $(i+1) }')
    awk -v name="${name:-$id}" -v c=$((c2 - c1)) -v t=$((t2 - t1)) -v n="$3" \
      'BEGIN { printf "      %-40s runs/op %5.2f  ns/run %6.0f  ns/op %6.0f\n", name, c / n, t / c, t / n }'
  done
}

start_tracer() {
  case $1 in
    sensor) start_sensor --Sensor:ServiceUrl=http://127.0.0.1:1/; tracer=$sensor_pid ;;
    execsnoop) /usr/sbin/execsnoop >/dev/null 2>&1 & tracer=$!; started_pids+=($tracer); sleep 2 ;;
    bpftrace)
      bpftrace -e 'tracepoint:syscalls:sys_enter_execve { printf("%d %s\n", pid, str(args->filename)); }
                   tracepoint:syscalls:sys_exit_connect { printf("%d connect %d\n", pid, args->ret); }' >/dev/null 2>&1 &
      tracer=$!; started_pids+=($tracer); sleep 4 ;;
    auditd) auditctl -a exit,always -F arch=b64 -S execve -S connect -k "$audit_key" >/dev/null; tracer="" ;;
  esac
}

stop_tracer() {
  if [ "$1" = sensor ]; then
    echo "    sensor kernel drops: $(metric_sum sensor_kernel_drops), channel drops: $(metric_sum sensor_channel_drops)"
  fi
  [ "$1" = auditd ] && auditctl -d exit,always -F arch=b64 -S execve -S connect -k "$audit_key" >/dev/null
  if [ -n "$tracer" ]; then stop_started "$tracer"; tracer=""; fi
}

# One measurement under the running tracer: prints "seconds kernel_ns_per_op tracer_us_per_op tracer_us_per_event".
measured() {
  local w=$1 m=$2 a b c0 c1 e0=0 e1=0 secs k u ue=-
  [ "$m" = sensor ] && e0=$(metric_sum sensor_events_total)
  [ -n "$tracer" ] && { a=$(prog_stats "$tracer"); c0=$(cpu_ticks "$tracer"); }
  secs=$(run_workload "$w" "$N")
  k=-; u=-
  if [ -n "$tracer" ]; then
    b=$(prog_stats "$tracer"); c1=$(cpu_ticks "$tracer")
    [ -n "$a" ] && { k=$(kernel_ns_per_op "$a" "$b" "$N"); program_detail "$a" "$b" "$N" >"$work/progs.$m.$w"; }
    u=$(awk -v d=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v n="$N" 'BEGIN { printf "%.1f\n", d / hz * 1e6 / n }')
    if [ "$m" = sensor ]; then
      e1=$(metric_sum sensor_events_total)
      ue=$(awk -v d=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v n=$((e1 - e0)) 'BEGIN { if (n > 0) printf "%.1f\n", d / hz * 1e6 / n; else print "-" }')
    fi
  fi
  echo "$secs $k $u $ue"
}

declare -A ratio kns tus tue
echo "exec-connect.sh N=$N ROUNDS=$ROUNDS MODES=\"$MODES\" WORKLOADS=\"$WORKLOADS\" CPU=$CPU, load $(loadavg), $(date -u +%FT%TZ)"
for r in $(seq "$ROUNDS"); do
  for m in $MODES; do
    for w in $WORKLOADS; do
      if ((r % 2)); then
        base=$(run_workload "$w" "$N")
        start_tracer "$m"; run_workload "$w" "$WARM" >/dev/null   # start-up (JIT, first lookups) is not steady state
        read -r with k u ue < <(measured "$w" "$m")
        stop_tracer "$m"
      else
        start_tracer "$m"; run_workload "$w" "$WARM" >/dev/null
        read -r with k u ue < <(measured "$w" "$m")
        stop_tracer "$m"
        base=$(run_workload "$w" "$N")
      fi
      rr=$(echo "scale=3; $with / $base" | bc)
      echo "round $r: $m $w: without ${base}s, with ${with}s (x$rr), kernel ${k} ns/op, tracer ${u} µs/op (${ue} µs/event), load $(loadavg)"
      [ -f "$work/progs.$m.$w" ] && cat "$work/progs.$m.$w" && rm -f "$work/progs.$m.$w"
      ratio[$m.$w]+="$rr "; kns[$m.$w]+="$k "; tus[$m.$w]+="$u "; tue[$m.$w]+="$ue "
    done
  done
done
# Median; with an even count the mean of the middle two ("-" entries, e.g. auditd's kernel ns/op, stay "-").
median() {
  printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { if (a[1] == "-") print "-"; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
echo
echo "| mode | workload | ratios | median ratio | median kernel ns/op | median tracer µs/op | median tracer µs/event |"
echo "|---|---|---|---|---|---|---|"
for m in $MODES; do
  for w in $WORKLOADS; do
    # shellcheck disable=SC2086
    echo "| $m | $w | $(echo ${ratio[$m.$w]} | sed 's/ /, /g') | $(median ${ratio[$m.$w]}) | $(median ${kns[$m.$w]}) | $(median ${tus[$m.$w]}) | $(median ${tue[$m.$w]}) |"
  done
done
