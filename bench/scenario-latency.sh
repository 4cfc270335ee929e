#!/usr/bin/env bash
# Syscall in a container -> incident card at the fake Slack, p50/p99 over repeated runs of the live scenario's first
# step (IMDSv2 credential theft), with the service-alone path (POST /api/v1/alerts -> card) measured alongside as the
# peer. Root: real eBPF sensor, podman, network namespaces. Usage: sudo bench/scenario-latency.sh [--runs 20] [--warmup 1]
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "bench: needs root (eBPF, podman, network namespaces)" >&2; exit 2; }
scripts/setup-machine.sh
dotnet build tests/Triage.Scenario/Triage.Scenario.csproj -c Release -nologo -v quiet
exec dotnet tests/Triage.Scenario/bin/Release/net10.0/Triage.Scenario.dll bench "$@"
