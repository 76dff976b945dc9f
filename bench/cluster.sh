#!/usr/bin/env bash
# pitwall as a cluster on one machine: several nodes on one PostgreSQL.
#
#  1. fan-out: CLUSTER_SUBS presence subscribers (default 100,000) spread evenly over
#     CLUSTER_NODES nodes (default 6), all on John's channel; ONE presence change made on node 1;
#     the time from that instant until each subscriber has the event, over all subscribers of
#     all nodes (p50, p90, p99, max, how many got it), and the servers' memory per subscriber
#     (sum over the nodes of VmRSS held - VmRSS before, / subscribers held);
#  2. presence changes per second: CLUSTER_FLIP_CONNS_PER_NODE generated mechanics per node,
#     each logged in and flipped online/offline on its own keep-alive connection to its node
#     for CLUSTER_FLIP_SECONDS; changes accepted (200) per second, and what one stream on the
#     last node receives of the changes made on that node (local) and on the others (remote).
#
# A change made on one node reaches another node's subscribers only through the database
# (PostgreSQL NOTIFY/LISTEN). Without that, only node 1's subscribers get the event: the rest
# are reported as missing once CLUSTER_EVENT_TIMEOUT has passed, never waited for longer.
#
# How the subscribers are held: CLUSTER_CLIENT_PROCS processes of bench/sse_fanout (each under
# the descriptor limit; process p holds its share of node (p mod NODES)+1's subscribers), each
# from its own source address 127.0.0.(11+p). Each connects, waits for every snapshot, writes a
# ready file and waits for the trigger instant. Once all are ready (or CLUSTER_CONNECT_TIMEOUT
# has passed) the script reads the nodes' VmRSS, and `sse_fanout --trigger-only` sends the
# change to node 1 and writes its CLOCK_MONOTONIC send time (one clock for the whole machine)
# to a file that every holder reads: every arrival is measured against that one instant. Each
# holder writes its arrival times (ms after the instant) and the script merges them.
#
# Starts PostgreSQL (scripts/pg.sh) and the nodes on free loopback ports, stops all it started
# by PID at the end. Traffic goes to 127.0.0.0/8 only. As root (and CLUSTER_SYSCTL=1) it sets a
# few kernel settings for the run (listed in the log, reasons below) and puts them back at the end.
# bench/README.md says how to read the summary.
# Knobs (environment): CLUSTER_NODES (6), CLUSTER_SUBS (100000), CLUSTER_CLIENT_PROCS (NODES),
# CLUSTER_DEMO_MECHANICS (1000), CLUSTER_CONNECT_TIMEOUT (300 s, all subscribers held by then),
# CLUSTER_EVENT_TIMEOUT (30 s after the change), CLUSTER_INFLIGHT (256 handshakes per client
# process), CLUSTER_FLIP_CONNS_PER_NODE (4), CLUSTER_FLIP_SECONDS (10), CLUSTER_PG_DURABLE (1:
# fsync and synchronous commits on), CLUSTER_DB (postgres; sqlite with CLUSTER_NODES=1 for the
# one-node reference), CLUSTER_SYSCTL (1),
# PITWALL_BIN (build/pitwall). Small: CLUSTER_SUBS=1200 bench/cluster.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
NODES=${CLUSTER_NODES:-6}
SUBS=${CLUSTER_SUBS:-100000}
PROCS=${CLUSTER_CLIENT_PROCS:-$NODES}
DEMO_MECHANICS=${CLUSTER_DEMO_MECHANICS:-1000}
CONNECT_TIMEOUT=${CLUSTER_CONNECT_TIMEOUT:-300}
EVENT_TIMEOUT=${CLUSTER_EVENT_TIMEOUT:-30}
INFLIGHT=${CLUSTER_INFLIGHT:-256}
FLIP_CONNS=${CLUSTER_FLIP_CONNS_PER_NODE:-4}
FLIP_SECONDS=${CLUSTER_FLIP_SECONDS:-10}
SYSCTL=${CLUSTER_SYSCTL:-1}
PITWALL_BIN=${PITWALL_BIN:-build/pitwall}
FD_LIMIT=$(ulimit -Hn)

