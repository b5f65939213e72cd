"""Once per cluster: the lease in PostgreSQL (one holder, expiry by the database's clock, takeover), and
`serve --cluster`'s refusal of SQLite."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from overt.cluster import lease
from overt.storage.clock import database_now
from overt.storage.db import Database

ROOT = Path(__file__).parent.parent


def test_serve_cluster_refuses_sqlite_in_one_line_naming_the_setting(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OVERT_HOME": str(tmp_path / "home")}
    env.pop("OVERT_DATABASE_URL", None)
    for args, extra in ((["--cluster", "127.0.0.1:6379"], {}), ([], {"OVERT_CLUSTER": "127.0.0.1:6379"})):
        done = subprocess.run([sys.executable, "-m", "overt", "serve", *args], env={**env, **extra},
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 2
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "OVERT_DATABASE_URL" in lines[0] and "Traceback" not in done.stderr


@pytest.fixture
def db(postgres_url: str):
    database = Database(postgres_url)
    database.migrate()
    yield database
    database.dispose()


@pytest.mark.postgres
def test_one_holder_at_a_time_and_another_takes_over_when_it_lapses(db: Database) -> None:
    assert lease.acquire(db, "jobs", "a", ttl_s=2.0)
    assert not lease.acquire(db, "jobs", "b", ttl_s=2.0)
    assert lease.acquire(db, "jobs", "a", ttl_s=2.0)  # renewed
    assert lease.holder(db, "jobs") == "a"
    deadline = time.monotonic() + 20
    while not lease.acquire(db, "jobs", "b", ttl_s=30.0):  # a stops renewing (its machine died)
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert lease.holder(db, "jobs") == "b" and not lease.acquire(db, "jobs", "a", ttl_s=2.0)
    lease.release(db, "jobs", "b")
    assert lease.holder(db, "jobs") is None and lease.acquire(db, "jobs", "a", ttl_s=2.0)


@pytest.mark.postgres
def test_parallel_claimants_never_both_win(db: Database) -> None:
    wins: list[str] = []
    start = threading.Barrier(8)

    def claim(name: str) -> None:
        start.wait()
        if lease.acquire(db, "race", name, ttl_s=60.0):
            wins.append(name)

    threads = [threading.Thread(target=claim, args=(f"p{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wins) == 1


@pytest.mark.postgres
def test_the_lease_follows_the_database_clock_not_the_holders(db: Database) -> None:
    assert lease.acquire(db, "clock", "a", ttl_s=5.0)
    with db.session() as session:
        now = database_now(session)
        expires = session.execute(text("SELECT expires_at FROM cluster_leases WHERE name = 'clock'")).scalar_one()
    assert 4.0 <= (expires - now).total_seconds() <= 5.5
