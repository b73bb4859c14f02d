"""What a client manager runs into when using the bot as people do: typing instead of
pressing, answering a yes/no question in words, switching language or cancelling midway,
and giving the answers the questions invite ("后天下午3点").
"""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from bot import links
from bot.console import Console
from storage import clients as client_store
from storage.models import Agent, Client, Interaction, MaturityCase, Policy
from tests.harness import ADMIN_ID, Harness, TgUser, default_settings

AGENT = TgUser(6101)
AGENT_EN = TgUser(6102, "Ann", "en")
ADMIN = TgUser(ADMIN_ID, "Admin", "zh-hans")


async def _add_client(harness: Harness, agent: Agent, name: str, **fields: object) -> Client:
    async with harness.db.session() as session:
        return await client_store.create_client(session, agent.id, name=name, **fields)


async def _clients(harness: Harness, name: str) -> list[Client]:
    async with harness.db.session() as session:
        return list((await session.scalars(select(Client).where(Client.name == name))).all())


async def _interactions(harness: Harness) -> list[Interaction]:
    async with harness.db.session() as session:
        return list((await session.scalars(select(Interaction).order_by(Interaction.id))).all())


async def _to_names(harness: Harness, user: TgUser) -> None:
    """Start /refer with a new referrer who agreed, and stop where names are asked."""
    await harness.send(user, "/refer")
    await harness.send(user, "赵六")
    await harness.press(user, "新建客户")
    await harness.press(user, "答应了")


# --- typing what a button says ------------------------------------------------------------


async def test_typing_part_of_a_button_label_logs_that_channel(harness: Harness) -> None:
    agent = await harness.make_agent(AGENT)
    await _add_client(harness, agent, "张三", phone="13812345678")

    await harness.send(AGENT, "/log 张三")
    await harness.send(AGENT, "微信")
    assert "这次聊了什么" in harness.last_text(AGENT)
    await harness.send(AGENT, "聊了年金险")
    await harness.press(AGENT, "先不定")

    logged = await _interactions(harness)
    assert [(i.channel, i.note) for i in logged] == [("wechat", "聊了年金险")]


async def test_typing_the_first_words_of_a_button_moves_the_referral_on(
    harness: Harness,
) -> None:
    await harness.make_agent(AGENT)
    await _to_names(harness, AGENT)
    await harness.send(AGENT, "李四")
    await harness.press(AGENT, "跳过")
    await harness.press(AGENT, "朋友")
    await harness.press(AGENT, "跳过")
    assert "第四步" in harness.last_text(AGENT)

    await harness.send(AGENT, "没有了")

    assert "第五步" in harness.last_text(AGENT)


async def test_typed_agreement_in_other_words_than_the_button_is_understood(
    harness: Harness,
) -> None:
    await harness.make_agent(AGENT)
    await harness.send(AGENT, "/refer")
    await harness.send(AGENT, "赵六")
    await harness.press(AGENT, "新建客户")

    await harness.send(AGENT, "答应")

    assert "第二步" in harness.last_text(AGENT)


# --- yes/no questions answered in words ---------------------------------------------------


async def test_refer_duplicate_answered_yes_drops_the_name(harness: Harness) -> None:
    agent = await harness.make_agent(AGENT)
    await _add_client(harness, agent, "李四", phone="13900001111")
    await _to_names(harness, AGENT)
    await harness.send(AGENT, "李四")
    assert "是同一个人吗" in harness.last_text(AGENT)

    await harness.send(AGENT, "是")

    assert any("李四 不重复添加" in text for text in harness.texts(AGENT)[-3:])
    assert "第四步" in harness.last_text(AGENT)


async def test_warm_duplicate_answered_no_adds_the_name_anyway(harness: Harness) -> None:
    agent = await harness.make_agent(AGENT)
    await _add_client(harness, agent, "张三", phone="13812345678")
    await harness.send(AGENT, "/warm")
    await harness.send(AGENT, "张三")

    await harness.send(AGENT, "不是")
    await harness.press(AGENT, "先到这里")

    assert len(await _clients(harness, "张三")) == 2


async def test_namesakes_in_the_duplicate_question_have_buttons_told_apart(
    harness: Harness,
) -> None:
    agent = await harness.make_agent(AGENT)
    await _add_client(harness, agent, "张三", phone="13812345678")
    await _add_client(harness, agent, "张三", phone="13900002222", source="referral")
    await harness.send(AGENT, "/warm")

    await harness.send(AGENT, "张三")

    cards = [label for label in harness.buttons(AGENT) if label.startswith("📇")]
    assert len(cards) == 2 and len(set(cards)) == 2
    assert any("5678" in label for label in cards) and any("2222" in label for label in cards)


# --- names that are not names --------------------------------------------------------------


async def test_refer_refuses_a_name_that_is_only_a_number(harness: Harness) -> None:
    await harness.make_agent(AGENT)
    await _to_names(harness, AGENT)

    await harness.send(AGENT, "2")

    assert "不像一个名字" in harness.texts(AGENT)[-2]
    assert "第二步" in harness.last_text(AGENT)


async def test_add_refuses_a_phone_typed_as_the_name(harness: Harness) -> None:
    await harness.make_agent(AGENT)
    await harness.send(AGENT, "/add")

    await harness.send(AGENT, "13812345678")

    assert "至少要有一个汉字或字母" in harness.texts(AGENT)[-2]
    assert "新客户叫什么名字" in harness.last_text(AGENT)