die() { echo "cluster.sh: $*" >&2; exit 1; }
for tool in curl cc awk; do
  command -v "$tool" >/dev/null || die "$tool is missing (scripts/deps.sh bench)"
done
[[ -x $PITWALL_BIN ]] || die "$PITWALL_BIN is missing (make build, or set PITWALL_BIN)"
((NODES >= 1 && NODES <= 50)) || die "CLUSTER_NODES must be 1..50"
((PROCS >= NODES && PROCS <= 200)) || die "CLUSTER_CLIENT_PROCS must be at least CLUSTER_NODES (one per node), at most 200"
((SUBS >= PROCS)) || die "CLUSTER_SUBS must be at least CLUSTER_CLIENT_PROCS"
# a node holds its share plus the trigger, the flips, a watch, PostgreSQL and its own files
NODE_SHARE_MAX=$(((SUBS + NODES - 1) / NODES))
NODE_MAX_CONN=$((NODE_SHARE_MAX + 64))
((NODE_MAX_CONN + 64 <= FD_LIMIT)) ||
  die "$NODE_SHARE_MAX subscribers per node do not fit the descriptor limit $FD_LIMIT: use more nodes"
((NODE_SHARE_MAX / (PROCS / NODES) + 32 <= FD_LIMIT)) ||
  die "a client process would hold more than the descriptor limit $FD_LIMIT allows: more CLUSTER_CLIENT_PROCS"

mkdir -p bench/bin bench/results
cc -O2 -Wall -Wextra -o bench/bin/sse_fanout bench/sse_fanout.c
cc -O2 -Wall -Wextra -o bench/bin/presence_flip bench/presence_flip.c
FANOUT=bench/bin/sse_fanout
FLIP=bench/bin/presence_flip

TMP=$(mktemp -d /tmp/pitwall-cluster.XXXXXX)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=bench/results/$STAMP-cluster
mkdir -p "$OUT"
LOG=$OUT/log.txt
SUMMARY=$OUT/summary.txt
: >"$SUMMARY"
PG_DIR=""
NODE_PIDS=()
NODE_PORTS=()
CLIENT_PIDS=()
SYSCTL_SAVED=()

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" | tee -a "$LOG" >&2; }
summary() { printf '%s\n' "$*" | tee -a "$SUMMARY" >>"$LOG"; }

