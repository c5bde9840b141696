#!/usr/bin/env bash
# Regenerates .sqlx/, the query cache the `sqlx::query!` macros build against offline.
# Run it after changing a checked query or a migration, and commit .sqlx/.
#
# It creates a scratch database on the server at SQLX_PREPARE_SERVER (default
# postgres://postgres@127.0.0.1:5432; the role must be allowed to create databases),
# applies migrations/ to it with psql, type-checks the crate against it with the macros
# writing their cache, and drops the scratch database again.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
server="${SQLX_PREPARE_SERVER:-postgres://postgres@127.0.0.1:5432}"
server="${server%/}"
scratch="tributary_sqlx_prepare_$$"

psql "$server/postgres" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE $scratch"
trap 'psql "$server/postgres" -qc "DROP DATABASE IF EXISTS $scratch WITH (FORCE)"' EXIT

for migration in "$root"/migrations/*.sql; do
    psql "$server/$scratch" -v ON_ERROR_STOP=1 -q --single-transaction -f "$migration"
done

mkdir -p "$root/.sqlx"
rm -f "$root"/.sqlx/query-*.json
# The macros expand again only where their file changed; touch every file that has one.
grep -rlE 'sqlx::query(_as|_scalar)?!' "$root/src" | xargs touch
cd "$root"
DATABASE_URL="$server/$scratch" SQLX_OFFLINE=false SQLX_OFFLINE_DIR="$root/.sqlx" \
    cargo check --lib
echo "wrote $(ls "$root"/.sqlx/query-*.json | wc -l) queries to .sqlx/"
