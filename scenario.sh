#!/usr/bin/env bash
# The live attack scenario in one command (as root): a real podman container presented as a pod of the checkout
# Deployment in a fake Kubernetes API, a fake IMDSv2 in a network namespace of its own, the real eBPF sensor and the
# real triage service (SQLite) with a fake Slack. Inside the container the attacker steals the node role's credentials
# from the metadata service, drops a tool and runs it, and opens a shell to a second host in another namespace.
# It prints, step by step, the incidents and everything on them, the response actions and the escalation.
# Usage: ./scenario.sh [--no-escalation] [--keep]
#   --no-escalation  do not wait the 1-2 minutes for the unacknowledged incident to escalate
#   --keep           keep the run's directory (config, database, evidence, logs); kept anyway when a step fails
set -euo pipefail
cd "$(dirname "$0")"

if [ "$(id -u)" -ne 0 ]; then
  echo "scenario: needs root (eBPF, network namespaces, podman); run: sudo ./scenario.sh" >&2
  exit 2
fi
scripts/setup-machine.sh
dotnet build tests/Triage.Scenario/Triage.Scenario.csproj -c Release -nologo -v quiet
exec dotnet tests/Triage.Scenario/bin/Release/net10.0/Triage.Scenario.dll scenario "$@"
