"""The audit log and the state bound to it, attacked the way insiders would, on SQLite and PostgreSQL.

T1, the database alone (a DBA, an edited backup, SQL without the keys folder): every addition, removal,
change, reordering or truncation is detected by `audit verify`, and a state edit cannot become an action.
T2, root on the server (database and every key): not preventable locally, so it is caught from outside by
a head published earlier (`audit verify --against`) and by a witness polling the public site.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine, text

from overt.api import ApiSettings, create_app
from overt.api.server import running
from overt.audit.canonical import format_time
from overt.audit.chain import (
    ZERO_HASH,
    chain_payload,
    checkpoint_line,
    head_message,
    record_hash,
    record_mac_message,
)
from overt.audit.head import Head, HeadWitness
from overt.audit.keys import KEY_FILE, PUBLIC_FILE, SigningKey, load_signing_keys
from overt.audit.merkle import Frontier, leaf_hash
from overt.audit.witness import Witness
from overt.config import Settings
from overt.gallery.search import Candidate
from overt.governance.gate import Scope
from overt.services import Actor, Overt, Refused, operate
from overt.services.cameras import CameraInfo
from overt.storage.models import AuditCheckpoint, Deployment
from tests.governance_helpers import actor, approved, make_overt

AUDITOR = Actor("aud", "auditor")
TRIGGERS = ("audit_log", "audit_checkpoints", "audit_tree")


@dataclass
class World:
    """An installation with users, a deployment, a watchlist, an alert and reviews, and its insider."""

    overt: Overt
    home: Path
    deployment: int
    alert: int

    @property
    def url(self) -> str:
        return self.overt.settings.db_url

    @property
    def checkpoints(self) -> Path:
        return self.home / "audit" / "checkpoints.jsonl"

    def sql(self, *statements: str, **params: Any) -> list[Any]:
        """SQL straight at the database, append-only triggers dropped first, as a DBA would."""
        engine = create_engine(self.url)
        try:
            with engine.begin() as conn:
                for table in TRIGGERS:
                    if engine.dialect.name == "sqlite":
                        for verb in ("update", "delete"):
                            conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_{verb}"))
                    else:
                        conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
                rows: list[Any] = []
                for statement in statements:
                    result = conn.execute(text(statement), params)
                    rows = list(result) if result.returns_rows else rows
                return rows
        finally:
            engine.dispose()

    def last_seq(self) -> int:
        return self.sql("SELECT max(seq) FROM audit_log")[0][0]

    def verify(self, against: dict[str, Any] | None = None) -> Any:
        return Overt(self.overt.settings).audit_service.verify(AUDITOR, against=against)


def signed(overt: Overt) -> None:
    overt._unsigned = True
    overt.checkpoint()


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[World]:
    yield from make_world(database_url, tmp_path)


def make_world(database_url: str, tmp_path: Path) -> Iterator[World]:
    home = tmp_path / "home"
    overt = make_overt(home, database_url)
    admin = overt.actor("admin")
    overt.gallery.create_watchlist(admin, "missing", categories=["missing-person"])
    overt.cameras.add(actor("op"), CameraInfo(id="cam-1", source="rtsp://10.0.0.5/station", lat=44.81, lon=20.46))
    deployment = approved(overt)
    signed(overt)
    scope = Scope("identify", watchlists=("missing",), case="C-1")
    with operate(overt, actor("op"), "identify", deployment_id=deployment, scope=scope) as op:
        candidate = Candidate(subject_id=None, subject="case-17", watchlist="missing", score=9.0, raw_score=0.99,
                              template_id=0)
        (alert,) = overt.alerts.raise_for(op, [candidate], 4.3, case_ref="C-1")
    signed(overt)
    overt.alerts.review(actor("rev1"), alert, "reject", "not the same person")
    signed(overt)
    result = overt.audit_service.verify(AUDITOR)
    assert result.ok, result.problem
    try:
        yield World(overt, home, deployment, alert)
    finally:
        overt.db.dispose()


def rehash(world: World, since: int) -> None:
    """Recompute every hash from `since` on, as someone who knows the format but not the MAC key would."""
    rows = world.sql(
        "SELECT seq, at, actor, action, deployment_id, object_type, object_id, outcome, details "
        "FROM audit_log WHERE seq >= :since ORDER BY seq", since=since
    )
    prev = world.sql("SELECT hash FROM audit_log WHERE seq = :seq", seq=since - 1)[0][0] if since > 1 else ZERO_HASH
    for row in rows:
        at = stored_time(row[1])
        new = record_hash(chain_payload(row[0], at, *row[2:], prev))
        world.sql("UPDATE audit_log SET prev_hash = :prev, hash = :hash WHERE seq = :seq", prev=prev, hash=new,
                  seq=row[0])
        prev = new


def stored_time(value: Any) -> datetime:
    """A time as the database returns it raw (SQLite: text without a zone, which Overt writes in UTC)."""
    return datetime.fromisoformat(value).replace(tzinfo=UTC) if isinstance(value, str) else value


def forge_tail(world: World, mac: str | None) -> None:
    """A plain INSERT at the end with a correct chain hash (no secret needed for that): a confirmation."""
    seq = world.last_seq()
    prev, at = world.sql("SELECT hash, at FROM audit_log WHERE seq = :seq", seq=seq)[0]
    details = '{"alert_id":1,"reviews":2}'
    payload = chain_payload(seq + 1, stored_time(at), "rev1", "alert.confirmed", None, "alert", "1", "ok", details,
                            prev)
    world.sql(
        "INSERT INTO audit_log (seq, at, actor, action, deployment_id, object_type, object_id, outcome, details, "
        "prev_hash, hash, mac, mac_key_id) VALUES (:seq, :at, 'rev1', 'alert.confirmed', NULL, 'alert', '1', 'ok', "
        ":details, :prev, :hash, :mac, (SELECT mac_key_id FROM audit_log WHERE seq = 1))",
        seq=seq + 1, at=at, details=details, prev=prev, hash=record_hash(payload), mac=mac,
    )


def cut_tail(world: World, n: int, *, with_checkpoints: bool) -> None:
    """Delete the newest `n` records (and their tree nodes); optionally every checkpoint and file line
    that covers them, so nothing in the database or the file still mentions them."""
    keep = world.last_seq() - n
    world.sql("DELETE FROM audit_log WHERE seq > :keep", "DELETE FROM audit_tree WHERE (idx + 1) * "
              "(1 << level) > :keep", keep=keep)
    if with_checkpoints:
        world.sql("DELETE FROM audit_checkpoints WHERE seq > :keep", keep=keep)
        if world.checkpoints.exists():  # none yet when a server is killed before its first signed head
            lines = [line for line in world.checkpoints.read_text().splitlines() if json.loads(line)["seq"] <= keep]
            world.checkpoints.write_text("".join(line + "\n" for line in lines))


def foreign_file(world: World, tmp: Path) -> None:
    other = make_overt(tmp / "other")
    signed(other)
    world.checkpoints.write_text((tmp / "other" / "audit" / "checkpoints.jsonl").read_text())
    other.db.dispose()


ATTACKS: dict[str, tuple[Callable[[World, Path], None], str]] = {
    "edit a record": (
        lambda w, _: w.sql("UPDATE audit_log SET actor = 'nobody' WHERE seq = 3"), "record 3 does not match"),
    "edit and re-hash": (
        lambda w, _: (w.sql("UPDATE audit_log SET actor = 'nobody' WHERE seq = 3"), rehash(w, 3)),
        "record 3 has an invalid MAC"),
    "delete a record": (lambda w, _: w.sql("DELETE FROM audit_log WHERE seq = 4"), "record 4 is missing"),
    "renumber and re-hash": (
        lambda w, _: (w.sql("DELETE FROM audit_log WHERE seq = 4", "UPDATE audit_log SET seq = 1 - seq WHERE seq > 4",
                            "UPDATE audit_log SET seq = -seq WHERE seq < 0"), rehash(w, 4)), "invalid MAC"),
    "reorder": (
        lambda w, _: w.sql("UPDATE audit_log SET seq = -1 WHERE seq = 5", "UPDATE audit_log SET seq = 5 WHERE seq = 6",
                           "UPDATE audit_log SET seq = 6 WHERE seq = -1"), "record 5 does not link"),
    "append a forged record": (lambda w, _: forge_tail(w, None), "has no MAC"),
    "append a forged record with a copied MAC": (
        lambda w, _: forge_tail(w, w.sql("SELECT mac FROM audit_log WHERE seq = 2")[0][0]), "invalid MAC"),
    "cut the tail": (lambda w, _: cut_tail(w, 3, with_checkpoints=False), "cut off"),
    "cut the tail with its checkpoints and file lines": (
        lambda w, _: cut_tail(w, 3, with_checkpoints=True), "saw committed"),
    "empty the checkpoint file": (lambda w, _: w.checkpoints.write_text(""), "not in the checkpoint file"),
    "delete the checkpoint file": (lambda w, _: w.checkpoints.unlink(), "checkpoint file"),
    "garbage in the checkpoint file": (
        lambda w, _: w.checkpoints.write_text("not json\n"), "is not a checkpoint"),
    "another installation's checkpoint file": (foreign_file, "not in the checkpoint file|unknown key"),
    "drop every checkpoint and the file": (
        lambda w, _: (w.sql("DELETE FROM audit_checkpoints"), w.checkpoints.unlink()),
        "checkpoint.*(gone|covers)"),
    "rewrite history, drop every checkpoint, empty the file": (
        lambda w, _: (w.sql("UPDATE audit_log SET details = replace(details, 'judge', 'mallory')"), rehash(w, 1),
                      w.sql("DELETE FROM audit_checkpoints"), w.checkpoints.write_text("")), "invalid MAC"),
    "confirm an alert with SQL": (
        lambda w, _: w.sql("UPDATE alerts SET status = 'confirmed'"), "alerts:1 differs from the audit log"),
    "give an operator the authority role": (
        lambda w, _: w.sql("UPDATE users SET role = 'authority' WHERE name = 'op'"), "differs from the audit log"),
    "delete a review": (lambda w, _: w.sql("DELETE FROM reviews"), "reviews:1"),
    "countersign an account with SQL": (
        lambda w, _: w.sql("UPDATE users SET countersigned_by = 'ghost' WHERE name = 'op'"),
        "differs from the audit log"),
    "re-point an approval's snapshot": (
        lambda w, _: w.sql("UPDATE deployments SET snapshot_sha256 = 'x'"), "deployments:1 differs"),
    "add a user with SQL": (
        lambda w, _: w.sql("INSERT INTO users (name, role, token_hash, created_at, disabled) VALUES "
                           "('ghost', 'reviewer', 'x', '2026-01-01', false)"), "added outside Overt"),
    "point an approved camera elsewhere": (
        lambda w, _: w.sql("UPDATE cameras SET source = 'rtsp://10.9.9.9/other', lat = 44.7"),
        "cameras:cam-1 differs from the audit log"),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_database_only_insider_is_detected(world: World, tmp_path: Path, attack: str) -> None:
    tamper, expected = ATTACKS[attack]
    tamper(world, tmp_path)
    result = world.verify()
    assert not result.ok, attack
    assert re.search(expected, result.problem or ""), (attack, result.problem)


def test_verify_command_exits_6_naming_every_row_that_disagrees(world: World) -> None:
    world.sql("UPDATE alerts SET status = 'confirmed'", "UPDATE users SET role = 'admin' WHERE name = 'rev2'")
    token = world.overt.system.reset_token(actor("admin"), "aud")
    env = {**os.environ, "OVERT_HOME": str(world.home), "COLUMNS": "200", "OVERT_TOKEN": token}
    if "postgresql" in world.url:
        env["OVERT_DATABASE_URL"] = world.url
    done = subprocess.run([sys.executable, "-m", "overt", "--as", "aud", "audit", "verify", "--json"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 6, done.stderr
    report = json.loads(done.stdout)
    assert not report["ok"] and len(report["state"]) == 2
    assert any("alerts:1" in row for row in report["state"]) and any("users:" in row for row in report["state"])


def test_whole_numbers_in_real_columns_are_bound_as_the_database_returns_them(world: World) -> None:
    """A camera facing 180 degrees at a whole-number latitude: the database hands these back as 180.0 and
    44.0, and an honest installation must not read that as a row changed outside Overt (`overt serve
    --demo` did, until a kill -9 test verified its log)."""
    world.overt.cameras.add(actor("op"), CameraInfo(id="cam-2", source="rtsp://10.0.0.6/square", lat=44, lon=20,
                                                    direction=180))
    result = world.verify()
    assert result.ok and not result.state, (result.problem, result.state)


def test_a_state_edit_cannot_become_an_action(world: World) -> None:
    """The rejected alert is 'confirmed' by SQL: recording an arrest is refused, since no confirmation is in
    the log. The revoked deployment is 'approved' by SQL: a search under it is refused."""
    world.sql("UPDATE alerts SET status = 'confirmed'")
    with pytest.raises(Refused) as refused:
        world.overt.alerts.record_outcome(actor("op"), world.alert, "arrested")
    assert refused.value.rule == "log-mismatch"
    world.overt.deployments.revoke(actor("judge"), world.deployment, "no longer needed")
    world.sql("UPDATE deployments SET status = 'approved'")
    scope = Scope("identify", watchlists=("missing",), case="C-2")
    with pytest.raises(Refused) as refused, operate(world.overt, actor("op"), "identify",
                                                    deployment_id=world.deployment, scope=scope):
        pass
    assert refused.value.rule == "log-mismatch" and "revoked" in refused.value.message


def test_a_revocation_cut_off_the_log_cannot_become_an_action(world: World) -> None:
    """The revocation's records are deleted and the table set back to 'approved': the log the gate reads then
    agrees with the table, but it ends before the record the head file saw committed. Refused, also when
    the gate looks again in a fresh transaction."""
    world.overt.deployments.revoke(actor("judge"), world.deployment, "no longer needed")
    (revoked_at,) = world.sql("SELECT min(seq) FROM audit_log WHERE action = 'deployment.revoke'")[0]
    cut_tail(world, world.last_seq() - revoked_at + 1, with_checkpoints=True)
    world.sql("UPDATE deployments SET status = 'approved'")
    scope = Scope("identify", watchlists=("missing",), case="C-2")
    with pytest.raises(Refused) as refused, operate(Overt(world.overt.settings), actor("op"), "identify",
                                                    deployment_id=world.deployment, scope=scope):
        pass
    assert refused.value.rule == "log-mismatch" and "cut off" in refused.value.message, refused.value.message


# --- crashes: kill -9 while writing, then the insider deletes the newest records ------------------------

WRITER = """
import sys
from overt.config import Settings
from overt.services import Overt
overt = Overt(Settings(home=sys.argv[1], database_url=sys.argv[2] or None))
i = 0
while True:
    overt.record_separately("gate.refused", actor="op", outcome="refused", operation="enroll", rule="role",
                            reason=f"bulk {i}")
    i += 1
