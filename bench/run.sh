#!/usr/bin/env bash
# pitwall benchmarks, end to end (what `make bench` runs). See BENCHMARKS.md.
#
#  1. directory: wrk on GET /api/mechanics/available (10,000 mechanics), cached and uncached,
#     side by side with nginx serving the same body as a static file;
#  2. fan-out: 10,000 presence-stream subscribers, one presence change, time until each has
#     the event, side by side with nginx + nchan (one channel, one publish);
#  3. memory per idle subscriber (server VmRSS before/after the subscribers are held);
#  4. 19,000 subscribers on one process: held, none dropped, fan-out time.
#
# Starts pitwall and a private nginx (own config, own prefix, never the system service) on free
# loopback ports, stops them by PID at the end. Traffic goes to 127.0.0.1 only.
# Knobs (environment): BENCH_REPEAT (3), BENCH_DURATION (10, seconds per wrk run),
# BENCH_SUBS (10000), BENCH_BIG (19000), BENCH_HOLD (10, seconds the 19k subscribers are held
# after the event), PITWALL_BIN (build/pitwall), BENCH_NGINX_WORKERS (1), BENCH_DB (sqlite, or
# postgres: a private PostgreSQL from scripts/pg.sh, a fresh database for each pitwall start).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
REPEAT=${BENCH_REPEAT:-3}
DURATION=${BENCH_DURATION:-10}
SUBS=${BENCH_SUBS:-10000}
BIG=${BENCH_BIG:-19000}
HOLD=${BENCH_HOLD:-10}
PITWALL_BIN=${PITWALL_BIN:-build/pitwall}
NGINX_WORKERS=${BENCH_NGINX_WORKERS:-1}
NCHAN_MODULE=${NCHAN_MODULE:-/usr/lib/nginx/modules/ngx_nchan_module.so}
DIR_QUERY='/api/mechanics/available?is_specialist=true&vehicle_make=Tesla&city=Toronto&limit=10'

for tool in wrk nginx curl cc; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool is missing (scripts/deps.sh bench)" >&2; exit 1; }
done
[[ -x $PITWALL_BIN ]] || { echo "run.sh: $PITWALL_BIN is missing (make build)" >&2; exit 1; }
[[ -f $NCHAN_MODULE ]] || { echo "run.sh: $NCHAN_MODULE is missing (libnginx-mod-nchan)" >&2; exit 1; }

mkdir -p bench/bin bench/results
cc -O2 -Wall -Wextra -o bench/bin/sse_fanout bench/sse_fanout.c
FANOUT=bench/bin/sse_fanout

TMP=$(mktemp -d /tmp/pitwall-bench.XXXXXX)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=bench/results/$STAMP
mkdir -p "$OUT"
LOG=$OUT/log.txt
SUMMARY=$OUT/summary.txt
: >"$SUMMARY"
PW_PID=""
NG_PID=""

log() { printf '%s\n' "$*" | tee -a "$LOG" >&2; }
summary() { printf '%s\n' "$*" | tee -a "$SUMMARY" >>"$LOG"; }

stop_pid() { # stop one process we started: TERM, then KILL after 10 s
  local pid=$1
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
PG_DIR=""
cleanup() {
  stop_pid "$PW_PID"
  stop_pid "$NG_PID" # nginx master: TERM = fast shutdown, it stops its worker
  [[ -n $PG_DIR ]] && scripts/pg.sh stop "$PG_DIR"
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() { # a free loopback port, not $1
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 20000))
    [[ $p != "${1:-}" ]] && port_free "$p" && { echo "$p"; return; }
  done
  echo "run.sh: no free port" >&2; exit 1
}
fd_count() { local n=0; n=$(ls "/proc/$1/fd" 2>/dev/null | wc -l); echo "$n"; }
wait_fds_below() { # pitwall frees closed streams at its next keep-alive write: wait (bounded)
  local pid=$1 limit=$2
  for _ in $(seq 60); do
    [[ $(fd_count "$pid") -lt $limit ]] && return 0
    sleep 1
  done
  log "warning: pid $pid still has $(fd_count "$pid") fds"
}

PW_PORT=$(free_port)
NG_PORT=$(free_port "$PW_PORT")
log "results in $OUT; pitwall on 127.0.0.1:$PW_PORT, nginx on 127.0.0.1:$NG_PORT; temp $TMP"
log "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), fd hard limit $(ulimit -Hn), kernel $(uname -r)"
log "versions: $("$PITWALL_BIN" --version 2>&1 | head -1); $(nginx -v 2>&1); $(dpkg-query -W -f='libmicrohttpd ${Version}' libmicrohttpd12 2>/dev/null || true); $(dpkg-query -W -f='nchan ${Version}' libnginx-mod-nchan 2>/dev/null || true)"

