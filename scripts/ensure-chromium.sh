#!/usr/bin/env bash
# Make sure the system packages the tests need are installed: headless Chromium and its WebDriver
# (the report's browser test) and Graphviz's `dot` (the system map, `nautilus-ai diagram`).
# Idempotent and quiet: does nothing when /usr/bin/chromium, /usr/bin/chromedriver and `dot` exist;
# otherwise installs the missing Debian packages (refreshing the package lists only if the first try fails).
set -euo pipefail

CHROMIUM=/usr/bin/chromium
DRIVER=/usr/bin/chromedriver
packages=()
if [[ ! -x $CHROMIUM || ! -x $DRIVER ]]; then
  packages+=(chromium chromium-driver)
fi
if ! command -v dot >/dev/null 2>&1; then
  packages+=(graphviz)
fi
if [[ ${#packages[@]} -eq 0 ]]; then
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "error: ${packages[*]} missing and installing them needs root (no sudo found)." >&2
    echo "       Run: apt-get install -y ${packages[*]}" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
install() {
  $SUDO apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
}
if ! install 2>/dev/null; then
  $SUDO apt-get update -qq >/dev/null
  install
fi

if [[ ! -x $CHROMIUM || ! -x $DRIVER ]]; then
  echo "error: apt-get finished but $CHROMIUM or $DRIVER is still missing." >&2
  exit 1
fi
if ! command -v dot >/dev/null 2>&1; then
  echo "error: apt-get finished but Graphviz's dot is still missing." >&2
  exit 1
fi
echo "installed ${packages[*]}"
