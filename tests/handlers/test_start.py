"""Access, onboarding and the basic commands, through the real Application."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from telegram import Chat

from storage.models import Conversation, Invite
from tests.harness import ADMIN_ID, Harness, TgUser

ADMIN = TgUser(ADMIN_ID, "Admin", "zh-hans")
ADMIN_EN = TgUser(ADMIN_ID, "Admin", "en-US")
STRANGER = TgUser(777, "Stranger", "en")


async def test_admin_onboarding_in_chinese_stores_language_and_name(harness: Harness) -> None:
    await harness.send(ADMIN, "/start")
    assert "欢迎" in harness.texts(ADMIN)[0]
    assert harness.buttons(ADMIN)[:2] == ["中文", "English"]

    await harness.press(ADMIN, "中文")
    assert "怎么称呼你" in harness.last_text(ADMIN)

    await harness.send(ADMIN, "王芳")
    assert "王芳" in harness.last_text(ADMIN)

    agent = await harness.find_agent(ADMIN)
    assert agent is not None
    assert (agent.language, agent.name, agent.onboarded, agent.role) == (
        "zh",
        "王芳",
        True,
        "admin",
    )


async def test_onboarding_in_english_with_bad_name_asks_again(harness: Harness) -> None:
    await harness.send(ADMIN_EN, "/start")
    assert "Welcome" in harness.texts(ADMIN_EN)[0]
    await harness.press(ADMIN_EN, "English")

    await harness.send(ADMIN_EN, "!!!")
    assert "1 to 20 characters" in harness.texts(ADMIN_EN)[-2]
    assert "What name" in harness.last_text(ADMIN_EN)

    await harness.press(ADMIN_EN, "Use")
    agent = await harness.find_agent(ADMIN)
    assert agent is not None and agent.name == "Admin" and agent.language == "en"


async def test_typed_language_is_understood_and_nonsense_is_refused(harness: Harness) -> None:
    await harness.send(ADMIN, "/start")
    await harness.send(ADMIN, "klingon")
    assert "请点下面的按钮选择语言" in harness.texts(ADMIN)[-2]
    await harness.send(ADMIN, "English")
    assert "What name" in harness.last_text(ADMIN)


async def test_back_during_onboarding_returns_to_the_language(harness: Harness) -> None:
    await harness.send(ADMIN, "/start")
    await harness.press(ADMIN, "English")
    await harness.press(ADMIN, "Back")
    assert "First, the language" in harness.last_text(
        ADMIN
    ) or "先确认一下语言" in harness.last_text(ADMIN)
    conv = await harness.first(Conversation)
    assert conv is not None and conv.step == "language"


async def test_stranger_is_refused_and_nothing_is_stored(harness: Harness) -> None:
    await harness.send(STRANGER, "/start")
    await harness.send(STRANGER, "hello")

    assert harness.texts(STRANGER)[0].startswith("This assistant is for invited")
    assert await harness.find_agent(STRANGER) is None


async def test_invite_link_admits_exactly_one_person(harness: Harness) -> None:
    await harness.make_agent(ADMIN, role="admin")
    await harness.send(ADMIN, "/invite")
    link = harness.last_text(ADMIN).split("https://t.me/")[1].split()[0]
    token = link.split("start=")[1]

    newcomer = TgUser(778, "新人")
    await harness.send(newcomer, f"/start {token}")
    assert await harness.find_agent(newcomer) is not None
    assert "欢迎" in harness.texts(newcomer)[0]

    latecomer = TgUser(779, "Late", "en")
    await harness.send(latecomer, f"/start {token}")
    assert "has been used, has expired" in harness.last_text(latecomer)
    assert await harness.find_agent(latecomer) is None
    async with harness.db.session() as session:
        stored = await session.scalar(select(Invite.token_hash))
    assert stored is not None and token not in stored


async def test_expired_invite_is_refused(harness: Harness) -> None:
    await harness.make_agent(ADMIN, role="admin")
    await harness.send(ADMIN, "/invite")
    token = harness.last_text(ADMIN).split("start=")[1].split()[0]
    harness.clock.advance(days=8)

    await harness.send(TgUser(780, "Late", "zh"), f"/start {token}")
    assert "已经用过、过期" in harness.last_text(TgUser(780))


async def test_plain_agent_cannot_invite(harness: Harness) -> None:
    agent = TgUser(781)
    await harness.make_agent(agent)
    await harness.send(agent, "/invite")
    assert "只有管理员或团队经理" in harness.last_text(agent)


async def test_group_chat_is_told_once_to_use_private_chat(harness: Harness) -> None:
    group = Chat(-100, Chat.GROUP)
    await harness.send(ADMIN, "/start", chat=group)
    await harness.send(ADMIN, "/help", chat=group)

    to_group = harness.request.sent(chat_id=-100)
    assert len(to_group) == 1 and "私聊" in to_group[0].text
    assert await harness.find_agent(ADMIN) is None


async def test_help_lists_every_registered_command_in_each_language(harness: Harness) -> None:
    await harness.make_agent(ADMIN, role="admin")
    await harness.send(ADMIN, "/help")
    assert "/cancel — 结束当前对话" in harness.last_text(ADMIN)

    await harness.send(ADMIN, "/language")
    await harness.press(ADMIN, "English")
    await harness.send(ADMIN, "/help")
    assert "/cancel — End the current conversation" in harness.last_text(ADMIN)


async def test_command_menu_is_registered_in_both_languages(harness: Harness) -> None:
    calls = harness.request.sent(method="setMyCommands")
    languages = {c.params.get("language_code") for c in calls}
    assert {"zh", "en"} <= languages


async def test_cancel_discards_the_open_conversation(harness: Harness) -> None:
    await harness.send(ADMIN, "/start")
    await harness.send(ADMIN, "/cancel")
    assert harness.last_text(ADMIN) == "已取消，草稿已删除。"
    assert await harness.count(Conversation) == 0


async def test_silence_pauses_the_conversation_and_start_resumes_it(harness: Harness) -> None:
    from bot import flows

    await harness.send(ADMIN, "/start")
    await harness.press(ADMIN, "中文")
    await harness.let_idle(minutes=31)

    assert "30 分钟没有回复" in harness.last_text(ADMIN)
    await harness.send(ADMIN, "/start")
    assert "接着你上次的进度" in harness.texts(ADMIN)[-2]
    assert "怎么称呼你" in harness.last_text(ADMIN)
    assert flows.IDLE_MINUTES == 30
    assert timedelta(minutes=flows.IDLE_MINUTES) < timedelta(minutes=31)


async def test_a_redelivered_update_is_applied_once(harness: Harness) -> None:
    from telegram import Message, Update

    await harness.send(ADMIN, "/start")
    await harness.press(ADMIN, "English")
    chat = Chat(ADMIN_ID, Chat.PRIVATE)
    message = Message(1, harness.clock.now(), chat, from_user=ADMIN.telegram(), text="Mei")
    message.set_bot(harness.app.bot)
    update_id = harness.next_id()
    await harness.app.process_update(Update(update_id, message=message))
    assert "All set, Mei" in harness.last_text(ADMIN)
    await harness.press(ADMIN, "English")  # a stale button now: nothing changes
    await harness.send(ADMIN, "/language")  # starts no conversation
    before = len(harness.texts(ADMIN))

    await harness.app.process_update(Update(update_id, message=message))

    texts = harness.texts(ADMIN)[before:]
    assert texts == ["I have nothing to do with that message. Send /help to see what I can do."]
    agent = await harness.find_agent(ADMIN)
    assert agent is not None and agent.name == "Mei"


async def test_a_failing_handler_is_logged_without_contents_and_the_user_is_told(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.handlers import start as start_module

    await harness.make_agent(ADMIN, role="admin")

    def broken(lang: str, names: object) -> str:
        raise RuntimeError("database went away")

    monkeypatch.setattr(start_module.commands, "help_text", broken)
    with caplog.at_level("ERROR"):
        await harness.send(ADMIN, "/help 13812345678 和平路8号")

    assert harness.last_text(ADMIN).startswith("抱歉，刚才处理出错了")
    failures = [r for r in caplog.records if r.name == "bot.handlers.start"]
    assert failures and failures[-1].exc_info is not None
    logged = "\n".join(caplog.text.splitlines())
    assert "13812345678" not in logged and "和平路" not in logged
    assert f"from user {ADMIN_ID}" in failures[-1].getMessage()


async def test_typing_a_buttons_label_answers_like_pressing_it(harness: Harness) -> None:
    await harness.send(ADMIN_EN, "/start")
    await harness.send(ADMIN_EN, "english")
    assert "What name" in harness.last_text(ADMIN_EN)

    await harness.send(ADMIN_EN, "« back")
    assert "First, the language" in harness.last_text(ADMIN_EN)

    await harness.send(ADMIN_EN, "English")
    await harness.send(ADMIN_EN, "use admin")  # the label of the "Use “Admin”" button
    agent = await harness.find_agent(ADMIN)
    assert agent is not None and agent.name == "Admin"
