#!/usr/bin/env bash
# Sensor memory while short-lived containers come and go (issue #3 target: <= 150 MB and flat). Starts one sensor
# (default rule pack, alerts to a fake service on 127.0.0.1), then runs COUNT podman containers of the busybox image
# the tests build (unique names, --rm; PARALLEL at a time), each doing an exec (sh -c, then /bin/true) and exiting.
# The sensor's RSS (VmRSS), GC heap (dotnet_total_memory_bytes: live objects) and the GC's committed memory
# (sensor_gc_memory_bytes{kind="committed"}: what it holds from the OS; RSS less that is native) are sampled every second with the containers finished so far; after the last one the run
# waits SETTLE seconds. Prints start / peak / end RSS, the slope (MB per 100 containers, least squares over the second
# half of the containers: after the caches and the process table's tombstones have filled) and the sensor's own
# counters (containers known, process table entries).
# Usage (root, after `dotnet build Sensor -c Release`):
#   bench/sensor/containers-memory.sh [COUNT=500] [PARALLEL=2] [SETTLE=20]
set -euo pipefail
COUNT=${1:-500}
PARALLEL=${2:-2}
SETTLE=${3:-20}
source "$(dirname "$0")/lib.sh"
need_root; need_sensor
trap cleanup_all EXIT

build_busybox_image
start_fake_ingest
start_sensor --Sensor:ServiceUrl=http://127.0.0.1:$fake_port --Sensor:Token="$fake_token"
sleep 3   # start-up allocations settle
done_file=$work/done
: >"$done_file"
samples=$work/rss.tsv
start_ts=$(now)
(
  while kill -0 "$sensor_pid" 2>/dev/null; do
    m=$(metrics)
    echo "$(now) $(wc -l <"$done_file") $(rss_kb "$sensor_pid") $(metric_sum dotnet_total_memory_bytes "$m") $(metric_sum 'sensor_gc_memory_bytes{kind="committed"}' "$m")" >>"$samples"
    sleep 1
  done
) &
started_pids+=($!)

echo "load average before: $(loadavg); sensor RSS at start $(( $(rss_kb "$sensor_pid") / 1024 )) MB"
export bench_image done_file run_tag=$$
seq "$COUNT" | xargs -P "$PARALLEL" -I{} bash -c 'podman run --rm --name "sensorbench-$run_tag-mem-{}" --network none \
  "$bench_image" sh -c "/bin/true; exit 0" >/dev/null 2>&1; echo >>"$done_file"'
while [ "$(wc -l <"$done_file")" -lt "$COUNT" ]; do sleep 0.2; done
end_ts=$(now)
echo "$COUNT containers in $(echo "$end_ts - $start_ts" | bc) s"
sleep "$SETTLE"
m=$(metrics)
echo "sensor: containers known $(metric_sum sensor_containers_known "$m"), process table $(awk '/^sensor_process_table_entries/ { printf "%s=%s ", $1, $2 }' <<<"$m")"
echo "alerts shipped $(metric_sum sensor_alerts_shipped "$m"), kernel drops $(metric_sum sensor_kernel_drops "$m"), load average after: $(loadavg)"

python3 - "$samples" "$COUNT" <<'PY'
import sys
rows = [tuple(float(x) for x in l.split()) for l in open(sys.argv[1]) if len(l.split()) == 5]
count = int(sys.argv[2])
mb = lambda kb: kb / 1024
start, peak, end = rows[0][2], max(r[2] for r in rows), rows[-1][2]
def slope_of(value):
    half = [(r[1], value(r)) for r in rows if r[1] >= count / 2 and r[1] < count]
    if len(half) > 2 and len({x for x, _ in half}) > 1:
        n = len(half); mx = sum(x for x, _ in half) / n; my = sum(y for _, y in half) / n
        b = sum((x - mx) * (y - my) for x, y in half) / sum((x - mx) ** 2 for x, _ in half)
        return f"{mb(b) * 100:+.2f}"
    return "-"
slope = slope_of(lambda r: r[2])
# RSS less what the GC holds committed (KB): native memory, mapped files and JIT code.
native_slope = slope_of(lambda r: r[2] - r[4] / 1024)
gc_slope = slope_of(lambda r: r[4] / 1024)
heap = [r[3] / 1048576 for r in rows]
committed = [r[4] / 1048576 for r in rows]
print(f"\n| containers | RSS start MB | peak MB | end MB (after settle) | slope, 2nd half, MB per 100 containers | GC heap start / peak / end MB | GC committed start / peak / end MB | slope of GC committed / of the rest | samples |")
print(f"|---|---|---|---|---|---|---|---|---|")
print(f"| {count} | {mb(start):.1f} | {mb(peak):.1f} | {mb(end):.1f} | {slope} | {heap[0]:.1f} / {max(heap):.1f} / {heap[-1]:.1f} | {committed[0]:.1f} / {max(committed):.1f} / {committed[-1]:.1f} | {gc_slope} / {native_slope} | {len(rows)} |")
step = max(1, len(rows) // 12)
print("\nover time (s, containers done, RSS MB, GC heap MB, GC committed MB): " + ", ".join(f"{r[0] - rows[0][0]:.0f}/{r[1]:.0f}/{mb(r[2]):.0f}/{r[3] / 1048576:.0f}/{r[4] / 1048576:.0f}" for r in rows[::step]))
PY
