#!/usr/bin/env bash
# Makes sure the browser tests (tests/browser) can run: Debian's chromium, and fonts-noto-cjk so
# Japanese text renders in their screenshots. Installs what is missing when it can (root and
# apt-get); otherwise it says why and exits 0, and the browser tests skip with the reason.
# Playwright itself comes from uv.lock; `playwright install` (a browser download) is not used.
set -uo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || missing+=(chromium)
if ! { command -v fc-list >/dev/null 2>&1 && fc-list :lang=ja 2>/dev/null | grep -q .; }; then
  missing+=(fonts-noto-cjk)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-browser: ${missing[*]} missing; installing needs root and apt-get, so the browser tests will skip" >&2
  exit 0
fi
echo "ensure-browser: installing ${missing[*]} (apt-get)" >&2
if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
  exit 0
fi
echo "ensure-browser: apt-get could not install ${missing[*]}; the browser tests will skip" >&2
exit 0
