# Shared by the sensor benchmarks (sourced, not run). Every process and container a benchmark starts is remembered
# by pid or unique name and stopped by that pid or name on exit; nothing else is touched. Network: 127.0.0.1 only.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dll="$root"/Sensor/bin/Release/net10.0/Sensor.dll
work=$(mktemp -d /tmp/sensorbench.XXXXXX)
declare -a started_pids=()
bench_image=""

need_root() { [ "$(id -u)" -eq 0 ] || { echo "run as root (eBPF, auditd, podman)" >&2; exit 1; }; }
need_sensor() { [ -f "$dll" ] || { echo "build the sensor first: dotnet build Sensor -c Release" >&2; exit 1; }; }
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
now() { date +%s.%N; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# Stops one process we started: SIGTERM, 5 s, then SIGKILL.
stop_pid() {
  local pid=$1
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# Stops a process we started and forgets it, so the exit cleanup never signals a pid the kernel has since reused (a
# 20,000 fork+exec run goes through many pids).
stop_started() {
  local pid=$1 i
  stop_pid "$pid"
  for i in "${!started_pids[@]}"; do [ "${started_pids[$i]}" = "$pid" ] && unset "started_pids[$i]"; done
  started_pids=("${started_pids[@]}")
}

cleanup_all() {
  local name
  # Only containers named by this run (container_name puts $$ in every name).
  podman ps -a --filter "name=^sensorbench-$$-" --format '{{.Names}}' 2>/dev/null | while read -r name; do
    podman rm -f --ignore "$name" >/dev/null 2>&1 || true
  done
  for ((i=${#started_pids[@]}-1; i>=0; i--)); do stop_pid "${started_pids[$i]}"; done
  [ -n "$bench_image" ] && podman rmi -f "$bench_image" >/dev/null 2>&1 || true
  rm -rf "$work"
}

# The fake triage service (bench/sensor/fake-ingest.py); sets fake_port, fake_log, fake_token.
start_fake_ingest() {
  fake_token=bench-$RANDOM$RANDOM
  fake_log=$work/received.tsv
  : >"$fake_log"
  python3 "$root"/bench/sensor/fake-ingest.py "$fake_token" "$work/fake.port" "$fake_log" 2>"$work/fake.err" &
  started_pids+=($!)
  for _ in $(seq 100); do [ -s "$work/fake.port" ] && break; sleep 0.05; done
  fake_port=$(cat "$work/fake.port")
}

# The sensor from Sensor/bin/Release with the default rule pack and extra --Sensor:... arguments; sets sensor_pid and
# metrics_port. Evidence capture at detection is off (it pauses and exports containers: not what is measured here).
# The GC's gen0 budget and the malloc arenas are set as run.sh deploys the sensor (DOTNET_GCgen0size, 2 MB;
# MALLOC_ARENA_MAX=2; override by exporting them).
start_sensor() {
  metrics_port=$(free_port)
  MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-2} DOTNET_GCgen0size=${DOTNET_GCgen0size:-0x200000} dotnet "$dll" --Sensor:SpoolDir="$work/spool.$RANDOM" --Sensor:MetricsUrl=http://127.0.0.1:$metrics_port \
    --Sensor:Evidence:CaptureMinPriority=none --Sensor:ContainersConf="$root"/config/podman/containers.conf \
    "$@" >"$work/sensor.log" 2>&1 &
  sensor_pid=$!
  started_pids+=($sensor_pid)
  for _ in $(seq 200); do
    curl -sf "http://127.0.0.1:$metrics_port/metrics" >/dev/null && return 0
    kill -0 "$sensor_pid" 2>/dev/null || break
    sleep 0.3
  done
  echo "sensor did not start: $(tail -5 "$work/sensor.log")" >&2
  exit 1
}

stop_sensor() { stop_started "$sensor_pid"; sensor_pid=""; }

metrics() { curl -s "http://127.0.0.1:$metrics_port/metrics"; }

# Sum of every sample of one metric name (all label sets): metric_sum NAME [METRICS_TEXT]
metric_sum() {
  local text=${2:-$(metrics)}
  awk -v n="$1" '$1 == n || index($1, n "{") == 1 { s += $2 } END { printf "%.0f\n", s + 0 }' <<<"$text"
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# The busybox image the tests build (tests/Sensor.Tests/Support/Podman.cs): a root filesystem from /bin/busybox,
# imported under a name unique to this run; removed on exit. Sets bench_image.
build_busybox_image() {
  export CONTAINERS_CONF="$root"/config/podman/containers.conf
  local rootfs=$work/rootfs
  mkdir -p "$rootfs"/{bin,etc,tmp,proc,dev,sys,root}
  cp /bin/busybox "$rootfs"/bin/busybox
  for applet in $(/bin/busybox --list); do [ "$applet" = busybox ] || ln -s busybox "$rootfs/bin/$applet"; done
  echo 'root:x:0:0:root:/root:/bin/sh' >"$rootfs"/etc/passwd
  echo 'root:*:19000:0:99999:7:::' >"$rootfs"/etc/shadow
  echo 'root:*::' >"$rootfs"/etc/gshadow
  tar -C "$rootfs" -cf "$work"/rootfs.tar .
  bench_image=localhost/sensorbench-busybox-$$:$RANDOM$RANDOM
  podman import -q "$work"/rootfs.tar "$bench_image" >/dev/null
  rm -rf "$rootfs" "$work"/rootfs.tar
}

# A container name unique to this run; cleanup_all removes whatever still carries this run's prefix.
container_name() { echo "sensorbench-$$-$1-$RANDOM$RANDOM"; }
