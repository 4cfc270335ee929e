#!/usr/bin/env bash
# Adds one EF Core migration per provider after a model change: migrations/add.sh <Name>
# EF writes the model snapshot under the project folder by namespace; it belongs next to the migrations here.
set -euo pipefail
name=${1:?usage: migrations/add.sh <MigrationName>}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
dotnet tool restore >/dev/null
for provider in Sqlite Postgres; do
  dotnet ef migrations add "$name" --project Triage.Api --context "${provider}TriageDbContext" \
    --output-dir "../migrations/$provider" --namespace "Triage.Api.Migrations.$provider"
  find Triage.Api -name "${provider}TriageDbContextModelSnapshot.cs" -not -path '*/bin/*' -not -path '*/obj/*' \
    -exec mv -f {} "migrations/$provider/" \;
  rm -rf Triage.Api/Migrations Triage.Api/Triage
done
rm -f Triage.Api/design-time.db
