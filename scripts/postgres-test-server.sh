#!/usr/bin/env bash
# A private, throwaway PostgreSQL server for the test suite and the benchmarks.
#
# The PostgreSQL store's tests and benchmarks need a real server, but they must not depend on (or
# touch) whatever cluster the machine happens to run: `make test` has to work the same on a fresh
# CI machine and on a developer's box. So this script creates a new cluster in a temporary
# directory, starts it on a free port of 127.0.0.1 (its unix socket in that directory too, never
# /var/run/postgresql), runs a command against it and then stops it and deletes everything.
# Durability stays real (fsync=on): the benchmarks measure commits as they would cost in production.
#
#   postgres-test-server.sh run -- CMD [ARGS...]
#       Runs CMD with EVENTSOURCING_POSTGRES_URL=postgres://postgres@127.0.0.1:PORT/eventsourcing_test
#       and EVENTSOURCING_POSTGRES_CONTROL="bash <this script> --data DIR" (append `stop` or `start`
#       to stop or restart the server, e.g. to test reconnection), then always stops the server and
#       removes DIR, also on Ctrl-C; exits with CMD's status.
#       If EVENTSOURCING_POSTGRES_URL is already set, CMD simply runs against that server instead.
#       Installs Debian's `postgresql` package when no server binaries are found.
#   postgres-test-server.sh --data DIR stop     stops the server of DIR at once (immediate mode)
#   postgres-test-server.sh --data DIR start    starts it again and waits until it accepts connections
#
# PostgreSQL refuses to run as root; as root the cluster belongs to, and runs as, the `postgres` user.
set -euo pipefail

script="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)/$(basename -- "${BASH_SOURCE[0]}")"
database=eventsourcing_test
superuser=postgres # the cluster's superuser (initdb -U), and the OS user the server runs as when root

log() { echo "postgres-test-server: $*" >&2; }
die() {
    log "$*"
    exit 1
}
usage() {
    echo "usage: $0 run -- CMD [ARGS...]" >&2
    echo "       $0 --data DIR stop|start" >&2
    exit 2
}

is_root() { [ "$(id -u)" = 0 ]; }

