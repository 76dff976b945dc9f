#!/usr/bin/env bash
# A private PostgreSQL for the tests: its own data directory in /tmp, loopback only, on a
# free port, no system service involved. Usage:
#   scripts/pg.sh start        starts one; prints its directory (the handle for url/stop)
#   scripts/pg.sh url [DIR]    prints its URL, postgres://pitwall@127.0.0.1:PORT/pitwall
#   scripts/pg.sh stop [DIR]   stops exactly that instance (by its PID) and removes DIR
# DIR defaults to $PITWALL_PG_DIR. Installs Debian's postgresql if initdb is missing.
# PITWALL_PG_DURABLE=1: fsync and synchronous commits on (benchmarks); off by default (tests).
# As root, the server runs as `nobody` (initdb and postgres refuse root).
set -euo pipefail

find_bin() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [[ -x $d/initdb && -x $d/postgres ]] && { echo "$d"; return 0; }
  done
  return 1
}

dir_arg() {
  local dir=${1:-${PITWALL_PG_DIR:-}}
  [[ -n $dir && -f $dir/url ]] || { echo "pg.sh: no instance at '${dir}'" >&2; exit 2; }
  echo "$dir"
}

start() {
  local bin
  if ! bin=$(find_bin); then
    echo "pg.sh: installing postgresql (Debian)" >&2
    local sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
      postgresql >/dev/null
    bin=$(find_bin) || { echo "pg.sh: no initdb after installing postgresql" >&2; exit 1; }
  fi

  local dir as=()
  dir=$(mktemp -d /tmp/pitwall-pg.XXXXXX)
  chmod 0755 "$dir"
  mkdir -m 0700 "$dir/data"
  if [[ $(id -u) -eq 0 ]]; then
    chown nobody: "$dir/data"
    as=(runuser -u nobody --)
  fi

  if ! "${as[@]}" "$bin/initdb" -D "$dir/data" -U pitwall --auth=trust -E UTF8 \
      --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2
    rm -rf "$dir"
    exit 1
  fi

  # a free loopback port (the kernel picks one; the server retries if it was taken since)
  local port tries
  for tries in 1 2 3 4 5; do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    # setsid: its own process group, so a Ctrl-C of the caller does not skip `stop`
    # tests trade durability for speed; PITWALL_PG_DURABLE=1 (benchmarks) keeps the defaults
    local speed=(-F -c fsync=off -c synchronous_commit=off -c full_page_writes=off)
    [[ ${PITWALL_PG_DURABLE:-0} == 1 ]] && speed=()
    setsid "${as[@]}" "$bin/postgres" -D "$dir/data" -k "$dir/data" -h 127.0.0.1 -p "$port" \
      "${speed[@]}" -c max_connections=300 >"$dir/postgres.log" 2>&1 </dev/null &
    local launcher=$! i
    for i in $(seq 100); do
      if "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U pitwall -d postgres; then
        "$bin/psql" -q -X -h 127.0.0.1 -p "$port" -U pitwall -d postgres \
          -c 'CREATE DATABASE pitwall' >/dev/null
        echo "postgres://pitwall@127.0.0.1:$port/pitwall" >"$dir/url"
        echo "$dir"
        return 0
      fi
      kill -0 "$launcher" 2>/dev/null || break # it exited (port taken since, or worse)
      sleep 0.1
    done
    stop_pid "$dir"
  done
  cat "$dir/postgres.log" >&2
  rm -rf "$dir"
  echo "pg.sh: PostgreSQL did not start" >&2
  exit 1
}

# Stops the server whose data directory is $1/data: the PID its postmaster.pid names, and
# only if that process really runs on that directory.
stop_pid() {
  local dir=$1 pid
  [[ -f $dir/data/postmaster.pid ]] || return 0
  pid=$(head -n 1 "$dir/data/postmaster.pid")
  [[ $pid =~ ^[0-9]+$ ]] || return 0
  if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$dir/data"; then
    kill -INT "$pid" 2>/dev/null || true # fast shutdown
    local i
    for i in $(seq 300); do
      kill -0 "$pid" 2>/dev/null || return 0
      sleep 0.1
    done
    kill -QUIT "$pid" 2>/dev/null || true
  fi
}

case "${1:-}" in
  start) start ;;
  url) cat "$(dir_arg "${2:-}")/url" ;;
  stop)
    dir=$(dir_arg "${2:-}")
    stop_pid "$dir"
    rm -rf "$dir"
    ;;
  *) echo "usage: scripts/pg.sh start | url [DIR] | stop [DIR]" >&2; exit 2 ;;
esac
