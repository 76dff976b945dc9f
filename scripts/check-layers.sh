#!/usr/bin/env bash
# The layers of src/ run one way (docs/internals/architecture.md): reads every
# `#include "..."` under src/ and fails when a module includes one it may not.
# A module is the first folder under src/; the files at the top of src/ (app.h, app.c,
# main.c) are the module "app". A new folder must be added to the table below.
set -uo pipefail
cd "$(dirname "$0")/.."

# who may include whom, besides itself (the picture in docs/internals/architecture.md)
declare -A may=(
  [core]=""
  [http]="core"
  [store]="core"
  [stream]="core"
  [auth]="core store"
  [payments]="core"
  [presence]="core store stream"
  [success]="core store"
  # the routing engine picks among the mechanics presence knows to be online: the one
  # sideways step allowed on its level
  [routing]="core store stream presence"
  [cluster]="core store stream presence routing"
  # api reads the process's state through struct pw_app (app.h, the composition root)
  [api]="core http store stream auth payments presence success routing cluster app"
  [cli]="core store stream auth payments presence success routing cluster"
  [app]="core http store stream auth payments presence success routing cluster api cli"
)

module_of() { # a path under src/ (src/x/y.c or x/y.h as included) -> its module
  local p=${1#src/}
  case $p in
    */*) echo "${p%%/*}" ;;
    *) echo app ;;
  esac
}

status=0
while IFS=: read -r file line text; do
  inc=$(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' <<<"$text")
  [ -n "$inc" ] || continue
  from=$(module_of "$file")
  case $inc in
    */*) to=$(module_of "$inc") ;;
    *) # a bare name: a file beside the includer, or one at the top of src/
      if [ -e "$(dirname "$file")/$inc" ] && [ "$(dirname "$file")" != src ]; then to=$from; else to=app; fi ;;
  esac
  if [ -z "${may[$from]+set}" ]; then
    echo "check-layers: $file: module '$from' is not in the table of scripts/check-layers.sh" >&2
    status=1
    continue
  fi
  [ "$from" = "$to" ] && continue
  case " ${may[$from]} " in
    *" $to "*) ;;
    *)
      echo "check-layers: $file:$line: $from may not include \"$inc\" ($to)" >&2
      status=1
      ;;
  esac
done < <(grep -rn --include='*.c' --include='*.h' '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' src)

[ $status = 0 ] && echo "check-layers: every #include in src/ runs down the layers"
exit $status