stop_pid() { # stop one process we started: TERM, then KILL after 10 s
  local pid=$1
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
sysctl_restore() {
  local kv
  for kv in "${SYSCTL_SAVED[@]}"; do
    if sysctl -q -w "$kv" >/dev/null 2>&1; then log "sysctl restored: $kv"; else log "warning: could not restore $kv"; fi
  done
  SYSCTL_SAVED=()
}
cleanup() {
  local pid
  for pid in "${CLIENT_PIDS[@]}"; do stop_pid "$pid"; done
  for pid in "${NODE_PIDS[@]}"; do stop_pid "$pid"; done
  [[ -n $PG_DIR ]] && scripts/pg.sh stop "$PG_DIR" >/dev/null 2>&1 || true
  sysctl_restore
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# sets a kernel setting for the run (root only) and notes the old value for the restore
sysctl_set() { # key value
  local key=$1 want=$2 cur
  cur=$(sysctl -n "$key" 2>/dev/null) || return 0
  [[ $cur == "$want" ]] && return 0
  if sysctl -q -w "$key=$want" >/dev/null 2>&1; then
    SYSCTL_SAVED+=("$key=$cur")
    log "sysctl set for the run: $key $cur -> $want"
  else
    log "warning: could not set $key ($cur -> $want)"
  fi
}
sysctl_raise() { # key minimum-value
  local cur
  cur=$(sysctl -n "$1" 2>/dev/null) || return 0
  ((cur >= $2)) || sysctl_set "$1" "$2"
}
if [[ $SYSCTL == 1 && $(id -u) -eq 0 ]]; then
  # the nodes' listen backlog is 4096 (libmicrohttpd option), capped by somaxconn
  sysctl_raise net.core.somaxconn 4096
  # PROCS x INFLIGHT handshakes at once, a node's share of them in its SYN queue
  sysctl_raise net.ipv4.tcp_max_syn_backlog 8192
  # one presence event is written to thousands of loopback sockets in a burst: each packet
  # goes through the per-CPU backlog queue, whose overflow is a silent drop and a retransmit
  sysctl_raise net.core.netdev_max_backlog 16384
  # every connection is in conntrack when the module is loaded (twice: both ends are here)
  sysctl_raise net.netfilter.nf_conntrack_max $((SUBS * 2 + 65536))
  # PostgreSQL runs in its own session (scripts/pg.sh uses setsid), so with autogroup the
  # kernel shares the 2 cores between session groups first: one backend was seen runnable but
  # not run for 3.6 s (its schedstat wait time), stalling its node's every request meanwhile.
  # Without autogroup every process competes on its own, and the stalls are gone.
  sysctl_set kernel.sched_autogroup_enabled 0
fi

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() { # a free loopback port below the ephemeral range, not among the nodes' ports
  local p taken
  for _ in $(seq 500); do
    p=$((21000 + RANDOM % 11000))
    taken=0
    for q in "${NODE_PORTS[@]}"; do [[ $q == "$p" ]] && taken=1; done
    ((taken == 0)) && port_free "$p" && { echo "$p"; return; }
  done
  die "no free port"
}
fd_count() { local n=0; n=$(ls "/proc/$1/fd" 2>/dev/null | wc -l); echo "$n"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; } # user+system
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
net_counters() { # listen queue overflows/drops (all sockets) and per-CPU backlog drops
  local lo ld sd
  read -r lo ld < <(awk '/^TcpExt:/ && !h {for (i = 1; i <= NF; i++) k[i] = $i; h = 1; next}
    /^TcpExt:/ {for (i = 1; i <= NF; i++) v[k[i]] = $i; print v["ListenOverflows"] + 0, v["ListenDrops"] + 0}' /proc/net/netstat)
  sd=0
  while read -r _ d _; do sd=$((sd + 16#$d)); done </proc/net/softnet_stat
  echo "listen_overflows=$lo listen_drops=$ld softnet_dropped=$sd"
}
wait_ready() { # port pid: bounded wait for /readyz
  local port=$1 pid=$2
  for _ in $(seq 300); do
    curl -sf -m 2 "http://127.0.0.1:$port/readyz" >/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}

log "results in $OUT; temp $TMP"
log "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), fd hard limit $FD_LIMIT, kernel $(uname -r)"
log "versions: $("$PITWALL_BIN" --version 2>&1 | head -1)"
log "kernel: $(for k in net.ipv4.ip_local_port_range net.core.somaxconn net.ipv4.tcp_max_syn_backlog net.core.netdev_max_backlog fs.file-max kernel.sched_autogroup_enabled; do printf '%s=%s ' "$k" "$(sysctl -n "$k" 2>/dev/null | tr '\t' '-')"; done)"
log "plan: $NODES nodes, $SUBS subscribers (at most $NODE_SHARE_MAX a node, --max-connections $NODE_MAX_CONN), $PROCS client processes"

# ---------------------------------------------------------------- the cluster
if [[ ${CLUSTER_DB:-postgres} == sqlite ]]; then
  # the one-node reference: the same measurements on SQLite
  [[ $NODES == 1 ]] || die "CLUSTER_DB=sqlite needs CLUSTER_NODES=1"
  DB_URL="sqlite:$TMP/pitwall.db"
  log "sqlite: $DB_URL"
else
  # durable (fsync, synchronous commits) like a production server, unless CLUSTER_PG_DURABLE=0
  PG_DIR=$(PITWALL_PG_DURABLE=${CLUSTER_PG_DURABLE:-1} scripts/pg.sh start) || die "PostgreSQL did not start"
  DB_URL=$(scripts/pg.sh url "$PG_DIR")
  log "postgres: $DB_URL ($PG_DIR)"
fi

start_node() { # index (1-based) extra-args...
  local i=$1 port
  shift
  port=$(free_port)
  local cmd=("$PITWALL_BIN" serve --db "$DB_URL" --listen "127.0.0.1:$port" --max-connections "$NODE_MAX_CONN" --max-connections-per-address 0 --max-streams-per-address 0
             --presence-timeout 3600 --log-level warn "$@")
  log "node $i: ${cmd[*]}"
  "${cmd[@]}" >>"$OUT/node$i.log" 2>&1 &
  NODE_PIDS[i]=$!
  NODE_PORTS[i]=$port
}
# node 1 loads the demo data into the empty database; the others start on it once it is there
start_node 1 --demo --demo-mechanics "$DEMO_MECHANICS"
wait_ready "${NODE_PORTS[1]}" "${NODE_PIDS[1]}" || die "node 1 did not start (see $OUT/node1.log)"
for i in $(seq 2 "$NODES"); do start_node "$i"; done
for i in $(seq 2 "$NODES"); do
  wait_ready "${NODE_PORTS[i]}" "${NODE_PIDS[i]}" || die "node $i did not start (see $OUT/node$i.log)"
done
log "nodes up: $(for i in $(seq "$NODES"); do printf '%s:127.0.0.1:%s(pid %s) ' "$i" "${NODE_PORTS[i]}" "${NODE_PIDS[i]}"; done)"

login() { # port email: prints "MECHANIC_ID<TAB>COOKIE<TAB>CSRF", or fails
  local port=$1 email=$2 jar=$TMP/jar.$RANDOM json csrf mid cookie
  json=$(curl -sf -m 10 -c "$jar" -H 'Content-Type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"pitwall-demo\"}" "http://127.0.0.1:$port/api/auth/login") || return 1
  csrf=$(grep -o '"csrf_token":"[^"]*"' <<<"$json" | head -1 | cut -d'"' -f4)
  mid=$(grep -o '"mechanic_id":"[^"]*"' <<<"$json" | head -1 | cut -d'"' -f4)
  cookie=$(awk -F'\t' 'NF >= 7 && ($1 !~ /^#/ || $1 ~ /^#HttpOnly_/) {printf "%s%s=%s", (n++ ? "; " : ""), $6, $7}' "$jar")
  rm -f "$jar"
  [[ -n $csrf && -n $mid && -n $cookie ]] || return 1
  printf '%s\t%s\t%s\n' "$mid" "$cookie" "$csrf"
}
set_presence() { # port cookie csrf status: prints the HTTP status
  curl -s -m 10 -o /dev/null -w '%{http_code}' -H "Cookie: $2" -H "X-CSRF-Token: $3" \
    -H 'Content-Type: application/json' -d "{\"status\":\"$4\"}" "http://127.0.0.1:$1/api/mechanic/presence"
}

JOHN=$(login "${NODE_PORTS[1]}" john.smith@demo.test) || die "login as john failed"
IFS=$'\t' read -r MID COOKIE CSRF <<<"$JOHN"
# John starts offline (demo data): the change is "online", made on node 1
BODY='{"status":"online"}'
printf 'POST /api/mechanic/presence HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nCookie: %s\r\nX-CSRF-Token: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
  "${NODE_PORTS[1]}" "$COOKIE" "$CSRF" "${#BODY}" "$BODY" >"$TMP/trigger"
log "john: mechanic $MID, logged in on node 1"

# ---------------------------------------------------------------- 1. fan-out over the cluster
summary "== 1. fan-out: $SUBS subscribers over $NODES nodes (one PostgreSQL), one presence change on node 1"
declare -a RSS_BEFORE RSS_AFTER FD_BEFORE
for i in $(seq "$NODES"); do
  RSS_BEFORE[i]=$(rss_kib "${NODE_PIDS[i]}")
  FD_BEFORE[i]=$(fd_count "${NODE_PIDS[i]}")
done
NET_BEFORE=$(net_counters)

# process p -> node (p mod NODES)+1; a node's share split evenly over its processes
declare -a PROC_NODE PROC_N
for i in $(seq "$NODES"); do
  share=$((SUBS / NODES + (i <= SUBS % NODES ? 1 : 0)))
  nprocs=$(((PROCS - i) / NODES + 1)) # processes p with p mod NODES = i-1
  k=0
  for p in $(seq 0 $((PROCS - 1))); do
    ((p % NODES == i - 1)) || continue
    PROC_NODE[p]=$i
    PROC_N[p]=$((share / nprocs + (k < share % nprocs ? 1 : 0)))
    k=$((k + 1))
  done
done
MAX_S=$((CONNECT_TIMEOUT + EVENT_TIMEOUT + 180)) # each holder's own hard deadline
T0_FILE=$TMP/t0
rm -f "$T0_FILE"
for p in $(seq 0 $((PROCS - 1))); do
  i=${PROC_NODE[p]}
  cmd=("$FANOUT" --port "${NODE_PORTS[i]}" --bind "127.0.0.$((11 + p))" -n "${PROC_N[p]}"
       --path "/api/presence/stream?ids=$MID" --ready 'event: snapshot' --event 'event: presence'
       --inflight "$INFLIGHT" --connect-timeout "$CONNECT_TIMEOUT" --settle-ms 2000
       --ready-file "$TMP/ready.$p" --t0-file "$T0_FILE" --trigger-wait $((CONNECT_TIMEOUT + 120))
       --event-timeout "$EVENT_TIMEOUT" --max-seconds "$MAX_S" --times "$TMP/times.$p"
       --label "node$i-client$p")
  [[ $p == 0 ]] && log "client $p: ${cmd[*]}"
  "${cmd[@]}" >"$TMP/client.$p.out" 2>"$TMP/client.$p.err" &
  CLIENT_PIDS[p]=$!
done
log "started $PROCS client processes ($(for p in $(seq 0 $((PROCS - 1))); do printf 'node%s:%s ' "${PROC_NODE[p]}" "${PROC_N[p]}"; done))"

# everyone holding everything before the trigger: wait for every ready file (bounded)
WAIT_START=$SECONDS
ready_deadline=$((SECONDS + CONNECT_TIMEOUT + 30))
next_report=$((SECONDS + 10))
while :; do
  nready=0
  for p in $(seq 0 $((PROCS - 1))); do
    if [[ -f $TMP/ready.$p ]] || ! kill -0 "${CLIENT_PIDS[p]}" 2>/dev/null; then nready=$((nready + 1)); fi
  done
  ((nready == PROCS)) && break
  if ((SECONDS >= ready_deadline)); then log "warning: not every client is ready after $((SECONDS - WAIT_START)) s"; break; fi
  if ((SECONDS >= next_report)); then
    log "connecting: $nready/$PROCS clients ready; node fds $(for i in $(seq "$NODES"); do printf '%s ' "$(fd_count "${NODE_PIDS[i]}")"; done)"
    next_report=$((SECONDS + 10))
  fi
  sleep 0.5
done
READY_SECS=$((SECONDS - WAIT_START))
HELD=0
for p in $(seq 0 $((PROCS - 1))); do
  if [[ -f $TMP/ready.$p ]]; then
    h=$(grep -o 'held=[0-9]*' "$TMP/ready.$p" | cut -d= -f2)
    HELD=$((HELD + h))
    log "client $p ready: $(cat "$TMP/ready.$p")"
  else
    log "client $p is not ready (exit or deadline): $(tail -n 3 "$TMP/client.$p.err" | tr '\n' ' ')"
  fi
done
log "held $HELD of $SUBS after $READY_SECS s"

sleep 1
RSS_SUM_DELTA=0
for i in $(seq "$NODES"); do
  RSS_AFTER[i]=$(rss_kib "${NODE_PIDS[i]}")
  RSS_SUM_DELTA=$((RSS_SUM_DELTA + RSS_AFTER[i] - RSS_BEFORE[i]))
  log "node $i: VmRSS ${RSS_BEFORE[i]} -> ${RSS_AFTER[i]} KiB, fds ${FD_BEFORE[i]} -> $(fd_count "${NODE_PIDS[i]}")"
done

# the one change, on node 1; its send instant goes to $T0_FILE for every holder
TRIGGER_LINE="no trigger (nobody held)"
if ((HELD > 0)); then
  cmd=("$FANOUT" --trigger-only --port "${NODE_PORTS[1]}" --trigger "$TMP/trigger" --t0-file "$T0_FILE"
       --bind 127.0.0.10 --label trigger)
  log "\$ ${cmd[*]}"
  TRIGGER_LINE=$("${cmd[@]}" 2>>"$LOG") || true
else
  echo "t0_ns=0" >"$T0_FILE" # the holders stop waiting
fi
log "$TRIGGER_LINE"

# the holders finish by themselves (EVENT_TIMEOUT after the change at most); bounded here too
end_deadline=$((SECONDS + EVENT_TIMEOUT + 60))
for p in $(seq 0 $((PROCS - 1))); do
  while kill -0 "${CLIENT_PIDS[p]}" 2>/dev/null && ((SECONDS < end_deadline)); do sleep 0.2; done
  stop_pid "${CLIENT_PIDS[p]}"
done
CLIENT_PIDS=()
NET_AFTER=$(net_counters)

# merge: every holder's arrival times are ms after the same instant
kv() { # key: its value in $line, 0 when absent
  local v
  v=$(grep -o " $1=[-0-9.]*" <<<" $line" | head -1 | cut -d= -f2)
  echo "${v:-0}"
}
declare -a NODE_HELD NODE_GOT
for i in $(seq "$NODES"); do NODE_HELD[i]=0; NODE_GOT[i]=0; done
DROPPED=0 FAILED=0 EARLY=0 DUPS=0
for p in $(seq 0 $((PROCS - 1))); do
  line=$(tail -n 1 "$TMP/client.$p.out" 2>/dev/null || true)
  summary "  $line"
  i=${PROC_NODE[p]}
  NODE_HELD[i]=$((NODE_HELD[i] + $(kv held)))
  NODE_GOT[i]=$((NODE_GOT[i] + $(kv got)))
  DROPPED=$((DROPPED + $(kv dropped)))
  FAILED=$((FAILED + $(kv failed_connects)))
  EARLY=$((EARLY + $(kv early_events)))
  DUPS=$((DUPS + $(kv dup_events)))
  cat "$TMP/client.$p.err" >>"$LOG"
done
for p in $(seq 0 $((PROCS - 1))); do [[ -f $TMP/times.$p ]] && cat "$TMP/times.$p"; done |
  sort -n >"$OUT/fanout-times-ms.txt"
cp "$TMP/trigger" "$OUT/trigger-request.txt" 2>/dev/null || true
sed -i 's/^Cookie: .*/Cookie: (removed)/; s/^X-CSRF-Token: .*/X-CSRF-Token: (removed)/' "$OUT/trigger-request.txt"
STATS=$(awk '{t[NR] = $1} END {
  k = NR
  if (!k) { print "got=0 first_ms=-1 p50_ms=-1 p90_ms=-1 p99_ms=-1 max_ms=-1"; exit }
  # the same rank as sse_fanout: t[round((k-1) * p)] (1-based here)
  printf "got=%d first_ms=%.2f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f\n", k, t[1],
    t[int((k - 1) * 0.50 + 0.5) + 1], t[int((k - 1) * 0.90 + 0.5) + 1],
    t[int((k - 1) * 0.99 + 0.5) + 1], t[k]
}' "$OUT/fanout-times-ms.txt")
GOT=$(grep -o 'got=[0-9]*' <<<"$STATS" | cut -d= -f2)
MAXMS=$(grep -o 'max_ms=[-0-9.]*' <<<"$STATS" | cut -d= -f2)
PER_NODE=$(for i in $(seq "$NODES"); do printf '%s%s:%s/%s' "$([[ $i == 1 ]] || echo ,)" "$i" "${NODE_GOT[i]}" "${NODE_HELD[i]}"; done)
KIB_PER_SUB=$(awk -v d="$RSS_SUM_DELTA" -v h="$HELD" 'BEGIN {printf "%.2f", h ? d / h : -1}')
if ((HELD == SUBS && GOT == SUBS)); then LAST="last_ms=$MAXMS"; else LAST="last_ms=none (not all $SUBS have it)"; fi
summary "  $TRIGGER_LINE"
summary "cluster_fanout nodes=$NODES client_procs=$PROCS subs=$SUBS held=$HELD ${STATS} missing=$((HELD - GOT)) not_held=$((SUBS - HELD)) dropped=$DROPPED failed_connects=$FAILED early_events=$EARLY dup_events=$DUPS ready_s=$READY_SECS"
summary "cluster_fanout_got_per_node=$PER_NODE (got/held; node 1 made the change)"
summary "cluster_fanout_$LAST"
summary "cluster_memory rss_delta_kib=$RSS_SUM_DELTA held=$HELD kib_per_sub=$KIB_PER_SUB per_node_kib=$(for i in $(seq "$NODES"); do printf '%s%s' "$([[ $i == 1 ]] || echo ,)" $((RSS_AFTER[i] - RSS_BEFORE[i])); done)"
summary "cluster_net before: $NET_BEFORE; after: $NET_AFTER"

# ---------------------------------------------------------------- 2. presence changes per second
summary "== 2. presence changes/s: $FLIP_CONNS generated mechanics per node, each flipped on its own keep-alive connection for ${FLIP_SECONDS}s"
# the subscribers above closed with an RST; a node frees a stream at its next write: wait
for i in $(seq "$NODES"); do
  for _ in $(seq 40); do (($(fd_count "${NODE_PIDS[i]}") < FD_BEFORE[i] + 50)) && break; sleep 0.5; done
done
: >"$TMP/mechanics"
next_mech=1
for i in $(seq "$NODES"); do
  have=0
  # generated mechanics are mechanicK@gen.demo.test with the demo password; ~5% are not
  # approved (pending or suspended) and cannot go online: skipped
  while ((have < FLIP_CONNS && next_mech <= DEMO_MECHANICS)); do
    email="mechanic$next_mech@gen.demo.test"
    next_mech=$((next_mech + 1))
    m=$(login "${NODE_PORTS[i]}" "$email") || { log "login $email failed"; continue; }
    IFS=$'\t' read -r mid cookie csrf <<<"$m"
    [[ $(set_presence "${NODE_PORTS[i]}" "$cookie" "$csrf" online) == 200 ]] || continue
    [[ $(set_presence "${NODE_PORTS[i]}" "$cookie" "$csrf" offline) == 200 ]] || continue
    printf '%s\t%s\t%s\t%s\n' "${NODE_PORTS[i]}" "$mid" "$cookie" "$csrf" >>"$TMP/mechanics"
    have=$((have + 1))
  done
done
NMECH=$(wc -l <"$TMP/mechanics")
log "$NMECH mechanics logged in for the flips"
if ((NMECH > 0)); then
  WATCH_PORT=${NODE_PORTS[NODES]}
  cmd=("$FLIP" --mechanics "$TMP/mechanics" --duration "$FLIP_SECONDS" --grace-ms 3000
       --max-seconds $((FLIP_SECONDS + 30)) --watch "$WATCH_PORT:local" --watch "$WATCH_PORT:remote")
  log "\$ ${cmd[*]}"
  declare -a CPU_BEFORE
  for i in $(seq "$NODES"); do CPU_BEFORE[i]=$(cpu_ticks "${NODE_PIDS[i]}"); done
  FLIP_LINE=$("${cmd[@]}" 2>>"$LOG") || true
  HZ=$(getconf CLK_TCK)
  CPU_USED=$(for i in $(seq "$NODES"); do
    printf '%s%s:%.1f' "$([[ $i == 1 ]] || echo ,)" "$i" \
      "$(awk -v a="${CPU_BEFORE[i]}" -v b="$(cpu_ticks "${NODE_PIDS[i]}")" -v hz="$HZ" 'BEGIN {print (b - a) / hz}')"
  done)
  # by_port=PORT:OK:MS,... -> by_node=NODE:OK:MS,...
  for i in $(seq "$NODES"); do
    FLIP_LINE=$(sed -E "s/(by_port=([^ ]*,)?)${NODE_PORTS[i]}:/\1node$i:/" <<<"$FLIP_LINE")
  done
  FLIP_LINE=${FLIP_LINE/by_port=/by_node=}
  summary "cluster_flips nodes=$NODES watch_node=$NODES $FLIP_LINE"
  summary "cluster_flips_cpu_s_per_node=$CPU_USED (user+system seconds of each node while flipping)"
  summary "cluster_net after the flips: $(net_counters)"
else
  summary "cluster_flips: no mechanic could log in"
fi

summary "== nodes still up: $(for i in $(seq "$NODES"); do printf '%s:%s ' "$i" "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:${NODE_PORTS[i]}/readyz")"; done)"
echo
echo "==================== summary ($OUT/summary.txt) ===================="
cat "$SUMMARY"
