#!/usr/bin/env bash
# Screenshot a page of the running dashboard with headless Debian chromium (apt-get install chromium).
#   scripts/screenshot.sh http://localhost:8501/sweep out.png [width,height]
set -euo pipefail
url=${1:-http://localhost:8501/}
out=${2:-screenshot.png}
size=${3:-1400,1100}
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --user-data-dir="$profile" --hide-scrollbars \
  --window-size="$size" --virtual-time-budget=25000 --screenshot="$out" "$url" 2>/dev/null
echo "$out"
