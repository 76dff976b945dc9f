#!/usr/bin/env bash
# Proves that the README's first command works on a machine with nothing installed: builds a
# bare Debian 12 root with debootstrap (--variant=minbase: apt and the Essential packages, no
# compiler, no node, no meson, no git), puts in it the committed files of this checkout (what a
# clone gives a user), and runs `make run` there as root inside chroot. The chroot shares the
# host's network, so the host then asks the server it started for /healthz, /login, the demo
# mechanics and the vendored chart library. Stops that server, unmounts, deletes the root.
#
# Usage (root, network to deb.debian.org and registry.npmjs.org): scripts/fresh-machine.sh
#   FRESH_TIMEOUT=S   seconds allowed for `make run` to answer /healthz (default 1200)
#   FRESH_TMPDIR=DIR  where the root is built (default $TMPDIR or /tmp; needs ~2 GB)
#   FRESH_KEEP=1      keep the root afterwards (unmounted) to look around in it
#   FRESH_TEST=1      then also `make test` in that root (Debian's node 18, chromium)
#
# Measured here (2 cores, shared with other builds): 2 to 4 min in all, 2 min 4 s at best.
# debootstrap 40 s to 2 min (the mirror), apt-get in the root 1 to 2.5 min, meson + ninja +
# npm ci 15 s to 1 min, deleting the root ~15 s. FRESH_TEST=1 adds ~7.5 min (11 min 46 s
# in all, 3 Dec 2026).
set -euo pipefail
cd "$(dirname "$0")/.."

MIRROR=http://deb.debian.org/debian
SECURITY=http://deb.debian.org/debian-security
SUITE=bookworm
TIMEOUT=${FRESH_TIMEOUT:-1200}
started=$SECONDS

