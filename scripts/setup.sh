#!/usr/bin/env bash
# Set up xbar-hw on a fresh machine: Icarus Verilog (for cocotb), a virtual environment
# in .venv, torch==2.13.0 (the exact pin takes the CPU wheel; a looser spec pulls a
# multi-GB CUDA build), and the package with its test extras. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: iverilog (cocotb co-simulation), ngspice (IR-drop ground truth),
# libcairo2-dev + pkg-config (to build pycairo for badcrossbar, the other ground truth),
# yosys + opensta + qflow-tech-osu018 (gate-level synthesis: `xbar-hw rtl --synth`, its OSU 0.18 um Liberty)
need=()
command -v iverilog >/dev/null 2>&1 || need+=(iverilog)
command -v ngspice >/dev/null 2>&1 || need+=(ngspice)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
pkg-config --exists cairo 2>/dev/null || need+=(libcairo2-dev)
command -v yosys >/dev/null 2>&1 || need+=(yosys)
command -v sta >/dev/null 2>&1 || need+=(opensta)
[ -f /usr/share/qflow/tech/osu018/osu018_stdcells.lib ] || need+=(qflow-tech-osu018)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing ${need[*]} (Debian packages)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "setup: missing ${need[*]} and this is not root: run 'sudo apt-get install -y ${need[*]}'" \
         "(RTL co-simulation, synthesis and the IR-drop reference tests need them; they skip without); continuing" >&2
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check torch==2.13.0
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
if pkg-config --exists cairo 2>/dev/null; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test,reference]"
fi
echo "setup: ready (.venv)"
