#!/usr/bin/env bash
# Makes the web UI's bitmap icons from web/favicon.svg (the pitwall mark: an orange P and
# pit-wall bar on slate, the seed's #f97316 on #0f172a). The outputs are committed; run this
# again only when the SVG changes. Needs librsvg2-bin (rsvg-convert) and icoutils (icotool):
#   scripts/deps.sh icons && scripts/make-icons.sh
#  - web/favicon.ico: 16, 32 and 48 px frames (browsers ask for /favicon.ico anyway)
#  - web/apple-touch-icon.png: 180 px, opaque, square corners (iOS rounds them itself)
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for px in 16 32 48; do
  rsvg-convert -w "$px" -h "$px" web/favicon.svg -o "$tmp/$px.png"
done
# 16 px as a bitmap for the oldest readers, the larger frames as PNG (smaller)
icotool -c -o web/favicon.ico "$tmp/16.png" -r "$tmp/32.png" -r "$tmp/48.png"
sed 's/rx="7"/rx="0"/' web/favicon.svg > "$tmp/square.svg"
rsvg-convert -w 180 -h 180 -b '#0f172a' "$tmp/square.svg" -o web/apple-touch-icon.png
ls -l web/favicon.ico web/apple-touch-icon.png
