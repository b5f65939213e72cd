"""The `overt` command line as scripts use it: JSON contracts, exit codes, one-line errors, the full path."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from overt.governance.spec import TEMPLATE
from tests.governance_helpers import spec

FACES = Path(__file__).parent / "data" / "faces"
BACKGROUNDS = Path(__file__).parent / "data" / "backgrounds"


def run(home: Path, *args: str, user: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "OVERT_HOME": str(home), "COLUMNS": "200"}
    env.pop("OVERT_USER", None)
    prefix = ["--as", user] if user else []
    result = subprocess.run([sys.executable, "-m", "overt", *prefix, *args], capture_output=True, text=True, env=env,
                            timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"overt {' '.join(args)} exited {result.returncode}: {result.stderr}")
    assert "Traceback" not in result.stderr
    return result


def test_detect_json_contract(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really")
    out = json.loads(run(tmp_path, "detect", str(FACES / "001_neutral.jpg"), str(BACKGROUNDS), str(broken),
                         "--json").stdout)
    by_path = {Path(r["path"]).name: r for r in out}
    face = by_path["001_neutral.jpg"]["faces"][0]
    assert len(face["box"]) == 4 and len(face["landmarks"]) == 5 and all(len(p) == 2 for p in face["landmarks"])
    assert {"score", "reasons"} <= set(face["quality"]) and isinstance(face["confidence"], float)
    assert by_path["fox-715588_640.jpg"]["faces"] == []
    assert "error" in by_path["broken.jpg"] and "faces" not in by_path["broken.jpg"]


def test_verify_contract_and_exit_codes(tmp_path: Path) -> None:
    same = json.loads(run(tmp_path, "verify", str(FACES / "042_neutral.jpg"), str(FACES / "042_smiling.jpg"),
                          "--json").stdout)
    assert {"a", "b", "score", "match", "threshold", "model"} <= set(same)
    assert same["match"] is True and same["model"] == "dlib-resnet-v1"
    other = json.loads(run(tmp_path, "verify", str(FACES / "042_neutral.jpg"), str(FACES / "001_neutral.jpg"),
                           "--json").stdout)
    assert other["match"] is False and other["threshold"] == same["threshold"]
    no_face = run(tmp_path, "verify", str(FACES / "042_neutral.jpg"), str(BACKGROUNDS / "fox-715588_640.jpg"),
                  check=False)
    assert no_face.returncode == 3 and "no face" in no_face.stderr and len(no_face.stderr.strip().splitlines()) == 1
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    bad = run(tmp_path, "verify", str(empty), str(FACES / "042_neutral.jpg"), check=False)
    assert bad.returncode == 4 and "empty" in bad.stderr


def test_verify_pairs_reports_each_pair(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("a,b\n042_neutral.jpg,042_smiling.jpg\n001_neutral.jpg,missing.jpg\n")
    lines = [json.loads(x) for x in run(tmp_path, "verify", "--pairs", str(pairs), "--root", str(FACES),
                                        "--json").stdout.splitlines()]
    assert lines[0]["match"] is True and "error" in lines[1]


def test_models_lists_files_cohort_and_calibration(tmp_path: Path) -> None:
    info = json.loads(run(tmp_path, "models", "--json").stdout)
    assert all(len(f["sha256"]) == 64 for f in info["files"] if f["path"])
    assert info["calibration"]["normalisation"]["kind"] == "as-norm"
    assert info["cohort"]["size"] == info["calibration"]["normalisation"]["cohort_size"]


@pytest.mark.slow
def test_full_path_through_the_command_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    admin_token = json.loads(run(home, "init", "--json").stdout)["admin_token"]
    assert admin_token.startswith("ovt_")
    for name, role in (("op", "operator"), ("judge", "authority"), ("rev1", "reviewer"), ("rev2", "reviewer"),
                       ("aud", "auditor")):
        assert json.loads(run(home, "user", "add", name, "--role", role, "--json").stdout)["token"]
    assert yaml.safe_load(run(home, "deployment", "template").stdout)["mode"] == "live"
    assert "name" in yaml.safe_load(TEMPLATE)
    application = tmp_path / "deployment.yaml"
    application.write_text(spec())
    deployment = json.loads(run(home, "deployment", "apply", str(application), "--json", user="op").stdout)["id"]
    refused = run(home, "deployment", "approve", str(deployment), "--reason", "self", user="op", check=False)
    assert refused.returncode == 5 and "role" in refused.stderr
    run(home, "deployment", "approve", str(deployment), "--reason", "proportionate", user="judge")
    run(home, "watchlist", "create", "missing", "--category", "missing-person")
    run(home, "enroll", "missing", str(FACES / "042_neutral.jpg"), "--subject", "p042", "--category",
        "missing-person", "--deployment", str(deployment), user="op")
    again = ("enroll", "missing", str(FACES / "042_smiling.jpg"), "--subject", "p042-again", "--category",
             "missing-person", "--deployment", str(deployment))
    duplicate = run(home, *again, user="op", check=False)  # the same person under a second reference
    assert duplicate.returncode == 5 and "duplicate-subject" in duplicate.stderr and "'p042'" in duplicate.stderr
    assert len(duplicate.stderr.strip().splitlines()) == 1
    linked = json.loads(run(home, *again, "--same-as", "missing/p042", "--json", user="op").stdout)
    assert linked["same_as"] == "p042"  # linked on purpose (audited): one person, two records
    no_deployment = run(home, "identify", str(FACES / "042_smiling.jpg"), "--watchlist", "missing", check=False,
                        user="op")
    assert no_deployment.returncode == 2  # --deployment is required
    result = json.loads(run(home, "identify", str(FACES / "042_smiling.jpg"), "--watchlist", "missing",
                            "--deployment", str(deployment), "--case", "C-7", "--json", user="op").stdout)
    assert [c["subject"] for c in result["candidates"]] == ["p042-again"]  # one candidate per person
    assert {"threshold", "model"} <= set(result) and {"subject", "watchlist", "score"} <= set(result["candidates"][0])
    alert = json.loads(run(home, "alerts", "list", "--json", user="rev1").stdout)[0]
    assert alert["status"] == "pending"
    run(home, "review", str(alert["id"]), "confirm", "--note", "same", user="rev1")
    twice = run(home, "review", str(alert["id"]), "confirm", user="rev1", check=False)
    assert twice.returncode == 5 and "second-review" in twice.stderr
    final = json.loads(run(home, "review", str(alert["id"]), "confirm", "--json", user="rev2").stdout)
    assert final["status"] == "confirmed"
    verified = json.loads(run(home, "audit", "verify", "--json", user="aud").stdout)
    assert verified["ok"] is True and verified["records"] > 10
    export = tmp_path / "audit.jsonl"
    run(home, "audit", "export", "--out", str(export), user="aud")
    assert all("seq" in json.loads(line) for line in export.read_text().splitlines())

    with sqlite3.connect(home / "overt.db") as conn:  # an insider with the database file
        conn.execute("DROP TRIGGER audit_log_no_update")
        conn.execute("UPDATE audit_log SET actor = 'someone-else' WHERE seq = 5")
    tampered = run(home, "audit", "verify", "--json", user="aud", check=False)
    assert tampered.returncode == 6 and json.loads(tampered.stdout)["first_bad_seq"] == 5


def test_commands_need_an_installation_and_a_known_user(tmp_path: Path) -> None:
    missing = run(tmp_path / "nothing", "watchlist", "list", check=False)
    assert missing.returncode == 1 and "overt init" in missing.stderr
    run(tmp_path / "home", "init")
    unknown = run(tmp_path / "home", "watchlist", "list", user="mallory", check=False)
    assert unknown.returncode == 5 and "mallory" in unknown.stderr


@pytest.mark.parametrize("args", [["deployment", "apply", "nope.yaml"], ["identify", "x.jpg", "--watchlist", "w",
                                                                          "--deployment", "1"]])
def test_errors_are_one_line(tmp_path: Path, args: list[str]) -> None:
    run(tmp_path / "home", "init")
    result = run(tmp_path / "home", *args, check=False)
    assert result.returncode != 0 and len(result.stderr.strip().splitlines()) == 1


def test_cutting_the_last_records_off_is_detected(tmp_path: Path) -> None:
    """Each command signs the head it leaves, so truncating the tail shows even after the last command."""
    home = tmp_path / "home"
    run(home, "init")
    run(home, "user", "add", "aud", "--role", "auditor")
    run(home, "watchlist", "create", "w1")
    with sqlite3.connect(home / "overt.db") as conn:
        conn.execute("DROP TRIGGER audit_log_no_delete")
        conn.execute("DROP TRIGGER audit_checkpoints_no_delete")
        last = conn.execute("SELECT max(seq) FROM audit_log").fetchone()[0]
        conn.execute("DELETE FROM audit_log WHERE seq = ?", (last,))
        conn.execute("DELETE FROM audit_checkpoints WHERE seq = ?", (last,))
    result = run(home, "audit", "verify", "--json", user="aud", check=False)
    assert result.returncode == 6 and json.loads(result.stdout)["first_bad_seq"] == last