"""


def writes_then_killed(world: World, records: int) -> None:
    url = world.url if "postgresql" in world.url else ""
    start = world.last_seq()
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(world.home), url], env={**os.environ},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while world.last_seq() < start + records:
        assert writer.poll() is None, writer.stderr.read() if writer.stderr else ""
        assert time.monotonic() < deadline, "the writer did not write"
        time.sleep(0.05)
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait(timeout=30)


def test_kill_9_mid_write_leaves_a_verifiable_log(world: World) -> None:
    writes_then_killed(world, 40)
    result = world.verify()
    assert result.ok, result.problem


@pytest.mark.parametrize("with_checkpoints", [False, True])
def test_kill_9_then_deleting_the_newest_records_is_detected(world: World, with_checkpoints: bool) -> None:
    writes_then_killed(world, 40)
    cut_tail(world, 2, with_checkpoints=with_checkpoints)
    result = world.verify()
    assert not result.ok and "cut off" in (result.problem or ""), result.problem


BULK_ENROLMENT = """
import sys
from pathlib import Path
from overt.config import Settings
from overt.services import Actor, Overt
from overt.services.gallery import EnrolRequest
overt = Overt(Settings(home=sys.argv[1], database_url=sys.argv[2] or None))
faces = Path(sys.argv[4])
requests = [EnrolRequest(f"p{n}", (faces / f"{n}_neutral.jpg",), "missing-person") for n in ("001", "004", "025",
                                                                                             "042", "043")]
