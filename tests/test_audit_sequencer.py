"""The sequencer, as an insider would use it: entries committed but not yet chained, writers that
chain in their own transaction, and a chain whose end changes under a running process.

A writer killed between its commit and chaining leaves its entries in `audit_queue`, authenticated.
Here such a writer is a second process-like `Overt` whose chaining after commit is switched off (what a
kill -9 at that instant leaves is exactly this: committed queue rows, lane files saying "committed").
Then the insider deletes, forges or reorders queued entries with SQL, and everything must notice: the
log guard, `audit verify`, and the integrator of the next process.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from overt.audit.chain import PG_LOCK_KEY
from overt.audit.events import GateRefused
from overt.audit.head import HEAD_FILE
from overt.audit.lanes import LANES_DIR
from overt.audit.sequencer import BACKLOG
from overt.governance.gate import Scope
from overt.services import Overt, Refused, operate
from tests.governance_helpers import actor, approved
from tests.test_audit_insider import World, make_world

SCOPE = Scope("identify", watchlists=("missing",), case="C-2")


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[World]:
    """The installation with users, a deployment, an alert and reviews, and its insider."""
    yield from make_world(database_url, tmp_path)


def stalled(world: World) -> Overt:
    """A process that commits its work and dies before chaining its entries."""
    overt = Overt(world.overt.settings)
    overt.audit.integrate_after_commit = False
    return overt


def queued(world: World) -> list[tuple[int, str, int, str]]:
    return [tuple(r) for r in world.sql("SELECT id, lane, lane_seq, action FROM audit_queue ORDER BY id")]


def test_a_decision_waiting_in_the_queue_is_honoured_and_then_chained(world: World) -> None:
    deployment = approved(stalled(world))
    waiting = queued(world)
    assert any(action == "deployment.approve" for *_rest, action in waiting)
    live = Overt(world.overt.settings)
    with operate(live, actor("op"), "identify", deployment_id=deployment, scope=SCOPE):
        pass  # the guard found the approval in the queue: no false "log-mismatch"
    assert queued(world) == []  # the live process's commit chained the stalled one's entries too
    result = world.verify()
    assert result.ok and not result.warnings, (result.problem, result.warnings)


def test_queued_entries_verify_with_a_warning(world: World) -> None:
    approved(stalled(world))
    result = world.verify()
    assert result.ok, result.problem
    assert any("wait to be chained" in w for w in result.warnings)


def test_deleting_a_queued_decision_is_caught(world: World) -> None:
    deployment = approved(stalled(world))
    (entry,) = [e for e in queued(world) if e[3] == "deployment.approve"]
    world.sql("DELETE FROM audit_queue WHERE id = :id", id=entry[0])
    live = Overt(world.overt.settings)
    with pytest.raises(Refused) as refused, operate(live, actor("op"), "identify", deployment_id=deployment,
                                                    scope=SCOPE):
        pass
    assert refused.value.rule == "log-mismatch"
    result = world.verify()
    assert not result.ok
    assert f"writer lane {entry[1]}" in result.problem and "missing" in result.problem


def test_deleting_the_newest_queued_entries_is_caught_by_the_lane_file(world: World) -> None:
    approved(stalled(world))
    lane = queued(world)[-1][1]
    world.sql("DELETE FROM audit_queue WHERE lane = :lane", lane=lane)
    result = world.verify()
    assert not result.ok
    assert f"writer lane {lane}, which its writer saw committed, is missing" in result.problem


@pytest.mark.parametrize("how", ["garbage MAC", "copied MAC", "renumbered"])
def test_forged_or_moved_queue_entries_are_refused_and_reported(world: World, how: str) -> None:
    approved(stalled(world))
    first = queued(world)[0]
    if how == "renumbered":  # swap two entries' places in their lane: their MACs cover the number
        world.sql("UPDATE audit_queue SET lane_seq = -lane_seq WHERE lane = :lane", lane=first[1])
        world.sql("UPDATE audit_queue SET lane_seq = CASE WHEN lane_seq = :a THEN :b2 WHEN lane_seq = :b "
                  "THEN :a2 ELSE -lane_seq END WHERE lane = :lane", a=-first[2], b=-(first[2] + 1),
                  a2=first[2], b2=first[2] + 1, lane=first[1])
    else:
        mac = "0" * 64 if how == "garbage MAC" else "(SELECT mac FROM audit_queue WHERE id = :id)"
        world.sql(
            "INSERT INTO audit_queue (lane, lane_seq, at, actor, action, deployment_id, object_type, object_id, "
            f"outcome, details, mac, mac_key_id) SELECT lane, 999, at, 'rev1', 'alert.confirmed', NULL, 'alert', "
            f"'1', 'ok', '{{}}', {mac if how == 'garbage MAC' else 'mac'}, mac_key_id FROM audit_queue WHERE id = :id",
            id=first[0],
        )
    result = world.verify()
    assert not result.ok and "forged" in result.problem, result.problem
    Overt(world.overt.settings).audit.integrate()  # the next integrator chains what is genuine, leaves the rest
    left = queued(world)
    assert left and len(left) <= 2
    again = world.verify()  # what stays forged, or the hole its removal from the lane leaves
    assert not again.ok and ("forged" in again.problem or "missing" in again.problem), again.problem


def test_a_forged_lane_file_is_caught(world: World) -> None:
    approved(stalled(world))
    path = next((world.home / "keys" / LANES_DIR).glob("*.json"))
    state = json.loads(path.read_bytes())
    state["state"]["committed"] = 1
    path.write_bytes(json.dumps(state).encode().ljust(256))
    result = world.verify()
    assert not result.ok and "does not verify with the audit key" in result.problem


def _writer(settings_home: str, url: str | None, count: int, start: object) -> None:
    from overt.config import Settings

    overt = Overt(Settings(home=Path(settings_home), database_url=url))
    start.wait()  # type: ignore[attr-defined]
    for _ in range(count):
        overt.record_if_installed("evaluation.run", model="m", dataset_sha256="0" * 64, metrics={"fmr": 0.001})


def test_eight_processes_share_one_gap_free_chain(world: World) -> None:
    """Eight writers commit concurrently; whoever holds the chain lock chains everyone's entries."""
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(8)
    url = world.overt.settings.database_url
    procs = [ctx.Process(target=_writer, args=(str(world.home), url, 15, start)) for _ in range(8)]
    before = world.last_seq()
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0] * 8
    assert world.last_seq() == before + 8 * 15
    assert queued(world) == []
    lanes = world.sql("SELECT lane, count(*), max(lane_seq) FROM audit_log WHERE action = 'evaluation.run' "
                      "GROUP BY lane")
    assert len(lanes) == 8 and all(count == top == 15 for _lane, count, top in lanes)
    result = world.verify()
    assert result.ok and not result.warnings, (result.problem, result.warnings)