say() { printf '== fresh-machine [%3ds]: %s\n' $((SECONDS - started)) "$*" >&2; }
die() { printf '!! fresh-machine: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "needs root (debootstrap, chroot and mounts)"

# --- host tools --------------------------------------------------------------------------------
need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v curl >/dev/null || need+=(curl)
command -v findmnt >/dev/null || need+=(util-linux)
if [[ ${#need[@]} -gt 0 ]]; then
  say "installing on the host: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # other builds may hold the dpkg lock for a while: wait for it rather than fail
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

root=$(mktemp -d "${FRESH_TMPDIR:-${TMPDIR:-/tmp}}/pitwall-fresh.XXXXXX")
chmod 755 "$root" # it is / in the chroot: mktemp's 0700 would lock every other user out
work=$(mktemp -d "${TMPDIR:-/tmp}/pitwall-fresh-log.XXXXXX")
server_log=$work/make-run.log
pgid=""

# Mount points under the root, deepest first (findmnt lists parents before children).
mounts_under_root() {
  findmnt -rn -o TARGET | awk -v r="$root/" 'index($0, r) == 1' | sort -r
}

stop_server() {
  [[ -n $pgid ]] || return 0
  # the whole process group: make, the shell it runs, pitwall (and apt/npm if still building)
  if kill -0 -- "-$pgid" 2>/dev/null; then
    kill -TERM -- "-$pgid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 -- "-$pgid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$pgid" 2>/dev/null || true
  fi
  pgid=""
}

# Anything else still running with its root in ours was started by this script (a daemon a
# package started, a process that left the group): it would keep the mounts busy.
kill_chroot_processes() {
  local p link
  for p in /proc/[0-9]*; do
    link=$(readlink "$p/root" 2>/dev/null) || continue
    if [[ $link == "$root" || $link == "$root"/* ]]; then kill -KILL "${p#/proc/}" 2>/dev/null; fi
  done
  return 0
}

cleanup() {
  local status=$?
  set +e
  stop_server
  kill_chroot_processes
  local m
  for m in $(mounts_under_root); do
    umount "$m" 2>/dev/null || umount -R "$m" 2>/dev/null || umount -l "$m"
  done
  if [[ -n $(mounts_under_root) ]]; then
    echo "!! fresh-machine: still mounted under $root, NOT deleting it:" >&2
    mounts_under_root >&2
    exit 1
  fi
  if [[ ${FRESH_KEEP:-0} == 1 ]]; then
    say "kept $root (unmounted)"
  else
    # --one-file-system: even if a mount appeared since the check, rm does not cross into it
    rm -rf --one-file-system "$root"
  fi
  rm -rf "$work"
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

fail_with_log() {
  echo "!! fresh-machine: $*" >&2
  if [[ -s $server_log ]]; then
    echo "!! ---- the last 80 lines of $server_log ----" >&2
    tail -n 80 "$server_log" >&2
    echo "!! ---- end ----" >&2
  fi
  exit 1
}

# --- the bare Debian 12 root -------------------------------------------------------------------
say "debootstrap --variant=minbase $SUITE into $root"
if ! timeout 900 debootstrap --variant=minbase "$SUITE" "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1; then
  tail -n 40 "$work/debootstrap.log" >&2
  [[ -f $root/debootstrap/debootstrap.log ]] && tail -n 40 "$root/debootstrap/debootstrap.log" >&2
  die "debootstrap failed"
fi
# debootstrap's own mounts (it mounts /proc and /sys in the target for its second stage) must
# be gone before ours; if any is left, cleanup() handles it like ours.

# What a real Debian 12 machine has besides the packages: the release's three suites (like
# this host's /etc/apt/sources.list.d/debian.sources), a resolver, /proc, /sys, /dev.
rm -f "$root/etc/apt/sources.list"
cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
# The host's locally added CAs too (here: the egress proxy's, without which npm's TLS fails with
# SELF_SIGNED_CERT_IN_CHAIN): ca-certificates, which `make run` installs, adds them to the store.
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
  mkdir -p "$root/usr/local/share/ca-certificates"
  cp -L /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
fi
# A chroot has no init: packages must not start services (on the host's network) from it.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"

# Non-recursive binds, each made private: unmounting them can never propagate to the host's
# own /dev/pts or /sys submounts (the classic way `umount -R` of an rbind breaks a host).
for d in proc sys dev dev/pts; do
  mount --bind "/$d" "$root/$d"
  mount --make-private "$root/$d"
done

# --- the checkout: committed files only, as a clone has them (no build/, node_modules/) --------
mkdir -p "$root/root/pitwall"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  say "copying the committed files of $(git rev-parse --short HEAD) (git archive HEAD)"
  [[ -z $(git status --porcelain --untracked-files=no) ]] ||
    say "note: uncommitted changes in this checkout are NOT part of the test"
  git archive HEAD | tar -x -C "$root/root/pitwall"
else
  say "not a git checkout: copying the tree without build outputs"
  tar -c --exclude='./build*' --exclude=./node_modules --exclude='*.db' . | tar -x -C "$root/root/pitwall"
fi

# --- make run --------------------------------------------------------------------------------
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null) ||
  port=$((20000 + RANDOM % 20000))
url=http://127.0.0.1:$port

# minbase has no make (nor has a Debian cloud image); the README says to install it first
say "in the chroot: apt-get install make (the one thing the README assumes)"
# a root login's environment, nothing of the caller's
in_root=(chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8
         PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
if ! timeout 600 "${in_root[@]}" bash -c 'export DEBIAN_FRONTEND=noninteractive; apt-get update -qq &&
       apt-get install -y -qq --no-install-recommends make >/dev/null' >"$server_log" 2>&1; then
  fail_with_log "could not install make in the chroot"
fi

say "in the chroot, as root: make run LISTEN=127.0.0.1:$port DB=sqlite:/tmp/x.db (up to ${TIMEOUT}s)"
# setsid: make and everything it starts form one process group, whose id is the shell's pid
# written to /run/make-run.pid (nothing forks between setsid() and that shell); --wait: if
# setsid has to fork, $! still lives as long as make does
setsid --wait "${in_root[@]}" bash -c "echo \$\$ >/run/make-run.pid; cd /root/pitwall &&
           exec make run LISTEN=127.0.0.1:$port DB=sqlite:/tmp/x.db" >"$server_log" 2>&1 </dev/null &
launcher=$!
for _ in $(seq 50); do [[ -s $root/run/make-run.pid ]] && break; sleep 0.1; done
pgid=$(cat "$root/run/make-run.pid" 2>/dev/null) || fail_with_log "make run did not start"

deadline=$((SECONDS + TIMEOUT))
last_step=""
until curl -fsS -o /dev/null --max-time 2 "$url/healthz" 2>/dev/null; do
  if ! kill -0 "$launcher" 2>/dev/null; then
    rc=0
    wait "$launcher" || rc=$?
    fail_with_log "make run exited (status $rc) before /healthz answered"
  fi
  ((SECONDS < deadline)) || fail_with_log "no answer on $url/healthz after ${TIMEOUT}s"
  # progress: the newest line of make's output that names a step, every so often
  step=$(grep -E '^(deps.sh|meson setup|ninja|npm|\./build/pitwall|\[[0-9]+/[0-9]+\])' "$server_log" 2>/dev/null | tail -n 1 | cut -c 1-100) || true
  if [[ -n $step && $step != "$last_step" ]]; then say "  … $step"; last_step=$step; fi
  sleep 3
done
say "GET /healthz: 200 (make run took $((SECONDS - started))s since the start)"

# --- what a user sees ----------------------------------------------------------------------------
body=$(curl -fsS --max-time 5 "$url/healthz") || fail_with_log "GET /healthz failed"
[[ $body == *'"status":"ok"'* ]] || fail_with_log "GET /healthz answered $body"

body=$(curl -fsS --max-time 5 "$url/login") || fail_with_log "GET /login failed"
[[ $body == *'<form id="login"'* ]] || fail_with_log "GET /login does not serve the login page"
say "GET /login: the login page"

body=$(curl -fsS --max-time 5 "$url/api/mechanics/available?city=Toronto") ||
  fail_with_log "GET /api/mechanics/available?city=Toronto failed"
for name in "John Smith" "Sarah Johnson" "Maria Garcia"; do
  [[ $body == *"\"name\":\"$name\""* ]] || fail_with_log "the demo mechanic $name is not listed: $body"
done
say "GET /api/mechanics/available?city=Toronto: the demo mechanics"

# the admin page's chart library: the reason `make run` runs npm ci
curl -fsS --max-time 5 -o /dev/null "$url/vendor/chart.umd.js" ||
  fail_with_log "GET /vendor/chart.umd.js failed (npm ci's chart.js)"
say "GET /vendor/chart.umd.js: served from node_modules"

stop_server
wait "$launcher" 2>/dev/null || true
say "passed: make run works on a bare Debian 12 (total $((SECONDS - started))s)"

# --- optionally: the README's second command in the same root (what .ci/run does next) ----------
[[ ${FRESH_TEST:-0} == 1 ]] || exit 0
# chromium needs /dev/shm, a mount of its own under /dev
if mountpoint -q /dev/shm; then
  mount --bind /dev/shm "$root/dev/shm"
  mount --make-private "$root/dev/shm"
fi
server_log=$work/make-test.log
say "FRESH_TEST=1: make test in the same root (up to 3600s)"
setsid --wait "${in_root[@]}" bash -c "echo \$\$ >/run/make-test.pid; cd /root/pitwall &&
           exec make test" >"$server_log" 2>&1 </dev/null &
launcher=$!
for _ in $(seq 50); do [[ -s $root/run/make-test.pid ]] && break; sleep 0.1; done
pgid=$(cat "$root/run/make-test.pid" 2>/dev/null) || fail_with_log "make test did not start"
deadline=$((SECONDS + 3600))
while kill -0 "$launcher" 2>/dev/null; do
  ((SECONDS < deadline)) || fail_with_log "make test still running after 3600s"
  sleep 5
done
rc=0
wait "$launcher" || rc=$?
pgid=""
grep -E '^(# (tests|pass|fail) |Ok:|Fail:)' "$server_log" >&2 || true
((rc == 0)) || fail_with_log "make test failed (status $rc) on a bare Debian 12"
say "passed: make test works on a bare Debian 12 too (total $((SECONDS - started))s)"
