#!/usr/bin/env bash
# Makes a real PostgreSQL available to the test suite and prints, on stdout, the shell lines that
# point the tests at it; every message goes to stderr so that this works:
#
#     eval "$(scripts/ensure-postgres.sh)"      # exports WATCHDOG_TEST_PG_URL
#
# 1. WATCHDOG_TEST_PG_URL already set: used as it is.
# 2. A server on 127.0.0.1:5432 whose database `test` accepts user `postgres` without a password:
#    postgresql+psycopg://postgres@127.0.0.1:5432/test.
# 3. Otherwise a throwaway cluster (Debian's `postgresql` is installed first if absent): initdb in
#    a temp dir owned by a non-root user, trust auth, port 54329 or the next free one, unix socket
#    in that dir, database `test`. It also exports WATCHDOG_TEST_PG_THROWAWAY=<dir>; a cluster
#    left running there (an interrupted run) is reused. Stop and delete it with `--stop`.
#
# Usage: ensure-postgres.sh [--stop | --status | --packages]
#   --status    one line saying which PostgreSQL the tests would use (changes nothing)
#   --packages  the Debian packages this script would install (for scripts/setup.sh)
# Env: WATCHDOG_FORCE_THROWAWAY_PG=1 skips 1 and 2; WATCHDOG_PG_DIR, WATCHDOG_PG_PORT override the
# throwaway cluster's directory and first port tried.
set -euo pipefail

PG_DIR=${WATCHDOG_PG_DIR:-${TMPDIR:-/tmp}/watchdog-test-pg-$(id -u)}
FIRST_PORT=${WATCHDOG_PG_PORT:-54329}
LOCAL_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test

log() { printf 'ensure-postgres: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# Directory holding initdb, pg_ctl and psql: the newest Debian cluster version, else $PATH.
pg_bindir() {
    local dir
    dir=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -type d -name bin 2>/dev/null |
        sort -V | tail -n 1)
    if [[ -n "$dir" && -x "$dir/initdb" ]]; then
        printf '%s\n' "$dir"
    elif command -v initdb >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
    else
        return 1
    fi
}

psql_cmd() {
    local bindir
    if command -v psql >/dev/null 2>&1; then
        command -v psql
    elif bindir=$(pg_bindir) && [[ -x "$bindir/psql" ]]; then
        printf '%s\n' "$bindir/psql"
    else
        return 1
    fi
}

# True when database `test` on 127.0.0.1:$1 accepts user postgres without a password.
db_usable() {
    local psql
    psql=$(psql_cmd) || return 1
    PGCONNECT_TIMEOUT=3 "$psql" -w -X -q -h 127.0.0.1 -p "$1" -U postgres -d test \
        -Atc 'SELECT 1' >/dev/null 2>&1
}

local_service_usable() {
    [[ "${WATCHDOG_FORCE_THROWAWAY_PG:-}" != 1 ]] && db_usable 5432
}

port_in_use() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

need_packages() {
    if [[ -n "${WATCHDOG_TEST_PG_URL:-}" && "${WATCHDOG_FORCE_THROWAWAY_PG:-}" != 1 ]]; then
        return 0
    fi
    if ! local_service_usable && ! pg_bindir >/dev/null; then
        echo postgresql
    fi
    return 0
}

# apt-get install, as root or through sudo; everything it prints goes to stderr.
apt_install() {
    local -a sudo=()
    if [[ $(id -u) != 0 ]]; then
        command -v sudo >/dev/null 2>&1 ||
            die "installing $* needs root: run 'apt-get install -y $*' as root, then retry"
        sudo=(sudo)
    fi
    command -v apt-get >/dev/null 2>&1 ||
        die "no apt-get here: install PostgreSQL (server binaries: initdb, pg_ctl, psql) with" \
            "your package manager, or start a server on 127.0.0.1:5432 with a database 'test'" \
            "for user 'postgres' (trust auth), or set WATCHDOG_TEST_PG_URL"
    log "installing Debian packages: $* (apt-get update first)"
    "${sudo[@]}" apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" \
        apt-get install -y -q --no-install-recommends "$@" >&2
}

# The throwaway cluster belongs to an ordinary user: PostgreSQL refuses to run as root.
new_cluster_owner() {
    if [[ $(id -u) != 0 ]]; then
        id -un
    elif id -u postgres >/dev/null 2>&1; then
        echo postgres
    else
        echo nobody
    fi
}

# Runs a command as the owner of $PG_DIR, from inside it (the owner may not be allowed into the
# caller's working directory).
as_owner() {
    local owner
    owner=$(stat -c %U "$PG_DIR")
    if [[ $(id -u) != 0 ]]; then
        (cd "$PG_DIR" && "$@")
    elif command -v runuser >/dev/null 2>&1; then
        (cd "$PG_DIR" && runuser -u "$owner" -- "$@")
    else
        (cd "$PG_DIR" && su -s /bin/sh "$owner" -c "$(printf '%q ' "$@")")
    fi
}

throwaway_port() { cat "$PG_DIR/port" 2>/dev/null; }