def test_a_running_process_follows_a_key_rotation_made_by_another(world: World) -> None:
    """`overt keys rotate` while the server runs: the server's next entries use the new key, so the
    integrator does not refuse them as written with a stale one."""
    running = Overt(world.overt.settings)
    running.record_if_installed("evaluation.run", model="m", dataset_sha256="0" * 64, metrics={"fmr": 0.001})
    Overt(world.overt.settings).system.rotate_key(actor("admin"))
    for _ in range(3):
        running.record_if_installed("evaluation.run", model="m", dataset_sha256="1" * 64, metrics={"fmr": 0.001})
    assert queued(world) == []
    (rotation,) = world.sql("SELECT seq, details FROM audit_log WHERE action = 'audit.keys_rotate'")
    new_key = json.loads(rotation[1])["new_mac_key"]
    after = world.sql("SELECT DISTINCT mac_key_id FROM audit_log WHERE seq > :seq", seq=rotation[0])
    assert after == [(new_key,)]
    result = world.verify()
    assert result.ok and not result.warnings, (result.problem, result.warnings)


def test_idle_lanes_whose_entries_are_chained_are_pruned(world: World) -> None:
    """One lane file per writing thread would fill the keys folder; once a lane's entries are chained
    (and the lane idle), the chain protects them and its file goes, at the next signed head."""
    approved(stalled(world))  # a writer that died before chaining: its lane's entries wait
    lanes_dir = world.home / "keys" / LANES_DIR
    long_ago = time.time() - 3600
    for path in lanes_dir.glob("*.json"):
        os.utime(path, (long_ago, long_ago))
    before = {p.name for p in lanes_dir.glob("*.json")}
    assert Overt(world.overt.settings).audit.lanes.prune(lambda lanes: {}) == 0  # nothing chained: kept
    live = Overt(world.overt.settings)
    live.audit.checkpoint()  # chains the waiting entries and signs the head: the idle lanes go
    after = {p.name for p in lanes_dir.glob("*.json")}
    assert before and not before & after
    result = world.verify()
    assert result.ok and not result.warnings, (result.problem, result.warnings)


