"""Terminal output at 80 columns: values whole (no "stati…", "pendi…"), free text wrapped, columns that
do not fit left out with a note, `--wide` for all of them, and the facts `--json` has."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from overt.services.cameras import CameraInfo
from overt.services.gallery import EnrolRequest
from tests.governance_helpers import actor, approved, make_overt

FACES = Path(__file__).parent / "data" / "faces"
SAMPLES = Path(__file__).parent.parent / "overt" / "samples"


def run80(home: Path, *args: str, user: str | None = None, token: str = "") -> str:
    """`overt ARGS` in an 80-column terminal, as USER (whose token goes in OVERT_TOKEN)."""
    env = {**os.environ, "OVERT_HOME": str(home), "COLUMNS": "80", "TERM": "dumb", "OVERT_TOKEN": token}
    env.pop("OVERT_USER", None)
    prefix = ["--as", user] if user else []
    result = subprocess.run([sys.executable, "-m", "overt", *prefix, *args], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def words(text: str) -> set[str]:
    return {w.strip("│┃|") for line in text.splitlines() for w in line.split()}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("term") / "home"
    overt = make_overt(home)
    overt.cameras.add(actor("admin"), CameraInfo("station-north-entrance", "rtsp://cameras.example/a/very/long/"
                                                 "path/to/the/north/entrance/stream", "North entrance"))
    overt.gallery.create_watchlist(actor("admin"), "missing", categories=["missing-person"])
    deployment = approved(overt)
    overt.gallery.enroll(actor("op"), deployment, "missing",
                         EnrolRequest("case-2026-0017", (FACES / "042_neutral.jpg",), "missing-person"))
    overt.gallery.identify(actor("op"), deployment, FACES / "042_smiling.jpg", ["missing"], case="C-1")
    for name in ("rev1", "admin"):  # what `--as NAME` and the default user present as OVERT_TOKEN
        (home / f"{name}.token").write_text(overt.system.reset_token(actor("admin"), name))
    return home


def test_alerts_list_fits_80_columns_with_values_whole(home: Path) -> None:
    token = (home / "rev1.token").read_text()
    out = run80(home, "alerts", "list", user="rev1", token=token)
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "…" not in out
    assert {"pending", "hidden", "0/2", "status", "subject", "reviews"} <= words(out)
    assert "case-2026-0017" not in out  # a reviewer sees who it is only after deciding (blind review)
    assert "not shown at this width" in out and "--wide" in out
    wide = run80(home, "alerts", "list", "--wide", user="rev1", token=token)
    assert "…" not in wide and {"deployment", "threshold", "time", "pending"} <= words(wide)


def test_camera_list_wraps_the_source_instead_of_cutting_it(home: Path) -> None:
    admin = (home / "admin.token").read_text()
    out = run80(home, "camera", "list", token=admin)
    assert "…" not in out and "station-north-entrance" in words(out)
    assert max(len(line) for line in out.splitlines()) <= 80 and "rtsp://cameras.example" in out
    wide = run80(home, "camera", "list", "--wide", token=admin)
    assert "rtsp://cameras.example/a/very/long/path/to/the/north/entrance/stream" in wide


def test_models_shows_the_cohort_as_json_does(home: Path) -> None:
    out = run80(home, "models")
    assert "cohort: 418 faces" in out and "FairFace" in out and "…" not in out


@pytest.mark.slow
def test_the_evaluation_summary_names_the_worst_groups(tmp_path: Path) -> None:
    out = run80(tmp_path, "evaluate", str(SAMPLES / "manifest.csv"), "--by", "gender", "--bootstrap", "0",
                "--out", str(tmp_path / "audit"))
    assert "groups, worst FMR first" in out and {"female", "male"} <= words(out)
    report = (tmp_path / "audit" / "report.html").read_text()
    assert "set by the operator" not in report and "calibrated threshold in force" in report


def test_the_camera_health_table_wraps_errors_between_words(monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    from overt.cli import tables
    from overt.cli.stream_cmds import _health_table

    error = "gave up after 5 failed attempts: connection refused by the camera"
    health = {(1, "station-north"): {"state": "reconnecting", "fps_in": 0.0, "fps_out": 0.0, "lag_s": 0.0,
                                     "drops": 0, "faces_seen": 12, "alerts": 1, "last_error": error}}
    monkeypatch.setattr(tables.console, "width", 80)
    screen = Console(width=80, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    screen.print(_health_table(health, wide=False))
    text = screen.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80 and "…" not in text
    assert {"station-north", "reconnecting", *error.split()} <= words(text)
