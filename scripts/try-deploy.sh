#!/usr/bin/env bash
# Tries docs/deploy.md on this machine, on loopback only: a private PostgreSQL, three pitwall
# nodes on it, and a private nginx (Debian's package, its own prefix, pid file and ports; no
# system service is used or touched) running packaging/nginx/pitwall.conf itself, with TLS
# from a throw-away certificate. Then, through nginx (scripts/try-deploy.mjs):
#   (0) three nodes started at the same moment on an empty database apply each migration once
#   (a) /readyz answers and requests spread over the nodes; a stream works over HTTP/2
#   (d) login works (Origin = --public-url, Secure cookies)
#   (b) a presence stream stays open TRY_HOLD_SECONDS (default 75, more than nginx's default
#       60 s proxy_read_timeout) and receives John's presence changes; a dashboard stream
#       closed by the browser is closed on its node too
#   (c) the node serving the stream is killed (SIGKILL): the client reconnects through nginx
#       with Last-Event-ID and gets every change made meanwhile; the node, restarted, rejoins
#   (e) the same with a drain (SIGTERM), as for an upgrade
#   (g) nginx reload: streams on the old workers end after worker_shutdown_timeout (30 s)
#       and resume with Last-Event-ID
#   (f) login throttling: nginx limits one client; many clients failing do not lock anyone
#       else out (pitwall reads the client from X-Forwarded-For; TRY_THROTTLE=0 skips it)
# Prints PASS / FAIL / NOTE lines; exits 0 when nothing failed.
#
# Usage: scripts/try-deploy.sh [BUILD_DIR]     (default build-deploy; built if missing)
# Knobs: TRY_HOLD_SECONDS (75), TRY_THROTTLE (1), TRY_BURST (16 requests at once when a node
# is stopped), TRY_KEEP=1 keeps the temporary folder.
# Every process it starts is recorded in the temporary folder and stopped by its PID on
# exit, also on failure, Ctrl-C or the overall time limit (TRY_HOLD_SECONDS + 360 s).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

BUILD=${1:-build-deploy}
HOLD=${TRY_HOLD_SECONDS:-75}
LIMIT=$((HOLD + 360))
KEEPALIVE=15 # pitwall's default --keepalive; the nodes run with it
SHUTDOWN_TIMEOUT=30 # nginx's worker_shutdown_timeout, as docs/deploy.md sets it

fails=0
pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

[[ $HOLD =~ ^[0-9]+$ ]] || { echo "TRY_HOLD_SECONDS must be a number of seconds" >&2; exit 2; }

if [[ ! -x $BUILD/pitwall ]]; then
  echo ".... building $BUILD"
  if ! { [[ -d $BUILD ]] || meson setup "$BUILD" >/dev/null; } || ! ninja -C "$BUILD" >/dev/null; then
    echo "FAIL build (try: bash scripts/deps.sh build)"
    exit 1
  fi
fi
if ! command -v nginx >/dev/null; then
  # Debian's package; if it starts its own service, that service is neither used nor touched
  echo ".... installing nginx (Debian)"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get update -qq ||
    ! { apt-get install -y -qq nginx-light >/dev/null 2>&1 || apt-get install -y -qq nginx >/dev/null; }; then
    echo "FAIL install nginx"
    exit 1
  fi
fi
for tool in openssl psql node python3; do
  command -v "$tool" >/dev/null || { echo "FAIL $tool is missing"; exit 1; }
done

TMP=$(mktemp -d /tmp/pitwall-try.XXXXXX)
chmod 0755 "$TMP"
PIDS=$TMP/pids # every process started here, one PID a line
: >"$PIDS"
pg_dir=""