def evaluation(overt: Overt, tag: str = "0") -> None:
    overt.record_if_installed("evaluation.run", model="m", dataset_sha256=tag * 64, metrics={"fmr": 0.001})


def test_a_writer_alone_chains_in_its_own_transaction_and_a_rollback_leaves_nothing(world: World) -> None:
    """Uncontended, the writer takes the chain lock in its transaction: records, MACs and tree nodes
    commit with the work, nothing waits in the queue. Rolled back, none of it happened, and the head
    witness is not left saying "pending"."""
    overt = Overt(world.overt.settings)
    before = world.last_seq()
    evaluation(overt)
    assert world.last_seq() == before + 1 and queued(world) == []
    with pytest.raises(RuntimeError), overt.db.session() as session:
        overt.audit.append(session, GateRefused(operation="identify", rule="window", reason="closed"), actor="op1")
        session.flush()
        raise RuntimeError("the operation failed after its record was written")
    assert world.last_seq() == before + 1 and queued(world) == []
    evaluation(overt)  # the process's cached chain end is still right
    result = world.verify()
    assert result.ok and not result.warnings, (result.problem, result.warnings)


def test_a_process_whose_chain_end_was_cut_under_it_chains_onto_the_database(world: World) -> None:
    """A running process remembers the chain's end between its commits. An insider who cuts the newest
    records (and their tree nodes) meanwhile must not make it chain onto records that are gone: it
    follows the database's head, and verification reports the cut, not a broken link."""
    running = Overt(world.overt.settings)
    for _ in range(3):
        evaluation(running)
    top = world.last_seq()
    world.sql("DELETE FROM audit_log WHERE seq > :keep", "DELETE FROM audit_tree WHERE idx * (1 << level) + "
              "(1 << level) > :keep", keep=top - 2)
    evaluation(running, "1")
    (link,) = world.sql("SELECT prev_hash = (SELECT hash FROM audit_log WHERE seq = :keep) FROM audit_log "
                        "WHERE seq = :next", keep=top - 2, next=top - 1)
    assert link[0]
    result = world.verify()
    assert not result.ok and ("cut off" in result.problem or "missing" in result.problem), result.problem


def test_a_tree_that_cannot_be_extended_does_not_stop_the_work(world: World) -> None:
    """An insider deletes the Merkle tree's nodes: the chain cannot be extended until that is repaired,
    but operations go on, their entries queued with their MACs, and verification names the damage."""
    world.sql("DELETE FROM audit_tree")
    evaluation(Overt(world.overt.settings))
    assert [action for *_rest, action in queued(world)] == ["evaluation.run"]
    result = world.verify()
    assert not result.ok and "tree" in result.problem, result.problem


def test_postgresql_writers_queue_while_another_holds_the_chain_lock(world: World) -> None:
    """A writer that finds the chain lock taken queues instead of waiting; the holder looks at the queue
    after letting go, and the next writer chains what waits."""
    if world.overt.db.is_sqlite:
        pytest.skip("SQLite's one writer always holds the chain lock")
    holder = create_engine(world.url)
    try:
        with holder.connect() as conn:
            assert conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": PG_LOCK_KEY})
            writer = Overt(world.overt.settings)
            evaluation(writer)
            assert [action for *_rest, action in queued(world)] == ["evaluation.run"]
            conn.scalar(text("SELECT pg_advisory_unlock(:key)"), {"key": PG_LOCK_KEY})
        evaluation(writer, "1")
    finally:
        holder.dispose()
    assert queued(world) == []
    result = world.verify()
    assert result.ok and not result.warnings, (result.problem, result.warnings)


