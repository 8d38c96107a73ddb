#!/usr/bin/env bash
# Stop the test server started by scripts/postgres/start-server.sh.
#
#   scripts/postgres/stop-server.sh          # stop it (data kept for the next start to replace)
#   scripts/postgres/stop-server.sh --purge  # also remove its data directory and settings
#
# Only the server of that data directory is stopped (pg_ctl stop); idempotent.
set -euo pipefail

STATE="${SMANH_PG_DIR:-/tmp/smanh-postgres}"
purge=no
for arg in "$@"; do
    case "$arg" in
        --purge) purge=yes ;;
        *) echo "usage: $0 [--purge]" >&2; exit 2 ;;
    esac
done

PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
if [ -n "$PGBIN" ] && [ -s "$STATE/data/postmaster.pid" ]; then
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$PGBIN/pg_ctl" -D "$STATE/data" -m fast -w stop >/dev/null || true
    else
        "$PGBIN/pg_ctl" -D "$STATE/data" -m fast -w stop >/dev/null || true
    fi
    echo "stop-server: stopped the PostgreSQL server of $STATE/data" >&2
fi
if [ "$purge" = yes ]; then
    rm -rf "$STATE"
fi