# Stops one recorded process: only if it still runs something of this trial (the binary or
# this folder on its command line), so a reused PID is never hit.
stop_pid() {
  local pid=$1 sig=$2 cmd
  cmd=$({ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null) || return 0
  [[ $cmd == *"$TMP"* || $cmd == *"$BUILD/pitwall"* ]] || return 0
  kill "-$sig" "$pid" 2>/dev/null || true
}

cleanup() {
  trap - EXIT INT TERM
  [[ -n ${watchdog:-} ]] && kill "$watchdog" 2>/dev/null
  local pid left
  while read -r pid; do [[ -n $pid ]] && stop_pid "$pid" TERM; done <"$PIDS"
  for _ in $(seq 50); do
    left=0
    while read -r pid; do [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && left=1; done <"$PIDS"
    ((left)) || break
    sleep 0.1
  done
  while read -r pid; do [[ -n $pid ]] && stop_pid "$pid" KILL; done <"$PIDS"
  [[ -n $pg_dir ]] && scripts/pg.sh stop "$pg_dir"
  if [[ ${TRY_KEEP:-0} == 1 ]]; then echo ".... kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'echo "FAIL interrupted"; exit 130' INT TERM
# the overall time limit: this shell gets TERM, which runs the cleanup (the checks in node
# have a shorter limit of their own, so this shell is never stuck waiting for them)
(
  sleep "$LIMIT" &
  nap=$!
  trap 'kill $nap 2>/dev/null; exit 0' TERM
  wait $nap && echo "FAIL the trial took more than $LIMIT s" && kill -TERM $$
) 2>/dev/null &
watchdog=$!

# n distinct free loopback ports (held together while chosen, so they differ)
free_ports() {
  python3 -c '
import socket, sys
ss = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))' "$1"
}

# Starts a node in the background; records its PID; prints the PID.
start_node() {
  local name=$1 port=$2 db=$3
  shift 3
  PGAPPNAME=pitwall-$name "$BUILD/pitwall" serve --listen "127.0.0.1:$port" --db "$db" --public-url "$PUBLIC_URL" \
    --trusted-proxies 127.0.0.1 --web-root web --log-level info "$@" >>"$TMP/$name.log" 2>&1 </dev/null &
  echo $! >>"$PIDS"
  echo $!
}

wait_ready() { # PORT: /readyz of that node answers 200 within 20 s
  for _ in $(seq 200); do
    curl -fs -m 1 -o /dev/null "http://127.0.0.1:$1/readyz" && return 0
    sleep 0.1
  done
  return 1
}

read -r P1 P2 P3 HTTPS_PORT HTTP_PORT P4 P5 P6 <<<"$(free_ports 8)"
PUBLIC_URL="https://127.0.0.1:$HTTPS_PORT" # the address users use: nginx's

# ---- PostgreSQL ----
if ! pg_dir=$(scripts/pg.sh start); then
  pg_dir=""
  echo "FAIL start PostgreSQL"
  exit 1
fi
PG_URL=$(scripts/pg.sh url "$pg_dir")
echo ".... PostgreSQL at $PG_URL"

# ---- (0) three nodes at once on an empty database: each migration applied once ----
psql "$PG_URL" -qX -c 'CREATE DATABASE pitwall_race' >/dev/null
RACE_URL=${PG_URL%/pitwall}/pitwall_race
race_pids=()
for port in $P4 $P5 $P6; do race_pids+=("$(start_node "race-$port" "$port" "$RACE_URL")"); done
ready=0
for port in $P4 $P5 $P6; do wait_ready "$port" && ready=$((ready + 1)); done
version=$(psql "$RACE_URL" -AtX -c 'SELECT version FROM schema_version')
applied=$(cat "$TMP"/race-*.log | grep -c '"applied postgres migration')
by_node=$(for port in $P4 $P5 $P6; do
  printf '%s ' "$(grep -o '"applied postgres migration [0-9]*' "$TMP/race-$port.log" |
    grep -o '[0-9]*$' | tr '\n' ',' | sed 's/,$//')"
done)
if ((ready == 3)) && [[ $applied == "$version" ]]; then
  pass "(0) three nodes started at once on an empty database: all ready, schema version $version," \
    "each migration applied once (by node: ${by_node% })"
else
  fail "(0) three nodes at once: $ready ready, version '$version', $applied migrations applied (${by_node% })"
fi
for pid in "${race_pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done

# ---- the three nodes ----
# node 1 loads the demo data into the empty database and must be ready before the others
# start: a node that loaded its directory before the demo was written does not see the demo
# mechanics until it restarts (see docs/deploy.md, "Demo data").
N1=$(start_node node1 "$P1" "$PG_URL" --demo)
wait_ready "$P1" || { fail "node 1 (--demo) ready"; tail -5 "$TMP/node1.log"; exit 1; }
N2=$(start_node node2 "$P2" "$PG_URL")
N3=$(start_node node3 "$P3" "$PG_URL")
if wait_ready "$P2" && wait_ready "$P3"; then
  pass "three nodes on one PostgreSQL ready: 127.0.0.1:$P1 (--demo), :$P2, :$P3"
else
  fail "nodes 2 and 3 ready"
  tail -5 "$TMP/node2.log" "$TMP/node3.log"
  exit 1
fi

conns=$(psql "$PG_URL" -AtX -c "SELECT application_name || '=' || count(*) FROM pg_stat_activity
  WHERE datname = 'pitwall' AND application_name LIKE 'pitwall-node%'
  GROUP BY application_name ORDER BY application_name" |
  tr '\n' ' ')
if [[ $conns == "pitwall-node1=2 pitwall-node2=2 pitwall-node3=2 " ]]; then
  pass "each node holds two PostgreSQL connections (statements, LISTEN): ${conns% }"
else
  fail "PostgreSQL connections per node: '${conns% }' (expected 2 each)"
fi

# ---- TLS and nginx ----
mkdir -p "$TMP/tls" "$TMP/nginx/logs" "$TMP/nginx/tmp"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=127.0.0.1" \
  -addext "subjectAltName=IP:127.0.0.1" -keyout "$TMP/tls/key.pem" -out "$TMP/tls/cert.pem" \
  >/dev/null 2>&1 || { fail "make a certificate"; exit 1; }
