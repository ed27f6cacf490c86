#!/usr/bin/env bash
# Open a relforge report in headless Chromium (Debian package /usr/bin/chromium), check that every
# <img> decoded and that the JS console stayed silent, and save a screenshot.
#
#   scripts/screenshot_report.sh REPORT_DIR [OUT_PNG] [WIDTHxHEIGHT]
#
# Install the browser with: apt-get update && apt-get install -y chromium
# Exit status: 0 = page fine, 1 = missing images or console messages, 2 = chromium or page missing.
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: $0 REPORT_DIR [OUT_PNG] [WIDTHxHEIGHT]" >&2
  exit 2
fi
REPORT="$1"
OUT="${2:-$REPORT/../$(basename "$REPORT")-screenshot.png}"
SIZE="${3:-1400x2400}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-$HERE/.venv/bin/python}"
[ -x "$PY" ] || PY=python3
exec "$PY" -m relforge.report.browser "$REPORT" --screenshot "$OUT" --width "${SIZE%x*}" --height "${SIZE#*x}"
