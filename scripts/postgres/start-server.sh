#!/usr/bin/env bash
# Start a throwaway PostgreSQL server on this machine for the OMOP test (tests/test_omop.py,
# marker postgres) and load the OMOP sample (data/sample_omop/sample_omop.duckdb) into it.
#
#   scripts/postgres/start-server.sh            # start (or reuse) the server, load the sample
#   scripts/postgres/start-server.sh --no-load  # start only
#
# Uses Debian's postgresql package (apt-get install postgresql; /usr/lib/postgresql/<v>/bin),
# never its system cluster: its own data directory under $SMANH_PG_DIR (default
# /tmp/smanh-postgres), its own port ($SMANH_PG_PORT, default 55432), listening on 127.0.0.1
# only. TCP logins need a password (scram-sha-256): role smanh gets a fresh random one,
# written with the other connection settings to $SMANH_PG_DIR/env (mode 600) as PG*
# variables, which the test and the workflow read (`. /tmp/smanh-postgres/env`).
# The sample goes into database smanh_omop, schemas cdm (clinical tables) and vocab
# (vocabulary tables). As root, the server runs as the postgres user (initdb refuses root).
# Stop it with scripts/postgres/stop-server.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."

STATE="${SMANH_PG_DIR:-/tmp/smanh-postgres}"
PORT="${SMANH_PG_PORT:-55432}"
DATABASE=smanh_omop
ROLE=smanh
PYTHON="${SMANH_PYTHON:-.venv/bin/python}"
load=yes
for arg in "$@"; do
    case "$arg" in
        --no-load) load=no ;;
        *) echo "usage: $0 [--no-load]" >&2; exit 2 ;;
    esac
done

PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/initdb" ]; then
    echo "start-server: PostgreSQL is not installed; install Debian's package: apt-get install postgresql" >&2
    exit 1
fi

# As root: run the server as the postgres user; otherwise as the current user.
if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || { echo "start-server: no postgres user (install the postgresql package)" >&2; exit 1; }
    OWNER=postgres
    as_owner() { runuser -u postgres -- "$@"; }
else
    OWNER="$(id -un)"
    as_owner() { "$@"; }
fi

mkdir -p "$STATE"
chmod 755 "$STATE"
admin_psql() {
    as_owner "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$STATE/socket" -p "$PORT" -U postgres "$@"
}

if "$PGBIN/pg_isready" -q -h "$STATE/socket" -p "$PORT" 2>/dev/null && [ -s "$STATE/env" ]; then
    echo "start-server: reusing the server on port $PORT ($STATE)" >&2
else
    if [ -s "$STATE/data/postmaster.pid" ]; then  # a stale server of an earlier run
        as_owner "$PGBIN/pg_ctl" -D "$STATE/data" -m immediate stop >/dev/null 2>&1 || true
    fi
    rm -rf "$STATE/data" "$STATE/socket" "$STATE/env"
    mkdir -p "$STATE/data" "$STATE/socket"
    chown "$OWNER" "$STATE/data" "$STATE/socket"
    chmod 700 "$STATE/data"
    echo "start-server: initdb in $STATE/data" >&2
    as_owner "$PGBIN/initdb" -D "$STATE/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
        --encoding=UTF8 --locale=C >"$STATE/initdb.log" 2>&1 || { cat "$STATE/initdb.log" >&2; exit 1; }
    touch "$STATE/server.log" && chown "$OWNER" "$STATE/server.log"
    as_owner "$PGBIN/pg_ctl" -D "$STATE/data" -l "$STATE/server.log" -w -t 60 \
        -o "-p $PORT -k $STATE/socket -c listen_addresses=127.0.0.1" start >/dev/null \
        || { tail -n 20 "$STATE/server.log" >&2; exit 1; }
    PASSWORD="$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
    admin_psql -d postgres -c "CREATE ROLE $ROLE LOGIN PASSWORD '$PASSWORD'" \
        -c "CREATE DATABASE $DATABASE OWNER $ROLE"
    umask 077
    cat >"$STATE/env" <<ENV
export PGHOST=127.0.0.1 PGPORT=$PORT PGDATABASE=$DATABASE PGUSER=$ROLE PGPASSWORD=$PASSWORD
ENV
    echo "start-server: PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT," \
        "database $DATABASE, role $ROLE (settings: $STATE/env)" >&2
fi

if [ "$load" = yes ]; then
    [ -x "$PYTHON" ] || PYTHON=python3
    # shellcheck disable=SC1091
    . "$STATE/env"
    PYTHONPATH=scripts "$PYTHON" -m smanh.synthetic.omop_sample \
        --load-postgres data/sample_omop/sample_omop.duckdb --cdm-schema cdm --vocabulary-schema vocab
fi
