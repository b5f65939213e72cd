"""The README's tour, run as written: the block is extracted from README.md and run by bash, in one
session (so the variables it sets carry over), from a stand-in clone inside a temporary home.

The tour is the newcomer's first contact with Overt; if a command in it stops working, this fails with
the line that broke, so the README cannot drift from the program.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def tour_block() -> str:
    """The first ```sh block after the '## A tour' heading."""
    text = README.read_text()
    section = text[text.index("\n## A tour\n"):]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match, "README.md's tour has no ```sh block"
    return match.group(1)


def stand_in_clone(home: Path) -> Path:
    """A folder laid out like the clone after the set-up command: the package and a `.venv` to activate.

    Its `.venv` is the running interpreter's environment: `activate` puts that interpreter's bin folder
    first on PATH (for `python3`), preceded by an `overt` that runs this checkout with this interpreter.
    """
    clone = home / "overt"
    venv_bin = clone / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    (clone / "overt").symlink_to(ROOT / "overt", target_is_directory=True)
    (venv_bin / "overt").write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m overt "$@"\n')
    (venv_bin / "overt").chmod(0o755)
    python_bin = Path(sys.executable).parent
    (venv_bin / "activate").write_text(
        f'export PATH={shlex.quote(str(venv_bin))}:{shlex.quote(str(python_bin))}:"$PATH"\n'
    )
    return clone


@pytest.mark.slow
def test_the_readme_tour_runs_as_written(tmp_path: Path) -> None:
    block = tour_block()
    clone = stand_in_clone(tmp_path)
    script = (
        "set -eE -o pipefail\n"
        "trap 'echo \"README tour, line $LINENO failed (exit $?): $BASH_COMMAND\" >&2' ERR\n"
        + block
    )
    env = {
        key: value for key, value in os.environ.items()
        if not key.startswith("OVERT_") and key not in ("VIRTUAL_ENV", "PYTHONHOME")
    }
    env.update(HOME=str(tmp_path), PYTHONPATH=str(ROOT), COLUMNS="80", TERM="dumb")
    result = subprocess.run(["bash", "-s"], input=script, cwd=clone, env=env, capture_output=True, text=True,
                            timeout=1800)
    assert result.returncode == 0, f"{result.stderr[-3000:]}\n--- stdout ---\n{result.stdout[-3000:]}"
    assert "Traceback" not in result.stderr
    tour = tmp_path / "overt-tour"
    assert (tour / "d1.pdf").read_bytes()[:5] == b"%PDF-"
    assert (tour / "audit" / "report.html").is_file() and (tour / "data" / "overt.db").is_file()
    assert '"alert"' in result.stdout  # the camera clip raised a candidate alert for the enrolled person
    assert "confirmed (2/2 reviews)" in result.stdout


def test_the_tour_sets_up_what_it_uses() -> None:
    """Cheap checks that need no run: the venv is activated before `overt`, and photos come from the repo."""
    lines = [line for line in tour_block().splitlines() if line.strip()]
    first_overt = next(i for i, line in enumerate(lines) if re.search(r"(^|\$\(|;\s*)overt ", line))
    assert any("activate" in line for line in lines[:first_overt])
    for path in re.findall(r"\$photos/([\w.\-]+)", tour_block()):
        assert (ROOT / "overt" / "samples" / path).is_file(), path
