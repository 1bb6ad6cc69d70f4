#!/usr/bin/env bash
# A local PostgreSQL for the tests, benchmarks and replicas: `scripts/postgres.sh start|stop|status|url`.
#
# start: installs Debian's postgresql when no server binaries are found (apt-get, as root), then
# initdb + pg_ctl start a cluster in $MARQUEE_PG_DIR (default /tmp/marquee-postgres-55432) listening
# on 127.0.0.1:$MARQUEE_PG_PORT (default 55432) only, and creates the database `marquee`. As root the
# server runs as the `postgres` user (PostgreSQL refuses to run as root). Idempotent: a running
# cluster is left as it is. Prints the URL to set as MARQUEE_DATABASE_URL.
set -euo pipefail

PORT="${MARQUEE_PG_PORT:-55432}"
DIR="${MARQUEE_PG_DIR:-/tmp/marquee-postgres-$PORT}"
DB="${MARQUEE_PG_DB:-marquee}"
USER_NAME="marquee"
URL="postgresql://$USER_NAME@127.0.0.1:$PORT/$DB"

find_bin() {
    local dir
    if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
        dirname "$(command -v pg_ctl)"
        return 0
    fi
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [[ -x "$dir/pg_ctl" && -x "$dir/initdb" ]]; then
            echo "$dir"
            return 0
        fi
    done
    return 1
}

install_server() {
    if [[ "$(id -u)" != 0 ]]; then
        echo "postgres.sh: no PostgreSQL server binaries found; install Debian's 'postgresql' package (as root)" >&2
        exit 1
    fi
    echo "postgres.sh: installing Debian's postgresql (apt-get)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends postgresql postgresql-client >/dev/null
}

# as_owner CMD...: run as the cluster owner (the postgres user when we are root)
as_owner() {
    if [[ "$(id -u)" == 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

start() {
    local bin
    bin="$(find_bin)" || { install_server; bin="$(find_bin)"; }
    if [[ "$(id -u)" == 0 ]] && ! id postgres >/dev/null 2>&1; then
        useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    fi
    if [[ ! -s "$DIR/PG_VERSION" ]]; then
        mkdir -p "$DIR"
        [[ "$(id -u)" == 0 ]] && chown postgres: "$DIR"
        chmod 700 "$DIR"
        as_owner "$bin/initdb" -D "$DIR" -U "$USER_NAME" --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null \
            || as_owner "$bin/initdb" -D "$DIR" -U "$USER_NAME" --auth=trust -E UTF8 --locale=C >/dev/null
    fi
    if as_owner "$bin/pg_ctl" -D "$DIR" status >/dev/null 2>&1; then
        echo "postgres.sh: already running in $DIR" >&2
    else
        # fsync and synchronous_commit stay on (defaults): an acknowledged commit is on disk.
        as_owner "$bin/pg_ctl" -D "$DIR" -l "$DIR/server.log" -w -t 60 start \
            -o "-h 127.0.0.1 -p $PORT -k $DIR -c max_connections=200 -c shared_buffers=128MB" >/dev/null
    fi
    local psql="$bin/psql"
    [[ -x "$psql" ]] || psql="$(command -v psql)"
    if ! as_owner "$psql" -h 127.0.0.1 -p "$PORT" -U "$USER_NAME" -d postgres -Atc \
        "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1; then
        as_owner "$psql" -h 127.0.0.1 -p "$PORT" -U "$USER_NAME" -d postgres -qc "CREATE DATABASE $DB" >/dev/null
    fi
    echo "$URL"
}

stop() {
    local bin
    bin="$(find_bin)" || return 0
    if [[ -s "$DIR/PG_VERSION" ]] && as_owner "$bin/pg_ctl" -D "$DIR" status >/dev/null 2>&1; then
        as_owner "$bin/pg_ctl" -D "$DIR" -m fast -w stop >/dev/null
        echo "postgres.sh: stopped $DIR" >&2
    fi
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    status) bin="$(find_bin)" && as_owner "$bin/pg_ctl" -D "$DIR" status ;;
    url) echo "$URL" ;;
    *) echo "usage: $0 start|stop|status|url" >&2; exit 2 ;;
esac
