"""SQLite's one writer: the fair writer lock is held from a transaction's first write to its end, savepoints
included, and let go at the commit (before the audit log's after-commit work) or at the rollback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from overt.storage.db import Database


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'writer.db'}")
    db.migrate()
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
    yield db
    db.dispose()


def another_writer_could_start(db: Database) -> bool:
    with db.session() as other:
        return db.write_lock(other, wait=False)


@pytest.mark.parametrize("savepoint", ["rolled back", "released"])
def test_a_savepoint_does_not_let_the_next_writer_in(database: Database, savepoint: str) -> None:
    """`after_rollback` fires for a savepoint's rollback too: letting go there would let a second writer
    queue on SQLite's own lock, which this transaction still holds."""
    with database.session() as session:
        database.write_lock(session)
        nested = session.begin_nested()
        session.execute(text("INSERT INTO notes (body) VALUES ('inside')"))
        if savepoint == "rolled back":
            nested.rollback()
        else:
            nested.commit()
        assert not another_writer_could_start(database)
        session.execute(text("INSERT INTO notes (body) VALUES ('after')"))
    assert another_writer_could_start(database)


def test_the_writer_lock_goes_with_a_rollback(database: Database) -> None:
    with pytest.raises(RuntimeError), database.session() as session:
        database.write_lock(session)
        session.execute(text("INSERT INTO notes (body) VALUES ('lost')"))
        raise RuntimeError("the operation failed")
    assert another_writer_could_start(database)
    with database.engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM notes")) == 0
