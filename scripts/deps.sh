#!/usr/bin/env bash
# Installs the Debian packages a target needs, only those missing. Usage:
#   scripts/deps.sh build|test|fuzz|format|bench|icons
set -euo pipefail

build=(gcc make pkg-config meson ninja-build libmicrohttpd-dev libsqlite3-dev libsodium-dev
       libjansson-dev libcurl4-openssl-dev libpq-dev uthash-dev zlib1g-dev ca-certificates nodejs npm)
test=(libcmocka-dev curl sqlite3 chromium prometheus)
fuzz=(clang libclang-rt-14-dev)
bench=(wrk nginx libnginx-mod-nchan)
format=(clang-format)
icons=(librsvg2-bin icoutils) # scripts/make-icons.sh only: its outputs are committed

want=("${build[@]}")
for group in "$@"; do
  case "$group" in
    build) ;;
    test) want+=("${test[@]}") ;;
    fuzz) want+=("${fuzz[@]}") ;;
    format) want+=("${format[@]}") ;;
    bench) want+=("${bench[@]}") ;;
    icons) want+=("${icons[@]}") ;;
    *) echo "deps.sh: unknown group '$group'" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${want[@]}"; do
  # node may come from elsewhere (a newer build); npm with it
  if [[ $p == nodejs ]] && command -v node >/dev/null; then continue; fi
  if [[ $p == npm ]] && command -v npm >/dev/null; then continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "deps.sh: installing ${missing[*]}" >&2
SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null ||
    { echo "deps.sh: not root and no sudo: as root, apt-get install ${missing[*]}" >&2; exit 1; }
  SUDO=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
# a machine just booted often has apt-daily / unattended-upgrades holding the dpkg lock: wait
lock=(-o DPkg::Lock::Timeout=600)
"${SUDO[@]}" apt-get "${lock[@]}" update -qq
"${SUDO[@]}" apt-get "${lock[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
