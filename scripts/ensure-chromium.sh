#!/usr/bin/env bash
# Make sure headless Chromium and its WebDriver are installed (for the report's browser test).
# Idempotent and quiet: does nothing when /usr/bin/chromium and /usr/bin/chromedriver exist;
# otherwise installs the Debian packages (refreshing the package lists only if the first try fails).
set -euo pipefail

CHROMIUM=/usr/bin/chromium
DRIVER=/usr/bin/chromedriver
if [[ -x $CHROMIUM && -x $DRIVER ]]; then
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "error: $CHROMIUM or $DRIVER is missing and installing them needs root (no sudo found)." >&2
    echo "       Run: apt-get install -y chromium chromium-driver" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
install() {
  $SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
}
if ! install 2>/dev/null; then
  $SUDO apt-get update -qq >/dev/null
  install
fi

if [[ ! -x $CHROMIUM || ! -x $DRIVER ]]; then
  echo "error: apt-get finished but $CHROMIUM or $DRIVER is still missing." >&2
  exit 1
fi
echo "installed $($CHROMIUM --version 2>/dev/null || echo chromium)"