def test_a_lane_pruned_while_its_writer_is_idle_is_written_again(world: World) -> None:
    """Writers keep their lane file open; once its entries are chained another process may prune it.
    The writer's next queued entries must land in a file verification can read, not in the unlinked one."""
    writer = stalled(world)
    evaluation(writer)
    Overt(world.overt.settings).audit.integrate()
    lanes_dir = world.home / "keys" / LANES_DIR
    for path in lanes_dir.glob("*.json"):
        path.unlink()  # what pruning does to an idle lane whose entries are chained
    evaluation(writer, "1")
    assert len(list(lanes_dir.glob("*.json"))) == 1
    world.sql("DELETE FROM audit_queue")  # the insider removes the waiting entry: the new file says it was there
    result = world.verify()
    assert not result.ok and "missing" in result.problem, result.problem


def test_postgresql_a_writer_whose_lock_connection_was_cut_goes_on(world: World) -> None:
    """The connection a process keeps for the chain lock is cut (a restarted server, a DBA's
    pg_terminate_backend): the work is not lost, nothing is left unchained, and the next try reconnects."""
    if world.overt.db.is_sqlite:
        pytest.skip("SQLite's one writer always holds the chain lock")
    writer = Overt(world.overt.settings)
    evaluation(writer)
    world.sql("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE datname = current_database() "
              "AND pid <> pg_backend_pid()")
    before = world.last_seq()
    for tag in "12":
        evaluation(writer, tag)
    assert world.last_seq() == before + 2 and queued(world) == []
    result = world.verify()
    assert result.ok and not result.warnings, (result.problem, result.warnings)


def test_a_head_file_forged_under_a_running_writer_is_not_trusted_from_memory(world: World) -> None:
    """Writers keep the head file open and remember its last state; an insider who rewrites it in place
    (same file, other bytes) must be read, not the remembered state: the writer cannot chain onto a
    forged witness, its work goes on queued, and verification names the file."""
    writer = Overt(world.overt.settings)
    evaluation(writer)
    head_file = world.home / "keys" / HEAD_FILE
    state = json.loads(head_file.read_bytes())
    state["state"]["committed"]["seq"] += 5  # the insider's state, without the key: the MAC cannot follow
    with open(head_file, "r+b") as f:  # in place: the writer's open file sees the new bytes
        f.write(json.dumps(state).encode().ljust(len(head_file.read_bytes())))
    evaluation(writer, "1")
    assert [action for *_rest, action in queued(world)] == ["evaluation.run"]
    result = world.verify()
    assert not result.ok and "head file" in result.problem and "forged" in result.problem, result.problem


def test_a_head_file_removed_under_a_running_writer_is_written_again(world: World) -> None:
    """The head file removed (or replaced by another file) while a writer keeps it open: the writer's next
    commit must land in the file verification reads, not in the unlinked one."""
    writer = Overt(world.overt.settings)
    evaluation(writer)
    head_file = world.home / "keys" / HEAD_FILE
    head_file.unlink()
    evaluation(writer, "1")
    assert json.loads(head_file.read_bytes())["state"]["committed"]["seq"] == world.last_seq()
    result = world.verify()
    assert result.ok and not result.warnings, (result.problem, result.warnings)


def _waiting_on(path: Path) -> bool:
    """Whether some process waits for an flock on `path` (a blocked lock is listed with "->" in /proc/locks)."""
    inode = os.stat(path).st_ino
    return any("->" in line and line.split()[-3].endswith(f":{inode}")
               for line in Path("/proc/locks").read_text().splitlines())


def _writers_file(world: World) -> Path:
    return Path(world.url.split("///", 1)[1] + ".writers")