throwaway_running() {
    local port
    port=$(throwaway_port) || return 1
    [[ -f "$PG_DIR/data/postmaster.pid" ]] && db_usable "$port"
}

stop_throwaway() {
    [[ -d "$PG_DIR" ]] || return 0
    local bindir pid
    if [[ -f "$PG_DIR/data/postmaster.pid" ]]; then
        log "stopping the throwaway cluster in $PG_DIR"
        if bindir=$(pg_bindir); then
            as_owner "$bindir/pg_ctl" -D "$PG_DIR/data" -s -m fast -w -t 30 stop >&2 || true
        fi
        pid=$(head -n 1 "$PG_DIR/data/postmaster.pid" 2>/dev/null || true)
        if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
            # pg_ctl failed or is gone: SIGINT is PostgreSQL's fast shutdown.
            kill -INT "$pid" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        fi
    fi
    rm -rf "$PG_DIR"
}

start_throwaway() {
    local bindir port owner
    if ! bindir=$(pg_bindir); then
        apt_install postgresql
        bindir=$(pg_bindir) || die "initdb still not found after installing postgresql"
    fi
    stop_throwaway # a dead cluster from an earlier run: start afresh

    port=$FIRST_PORT
    while port_in_use "$port"; do
        port=$((port + 1))
        ((port < FIRST_PORT + 100)) || die "no free port in $FIRST_PORT..$((FIRST_PORT + 99))"
    done

    owner=$(new_cluster_owner)
    log "starting a throwaway PostgreSQL ($("$bindir/postgres" --version | awk '{print $3}'))" \
        "in $PG_DIR on 127.0.0.1:$port, owned by '$owner'"
    mkdir -m 700 "$PG_DIR" || die "cannot create $PG_DIR"
    [[ $(id -u) != 0 ]] || chown "$owner" "$PG_DIR"
    printf '%s\n' "$port" >"$PG_DIR/port"
    as_owner "$bindir/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 --locale=C \
        --no-sync >"$PG_DIR/initdb.log" 2>&1 ||
        die "initdb failed; its output: $(cat "$PG_DIR/initdb.log")"
    # Durability is pointless for a cluster deleted after the tests; speed is not.
    cat >>"$PG_DIR/data/postgresql.conf" <<EOF

# throwaway test cluster (scripts/ensure-postgres.sh)
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PG_DIR'
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
    if ! as_owner "$bindir/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
        start >/dev/null 2>&1; then
        die "the throwaway server did not start; its log: $(cat "$PG_DIR/server.log")"
    fi
    "$bindir/psql" -w -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres \
        -v ON_ERROR_STOP=1 -c 'CREATE DATABASE test' >&2
}

print_exports() {
    printf 'export WATCHDOG_TEST_PG_URL=%q\n' "$1"
    if [[ -n "${2:-}" ]]; then printf 'export WATCHDOG_TEST_PG_THROWAWAY=%q\n' "$2"; fi
}

ensure() {
    if [[ -n "${WATCHDOG_TEST_PG_URL:-}" && "${WATCHDOG_FORCE_THROWAWAY_PG:-}" != 1 ]]; then
        log "using WATCHDOG_TEST_PG_URL from the environment: $WATCHDOG_TEST_PG_URL"
        print_exports "$WATCHDOG_TEST_PG_URL"
        return
    fi
    if local_service_usable; then
        log "using the PostgreSQL on 127.0.0.1:5432 (database test, user postgres)"
        print_exports "$LOCAL_URL"
        return
    fi
    if [[ "${WATCHDOG_FORCE_THROWAWAY_PG:-}" == 1 ]]; then
        log "WATCHDOG_FORCE_THROWAWAY_PG=1: using a throwaway cluster"
    else
        log "no usable database 'test' on 127.0.0.1:5432 (user postgres, no password):" \
            "using a throwaway cluster"
    fi
    if throwaway_running; then
        log "reusing the throwaway cluster already running in $PG_DIR"
    else
        start_throwaway
    fi
    print_exports "postgresql+psycopg://postgres@127.0.0.1:$(throwaway_port)/test" "$PG_DIR"
}

status() {
    if [[ -n "${WATCHDOG_TEST_PG_URL:-}" && "${WATCHDOG_FORCE_THROWAWAY_PG:-}" != 1 ]]; then
        echo "WATCHDOG_TEST_PG_URL from the environment ($WATCHDOG_TEST_PG_URL)"
    elif local_service_usable; then
        echo "local service on 127.0.0.1:5432, database test"
    elif throwaway_running; then
        echo "throwaway cluster running in $PG_DIR on port $(throwaway_port)"
    elif bindir=$(pg_bindir); then
        echo "none running; tests start a throwaway cluster" \
            "($("$bindir/postgres" --version | awk '{print $3}'), $bindir)"
    else
        echo "not installed; scripts/ensure-postgres.sh will install Debian's postgresql"
    fi
}

case "${1:-}" in
"") ensure ;;
--stop) stop_throwaway ;;
--status) status ;;
--packages) need_packages ;;
*)
    echo "usage: $0 [--stop | --status | --packages]" >&2
    exit 2
    ;;
esac