for result in overt.gallery.enroll_many(Actor("op", "operator"), int(sys.argv[3]), "missing", requests):
    assert "error" not in result, result
"""
FACES = Path(__file__).parent / "data" / "faces"


def enrolled(world: World) -> int:
    return world.sql("SELECT count(*) FROM audit_log WHERE action = 'subject.enroll'")[0][0]


def test_kill_9_during_a_bulk_enrolment_then_cutting_its_newest_records_is_detected(world: World) -> None:
    """Five subjects enrolled in one run, killed after the second: what committed verifies; the insider
    who then deletes the newest records (the last subject's) is caught."""
    deployment = approved(world.overt, max_watchlist_size=10)
    url = world.url if "postgresql" in world.url else ""
    before = enrolled(world)
    writer = subprocess.Popen([sys.executable, "-c", BULK_ENROLMENT, str(world.home), url, str(deployment),
                               str(FACES)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while enrolled(world) < before + 2:
        assert writer.poll() is None, writer.stderr.read() if writer.stderr else ""
        assert time.monotonic() < deadline, "the bulk enrolment did not start"
        time.sleep(0.02)
    assert writer.poll() is None  # killed in the middle of the run, not after it
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait(timeout=30)
    assert before + 2 <= enrolled(world) < before + 5
    result = world.verify()
    assert result.ok, result.problem
    cut_tail(world, 3, with_checkpoints=True)
    result = world.verify()
    assert not result.ok and "cut off" in (result.problem or ""), result.problem


@pytest.mark.slow
def test_kill_9_of_a_server_with_live_alerts_then_cutting_its_newest_records_is_detected(tmp_path: Path) -> None:
    """`overt serve --demo`: cameras running, live alerts raised and joined; kill -9. The log verifies;
    after the insider deletes the newest records, with their checkpoints and file lines, it does not."""
    from tests.test_demo_cleanup import claimed_by, free_port, start_demo, wait_for

    server = start_demo(tmp_path, free_port())
    try:
        wait_for(lambda: claimed_by(tmp_path, server.pid), "the demo folder")
        (home,) = claimed_by(tmp_path, server.pid)

        def live() -> bool:
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            try:
                with sqlite3.connect(f"file:{home / 'overt.db'}?mode=ro", uri=True) as db:
                    return db.execute("SELECT (SELECT count(*) FROM alerts) > 0 AND (SELECT count(*) FROM "
                                      "audit_log WHERE action = 'alert.sighting') > 0").fetchone()[0] == 1
            except sqlite3.Error:  # the database is still being created
                return False

        wait_for(live, "live alerts and sightings")
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=60)
    finally:
        server.kill()
    world = World(Overt(Settings(home=home)), home, 0, 0)
    result = world.verify()
    assert result.ok, result.problem
    cut_tail(world, 3, with_checkpoints=True)
    result = world.verify()
    assert not result.ok and "cut off" in (result.problem or ""), result.problem


KILLED_AT_COMMIT = """
import os, signal, sys
from overt.config import Settings
from overt.services import Overt
overt = Overt(Settings(home=sys.argv[1], database_url=sys.argv[2] or None))
overt.audit.checkpoint_every = 1  # this transaction also signs a tree head
# After the log has chained the record and told the head witness, before the database commits: the worst moment.
overt.db.listen("before_commit", lambda session: os.kill(os.getpid(), signal.SIGKILL))
overt.record_separately("gate.refused", actor="op", outcome="refused", operation="enroll", rule="role", reason="x")
"""


def test_kill_9_between_telling_the_witness_and_committing_is_an_interrupted_commit(world: World) -> None:
    """The head witness already names the head, and the head signed, that never committed: verification
    reports an interrupted commit, not deleted records or checkpoints; the next writer goes on."""
    url = world.url if "postgresql" in world.url else ""
    before = world.last_seq()
    killed = subprocess.run([sys.executable, "-c", KILLED_AT_COMMIT, str(world.home), url], timeout=120)
    assert killed.returncode == -signal.SIGKILL and world.last_seq() == before
    result = world.verify()
    assert result.ok and any("interrupted" in w for w in result.warnings), (result.problem, result.warnings)
    Overt(world.overt.settings).record_separately("gate.refused", actor="op", outcome="refused",
                                                  operation="enroll", rule="role", reason="after the crash")
    result = world.verify()
    assert result.ok and not result.warnings, (result.problem, result.warnings)


def test_many_processes_append_one_chain(world: World) -> None:
    """Four processes write at once: one contiguous, authenticated chain, no fork and no gap."""
    url = world.url if "postgresql" in world.url else ""
    code = WRITER.replace("while True:", "while i < 40:")
    start = world.last_seq()
    writers = [subprocess.Popen([sys.executable, "-c", code, str(world.home), url]) for _ in range(4)]
    assert all(w.wait(timeout=300) == 0 for w in writers)
    result = world.verify()
    assert result.ok, result.problem
    assert result.records >= start + 160


GATED = """
import sys
from overt.config import Settings
from overt.governance.gate import Scope
from overt.services import Actor, Overt, operate
overt = Overt(Settings(home=sys.argv[1], database_url=sys.argv[2] or None))
scope = Scope("identify", watchlists=("missing",), case="C-9")
for i in range(30):
    with operate(overt, Actor("op", "operator"), "identify", deployment_id=int(sys.argv[3]), scope=scope) as op:
        op.record("operation.failed", operation="identify", error=f"probe {i} had no face")
"""


def test_gated_operations_in_many_processes_are_not_mistaken_for_tampering(world: World) -> None:
    """Camera workers and API processes check the log while others append: no false `log-mismatch`."""
    url = world.url if "postgresql" in world.url else ""
    workers = [subprocess.Popen([sys.executable, "-c", GATED, str(world.home), url, str(world.deployment)],
                                stderr=subprocess.PIPE, text=True) for _ in range(3)]
    for worker in workers:
        assert worker.wait(timeout=300) == 0, worker.stderr.read() if worker.stderr else ""
    assert world.verify().ok


def test_a_snapshot_older_than_the_head_file_is_not_mistaken_for_a_cut_log(world: World) -> None:
    """SQLite keeps a read transaction's snapshot from its first read. Records another writer commits after
    it are already named by the head file when the gate looks: the end of the log the session sees is older,
    not cut off. The gate must look again in a transaction begun after it read the file."""
    with world.overt.db.session() as session:
        deployment = session.get(Deployment, world.deployment)
        assert deployment is not None
        for i in range(3):
            world.overt.record_separately("gate.refused", actor="op", outcome="refused", operation="enroll",
                                          rule="role", reason=f"meanwhile {i}")
        world.overt.log_guard.deployment(session, deployment)
    assert world.verify().ok


# --- root on the server: every key, caught from outside ----------------------------------------------------


def root_rewrites(world: World, swap_key: bool) -> None:
    """Edit old records and make everything consistent again with the installation's own keys (and, with
    `swap_key`, a signing key of root's own): hashes, MACs, the tree, the signed heads, the checkpoint file
    and the head witness. Local verification cannot tell."""
    overt = Overt(world.overt.settings)
    ring, keys_dir = overt.audit.mac_keys, overt.settings.keys_dir
    key = SigningKey(Ed25519PrivateKey.generate()) if swap_key else overt.audit.signing_key
    world.sql("UPDATE audit_log SET details = replace(details, 'necessary', 'NECESSARY') "
              "WHERE action = 'deployment.approve'")
    rows = world.sql("SELECT seq, at, actor, action, deployment_id, object_type, object_id, outcome, details, "
                     "mac_key_id, lane, lane_seq FROM audit_log ORDER BY seq")
    frontier, roots, prev, nodes = Frontier(), {}, ZERO_HASH, []
    for row in rows:
        hash_ = record_hash(chain_payload(row[0], stored_time(row[1]), *row[2:9], prev))
        world.sql("UPDATE audit_log SET prev_hash = :p, hash = :h, mac = :m WHERE seq = :s", p=prev, h=hash_,
                  m=ring.mac(record_mac_message(hash_, row[10], row[11]), row[9]), s=row[0])
        nodes += frontier.append(leaf_hash(bytes.fromhex(hash_)))
        roots[row[0]] = (hash_, frontier.root().hex())
        prev = hash_
    world.sql("DELETE FROM audit_tree")
    for (level, idx), value in nodes:
        world.sql("INSERT INTO audit_tree (level, idx, hash) VALUES (:l, :i, :h)", l=level, i=idx, h=value.hex())
    lines = []
    for row_id, seq, at in world.sql("SELECT id, seq, at FROM audit_checkpoints ORDER BY id"):
        hash_, root = roots[seq]
        signature = key.sign(head_message(seq, root, format_time(stored_time(at))))
        world.sql("UPDATE audit_checkpoints SET hash = :h, root = :r, key_id = :k, signature = :s WHERE id = :i",
                  h=hash_, r=root, k=key.key_id, s=signature, i=row_id)
        lines.append(checkpoint_line(AuditCheckpoint(seq=seq, hash=hash_, root=root, at=stored_time(at),
                                                     key_id=key.key_id, signature=signature)))
    world.checkpoints.write_text("".join(line + "\n" for line in lines))
    last = Head(rows[-1][0], roots[rows[-1][0]][0])
    witness = HeadWitness(keys_dir / "audit_head.json", ring)
    witness.begin(None, last, None)
    witness.settle(last, committed=True)
    if swap_key:
        for path in keys_dir.glob("audit_ed25519*"):
            path.unlink()
        private = key.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        (keys_dir / KEY_FILE).write_bytes(private)
        os.chmod(keys_dir / KEY_FILE, 0o600)
        (keys_dir / PUBLIC_FILE).write_bytes(
            key.public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
    assert list(load_signing_keys(keys_dir)) == [key.key_id]


@pytest.mark.parametrize("swap_key", [False, True])
def test_root_rewriting_history_is_caught_by_a_published_head(world: World, swap_key: bool) -> None:
    published = world.overt.audit_service.head()
    assert published is not None and published["size"] == world.last_seq()
    root_rewrites(world, swap_key)
    assert world.verify().ok  # locally undetectable: root holds every key
    result = world.verify(against=published)
    assert not result.ok
    assert ("not signed by any audit key" if swap_key else "no longer have the published root") in result.problem


@pytest.mark.parametrize("swap_key", [False, True])
def test_a_witness_of_the_public_site_catches_root(world: World, tmp_path: Path, swap_key: bool) -> None:
    store = tmp_path / "witness"
    with running(create_app(Overt(world.overt.settings), ApiSettings())) as base:
        first = Witness(store).check(base)
        assert first.ok and first.previous_size is None, first.problem
        world.overt.alerts.review(actor("rev2"), world.alert, "reject", "not him")
        signed(world.overt)
        grown = Witness(store).check(base)
        assert grown.ok and grown.previous_size == first.head["size"], grown.problem
    root_rewrites(world, swap_key)
    with running(create_app(Overt(world.overt.settings), ApiSettings())) as base:
        caught = Witness(store).check(base)
    assert not caught.ok
    assert re.search("no key you trusted endorsed" if swap_key else "forked|does not extend", caught.problem)
    assert (store / "problems.jsonl").exists()


def test_rotated_keys_verify_and_witnesses_follow_the_endorsement(world: World, tmp_path: Path) -> None:
    store = tmp_path / "witness"
    with running(create_app(Overt(world.overt.settings), ApiSettings())) as base:
        assert Witness(store).check(base).ok
    old = world.overt.audit.mac_keys.current_id
    world.overt.system.rotate_key(actor("admin"))
    signed(world.overt)
    again = Overt(world.overt.settings)  # a new process takes the keys the log says are in force
    assert again.audit.mac_keys.current_id != old
    assert world.verify().ok
    with running(create_app(again, ApiSettings())) as base:
        followed = Witness(store).check(base)
    assert followed.ok, followed.problem
    assert any("endorsed by" in note for note in followed.notes)


def test_bad_input_to_the_audit_commands_is_one_line_with_its_exit_code(world: World, tmp_path: Path) -> None:
    token = world.overt.system.reset_token(actor("admin"), "aud")
    env = {**os.environ, "OVERT_HOME": str(world.home), "OVERT_TOKEN": token}
    if "postgresql" in world.url:
        env["OVERT_DATABASE_URL"] = world.url
    garbage = tmp_path / "head.json"
    garbage.write_text('{"size": "many"}')

    def overt_cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "overt", "--as", "aud", "audit", *args], env=env,
                              capture_output=True, text=True, timeout=120)

    for args, code in ((["verify", "--against", str(garbage)], 2), (["prove", "999999"], 2),
                       (["consistency", "5", "3"], 2), (["witness", "http://127.0.0.1:9/", "--store",
                                                         str(tmp_path / "w")], 1)):
        done = overt_cli(*args)
        assert done.returncode == code, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr, (args, done.stderr)
