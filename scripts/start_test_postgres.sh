#!/usr/bin/env bash
# Install (Debian) and start a local PostgreSQL for the test suite, then print the
# admin URL the tests use to create one throwaway database per test:
#   export SLOPSCORE_TEST_POSTGRES_URL=$(bash scripts/start_test_postgres.sh)
# Needs root (apt-get, service). Idempotent: a running server is reused.
set -euo pipefail
PASSWORD=slopscore-test
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi
VERSION=$(ls /usr/lib/postgresql | sort -V | tail -1)
if ! pg_lsclusters -h | grep -q "^$VERSION main"; then
    pg_createcluster "$VERSION" main >&2
fi
pg_ctlcluster "$VERSION" main start >&2 2>/dev/null || true
for _ in $(seq 30); do
    pg_isready -q -h 127.0.0.1 && break
    sleep 1
done
runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -c \
    "DO \$\$ BEGIN
       IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'slopscore') THEN
         CREATE ROLE slopscore LOGIN CREATEDB PASSWORD '$PASSWORD';
       END IF;
     END \$\$;" >&2
echo "postgresql+psycopg://slopscore:$PASSWORD@127.0.0.1:5432/postgres"
