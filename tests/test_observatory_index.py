"""The deployments index: real records in, the same records out, history and sign-off that resist edits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from overt.observatory import Observatory, ObservatoryError
from overt.observatory.publish import Installation, index_records
from overt.observatory.schema import SchemaError, read_file, write_csv, write_json

DATA = Path(__file__).parent / "data" / "observatory"
ROOT = Path(__file__).parent.parent


def overt_cli(home: Path, *args: str, user: str = "alice", token: str | None = None) -> subprocess.CompletedProcess:
    """The command line; `token` is needed by commands that act on an installation as one of its users."""
    env = {**os.environ, **({"OVERT_TOKEN": token} if token else {})}
    return subprocess.run(
        [sys.executable, "-m", "overt", "--home", str(home), "--as", user, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env=env,
    )


@pytest.fixture
def obs(tmp_path: Path) -> Observatory:
    store = Observatory(tmp_path / "observatory.db")
    yield store
    store.close()


def test_cli_round_trip_csv_and_json_gives_the_same_records(tmp_path: Path) -> None:
    home = tmp_path / "home"
    done = overt_cli(home, "observatory", "index", "import", str(DATA / "deployments.csv"), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"created": 5, "updated": 0, "unchanged": 0}
    original = read_file("a.csv", (DATA / "deployments.csv").read_text())
    for fmt in ("csv", "json"):
        out = tmp_path / f"export.{fmt}"
        done = overt_cli(home, "observatory", "index", "export", "--format", fmt, "--out", str(out))
        assert done.returncode == 0, done.stderr
        assert sorted(read_file(out.name, out.read_text()), key=lambda r: r["id"]) == sorted(
            original, key=lambda r: r["id"]
        )
        again = overt_cli(tmp_path / f"fresh-{fmt}", "observatory", "index", "import", str(out), "--json")
        assert json.loads(again.stdout)["created"] == 5
        same = overt_cli(home, "observatory", "index", "import", str(out), "--json")
        assert json.loads(same.stdout) == {"created": 0, "updated": 0, "unchanged": 5}
    stdout = overt_cli(home, "observatory", "index", "export", "--format", "json")
    assert [r["id"] for r in json.loads(stdout.stdout)["deployments"]][0] == "ec-ecu911"


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("id,country,status\nx,Y,maybe\n")
    done = overt_cli(tmp_path / "home", "observatory", "index", "import", str(bad))
    assert done.returncode == 2
    assert "status 'maybe'" in done.stderr and "Traceback" not in done.stderr
    done = overt_cli(tmp_path / "home", "observatory", "index", "export", "--format", "xml")
    assert done.returncode == 2


def test_aigs_columns_import(obs: Observatory) -> None:
    records = read_file("aigs.csv", (DATA / "aigs_sample.csv").read_text())
    assert records[0]["id"] == "kenya-huawei"
    assert records[0]["technology"] == ["smart_city"]
    assert records[0]["sources"][0]["url"].startswith("https://carnegieendowment.org/")
    obs.import_records(records, "alice")
    assert obs.aggregates()["vendor"] == [{"vendor": "Huawei", "deployments": 1}]


def test_aggregates_by_country_vendor_year(obs: Observatory) -> None:
    obs.import_records(read_file("d.csv", (DATA / "deployments.csv").read_text()), "alice")
    views = obs.aggregates()
    assert views["country"][0] == {"country": "United Kingdom", "deployments": 2}
    assert {"vendor": "NEC", "deployments": 2} in views["vendor"]
    assert {"year": "2017", "deployments": 2} in views["year"]


def test_update_history_and_sign_off_by_someone_else(obs: Observatory) -> None:
    records = read_file("d.csv", (DATA / "deployments.csv").read_text())
    obs.import_records(records, "alice")
    record = obs.get("gb-met-lfr")
    with pytest.raises(ObservatoryError, match="cannot sign it off"):
        obs.sign_off("gb-met-lfr", "alice", record["review"]["sha256"])
    obs.sign_off("gb-met-lfr", "bob", record["review"]["sha256"], "checked the Met's page")
    with pytest.raises(ObservatoryError, match="already signed off"):
        obs.sign_off("gb-met-lfr", "bob", record["review"]["sha256"])
    assert [r["id"] for r in obs.records(reviewed_only=True)] == ["gb-met-lfr"]

    changed = dict(records[0], status="suspended")
    assert obs.import_records([changed], "carol") == {"created": 0, "updated": 1, "unchanged": 0}
    now = obs.get("gb-met-lfr")
    assert now["review"]["version"] == 2 and now["review"]["signed_off_by"] == []  # a new version needs review
    with pytest.raises(ObservatoryError, match="changed since"):
        obs.sign_off("gb-met-lfr", "bob", record["review"]["sha256"])  # the old hash signs nothing new
    history = obs.history("gb-met-lfr")
    assert [c["action"] for c in history] == ["created", "signed_off", "updated"]
    assert history[-1]["changed"] == {"status": ["active", "suspended"]}
    assert obs.verify_history() == []


def test_edits_with_sql_are_found(obs: Observatory) -> None:
    obs.import_records(read_file("d.csv", (DATA / "deployments.csv").read_text()), "alice")
    with obs.db.engine.begin() as conn:  # the insider: change a record straight in the database
        conn.execute(
            text("UPDATE obs_deployments SET content = :c WHERE record_id = 'gb-swp-lfr'"),
            {"c": json.dumps(dict(obs.export()[2], status="ended"))},
        )
    assert any("gb-swp-lfr" in p for p in obs.verify_history())
    with obs.db.engine.begin() as conn:  # ... and cover it by rewriting its history
        conn.execute(text("UPDATE obs_changes SET actor = 'mallory' WHERE record_id = 'gb-met-lfr'"))
    assert any("does not match the chain" in p for p in obs.verify_history())


def test_schema_rejects_bad_values() -> None:
    with pytest.raises(SchemaError, match="latitude"):
        read_file("x.json", json.dumps([{"id": "a", "latitude": "north"}]))
    with pytest.raises(SchemaError, match="technology"):
        read_file("x.json", json.dumps([{"id": "a", "technology": "telepathy"}]))
    with pytest.raises(SchemaError, match="csv or .json"):
        read_file("x.xml", "")
    rows = read_file("x.json", write_json(read_file("x.csv", write_csv([]) or "id\n")))
    assert rows == []


def test_installation_publishes_its_public_records() -> None:
    public = [
        {
            "id": 7,
            "name": "Carnival",
            "status": "revoked",
            "mode": "live",
            "purpose": "missing people",
            "approved": "2026-08-01T09:00:00+00:00",
            "ended": "2026-08-02T18:00:00+00:00",
            "faces_seen": 12000,
            "alerts": 3,
            "confirmed_matches": 1,
        }
    ]
    (record,) = index_records(
        public, Installation("overt-nh", "United Kingdom", "London", "Met", "GB", "https://overt.example.org")
    )
    assert record["id"] == "overt-nh-7" and record["status"] == "ended" and record["technology"] == ["live"]
    assert record["sources"][0]["url"] == "https://overt.example.org/api/public/deployments/7"
    assert read_file("x.json", write_json([record]))[0] == read_file("x.json", json.dumps([record]))[0]


def test_parallel_imports_keep_one_chain(database_url: str) -> None:
    """Writers in parallel (the insider's race): every change lands, in one unforked chain, on SQLite and
    PostgreSQL alike."""
    from concurrent.futures import ThreadPoolExecutor

    store = Observatory(database_url)
    try:
        batches = [
            [{"id": f"rec-{t}-{n}", "country": "Serbia", "status": "active"} for n in range(5)] for t in range(4)
        ]
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda batch: store.import_records(batch, "alice"), batches))
        assert all(r["created"] == 5 for r in results)
        assert len(store.export()) == 20 and store.verify_history() == []
    finally:
        store.close()


def test_the_observatory_needs_no_engine_and_no_gallery() -> None:
    """Usable alone: importing and using it loads neither the face engine nor the gallery."""
    code = (
        "import sys, tempfile, pathlib\n"
        "from overt.observatory import Observatory\n"
        "from overt.observatory import cameras, notices, osm, publish, schema\n"
        "o = Observatory(pathlib.Path(tempfile.mkdtemp()) / 'o.db'); o.import_records([{'id': 'x'}], 'a')\n"
        "bad = [m for m in sys.modules if m.startswith(('overt.engine', 'overt.gallery', 'overt.services'))]\n"
        "print(bad)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_cli_sign_off_history_and_verify(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert overt_cli(home, "observatory", "index", "import", str(DATA / "deployments.csv")).returncode == 0
    listed = json.loads(overt_cli(home, "observatory", "index", "list", "--json").stdout)
    sha = next(r["review"]["sha256"] for r in listed if r["id"] == "rs-belgrade-safe-city")
    own = overt_cli(home, "observatory", "index", "sign-off", "rs-belgrade-safe-city", "--sha256", sha)
    assert own.returncode == 1 and "cannot sign it off" in own.stderr  # alice imported it
    signed = overt_cli(
        home, "observatory", "index", "sign-off", "rs-belgrade-safe-city", "--sha256", sha, "--json", user="bob"
    )
    assert json.loads(signed.stdout)["review"]["signed_off_by"] == ["bob"]
    reviewed = json.loads(overt_cli(home, "observatory", "index", "list", "--reviewed", "--json").stdout)
    assert [r["id"] for r in reviewed] == ["rs-belgrade-safe-city"]
    history = json.loads(overt_cli(home, "observatory", "index", "history", "rs-belgrade-safe-city", "--json").stdout)
    assert [(c["action"], c["actor"]) for c in history] == [("created", "alice"), ("signed_off", "bob")]
    by_year = json.loads(overt_cli(home, "observatory", "index", "aggregate", "--by", "year", "--json").stdout)
    assert {"year": "2017", "deployments": 2} in by_year
    assert json.loads(overt_cli(home, "observatory", "index", "verify", "--json").stdout) == {
        "ok": True,
        "problems": [],
    }
    store = Observatory(home / "observatory.db")
    with store.db.engine.begin() as conn:  # the insider removes the sign-off's record of who signed
        conn.execute(text("DELETE FROM obs_changes WHERE action = 'signed_off'"))
    store.close()
    tampered = overt_cli(home, "observatory", "index", "verify")
    assert tampered.returncode == 6 and "rs-belgrade-safe-city" in tampered.stdout
