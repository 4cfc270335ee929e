#!/usr/bin/env bash
# Highest event rate the sensor handles without dropping anything (issue #3). Drives exec (or connect) syscalls at
# increasing target rates from WORKERS processes (bench/sensor/rate-driver.py), STEP seconds per rate, against one
# sensor (default rule pack, not container-only, alerts to a fake service on 127.0.0.1), and reads after each step,
# from the sensor's /metrics: kernel drops (ring buffer full, by category: sensor_kernel_drops), user-space drops
# (pipeline channel full: sensor_channel_drops; spool full: sensor_spool_dropped) and the events it processed.
# Prints one row per step and the highest achieved rate with zero drops of every kind.
# Usage (root, after `dotnet build Sensor -c Release`):
#   bench/sensor/rate.sh [STEP=10] [RATES="500 1000 2000 4000 8000 max"] [KIND=exec] [WORKERS=4]
set -euo pipefail
STEP=${1:-10}
RATES=${2:-"500 1000 2000 4000 8000 max"}
KIND=${3:-exec}
WORKERS=${4:-4}
source "$(dirname "$0")/lib.sh"
need_root; need_sensor
trap cleanup_all EXIT

start_fake_ingest
start_sensor --Sensor:ServiceUrl=http://127.0.0.1:$fake_port --Sensor:Token="$fake_token"
port=0
if [ "$KIND" = connect ]; then
  port=$(free_port)
  python3 - "$port" <<'PY' &
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(4096)
while True:
    c, _ = s.accept(); c.close()
PY
  started_pids+=($!)
  sleep 0.5
fi
type=$([ "$KIND" = exec ] && echo execve || echo connect)
label=$([ "$KIND" = exec ] && echo exec || echo connect)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$sensor_pid/stat"; }
drops() {
  local m; m=$(metrics)
  echo "$(metric_sum sensor_kernel_drops "$m") $(metric_sum sensor_channel_drops "$m") $(metric_sum sensor_spool_dropped "$m") \
$(awk -v l="sensor_events_total{type=\"$label\"}" '$1 == l { print $2 + 0 }' <<<"$m") $(metric_sum sensor_events_total "$m")"
}

echo "driving $KIND at increasing rates, $STEP s per step, $WORKERS workers; load average before: $(loadavg)"
python3 "$root"/bench/sensor/rate-driver.py "$KIND" 200 2 "$WORKERS" "$port" >/dev/null   # warm-up
echo
echo "| target $KIND/s | achieved $KIND/s | sensor saw $label/s | all events/s | kernel drops | channel drops | spool drops | sensor CPU % |"
echo "|---|---|---|---|---|---|---|---|"
best=0
hz=$(getconf CLK_TCK)
for rate in $RATES; do
  read -r k0 c0 s0 e0 a0 <<<"$(drops)"; t0=$(cpu_ticks); w0=$(now)
  read -r n secs <<<"$(python3 "$root"/bench/sensor/rate-driver.py "$KIND" "$rate" "$STEP" "$WORKERS" "$port")"
  sleep 1   # the drain timer and the pipeline catch up before the counters are read
  read -r k1 c1 s1 e1 a1 <<<"$(drops)"; t1=$(cpu_ticks); w1=$(now)
  achieved=$(echo "$n / $secs" | bc)
  seen=$(echo "($e1 - $e0) / $secs" | bc)
  all=$(echo "($a1 - $a0) / $secs" | bc)
  cpu=$(echo "scale=1; 100 * ($t1 - $t0) / $hz / ($w1 - $w0)" | bc)
  kd=$((k1 - k0)); cd=$((c1 - c0)); sd=$((s1 - s0))
  echo "| $rate | $achieved | $seen | $all | $kd | $cd | $sd | $cpu |"
  if [ $((kd + cd + sd)) -eq 0 ] && [ "$achieved" -gt "$best" ]; then best=$achieved; fi
done
echo
echo "highest $KIND rate with zero drops: $best/s; load average after: $(loadavg)"
