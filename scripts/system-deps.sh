#!/usr/bin/env bash
# System packages the test suite and benchmarks use: Dovecot (a real IMAP server for
# the e-mail intake), a CJK TrueType font embedded in the PDF reports, and poppler's
# pdftotext/pdftoppm to check those PDFs, and Chromium for the browser tests of the
# web form and the callback console (driven by Playwright), and Redis (the Celery broker of
# the end-to-end deployment test: a throwaway redis-server on a free loopback port), and wrk (the HTTP load
# generator of the web-form endpoint benchmark). Installed
# with apt when missing and we are root; otherwise one line says what to install (those tests then skip, or fail under CI).
set -euo pipefail

say() { printf '[system-deps] %s\n' "$*" >&2; }

missing=()
command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ] || missing+=(dovecot-imapd)
[ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing+=(fonts-wqy-microhei)
command -v pdftotext >/dev/null 2>&1 || missing+=(poppler-utils)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || missing+=(redis-server)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  say "missing ${missing[*]}; install (e.g. sudo apt-get install -y ${missing[*]}) for the IMAP, report, browser and Celery deployment tests"
  exit 0
fi

say "installing ${missing[*]} (apt)"
# Never start the distribution's own service: tests run throwaway instances on free ports.
created_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  created_policy=1
fi
log="$(mktemp)"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
  apt-get update >>"$log" 2>&1 || true
  apt-get install -y --no-install-recommends "${missing[@]}" >>"$log" 2>&1 || {
    [ -n "$created_policy" ] && rm -f /usr/sbin/policy-rc.d
    say "apt-get install ${missing[*]} failed; last lines:"; tail -5 "$log" >&2; exit 1; }
fi
[ -n "$created_policy" ] && rm -f /usr/sbin/policy-rc.d
rm -f "$log"
say "installed ${missing[*]}"
