"""Shared fixtures: a migrated database per test run, emptied after every test, and the harness.

The database is SQLite in a temporary folder unless ``DATABASE_URL`` names another
(CI runs the whole suite a second time against PostgreSQL that way).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy import delete

from bot.config import load_settings
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Base
from tests.harness import FakeClock, Harness, start_harness, stop_harness

# Property tests: no per-example deadline (a loaded CI machine is slow, not wrong); in CI the
# examples are fixed so that a run is repeatable, while local runs keep exploring new ones.
settings.register_profile("dev", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Return a migrated database URL for this test run."""
    configured = os.environ.get("DATABASE_URL", "")
    if configured.startswith("postgres"):
        url = load_settings({"DATABASE_URL": configured}, need_token=False).database_url
    else:
        path: Path = tmp_path_factory.mktemp("db") / "test.db"
        url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)
    yield url


async def _empty(url: str) -> None:
    db = Database(url)
    async with db.session() as session:
        for table in reversed(Base.metadata.sorted_tables):
            await session.execute(delete(table))
    await db.close()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """Return the test database; every row is removed after the test."""
    database = Database(database_url)
    yield database
    await database.close()
    await _empty(database_url)


@pytest.fixture
def clock() -> FakeClock:
    """Return a clock standing at 2026-12-03 09:00 in Shanghai."""
    return FakeClock(datetime(2026, 12, 3, 1, 0, tzinfo=UTC))


@pytest.fixture
async def harness(database_url: str, clock: FakeClock) -> AsyncIterator[Harness]:
    """Return the real application, started offline on the test database."""
    bot = await start_harness(database_url, clock=clock)
    yield bot
    await stop_harness(bot)
    await _empty(database_url)
