"""The morning push against the bot as a real process: exactly one push a day, across
restarts, a crash, downtime at push time, and two processes on one database.

The bot runs as ``python -m bot run`` against the fake Bot API server, checking for due
pushes every second (``PUSH_CHECK_SECONDS=1``). The test writes the agent's push time
straight into the database, a few seconds ahead, as /settings would (to the minute).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from storage.clients import create_client
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Agent, Push

from .botapi import FakeBotApi

if TYPE_CHECKING:
    from .conftest import BotProcess

WAIT = 30.0
AGENT = 8701
PUSH_TITLE = "今日待办"
FAST_CHECKS = {"PUSH_CHECK_SECONDS": "1"}


def _run(coroutine_factory: Callable[[Database], object], url: str) -> object:
    """Run one database coroutine in a fresh event loop, outside the bot process."""

    async def go() -> object:
        db = Database(url)
        try:
            return await coroutine_factory(db)  # type: ignore[misc]
        finally:
            await db.close()

    return asyncio.run(go())


def _zone_with_room() -> str:
    """Return a whole-hour zone where it is daytime now, so 'a few seconds ahead' is today."""
    now = datetime.now(UTC)
    for hours in range(-12, 15):
        name = "UTC" if hours == 0 else f"Etc/GMT{'-' if hours > 0 else '+'}{abs(hours)}"
        if 6 <= now.astimezone(ZoneInfo(name)).hour <= 20:
            return name
    raise AssertionError("some whole-hour zone always has daytime")


def _seed_agent(url: str, zone: str) -> None:
    """Create the schema (if the bot has not yet) and an agent with something due today,
    whose push time is an hour ahead."""
    upgrade(url)
    today = datetime.now(ZoneInfo(zone)).date()

    async def seed(db: Database) -> None:
        async with db.session() as session:
            agent = Agent(
                telegram_id=AGENT,
                name="王芳",
                language="zh",
                timezone=zone,
                onboarded=True,
                push_time=_local_time(zone, seconds=3600),
            )
            session.add(agent)
            await session.flush()
            await create_client(session, agent.id, name="刘洋", next_followup=today)

    _run(seed, url)


def _local_time(zone: str, *, seconds: float) -> clock_time:
    return (
        (datetime.now(ZoneInfo(zone)) + timedelta(seconds=seconds)).time().replace(microsecond=0)
    )


def _set_push_time(url: str, zone: str, *, seconds: float) -> None:
    async def move(db: Database) -> None:
        async with db.session() as session:
            await session.execute(
                update(Agent)
                .where(Agent.telegram_id == AGENT)
                .values(push_time=_local_time(zone, seconds=seconds))
            )

    _run(move, url)


def _push_records(url: str) -> list[tuple[date, str]]:
    async def fetch(db: Database) -> list[tuple[date, str]]:
        async with db.session() as session:
            rows = await session.execute(select(Push.local_date, Push.status))
            return [(day, status) for day, status in rows]

    result = _run(fetch, url)
    assert isinstance(result, list)
    return result


def _pushes(botapi: FakeBotApi) -> list[str]:
    return [
        call.text or ""
        for call in botapi.sent(AGENT)
        if call.ok and call.method == "sendMessage" and PUSH_TITLE in (call.text or "")
    ]


def _settle(seconds: float = 4.0) -> None:
    """Give the bot several one-second job runs in which a second push could appear."""
    time.sleep(seconds)


def test_push_arrives_once_and_never_again_after_restarts(
    botapi: FakeBotApi, bot_process: Callable[..., BotProcess]
) -> None:
    zone = _zone_with_room()
    botapi.add_user(AGENT)
    bot = bot_process(env=FAST_CHECKS)
    url = bot.env["DATABASE_URL"]
    _seed_agent(url, zone)
    _settle(2.0)
    assert _pushes(botapi) == []  # the push time is an hour away

    _set_push_time(url, zone, seconds=3)
    push = botapi.wait_for_text(AGENT, PUSH_TITLE, WAIT)
    assert "刘洋" in (push.text or "") and "王芳，你好" in (push.text or "")

    bot.restart()
    _settle()
    bot.kill9()
    bot.start()
    _settle()

    assert len(_pushes(botapi)) == 1
    assert [status for _, status in _push_records(url)] == ["sent"]


def test_push_missed_while_the_bot_was_down_comes_when_it_starts(
    botapi: FakeBotApi, bot_process: Callable[..., BotProcess]
) -> None:
    zone = _zone_with_room()
    botapi.add_user(AGENT)
    bot = bot_process(env=FAST_CHECKS)
    url = bot.env["DATABASE_URL"]
    bot.stop()
    _seed_agent(url, zone)

    # The push time passes while the bot is down.
    _set_push_time(url, zone, seconds=1)
    time.sleep(2)
    assert _pushes(botapi) == []
    bot.start()

    botapi.wait_for_text(AGENT, PUSH_TITLE, WAIT)
    bot.restart()
    _settle()
    assert len(_pushes(botapi)) == 1


def test_two_bot_processes_on_one_database_push_once(
    botapi: FakeBotApi, bot_process: Callable[..., BotProcess]
) -> None:
    zone = _zone_with_room()
    botapi.add_user(AGENT)
    first = bot_process(env=FAST_CHECKS)
    url = first.env["DATABASE_URL"]
    _seed_agent(url, zone)
    bot_process(env=FAST_CHECKS)  # a second process on the same database

    _set_push_time(url, zone, seconds=2)
    botapi.wait_for_text(AGENT, PUSH_TITLE, WAIT)
    _settle()

    assert len(_pushes(botapi)) == 1
    assert [status for _, status in _push_records(url)] == ["sent"]
