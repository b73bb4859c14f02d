"""Getting in, against the bot as a real process: kill -9 mid-onboarding, strangers, two agents.

The bot runs as ``python -m bot run`` against the fake Bot API server on loopback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from storage.db import Database
from storage.models import Agent

from .botapi import FakeBotApi

if TYPE_CHECKING:
    from .conftest import BotProcess

WAIT = 30.0
ADMIN = 8101
OTHER_ADMIN = 8102
STRANGER = 8199


def _agents(url: str) -> list[Agent]:
    async def fetch() -> list[Agent]:
        db = Database(url)
        try:
            async with db.session() as session:
                return list((await session.scalars(select(Agent))).all())
        finally:
            await db.close()

    return asyncio.run(fetch())


def _message_id(call: Any) -> int:
    return int(call.result["message_id"])


def test_onboarding_resumes_after_kill9_with_the_language_kept(
    botapi: FakeBotApi, bot_process: Callable[..., BotProcess]
) -> None:
    bot = bot_process(admin_ids=[ADMIN])
    botapi.send_text(ADMIN, "/start")
    prompt = botapi.wait_for_text(ADMIN, "先确认一下语言", WAIT)
    since = botapi.mark()
    botapi.press_button(ADMIN, _message_id(prompt), "English")
    botapi.wait_for_text(ADMIN, "What name should I sign", WAIT, since=since)

    bot.kill9()
    bot.start()

    since = botapi.mark()
    botapi.send_text(ADMIN, "Mei")
    botapi.wait_for_text(ADMIN, "All set, Mei!", WAIT, since=since)
    (agent,) = _agents(bot.env["DATABASE_URL"])
    assert (agent.telegram_id, agent.language, agent.name, agent.onboarded) == (
        ADMIN,
        "en",
        "Mei",
        True,
    )


def test_stranger_is_refused_and_leaves_no_record(
    botapi: FakeBotApi, bot_process: Callable[..., BotProcess]
) -> None:
    bot = bot_process(admin_ids=[ADMIN])

    botapi.send_text(STRANGER, "/start", language_code="en")
    botapi.wait_for_text(STRANGER, "for invited client managers only", WAIT)
    botapi.send_text(STRANGER, "/start forged-token-123", language_code="en")
    botapi.wait_for_text(STRANGER, "has been used, has expired", WAIT)

    assert _agents(bot.env["DATABASE_URL"]) == []


def test_two_agents_onboarding_at_once_keep_their_own_answers(
    botapi: FakeBotApi, bot_process: Callable[..., BotProcess]
) -> None:
    bot = bot_process(admin_ids=[ADMIN, OTHER_ADMIN])

    botapi.send_text(ADMIN, "/start")
    botapi.send_text(OTHER_ADMIN, "/start", language_code="en")
    first = botapi.wait_for_text(ADMIN, "先确认一下语言", WAIT)
    second = botapi.wait_for_text(OTHER_ADMIN, "First, the language", WAIT)
    botapi.press_button(OTHER_ADMIN, _message_id(second), "English")
    botapi.press_button(ADMIN, _message_id(first), "中文")
    botapi.wait_for_text(ADMIN, "怎么称呼你", WAIT)
    botapi.wait_for_text(OTHER_ADMIN, "What name", WAIT)
    botapi.send_text(OTHER_ADMIN, "Mei")
    botapi.send_text(ADMIN, "王芳")
    botapi.wait_for_text(ADMIN, "好了，王芳", WAIT)
    botapi.wait_for_text(OTHER_ADMIN, "All set, Mei", WAIT)

    agents = {a.telegram_id: (a.name, a.language) for a in _agents(bot.env["DATABASE_URL"])}
    assert agents == {ADMIN: ("王芳", "zh"), OTHER_ADMIN: ("Mei", "en")}
    assert not any("Mei" in (c.text or "") for c in botapi.sent(ADMIN))
    assert not any("王芳" in (c.text or "") for c in botapi.sent(OTHER_ADMIN))