# the workers run as nobody when nginx starts as root: their temporary files are theirs
[[ $(id -u) -eq 0 ]] && chown nobody "$TMP/nginx/tmp"

# packaging/nginx/pitwall.conf with this trial's ports, certificate and log; every line that
# is replaced must be found exactly once, so the file and this trial cannot drift apart
site=$TMP/nginx/pitwall.conf
if ! python3 - packaging/nginx/pitwall.conf "$site" <<EOF; then
import sys
text = open(sys.argv[1]).read()
subs = [
    ("server 127.0.0.1:8081 ", "server 127.0.0.1:$P1 "),
    ("server 127.0.0.1:8082 ", "server 127.0.0.1:$P2 "),
    ("server 127.0.0.1:8083 ", "server 127.0.0.1:$P3 "),
    ("    listen 80;\n", "    listen 127.0.0.1:$HTTP_PORT;\n"),
    ("    listen [::]:80;\n", ""),
    ("    listen 443 ssl http2;\n", "    listen 127.0.0.1:$HTTPS_PORT ssl http2;\n"),
    ("    listen [::]:443 ssl http2;\n", ""),
    ("/etc/letsencrypt/live/mechanics.example.com/fullchain.pem", "$TMP/tls/cert.pem"),
    ("/etc/letsencrypt/live/mechanics.example.com/privkey.pem", "$TMP/tls/key.pem"),
    ("/var/log/nginx/pitwall.access.log", "$TMP/nginx/logs/access.log"),
]
for old, new in subs:
    if text.count(old) != 1:
        sys.exit(f"packaging/nginx/pitwall.conf: expected '{old.strip()}' once, found {text.count(old)}")
    text = text.replace(old, new)
open(sys.argv[2], "w").write(text)
EOF
  fail "packaging/nginx/pitwall.conf no longer matches this trial's substitutions"
  exit 1
fi
# the main context docs/deploy.md asks for in /etc/nginx/nginx.conf, and private paths
cat >"$TMP/nginx/nginx.conf" <<EOF
worker_processes 2;
worker_rlimit_nofile 20000;
worker_shutdown_timeout ${SHUTDOWN_TIMEOUT}s;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log notice;
events { worker_connections 19000; }
http {
    client_body_temp_path $TMP/nginx/tmp/body;
    proxy_temp_path $TMP/nginx/tmp/proxy;
    fastcgi_temp_path $TMP/nginx/tmp/fastcgi;
    uwsgi_temp_path $TMP/nginx/tmp/uwsgi;
    scgi_temp_path $TMP/nginx/tmp/scgi;
    include $site;
}
EOF
NGINX=(nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf")
if "${NGINX[@]}" -t -q 2>"$TMP/nginx/test.log"; then
  pass "nginx -t accepts packaging/nginx/pitwall.conf (ports, certificate and log path substituted)"
else
  fail "nginx -t: $(cat "$TMP/nginx/test.log")"
  exit 1
fi
"${NGINX[@]}" -g 'daemon off;' >>"$TMP/nginx/logs/stderr.log" 2>&1 </dev/null &
NGINX_PID=$!
echo $NGINX_PID >>"$PIDS"
for _ in $(seq 100); do
  curl -fs -m 1 --cacert "$TMP/tls/cert.pem" -o /dev/null "$PUBLIC_URL/healthz" && break
  sleep 0.1
done
echo ".... nginx at $PUBLIC_URL (and http://127.0.0.1:$HTTP_PORT), nodes 127.0.0.1:$P1 :$P2 :$P3"

# ---- the checks through nginx ----
# a node the checks restart gets the same flags without --demo
TRY_BASE=$PUBLIC_URL TRY_CA=$TMP/tls/cert.pem TRY_PG_URL=$PG_URL TRY_TMP=$TMP \
  TRY_BIN=$PWD/$BUILD/pitwall TRY_NODES="node1:$P1:$N1 node2:$P2:$N2 node3:$P3:$N3" TRY_PIDS=$PIDS TRY_NGINX_PID=$NGINX_PID TRY_SHUTDOWN_TIMEOUT=$SHUTDOWN_TIMEOUT TRY_HOLD_SECONDS=$HOLD TRY_KEEPALIVE_SECONDS=$KEEPALIVE \
  TRY_THROTTLE=${TRY_THROTTLE:-1} TRY_BURST=${TRY_BURST:-16} node scripts/try-deploy.mjs
status=$?
((status > 128)) && { echo "FAIL interrupted"; exit 130; }
((status == 0)) || fails=$((fails + 1))

if ((fails)); then
  echo ".... nginx's last requests:"
  tail -n 15 "$TMP/nginx/logs/access.log" 2>/dev/null
  grep -E '\[(warn|error|crit|alert|emerg)\]' "$TMP/nginx/logs/error.log" 2>/dev/null | tail -n 5
  echo "FAIL try-deploy: $fails failed"
  exit 1
fi
echo "PASS try-deploy: nothing failed"