# ---- pitwall: 10,000 generated mechanics. --max-connections 19500: the default (19000)
# would leave no room for the trigger request next to 19,000 subscribers. --presence-timeout
# 3600: John must not time out (an extra event) between the repeated runs. Every client is
# on 127.0.0.1: the per-address shares are off (0), as a site behind nginx's limit_conn would
# leave them to nginx.
DB_URL="sqlite:$TMP/pitwall.db"
if [[ ${BENCH_DB:-sqlite} == postgres ]]; then
  PG_DIR=$(PITWALL_PG_DURABLE=1 scripts/pg.sh start | tail -1)
  PG_ADMIN=$(scripts/pg.sh url "$PG_DIR")
  DB_URL=${PG_ADMIN%/*}/bench
  log "postgres: $PG_ADMIN ($(psql -X -At "$PG_ADMIN" -c 'SHOW server_version'))"
fi
PW_CMD=("$PITWALL_BIN" serve --demo --demo-mechanics 10000 --log-level warn --db "$DB_URL"
        --listen "127.0.0.1:$PW_PORT" --max-connections 19500 --presence-timeout 3600
        --max-connections-per-address 0 --max-streams-per-address 0)
start_pitwall() {
  rm -f "$TMP"/pitwall.db*
  if [[ -n ${PG_DIR:-} ]]; then
    psql -X -q -At "$PG_ADMIN" -c 'DROP DATABASE IF EXISTS bench WITH (FORCE)' -c 'CREATE DATABASE bench'
  fi
  log "pitwall: ${PW_CMD[*]}"
  "${PW_CMD[@]}" >>"$OUT/pitwall.log" 2>&1 &
  PW_PID=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PW_PORT/readyz" >/dev/null && break; sleep 0.2; done
  curl -sf "http://127.0.0.1:$PW_PORT/readyz" >/dev/null || { log "pitwall did not start"; exit 1; }
}
start_pitwall

# ---- nginx: private config; the static directory body and nchan on one server
mkdir -p "$TMP/nginx/www" "$TMP/nginx/tmp" "$TMP/nginx/logs"
curl -sf -o "$TMP/nginx/www/available.json" "http://127.0.0.1:$PW_PORT$DIR_QUERY"
# nginx started as root runs its workers as an unprivileged user: let them read the body
chmod 711 "$TMP"
chmod 755 "$TMP/nginx" "$TMP/nginx/www"
chmod 644 "$TMP/nginx/www/available.json"
cat >"$TMP/nginx/nginx.conf" <<EOF
load_module $NCHAN_MODULE;
daemon off;
master_process on;
worker_processes $NGINX_WORKERS;
worker_rlimit_nofile 20000;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 19900; use epoll; multi_accept on; }
http {
  access_log off;
  client_body_temp_path $TMP/nginx/tmp/body;
  proxy_temp_path $TMP/nginx/tmp/proxy;
  fastcgi_temp_path $TMP/nginx/tmp/fastcgi;
  uwsgi_temp_path $TMP/nginx/tmp/uwsgi;
  scgi_temp_path $TMP/nginx/tmp/scgi;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 1000000;
  open_file_cache max=64 inactive=60s;
  open_file_cache_valid 60s;
  nchan_shared_memory_size 256M;
  server {
    listen 127.0.0.1:$NG_PORT backlog=4096;
    location = /api/mechanics/available {
      default_type application/json;
      add_header Cache-Control no-store;
      alias $TMP/nginx/www/available.json;
    }
    location = /sub {
      nchan_subscriber eventsource;
      nchan_channel_id \$arg_id;
      nchan_eventsource_event presence;
      nchan_subscriber_first_message newest;
    }
    location = /pub {
      nchan_publisher;
      nchan_channel_id \$arg_id;
    }
  }
}
EOF
cp "$TMP/nginx/nginx.conf" "$OUT/nginx.conf"
nginx -c "$TMP/nginx/nginx.conf" -p "$TMP/nginx" >"$OUT/nginx.log" 2>&1 &
NG_PID=$!
for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$NG_PORT$DIR_QUERY" && break; sleep 0.2; done
NG_WORKERS=$( (pgrep -P "$NG_PID" || true) | tr "\n" " ")
[[ -n $NG_WORKERS ]] || { log "nginx did not start"; exit 1; }
curl -sf "http://127.0.0.1:$NG_PORT$DIR_QUERY" | cmp -s - "$TMP/nginx/www/available.json" &&
  curl -sf "http://127.0.0.1:$PW_PORT$DIR_QUERY" | cmp -s - "$TMP/nginx/www/available.json" ||
  { log "the two servers do not answer the same body"; exit 1; }
log "directory body: $(wc -c <"$TMP/nginx/www/available.json") bytes, identical from both servers"

# ---------------------------------------------------------------- 1. directory
wrk_run() { # label url [script]: runs wrk, prints "label rps p50 p99 errors"
  local label=$1 url=$2 script=${3:-} out
  local cmd=(wrk -t2 -c64 "-d${DURATION}s" --latency)
  [[ -n $script ]] && cmd+=(-s "$script")
  cmd+=("$url")
  log "\$ ${cmd[*]}"
  out=$("${cmd[@]}" 2>&1)
  printf '%s\n' "$out" >>"$LOG"
  local rps p50 p99 non2xx errs
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  non2xx=$(awk -F': *' '/Non-2xx/ {print $2}' <<<"$out")
  errs=$(grep -o 'Socket errors:.*' <<<"$out" || true)
  summary "$(printf '%-22s %10s req/s  p50 %-8s p99 %-8s %s %s' "$label" "$rps" "$p50" "$p99" \
    "${non2xx:+non-2xx $non2xx}" "$errs")"
}

summary "== 1. directory: GET $DIR_QUERY, 10,000 mechanics, wrk -t2 -c64 -d${DURATION}s"
for r in $(seq "$REPEAT"); do
  wrk_run "run $r nginx (static)" "http://127.0.0.1:$NG_PORT$DIR_QUERY"
  wrk_run "run $r pitwall cached" "http://127.0.0.1:$PW_PORT$DIR_QUERY"
  wrk_run "run $r pitwall uncached" "http://127.0.0.1:$PW_PORT" bench/uncached.lua
done

# ---------------------------------------------------------------- 2-4. streams
# a fresh pitwall process, so that run 1's memory per subscriber is not flattered by heap
# that the directory load left free (runs 2 and 3 reuse what run 1 freed: see BENCHMARKS.md)
stop_pid "$PW_PID"
start_pitwall
curl -sf -c "$TMP/john.jar" -H 'Content-Type: application/json' \
  -d '{"email":"john.smith@demo.test","password":"pitwall-demo"}' \
  "http://127.0.0.1:$PW_PORT/api/auth/login" >"$TMP/john.json"
CSRF=$(grep -o '"csrf_token":"[^"]*"' "$TMP/john.json" | head -1 | cut -d'"' -f4)
MID=$(grep -o '"mechanic_id":"[^"]*"' "$TMP/john.json" | head -1 | cut -d'"' -f4)
COOKIE=$(awk -F'\t' 'NF >= 7 && ($1 !~ /^#/ || $1 ~ /^#HttpOnly_/) {printf "%s%s=%s", (n++ ? "; " : ""), $6, $7}' "$TMP/john.jar")
[[ -n $CSRF && -n $MID && -n $COOKIE ]] || { log "login as john failed"; exit 1; }
JOHN_STATE=offline # demo mechanics start offline; every pitwall run flips John

pitwall_trigger() { # writes the raw POST that flips John's presence
  [[ $JOHN_STATE == online ]] && JOHN_STATE=offline || JOHN_STATE=online
  local body="{\"status\":\"$JOHN_STATE\"}"
  printf 'POST /api/mechanic/presence HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nCookie: %s\r\nX-CSRF-Token: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
    "$PW_PORT" "$COOKIE" "$CSRF" "${#body}" "$body" >"$TMP/trigger-pitwall"
}
nchan_trigger() { # channel: writes the raw publish of a presence-like message
  local body="{\"id\":\"$MID\",\"presence\":\"online\",\"is_available\":true,\"last_seen_at\":\"2026-01-01T00:00:00Z\",\"reason\":\"manual\"}"
  printf 'POST /pub?id=%s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
    "$1" "$NG_PORT" "${#body}" "$body" >"$TMP/trigger-nchan"
}
PW_BASE_FDS=$(fd_count "$PW_PID")

fanout() { # server n label [extra args]
  local server=$1 n=$2 label=$3; shift 3
  local cmd rc=0 line
  if [[ $server == pitwall ]]; then
    wait_fds_below "$PW_PID" $((PW_BASE_FDS + 50))
    pitwall_trigger
    cmd=("$FANOUT" --port "$PW_PORT" --path "/api/presence/stream?ids=$MID" -n "$n"
         --ready 'event: snapshot' --event 'event: presence' --trigger "$TMP/trigger-pitwall"
         --rss-pid "$PW_PID" --label "$label" "$@")
  else
    local ch="bench-$label"
    nchan_trigger "$ch"
    # shellcheck disable=SC2086
    cmd=("$FANOUT" --port "$NG_PORT" --path "/sub?id=$ch" -n "$n" --ready ': hi'
         --event 'event: presence' --trigger "$TMP/trigger-nchan" $(printf -- '--rss-pid %s ' $NG_WORKERS)
         --label "$label" "$@")
  fi
  log "\$ ${cmd[*]}"
  line=$("${cmd[@]}" 2>>"$LOG") || rc=$?
  log "$line (exit $rc)"
  summary "$line"
}

summary "== 2+3. fan-out of one event to $SUBS subscribers (and server memory per held subscriber)"
for r in $(seq "$REPEAT"); do
  fanout pitwall "$SUBS" "pitwall-${SUBS}-run$r"
  fanout nchan "$SUBS" "nchan-${SUBS}-run$r"
done

summary "== 4. $BIG subscribers on one process, held ${HOLD}s after the event"
for r in $(seq "$REPEAT"); do
  fanout pitwall "$BIG" "pitwall-${BIG}-run$r" --hold "$HOLD"
  fanout nchan "$BIG" "nchan-${BIG}-run$r" --hold "$HOLD"
done

summary "== pitwall still up after all of it: $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PW_PORT/readyz") from /readyz, VmRSS $(awk '/VmRSS/ {print $2 " " $3}' "/proc/$PW_PID/status")"
echo
echo "==================== summary ($OUT/summary.txt) ===================="
cat "$SUMMARY"
