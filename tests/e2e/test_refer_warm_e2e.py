"""/refer and /warm against the bot as a real process, killed with SIGKILL half-way.

The bot runs as ``python -m bot run`` against the fake Bot API server. Each test walks a
conversation part of the way, kills the process with SIGKILL, starts it again on the same
database, finishes the conversation and then reads the stored rows: every answer the bot
had acknowledged before the kill must be there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from storage.db import Database
from storage.models import Client, Conversation, Interaction

from .botapi import Call, FakeBotApi

if TYPE_CHECKING:
    from .conftest import BotProcess

AGENT = 7301
WAIT = 30.0


class User:
    """The agent at their phone: sends text, taps buttons, waits for the bot's answer."""

    def __init__(self, botapi: FakeBotApi, user_id: int) -> None:
        self.botapi = botapi
        self.user_id = user_id

    def say(self, text: str, expect: str) -> Call:
        """Send ``text`` and wait for a message containing ``expect``."""
        since = self.botapi.mark()
        self.botapi.send_text(self.user_id, text)
        return self.botapi.wait_for_text(self.user_id, expect, WAIT, since=since)

    def tap(self, prompt: Call, label: str, expect: str) -> Call:
        """Tap the button labelled ``label`` on ``prompt`` and wait for ``expect``."""
        since = self.botapi.mark()
        self.botapi.press_button(self.user_id, _message_id(prompt), label)
        return self.botapi.wait_for_text(self.user_id, expect, WAIT, since=since)


def _message_id(call: Call) -> int:
    result: dict[str, Any] = call.result
    return int(result["message_id"])


def _onboard(user: User) -> None:
    prompt = user.say("/start", "先确认一下语言")
    user.tap(prompt, "中文", "怎么称呼你")
    user.say("王芳", "一切就绪")


def _shanghai_today() -> date:
    # The bot process runs on the real clock, in the agent's default time zone.
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


def _rows(url: str, query: Callable[[], Any]) -> list[Any]:
    """Run one SELECT against the bot's database from outside the bot."""

    async def fetch() -> list[Any]:
        db = Database(url)
        try:
            async with db.session() as session:
                return list((await session.scalars(query())).all())
        finally:
            await db.close()

    return asyncio.run(fetch())


def test_refer_survives_kill9_in_step_3_and_saves_every_answer(
    botapi: FakeBotApi, bot_process: Callable[..., BotProcess]
) -> None:
    bot = bot_process(admin_ids=[AGENT])
    user = User(botapi, AGENT)
    _onboard(user)

    user.say("/refer", "刚见完哪位客户")
    prompt = user.say("张三", "档案里没有找到")
    prompt = user.tap(prompt, "新建客户", "答应帮你介绍朋友了吗")
    prompt = user.tap(prompt, "答应了", "第二步")
    user.tap(prompt, "A · ", "范围：")
    user.say("李四、王五", "核对信息（1/2）李四")
    user.say("13812345678", "李四 和 张三 是什么关系")

    bot.kill9()
    # Typed while the bot is down: Telegram keeps it until the bot asks again.
    botapi.send_text(AGENT, "大学同学")
    bot.start()

    prompt = botapi.wait_for_text(AGENT, "用一句话介绍 李四", WAIT)
    user.say("四十岁，做外贸", "核对信息（2/2）王五")
    prompt = user.say("/refer", "核对信息（2/2）王五")  # asking again shows the same step

    bot.kill9()
    bot.start()

    prompt = user.tap(prompt, "跳过", "王五 和 张三 是什么关系")
    prompt = user.tap(prompt, "邻居", "用一句话介绍 王五")
    prompt = user.tap(prompt, "跳过", "第四步")
    prompt = user.tap(prompt, "没有了", "第五步")
    for after in ("锁定接触方式（2/2）王五", "请核对这份转介绍名单"):
        prompt = user.tap(prompt, "朋友写信", "愿意帮到哪一步")
        prompt = user.tap(prompt, "同意当介绍人", "第一次联系")
        prompt = user.tap(prompt, "电话", after)
    first_day = _shanghai_today()
    user.tap(prompt, "保存", "已保存 2 位准客户")
    due = {first_day + timedelta(days=2), _shanghai_today() + timedelta(days=2)}

    url = bot.env["DATABASE_URL"]
    clients = {c.name: c for c in _rows(url, lambda: select(Client))}
    assert set(clients) == {"张三", "李四", "王五"}
    li, wang = clients["李四"], clients["王五"]
    assert (li.phone, li.relation, li.notes) == ("13812345678", "大学同学", "四十岁，做外贸")
    assert (wang.phone, wang.relation, wang.notes) == (None, "邻居", None)
    for prospect in (li, wang):
        assert prospect.source == "referral"
        assert prospect.referred_by_id == clients["张三"].id
        assert prospect.referral_scope == "A"
        assert (
            prospect.referral_approach,
            prospect.referral_permission,
            prospect.referral_channel,
        ) == ("introduce", "referrer", "phone")
        assert prospect.next_followup in due
    interactions = _rows(url, lambda: select(Interaction))
    assert [i.client_id for i in interactions] == [clients["张三"].id]
    assert _rows(url, lambda: select(Conversation)) == []


def test_warm_survives_kill9_mid_category_and_resumes_with_the_count(
    botapi: FakeBotApi, bot_process: Callable[..., BotProcess]
) -> None:
    bot = bot_process(admin_ids=[AGENT])
    user = User(botapi, AGENT)
    _onboard(user)

    user.say("/warm", "第 1/13 类")
    prompt = user.say("张三、李四", "这一类已写：张三、李四")
    user.tap(prompt, "这一类写完了", "第 2/13 类")
    user.say("赵六", "这一类已写：赵六")

    bot.kill9()
    bot.start()

    prompt = user.say("/warm", "到目前一共写下 3 个名字")
    assert prompt.text is not None and "第 2/13 类" in prompt.text
    prompt = user.say("钱七", "到目前一共写下 4 个名字")

    bot.kill9()
    botapi.send_text(AGENT, "孙八")  # typed while the bot is down
    bot.start()

    prompt = botapi.wait_for_text(AGENT, "到目前一共写下 5 个名字", WAIT)
    user.tap(prompt, "先到这里", "一共 5 位准客户")

    url = bot.env["DATABASE_URL"]
    warm = {
        c.name: c.warm_category for c in _rows(url, lambda: select(Client)) if c.source == "warm"
    }
    assert warm == {"张三": 1, "李四": 1, "赵六": 2, "钱七": 2, "孙八": 2}
    assert _rows(url, lambda: select(Conversation)) == []
