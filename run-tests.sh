#!/usr/bin/env bash
# Runs every test: installs and starts what the tests need (as root), builds, tests, and ends with a summary line
# "N passed, N failed, N skipped". Tests needing root, eBPF or containers skip with a reason when not root,
# except under CI=true, where they must run.
set -euo pipefail
cd "$(dirname "$0")"

scripts/setup-machine.sh
if [ "$(id -u)" -eq 0 ] && [ -z "${TRIAGE_TEST_POSTGRES:-}" ]; then
  TRIAGE_TEST_POSTGRES=$(scripts/start-postgres.sh)
  export TRIAGE_TEST_POSTGRES
fi

# Warnings are errors through Directory.Build.props (which exempts NU1603, a restore notice of this NuGet mirror).
dotnet build Triage.sln -c Release -nologo -v quiet
results=$(mktemp -d)
status=0
# One test project at a time: the scenario's sensor (Triage.Tests) sees every container on the machine and captures
# evidence from the sensor tests' containers (pausing them) when both projects run at once.
dotnet test --solution Triage.sln -c Release --no-build --max-parallel-test-modules 1 --results-directory "$results" --report-xunit-trx "$@" || status=$?

# One closing line that CI and people can read, summed over every test project's TRX file.
python3 - "$results" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
passed = failed = skipped = 0
for path in glob.glob(sys.argv[1] + "/**/*.trx", recursive=True):
    counters = ET.parse(path).getroot().find("t:ResultSummary/t:Counters", ns)
    passed += int(counters.get("passed", 0))
    failed += int(counters.get("failed", 0)) + int(counters.get("error", 0)) + int(counters.get("timeout", 0))
    skipped += int(counters.get("notExecuted", 0))
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
exit $status