def _hold(writers: Path) -> subprocess.Popen[str]:
    """Another process, holding SQLite's writer queue until it reads a line."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
         "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.readline()", str(writers)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    return holder


def test_after_its_commit_a_sqlite_writer_leaves_the_queue_to_the_writer_lock_holder(world: World) -> None:
    """Trying the chain lock after a commit that queued, a writer that finds SQLite's writer lock held
    by another process returns at once and leaves the entries waiting (the holder looks at the queue
    after its commit); once the lock is free, the next try chains them, gap-free."""
    if not world.overt.db.is_sqlite:
        pytest.skip("the writer lock is SQLite's")
    evaluation(stalled(world))
    waiting = queued(world)
    assert len(waiting) == 1
    writer = Overt(world.overt.settings)
    holder = _hold(_writers_file(world))
    try:
        assert not writer.db.writer_is_idle()
        assert writer.audit.integrator.integrate(wait=False) == 0
        assert queued(world) == waiting
    finally:
        holder.communicate("go\n", timeout=30)
    assert writer.db.writer_is_idle()
    before = world.last_seq()
    assert writer.audit.integrator.integrate(wait=False) == 1
    assert world.last_seq() == before + 1 and queued(world) == []
    result = world.verify()
    assert result.ok and not result.warnings, (result.problem, result.warnings)


def test_a_sqlite_writer_that_waited_for_another_process_queues_and_is_chained(world: World) -> None:
    """A writer that had to wait for another process's writer queues its entries (with MAC and lane)
    instead of chaining them in its turn, and tries the chain lock after its commit: nothing is left
    waiting, the chain has no gap, and its lane file, written because it queued, agrees."""
    if not world.overt.db.is_sqlite:
        pytest.skip("the writer lock is SQLite's")
    writers = _writers_file(world)
    lanes_dir = world.home / "keys" / LANES_DIR
    lanes_before = set(lanes_dir.glob("*.json"))
    holder = _hold(writers)
    try:
        writer = Overt(world.overt.settings)
        before = world.last_seq()
        done = threading.Thread(target=evaluation, args=(writer,))
        done.start()
        deadline = time.monotonic() + 30
        while not _waiting_on(writers):
            assert time.monotonic() < deadline, "the writer never waited for the lock"
            time.sleep(0.01)
    finally:
        holder.communicate("go\n", timeout=30)
    done.join(timeout=60)
    assert not done.is_alive()
    assert world.last_seq() == before + 1 and queued(world) == []
    (lane,) = set(lanes_dir.glob("*.json")) - lanes_before  # written because the entry queued
    state = json.loads(lane.read_bytes())["state"]
    assert (state["committed"], state["pending"]) == (1, None)
    result = world.verify()
    assert result.ok and not result.warnings, (result.problem, result.warnings)


def _writer_in_line(world: World) -> tuple[Path, Path, threading.Thread, subprocess.Popen[str]]:
    """A writer of this process waiting for SQLite's writer lock, which another process holds: returns the
    writers' and the waiting files, the writer's thread and the holder (to be let go with a line)."""
    writers = _writers_file(world)
    holder = _hold(writers)
    done = threading.Thread(target=evaluation, args=(Overt(world.overt.settings), "1"))
    done.start()
    deadline = time.monotonic() + 30
    while not _waiting_on(writers):
        assert time.monotonic() < deadline, "the writer never waited for the lock"
        time.sleep(0.01)
    return writers, writers.with_suffix(".waiting"), done, holder


def test_a_writer_waiting_for_the_sqlite_writer_lock_is_seen_waiting(world: World) -> None:
    """While a writer waits for the lock it shares an flock of `<database>.waiting`: another process's
    `writer_is_idle` says no, and says yes again once it has written and let go."""
    if not world.overt.db.is_sqlite:
        pytest.skip("the writer lock is SQLite's")
    probe = Overt(world.overt.settings).db
    assert probe.writer_is_idle()
    _writers, waiting, done, holder = _writer_in_line(world)
    try:
        assert not probe.writer_is_idle()
        assert _shared(waiting)
    finally:
        holder.communicate("go\n", timeout=30)
    done.join(timeout=60)
    assert not done.is_alive() and probe.writer_is_idle()


def _shared(path: Path) -> bool:
    """Whether some process holds a shared flock of `path` (listed as FLOCK ... READ in /proc/locks)."""
    inode = os.stat(path).st_ino
    return any("READ" in line and line.split()[-3].endswith(f":{inode}")
               for line in Path("/proc/locks").read_text().splitlines())


def test_after_its_commit_a_sqlite_writer_leaves_the_queue_to_a_writer_in_line(world: World) -> None:
    """The writer lock is free but another writer waits for it (the instant after a commit, before the OS
    has run the writer it woke): trying to chain now would take the lock from under that writer, so the
    entries are left to it; once nobody waits, the next try chains them, gap-free."""
    if not world.overt.db.is_sqlite:
        pytest.skip("the writer lock is SQLite's")
    evaluation(stalled(world))
    waiting = queued(world)
    assert len(waiting) == 1
    in_line = subprocess.Popen(  # the waiting flag of a writer in line, with the lock itself free
        [sys.executable, "-c", "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
         "fcntl.flock(fd, fcntl.LOCK_SH); print('waiting', flush=True); sys.stdin.readline()",
         str(_writers_file(world).with_suffix(".waiting"))], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    writer = Overt(world.overt.settings)
    try:
        assert in_line.stdout is not None and in_line.stdout.readline() == "waiting\n"
        assert not writer.db.writer_is_idle()
        assert writer.audit.integrator.integrate(wait=False) == 0
        assert queued(world) == waiting
    finally:
        in_line.communicate("go\n", timeout=30)
    assert writer.audit.integrator.integrate(wait=False) == 1
    assert queued(world) == []
    result = world.verify()
    assert result.ok and not result.warnings, (result.problem, result.warnings)


def test_a_sqlite_writer_that_waited_chains_a_long_queue_in_its_own_transaction(world: World) -> None:
    """A writer that waited for the lock finds `BACKLOG` entries queued: it chains them and its own in its
    transaction (so no lane file is written for it), and nothing is left waiting; with a short queue it
    queues its own, as the test above shows."""
    if not world.overt.db.is_sqlite:
        pytest.skip("the writer lock is SQLite's")
    stalled_writer = stalled(world)
    for i in range(BACKLOG):
        stalled_writer.record_separately("gate.refused", actor="op", outcome="refused", operation="enroll",
                                         rule="role", reason=f"queued {i}")
    assert len(queued(world)) == BACKLOG
    lanes_dir = world.home / "keys" / LANES_DIR
    lanes_before = set(lanes_dir.glob("*.json"))
    before = world.last_seq()
    _writers, _waiting, done, holder = _writer_in_line(world)
    holder.communicate("go\n", timeout=30)
    done.join(timeout=60)
    assert not done.is_alive()
    assert world.last_seq() == before + BACKLOG + 1 and queued(world) == []
    assert set(lanes_dir.glob("*.json")) == lanes_before  # chained in its transaction: it never queued
    result = world.verify()
    assert result.ok and not result.warnings, (result.problem, result.warnings)


def test_a_waiting_flag_held_forever_does_not_stop_the_chain(world: World) -> None:
    """An insider (or a hung process) holds `<database>.waiting` as if a writer were always in line: no
    writer then chains after its commit, but a writer that takes the lock without waiting still chains
    the queue with its own entries in its transaction, so nothing is left unchained."""
    if not world.overt.db.is_sqlite:
        pytest.skip("the writer lock is SQLite's")
    evaluation(stalled(world))
    assert len(queued(world)) == 1
    squatter = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
         "fcntl.flock(fd, fcntl.LOCK_SH); print('holding', flush=True); sys.stdin.readline()",
         str(_writers_file(world).with_suffix(".waiting"))], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert squatter.stdout is not None and squatter.stdout.readline() == "holding\n"
        before = world.last_seq()
        evaluation(Overt(world.overt.settings), "2")
        assert world.last_seq() == before + 2 and queued(world) == []
    finally:
        squatter.communicate("go\n", timeout=30)
    result = world.verify()
    assert result.ok and not result.warnings, (result.problem, result.warnings)
