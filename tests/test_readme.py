"""The README's command-line block runs as written, in order, from a checkout's root (its
commands build on one another under out/); every command must exit 0."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def readme_block(title: str) -> str:
    """The first ```bash block after the heading ``title``."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    after = text[text.index(f"## {title}"):]
    return re.search(r"```bash\n(.*?)```", after, re.S).group(1)


def test_the_block_is_found_and_names_every_command():
    block = readme_block("The command line")
    used = set(re.findall(r"^xbar-hw (\w[\w-]*)", block, re.M))
    parser_commands = {"design", "train", "prune", "map", "evaluate", "irdrop", "nia", "backbone", "adapt", "diff",
                       "energy", "report", "reboc", "rtl", "cosim", "sweep"}
    assert parser_commands <= used, parser_commands - used  # the demo has its own section


@pytest.mark.slow
def test_readme_commands_run_as_written(tmp_path):
    """About 10 minutes on 2 cores: the block runs with `bash -e` in a folder that looks like
    a checkout after set-up (designs, sweeps and .venv linked in)."""
    for name in ("designs", "sweeps", ".venv"):
        if (ROOT / name).exists():
            (tmp_path / name).symlink_to(ROOT / name)
    script = tmp_path / "readme.sh"
    script.write_text("set -euo pipefail\n" + readme_block("The command line"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run(["bash", str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert (tmp_path / "out" / "report" / "report.md").is_file() and (tmp_path / "out" / "cells.csv").is_file()
