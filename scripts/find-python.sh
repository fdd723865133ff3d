#!/usr/bin/env bash
# Print the absolute path of a Python 3.12 interpreter on this machine, or fail with a clear message.
# Tries python3.12 on PATH, then pyenv's 3.12.x, then python3.
set -u
check='import sys; assert sys.version_info[:2] == (3, 12); print(sys.executable)'
for cand in python3.12 python3; do
  if out=$($cand -c "$check" 2>/dev/null); then echo "$out"; exit 0; fi
done
if command -v pyenv >/dev/null 2>&1; then
  for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.12(\.|$)' | sort -V -r); do
    if out=$(PYENV_VERSION=$v python3 -c "$check" 2>/dev/null); then echo "$out"; exit 0; fi
  done
fi
echo "error: Python 3.12 not found (NautilusTrader 1.231 needs it). Install python3.12 or 'pyenv install 3.12'." >&2
exit 1