# --- settings ------------------------------------------------------------------------------


async def test_soon_setting_asks_only_for_days_inside_the_window(harness: Harness) -> None:
    await harness.make_agent(AGENT, maturity_window_days=10)
    await harness.send(AGENT, "/settings")

    await harness.press(AGENT, "满期「近期」")

    assert "1 到 10 之间" in harness.last_text(AGENT)
    assert "14 天" not in harness.buttons(AGENT)


# --- the maturity case ---------------------------------------------------------------------


async def test_visit_agreed_with_a_time_books_the_day_and_keeps_the_time(
    harness: Harness,
) -> None:
    agent = await harness.make_agent(AGENT)
    client = await _add_client(harness, agent, "张大姐", phone="13812345678")
    async with harness.db.session() as session:
        policy = Policy(
            agent_id=agent.id,
            client_id=client.id,
            policy_number="P-VISIT-1",
            sum_insured=Decimal(50000),
            maturity_date=date(2026, 12, 20),
            holder_name="张大姐",
        )
        session.add(policy)
        await session.flush()
        policy_id = policy.id
    await harness.press_data(AGENT, links.OPEN_CASE.build(policy_id=policy_id))
    await harness.press(AGENT, "整理好了")
    await harness.press(AGENT, "准备好了")
    await harness.press(AGENT, "记录约访结果")
    await harness.press(AGENT, "同意见面")

    await harness.send(AGENT, "后天下午3点")

    async with harness.db.session() as session:
        case = await session.scalar(select(MaturityCase))
    assert case is not None
    assert (case.stage, case.appointment_date) == ("visit", date(2026, 12, 5))
    assert any("2026年12月5日 15:00" in text for text in harness.texts(AGENT)[-2:])
    assert "15:00" in (await _interactions(harness))[-1].note


# --- cancelling, switching language, starting over -----------------------------------------


async def test_keeping_a_draft_at_cancel_asks_its_question_again(harness: Harness) -> None:
    await harness.make_agent(AGENT)
    await _to_names(harness, AGENT)
    await harness.send(AGENT, "李四")
    await harness.send(AGENT, "/cancel")
    assert "确定要放弃吗" in harness.last_text(AGENT)

    await harness.press(AGENT, "继续填写")

    assert "李四" in harness.last_text(AGENT) and "手机号" in harness.last_text(AGENT)
    assert "跳过" in harness.buttons(AGENT)


async def test_switching_language_midway_asks_the_question_again_in_it(
    harness: Harness,
) -> None:
    await harness.make_agent(AGENT)
    await harness.send(AGENT, "/add 张三")
    assert "电话号码" in harness.last_text(AGENT)

    await harness.send(AGENT, "/language")
    await harness.press(AGENT, "English")

    assert "张三's phone number?" in harness.last_text(AGENT)
    await harness.send(AGENT, "Skip")
    assert "Where did this client come from?" in harness.last_text(AGENT)


async def test_a_category_typed_after_warm_while_a_draft_is_kept_is_said_unused(
    harness: Harness,
) -> None:
    await harness.make_agent(AGENT_EN, lang="en")
    await harness.send(AGENT_EN, "/warm")
    await harness.send(AGENT_EN, "Uncle Bob")

    await harness.send(AGENT_EN, "/warm 5")

    assert '"5" was not used' in harness.texts(AGENT_EN)[-2]
    assert "1/13" in harness.last_text(AGENT_EN)


async def test_a_command_during_onboarding_says_to_finish_the_setup_first(
    harness: Harness,
) -> None:
    await harness.send(ADMIN, "/start")
    await harness.press(ADMIN, "中文")

    await harness.send(ADMIN, "/add")

    assert "就可以用 /add 了" in harness.texts(ADMIN)[-2]
    assert "怎么称呼你" in harness.last_text(ADMIN)


# --- the console ---------------------------------------------------------------------------


def test_console_contact_keeps_a_phone_typed_with_spaces(database_url: str) -> None:
    console = Console(default_settings(database_url), 6199, io.StringIO())

    update = console._update_for(":contact 钱七 +86 139-0000-2222")

    assert update is not None and update.message is not None
    contact = update.message.contact
    assert contact is not None
    assert (contact.first_name, contact.phone_number) == ("钱七", "+86 139-0000-2222")


async def test_a_new_admin_saying_hello_first_is_walked_into_the_setup(
    harness: Harness,
) -> None:
    await harness.send(ADMIN, "你好")

    assert "先确认一下语言" in harness.last_text(ADMIN)
    await harness.press(ADMIN, "中文")
    assert "怎么称呼你" in harness.last_text(ADMIN)


async def test_an_admin_who_deleted_everything_is_told_to_send_start(harness: Harness) -> None:
    await harness.make_agent(ADMIN)
    await harness.send(ADMIN, "/forget_me")

    await harness.send(ADMIN, "删除全部")

    assert "/start" in harness.last_text(ADMIN) and "邀请链接" not in harness.last_text(ADMIN)
    await harness.send(ADMIN, "hello")
    assert "先确认一下语言" in harness.last_text(ADMIN)