# Runs a command as the user the cluster belongs to: `postgres` when we are root, else ourselves.
as_owner() {
    if is_root; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Prints the directory of the newest installed PostgreSQL server binaries, or nothing.
find_bindir() {
    local pg_ctl
    pg_ctl=$(printf '%s\n' /usr/lib/postgresql/*/bin/pg_ctl | grep -v '\*' | sort -V | tail -n 1 || true)
    if [ -z "$pg_ctl" ] && command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
        pg_ctl=$(command -v pg_ctl) # not Debian's layout (e.g. Homebrew): use the one on PATH
    fi
    [ -n "$pg_ctl" ] && dirname -- "$pg_ctl"
    return 0
}

# Installs Debian's `postgresql` package. Its post-install script creates (and may start) a default
# cluster `main` on port 5432; that one is stopped and set to manual start: ours does not use it.
install_postgres() {
    command -v apt-get >/dev/null 2>&1 ||
        die "no PostgreSQL server found (looked for /usr/lib/postgresql/*/bin/pg_ctl and pg_ctl on PATH), and no apt-get to install one; install PostgreSQL or set EVENTSOURCING_POSTGRES_URL"
    local sudo=()
    if ! is_root; then
        command -v sudo >/dev/null 2>&1 || die "PostgreSQL is not installed, and installing it needs root or sudo"
        sudo=(sudo)
    fi
    log "installing Debian's postgresql package"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq postgresql >&2
    local conf version
    for conf in /etc/postgresql/*/main; do
        [ -d "$conf" ] || continue
        version=$(basename -- "$(dirname -- "$conf")")
        "${sudo[@]}" pg_ctlcluster "$version" main stop >/dev/null 2>&1 || true
        echo manual | "${sudo[@]}" tee "$conf/start.conf" >/dev/null || true
    done
}

# Prints a TCP port of 127.0.0.1 that is free right now.
free_port() {
    if command -v python3 >/dev/null 2>&1 &&
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null; then
        return 0
    fi
    local port
    for _ in $(seq 1 100); do # without python3: a random port nobody listens on
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    die "found no free TCP port"
}

# Writes the server's settings for PORT into DIR/data/eventsourcing-test.conf (postgresql.conf
# includes it), so that a plain `pg_ctl start` (the `start` subcommand) needs no options.
write_settings() {
    local dir=$1 port=$2
    cat >"$dir/data/eventsourcing-test.conf" <<EOF
# Written by $script
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 800
shared_buffers = 128MB
fsync = on
EOF
    # After an immediate stop, the server fsyncs every file of the cluster one by one before it
    # recovers (seconds here); syncfs (Linux, PostgreSQL 14+) syncs the file system in one call,
    # just as durable, so a test that restarts the server stays fast.
    local major
    major=$("$(cat "$dir/bindir")/postgres" -V | awk '{print $3}' | cut -d. -f1)
    if [ "$(uname -s)" = Linux ] && [ "$major" -ge 14 ] 2>/dev/null; then
        echo "recovery_init_sync_method = syncfs" >>"$dir/data/eventsourcing-test.conf"
    fi
}

# Starts the server of DIR and waits until it accepts connections (pg_ctl -w).
start_server() {
    local dir=$1
    as_owner "$(cat "$dir/bindir")/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 120 start >/dev/null
}

stop_server() {
    local dir=$1
    as_owner "$(cat "$dir/bindir")/pg_ctl" -D "$dir/data" -m immediate -w -t 60 stop >/dev/null
}

print_log_tail() {
    local dir=$1
    if [ -f "$dir/server.log" ]; then
        log "last lines of $dir/server.log:"
        tail -n 30 "$dir/server.log" >&2
    fi
}

# The temporary directory of `run`, removed (with its server stopped) when the script exits.
tmpdir=""
cleanup() {
    [ -n "$tmpdir" ] || return 0
    local dir=$tmpdir
    tmpdir=""
    if [ -f "$dir/data/postmaster.pid" ]; then
        if ! stop_server "$dir" 2>/dev/null; then
            # pg_ctl could not stop it: kill the postmaster (its children exit when it is gone).
            local pid
            pid=$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null || true)
            if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
        fi
    fi
    rm -rf -- "$dir"
}

# Creates tmpdir: an empty directory under ${TMPDIR:-/tmp} that the cluster's owner can write to,
# with a path short enough for the server's unix socket (about 100 bytes at most).
make_tmpdir() {
    local base
    for base in "${TMPDIR:-/tmp}" /tmp; do
        tmpdir=$(mktemp -d "${base%/}/eventsourcing-postgres.XXXXXXXX") || continue
        if is_root; then chown postgres: "$tmpdir"; fi
        if [ ${#tmpdir} -le 80 ] && as_owner test -w "$tmpdir"; then
            return 0
        fi
        rm -rf -- "$tmpdir"
        tmpdir=""
    done
    die "could not create a temporary directory for the cluster"
}

run() {
    [ $# -gt 0 ] || usage

    if [ -n "${EVENTSOURCING_POSTGRES_URL:-}" ]; then
        log "EVENTSOURCING_POSTGRES_URL is set: using that server, not starting one"
        exec "$@"
    fi

    local bindir
    bindir=$(find_bindir)
    if [ -z "$bindir" ]; then
        install_postgres
        bindir=$(find_bindir)
        [ -n "$bindir" ] || die "installed postgresql, but found no pg_ctl under /usr/lib/postgresql"
    fi

    if is_root && ! id postgres >/dev/null 2>&1; then
        useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres ||
            die "PostgreSQL cannot run as root and there is no 'postgres' user; creating it failed"
    fi

    trap cleanup EXIT
    trap 'exit 129' HUP
    trap 'exit 130' INT
    trap 'exit 143' TERM

    make_tmpdir
    local dir=$tmpdir
    echo "$bindir" >"$dir/bindir"

    if ! as_owner "$bindir/initdb" -D "$dir/data" -A trust -U "$superuser" -E UTF8 --no-locale --no-sync \
        >"$dir/initdb.log" 2>&1; then
        cat "$dir/initdb.log" >&2
        die "initdb failed"
    fi
    echo "include 'eventsourcing-test.conf'" >>"$dir/data/postgresql.conf"

    # The port is free when chosen but may be taken before the server binds it (another instance
    # of this script, say): then try another one.
    local port attempt
    for attempt in 1 2 3 4 5; do
        port=$(free_port)
        write_settings "$dir" "$port"
        rm -f "$dir/server.log" "$dir/pg_ctl.log" # so that only this attempt's messages are read
        if start_server "$dir" 2>>"$dir/pg_ctl.log"; then
            break
        fi
        if [ "$attempt" -lt 5 ] && grep -q "could not bind\|could not create any TCP/IP sockets" "$dir/server.log" 2>/dev/null; then
            log "port $port was taken; trying another"
            continue
        fi
        cat "$dir/pg_ctl.log" >&2 2>/dev/null || true
        print_log_tail "$dir"
        die "the server did not start"
    done

    if ! "$bindir/createdb" -h 127.0.0.1 -p "$port" -U "$superuser" "$database"; then
        print_log_tail "$dir"
        die "could not create database $database"
    fi

    export EVENTSOURCING_POSTGRES_URL="postgres://$superuser@127.0.0.1:$port/$database"
    export EVENTSOURCING_POSTGRES_CONTROL="bash $script --data $dir"
    log "PostgreSQL $("$bindir/postgres" -V | awk '{print $3}') at $EVENTSOURCING_POSTGRES_URL (data in $dir)"

    local status=0
    "$@" || status=$?
    exit "$status"
}

# `--data DIR stop|start`: what EVENTSOURCING_POSTGRES_CONTROL runs.
control() {
    local dir=$1 action=$2
    if [ ! -d "$dir/data" ] || [ ! -f "$dir/bindir" ]; then
        die "$dir is not a cluster made by this script"
    fi
    dir=$(cd -- "$dir" && pwd)
    case "$action" in
    stop) stop_server "$dir" || die "could not stop the server of $dir" ;;
    start)
        if ! start_server "$dir"; then
            print_log_tail "$dir"
            die "could not start the server of $dir"
        fi
        ;;
    *) usage ;;
    esac
}

case "${1:-}" in
run)
    shift
    [ "${1:-}" = "--" ] && shift
    run "$@"
    ;;
--data)
    [ $# -eq 3 ] || usage
    control "$2" "$3"
    ;;
*) usage ;;
esac
