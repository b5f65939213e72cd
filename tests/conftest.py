"""Shared fixtures: paths to test data, a fresh installation per test, SQLite and PostgreSQL databases."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from overt.storage.db import Database

TESTS = Path(__file__).parent
DATA = TESTS / "data"
SHARED = (TESTS.parent.parent / "shared" / "data").resolve()
POSTGRES_URL = os.environ.get("OVERT_TEST_POSTGRES_URL")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED / "faces" / "labels.csv").is_file():
        pytest.skip(f"shared data not present at {SHARED} (CI always has it)")
    return SHARED


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'overt.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL database for one test, dropped afterwards."""
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL not configured: set OVERT_TEST_POSTGRES_URL (.ci/run starts one)")
    from sqlalchemy import create_engine, text

    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"overt_t_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base, _ = POSTGRES_URL.rsplit("/", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Run a storage test once on SQLite and once on PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    db.migrate()
    try:
        yield db
    finally:
        db.dispose()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In CI a missing PostgreSQL is a failure, not a skip."""
    if os.environ.get("OVERT_TEST_REQUIRE_POSTGRES") and not POSTGRES_URL:
        raise pytest.UsageError("OVERT_TEST_REQUIRE_POSTGRES is set but OVERT_TEST_POSTGRES_URL is not")
