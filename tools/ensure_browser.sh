#!/usr/bin/env bash
# The browser tests drive Debian's Chromium (never `playwright install`): make sure it is here before
# `make test` starts, so a fresh machine either gets it (as root, from apt) or stops at once with the one
# command to run, instead of every browser test erroring on its own.
# CHROMIUM_PATH overrides the browser (as in tests/e2e/conftest.py); ENSURE_BROWSER_UID stands in for the
# effective user id, so the non-root message can be tested from a root shell.
set -euo pipefail

CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
PACKAGES="chromium fonts-dejavu-core fontconfig"  # fonts so pages render text

if [ -x "$CHROMIUM" ] && command -v fc-list >/dev/null 2>&1; then
  exit 0
fi

if [ "${ENSURE_BROWSER_UID:-$(id -u)}" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "The browser tests need $CHROMIUM: run \`sudo apt-get install -y --no-install-recommends $PACKAGES\`" \
       "(or \`make test-fast\` to skip them)." >&2
  exit 1
fi

echo "Installing Debian's Chromium for the browser tests (apt-get install $PACKAGES)..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086  # the package names are meant to split
apt-get install -y -q --no-install-recommends $PACKAGES
if [ ! -x "$CHROMIUM" ]; then
  echo "apt-get installed chromium, yet $CHROMIUM is still missing: set CHROMIUM_PATH to the browser." >&2
  exit 1
fi
