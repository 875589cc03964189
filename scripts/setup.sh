#!/usr/bin/env bash
# Set up xbar-hw on a fresh machine: Icarus Verilog (for cocotb), a virtual environment
# in .venv, torch==2.13.0 (the exact pin takes the CPU wheel; a looser spec pulls a
# multi-GB CUDA build), and the package with its test extras. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v iverilog >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing iverilog (Debian package)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iverilog >/dev/null
  else
    echo "setup: iverilog is missing and this is not root: run 'sudo apt-get install -y iverilog'" \
         "(needed only for RTL co-simulation); continuing without it" >&2
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check torch==2.13.0
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
echo "setup: ready (.venv)"
