#!/usr/bin/env bash
# Starts the local PostgreSQL 15 cluster for the tests and prints the admin connection string.
# The password is for this throwaway local cluster only.
set -euo pipefail
if ! command -v pg_ctlcluster >/dev/null; then
  echo "start-postgres: PostgreSQL is not installed (apt-get install postgresql)" >&2
  exit 1
fi
version=$(ls /etc/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h | awk -v v="$version" '$1==v && $2=="main" && $4=="online"' | grep -q .; then
  pg_ctlcluster "$version" main start >&2
fi
for _ in $(seq 1 50); do
  su postgres -c "psql -qAt -c 'select 1'" >/dev/null 2>&1 && break
  sleep 0.2
done
su postgres -c "psql -qAt -c \"ALTER USER postgres PASSWORD 'triage-test'\"" >/dev/null
echo "Host=127.0.0.1;Port=5432;Username=postgres;Password=triage-test;Database=postgres"
