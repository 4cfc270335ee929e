#!/usr/bin/env bash
# The floor of the ingest writer's durable SQLite work per alert: its statements in C (floor.c), no .NET, no HTTP,
# beside the same statements through Microsoft.Data.Sqlite (Triage.Bench sqlite-floor), the provider the service uses.
# Needs a C compiler ($CC, default cc), libsqlite3-dev (for sqlite3.h) and the Release build
# (dotnet build -c Release Triage.sln): its migrate command makes the schema, and floor.c links the SQLite it ships.
# The figures depend on the database's size: the default counts store 120,000 and 140,000 alerts per cell.
# Usage: bench/sqlite-floor/floor.sh [SMALL_COMMITS=20000] [LARGE_COMMITS=200]
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
small=${1:-20000}
large=${2:-200}
work=$(mktemp -d /tmp/triage-sqlite-floor-XXXXXX)
trap 'rm -rf "$work"' EXIT

# Linked against the SQLite the service ships, not the system's: the same version and compile options.
native="$repo/Triage.Api/bin/Release/net10.0/runtimes/linux-x64/native"
"${CC:-cc}" -O2 -Wall -Wextra -Werror -o "$work/floor" "$repo/bench/sqlite-floor/floor.c" -L"$native" -l:libe_sqlite3.so -lm -Wl,-rpath,"$native"
dotnet "$repo/Triage.Api/bin/Release/net10.0/Triage.Api.dll" migrate --config "$repo/config/triage.example.yaml" \
    --db "$work/schema.db" > /dev/null

echo "## SQLite floor of the ingest writer's work ($(date -u '+%Y-%m-%d %H:%M UTC'), SQLite $("$work/floor" --version))"
echo
echo "| through | alerts/commit | variant | synchronous | alerts | CPU µs/alert | wall µs/alert | alerts/s, one thread |"
echo "|---|---|---|---|---|---|---|---|"
# About 6 alerts per commit at one alert per request and about 700 at 100 per request (the writer's commit metrics).
for cell in "6 $small FULL service" "6 $small FULL alerts-only" "6 $small OFF service" \
            "700 $large FULL service" "700 $large FULL no-checkpoint" "700 $large FULL alerts-only" \
            "700 $large FULL no-index" "700 $large OFF service"; do
    # The same cell in C, then through Microsoft.Data.Sqlite as the service's writer runs it, each on a fresh copy.
    for program in "$work/floor" "dotnet $repo/bench/Triage.Bench/bin/Release/net10.0/Triage.Bench.dll sqlite-floor"; do
        rm -f "$work/floor.db" "$work/floor.db-wal" "$work/floor.db-shm"
        cp "$work/schema.db" "$work/floor.db"
        # shellcheck disable=SC2086 # the program's and the cell's words are arguments
        $program "$work/floor.db" $cell
    done
done
