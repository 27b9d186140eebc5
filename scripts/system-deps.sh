#!/usr/bin/env bash
# Installs the Debian packages Dabiao needs when they are missing (idempotent, quiet when present):
# fonts-wqy-zenhei (CJK TrueType font embedded in PDFs), poppler-utils (pdftotext/pdftoppm in tests)
# and chromium (the field app's browser tests drive it headless through playwright).
set -euo pipefail
need=()
[ -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || need+=(fonts-wqy-zenhei)
command -v pdftotext >/dev/null 2>&1 || need+=(poppler-utils)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing ${need[*]} (apt-get)" >&2
$sudo apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
