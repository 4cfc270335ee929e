#!/usr/bin/env bash
# The main job: the triage service on the embedded default (SQLite under ./data/, the example configuration,
# chat output to a local sink) with the node sensor attached when it can run (root, eBPF).
# Usage: ./run.sh [--config <file>] [--db <sqlite path | postgres connection string>]
set -euo pipefail
cd "$(dirname "$0")"
root=$(pwd)
url=${TRIAGE_URL:-http://127.0.0.1:8080}

scripts/setup-machine.sh
dotnet build Triage.sln -c Release -nologo -v quiet

args=("$@")
has_config=false
for a in "${args[@]}"; do [ "$a" = "--config" ] && has_config=true; done
$has_config || args+=(--config "$root/config/triage.example.yaml")

echo "triage: starting the service on $url (Ctrl-C stops everything)"
dotnet Triage.Api/bin/Release/net10.0/Triage.Api.dll serve "${args[@]}" --urls "$url" &
service=$!
trap 'kill $service ${sensor:-} 2>/dev/null || true; wait 2>/dev/null || true' EXIT INT TERM

for _ in $(seq 1 100); do
  curl -fsS "$url/readyz" >/dev/null 2>&1 && break
  kill -0 $service 2>/dev/null || { echo "triage: the service exited; see the message above" >&2; exit 1; }
  sleep 0.2
done
echo "triage: ready. Incidents: curl -H 'Authorization: Bearer local-operator-token-change-me' $url/api/v1/incidents"

if [ "$(id -u)" -ne 0 ]; then
  echo "sensor: OFF - it needs root (CAP_BPF, CAP_PERFMON, CAP_SYS_RESOURCE) to load eBPF programs; run ./run.sh as root."
else
  # The token is the example configuration's sensor token; the spool survives restarts under ./data/.
  # A 2 MB gen0 budget keeps the node agent's memory small and flat (only settable by environment; see Sensor.csproj);
  # two malloc arenas instead of one per thread keep the native side from growing with each new thread's arena.
  TRIAGE_SENSOR_TOKEN=${TRIAGE_SENSOR_TOKEN:-local-sensor-token-change-me} MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-2} \
    DOTNET_GCgen0size=${DOTNET_GCgen0size:-0x200000} dotnet Sensor/bin/Release/net10.0/Sensor.dll --Sensor:ServiceUrl="$url" \
      --Sensor:SpoolDir="$root/data/sensor-spool" --Sensor:MetricsUrl=http://127.0.0.1:9464 &
  sensor=$!
  echo "sensor: starting (metrics on http://127.0.0.1:9464/metrics; it says plainly if eBPF cannot run here)"
fi

wait $service
