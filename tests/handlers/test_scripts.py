"""The /script command through the real Application: menus, tracks and personalisation."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from bot.callbacks import MAX_BYTES
from bot.handlers.scripts import CLIENT_CHOICES, SCRIPT_PART, SCRIPT_TOPIC
from bot.links import SCRIPT_FOR_CLIENT
from bot.talktracks import MAX_MESSAGE_LENGTH
from storage.models import Agent, MaturityCase, Policy
from tests.harness import Harness, TgUser

ZH = TgUser(4101, "王芳", "zh-hans")
EN = TgUser(4102, "Fang", "en-US")
OTHER = TgUser(4103, "李雷", "zh-hans")

FULL_NUMBER = "P2019000123456"
MASKED = "****3456"
# The harness clock stands at 2026-12-03 09:00 in Shanghai.
MATURITY = date(2026, 12, 15)


async def _agent(harness: Harness, user: TgUser, lang: str, name: str) -> Agent:
    return await harness.make_agent(user, lang=lang, name=name)


async def _policy(
    harness: Harness, agent: Agent, client_id: int, number: str = FULL_NUMBER, **fields: Any
) -> int:
    values: dict[str, Any] = {
        "bank": "工商银行",
        "product": "鑫享两全",
        "sum_insured": Decimal("50000"),
        "maturity_date": MATURITY,
    }
    values.update(fields)
    async with harness.db.session() as session:
        policy = Policy(agent_id=agent.id, client_id=client_id, policy_number=number, **values)
        session.add(policy)
        await session.flush()
        return policy.id


def _new_texts(harness: Harness, user: TgUser, before: int) -> list[str]:
    return harness.texts(user)[before:]


def _assert_clean(texts: list[str]) -> None:
    for text in texts:
        assert "None" not in text and "{{" not in text and "{%" not in text
        assert len(text) <= MAX_MESSAGE_LENGTH
        assert FULL_NUMBER not in text


# --- menus ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "lang", "prompt", "first_topic"),
    [(ZH, "zh", "要哪一类话术", "满期客户"), (EN, "en", "Which talk track", "Maturing policies")],
)
async def test_script_alone_offers_every_topic_as_a_button(
    harness: Harness, user: TgUser, lang: str, prompt: str, first_topic: str
) -> None:
    await _agent(harness, user, lang, "王芳")

    await harness.send(user, "/script")

    assert prompt in harness.last_text(user)
    labels = harness.buttons(user)
    assert len(labels) == 7 and labels[0] == first_topic


async def test_pressing_topic_then_part_sends_the_neutral_track(harness: Harness) -> None:
    await _agent(harness, ZH, "zh", "王芳")
    await harness.send(ZH, "/script")

    await harness.press(ZH, "满期异议处理")
    assert "「满期异议处理」分几段" in harness.last_text(ZH)
    assert "以前有过不愉快" in harness.buttons(ZH)
    assert {"全部", "« 所有主题"} <= set(harness.buttons(ZH))

    await harness.press(ZH, "存银行利息就够了")
    track = harness.last_text(ZH)
    assert track.startswith("【满期异议处理｜存银行利息就够了】")
    assert harness.buttons(ZH) == ["« 满期异议处理", "« 所有主题"]
    _assert_clean([track])


async def test_script_with_topic_goes_straight_to_its_parts_in_english(harness: Harness) -> None:
    await _agent(harness, EN, "en", "Fang")

    await harness.send(EN, "/script maturity")

    assert "“Maturing policies” comes in parts" in harness.last_text(EN)
    assert harness.buttons(EN)[:5] == [
        "Phone appointment",
        "Home visit, step by step",
        "Materials and tools",
        "Renewal",
        "Cautions",
    ]


@pytest.mark.parametrize(
    ("user", "lang", "command", "heading", "signed"),
    [
        (ZH, "zh", "/script maturity phone", "【满期客户｜电话预约】", "我是王芳"),
        (EN, "en", "/script maturity phone", "— Maturing policies · Phone appointment —", "Fang"),
        (ZH, "zh", "/script 满期 1", "【满期客户｜电话预约】", "我是王芳"),
        (ZH, "zh", "/script warm 3", "【缘故市场开场｜3 邻居】", ""),
        (EN, "en", "/script Follow-Up c", "— Follow-up by visit depth · C:", ""),
        (EN, "en", "/script bank Counter", "— Bank customers · Openings at the counter —", ""),
    ],
)
async def test_script_with_topic_and_part_sends_that_part(
    harness: Harness, user: TgUser, lang: str, command: str, heading: str, signed: str
) -> None:
    await _agent(harness, user, lang, "王芳" if lang == "zh" else "Fang")

    await harness.send(user, command)

    track = harness.last_text(user)
    assert track.startswith(heading)
    assert signed in track
    _assert_clean([track])


async def test_whole_topic_is_split_into_messages_with_buttons_on_the_last(
    harness: Harness,
) -> None:
    await _agent(harness, EN, "en", "Fang")
    before = len(harness.request.sent(chat_id=EN.id))

    await harness.send(EN, "/script warm all")

    calls = harness.request.sent(chat_id=EN.id)[before:]
    texts = [call.text for call in calls]
    assert len(texts) >= 2
    joined = "\n".join(texts)
    assert "— Warm-market openings · 1 Close family and relatives —" in joined
    assert "— Warm-market openings · 13 People your clients know —" in joined
    assert [bool(call.buttons) for call in calls] == [False] * (len(calls) - 1) + [True]
    _assert_clean(texts)


async def test_whole_topic_in_chinese_is_asked_for_with_the_word_all(harness: Harness) -> None:
    await _agent(harness, ZH, "zh", "王芳")

    await harness.send(ZH, "/script 转介绍 全部")

    track = harness.last_text(ZH)
    assert "【转介绍｜第一步：取得认同】" in track and "【转介绍｜客户拒绝时】" in track
    _assert_clean([track])


async def test_all_button_sends_every_part_of_the_topic(harness: Harness) -> None:
    await _agent(harness, EN, "en", "Fang")
    await harness.send(EN, "/script events")
    before = len(harness.texts(EN))

    await harness.press(EN, "All")

    joined = "\n".join(_new_texts(harness, EN, before))
    for part in ("Client appreciation", "Dividend report", "Points redemption"):
        assert f"— Event invitations · {part} —" in joined


@pytest.mark.parametrize(
    ("user", "lang", "expected"),
    [
        (ZH, "zh", "没有「fortune」这个话术主题，可选的有：maturity"),
        (EN, "en", "There is no talk track called “fortune”; choose one of: maturity"),
    ],
)
async def test_unknown_topic_lists_the_topics_with_an_example(
    harness: Harness, user: TgUser, lang: str, expected: str
) -> None:
    await _agent(harness, user, lang, "王芳")

    await harness.send(user, "/script fortune")

    reply = harness.last_text(user)
    assert expected in reply and "/script maturity" in reply
    assert len(harness.buttons(user)) == 7

    await harness.send(user, "/script fortune teller")
    assert expected in harness.last_text(user)


async def test_mistyped_part_lists_the_parts_with_an_example(harness: Harness) -> None:
    await _agent(harness, EN, "en", "Fang")

    await harness.send(EN, "/script maturity phnoe")

    reply = harness.last_text(EN)
    assert "has no part called “phnoe”" in reply
    assert "/script maturity phone" in reply
    assert "Phone appointment" in harness.buttons(EN)

    await harness.send(EN, "/script maturity Smith")
    assert "No client matches “Smith”" in harness.last_text(EN)


# --- personalisation -----------------------------------------------------------------------


async def test_typed_honorific_fills_in_client_policy_and_agent(harness: Harness) -> None:
    agent = await _agent(harness, ZH, "zh", "王芳")
    client_id = await harness.seed_client(agent, "张丽华", honorific="张大姐")
    await _policy(harness, agent, client_id)

    await harness.send(ZH, "/script maturity phone 张大姐")

    track = harness.last_text(ZH)
    assert "客户：张丽华" in track and "称呼：张大姐" in track
    assert "张大姐，您好！我是王芳" in track
    assert "在工商银行办的" in track
    assert f"保单号{MASKED}" in track
    assert "2026年12月15日" in track and "还有12天到期" in track
    assert "金额：¥50,000" in track
    _assert_clean(harness.texts(ZH))


async def test_typed_name_with_topic_only_shows_the_parts_for_that_client(
    harness: Harness,
) -> None:
    agent = await _agent(harness, EN, "en", "Fang")
    client_id = await harness.seed_client(agent, "Zhang Lihua", honorific="Mrs Zhang")
    await _policy(harness, agent, client_id, bank="ICBC", product=None)

    await harness.send(EN, "/script maturity Mrs Zhang")
    assert "for Mrs Zhang" in harness.last_text(EN)

    await harness.press(EN, "Phone appointment")
    track = harness.last_text(EN)
    assert "Hello Mrs Zhang, this is Fang" in track
    assert "with ICBC" in track
    assert f"policy no. {MASKED}, matures in 12 days" in track
    assert "2026-12-15" in track
    _assert_clean(harness.texts(EN))


async def test_typed_name_without_topic_offers_the_topics_for_that_client(
    harness: Harness,
) -> None:
    agent = await _agent(harness, ZH, "zh", "王芳")
    await harness.seed_client(agent, "赵敏")

    await harness.send(ZH, "/script 赵敏")

    assert "给赵敏准备话术" in harness.last_text(ZH)
    await harness.press(ZH, "缘故市场开场")
    await harness.press(ZH, "3 邻居")
    assert "赵敏" in harness.last_text(ZH)


async def test_days_left_count_from_the_agents_own_date(harness: Harness) -> None:
    # 01:00 UTC on 3 December is still 2 December in Los Angeles.
    agent = await harness.make_agent(ZH, lang="zh", name="王芳", timezone="America/Los_Angeles")
    client_id = await harness.seed_client(agent, "张丽华")
    await _policy(harness, agent, client_id)

    await harness.send(ZH, "/script maturity phone 张丽华")

    assert "还有13天到期" in harness.last_text(ZH)


async def test_card_button_opens_topics_for_that_client(harness: Harness) -> None:
    agent = await _agent(harness, ZH, "zh", "王芳")
    client_id = await harness.seed_client(agent, "张丽华", honorific="张大姐")
    await _policy(harness, agent, client_id)

    await harness.press_data(ZH, SCRIPT_FOR_CLIENT.build(client_id=client_id))
    assert "给张大姐准备话术" in harness.last_text(ZH)

    await harness.press(ZH, "满期客户")
    assert "给张大姐准备「满期客户」" in harness.last_text(ZH)
    await harness.press(ZH, "上门拜访流程")
    track = harness.last_text(ZH)
    assert "张大姐，您好！好久不见" in track
    assert f"保单号{MASKED}，满期日2026年12月15日，还有12天到期" in track

    await harness.press(ZH, "« 所有主题")
    assert "给张大姐准备话术" in harness.last_text(ZH)


async def test_card_button_in_english_fills_in_the_client(harness: Harness) -> None:
    agent = await _agent(harness, EN, "en", "Fang")
    client_id = await harness.seed_client(agent, "Wang Qiang")

    await harness.press_data(EN, SCRIPT_FOR_CLIENT.build(client_id=client_id))
    await harness.press(EN, "Event invitations")
    await harness.press(EN, "Client appreciation")

    assert "Wang Qiang" in harness.last_text(EN)


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_several_matches_ask_which_client_then_carry_the_part(
    harness: Harness, lang: str
) -> None:
    user = ZH if lang == "zh" else EN
    agent = await _agent(harness, user, lang, "王芳")
    await harness.seed_client(agent, "张伟", phone="13800001111")
    second = await harness.seed_client(agent, "张伟", phone="13900002222")
    await harness.seed_client(agent, "张丽华")
    await _policy(harness, agent, second, bank="建设银行")

    await harness.send(user, "/script maturity phone 张")

    prompt = "好几位" if lang == "zh" else "Several clients match"
    assert prompt in harness.last_text(user)
    labels = harness.buttons(user)
    assert len(labels) == 3
    assert any("139****2222" in label for label in labels)

    await harness.press(user, "2222")
    track = harness.last_text(user)
    assert "张伟" in track and "建设银行" in track and MASKED in track


async def test_exact_name_does_not_stop_for_longer_names(harness: Harness) -> None:
    agent = await _agent(harness, ZH, "zh", "王芳")
    await harness.seed_client(agent, "张三")
    await harness.seed_client(agent, "张三丰")

    await harness.send(ZH, "/script referral acknowledge 张三")

    assert harness.last_text(ZH).startswith("【转介绍｜第一步：取得认同】")


async def test_many_matches_show_the_first_few_and_say_so(harness: Harness) -> None:
    agent = await _agent(harness, ZH, "zh", "王芳")
    for number in range(CLIENT_CHOICES + 2):
        await harness.seed_client(agent, f"李{number}号")

    await harness.send(ZH, "/script bank 李")

    assert f"不止{CLIENT_CHOICES}位" in harness.last_text(ZH)
    assert len(harness.buttons(ZH)) == CLIENT_CHOICES


@pytest.mark.parametrize(
    ("user", "lang", "expected", "neutral"),
    [
        (ZH, "zh", "没找到「孙悟空」这位客户", "看通用话术"),
        (EN, "en", "No client matches “孙悟空”", "General wording"),
    ],
)
async def test_no_match_says_so_and_offers_the_neutral_track(
    harness: Harness, user: TgUser, lang: str, expected: str, neutral: str
) -> None:
    agent = await _agent(harness, user, lang, "王芳")
    await harness.seed_client(agent, "张丽华")

    await harness.send(user, "/script maturity phone 孙悟空")
    reply = harness.last_text(user)
    assert expected in reply and "/script maturity" in reply

    await harness.press(user, neutral)
    track = harness.last_text(user)
    assert "张丽华" not in track and "孙悟空" not in track
    _assert_clean([track])


async def test_no_match_with_topic_only_offers_the_neutral_parts(harness: Harness) -> None:
    await _agent(harness, ZH, "zh", "王芳")

    await harness.send(ZH, "/script objections 孙悟空")
    await harness.press(ZH, "看通用话术")

    assert "「满期异议处理」分几段" in harness.last_text(ZH)


async def test_client_without_policy_gets_a_note_and_general_policy_words(
    harness: Harness,
) -> None:
    agent = await _agent(harness, ZH, "zh", "王芳")
    await harness.seed_client(agent, "赵敏", honorific="赵姐")
    before = len(harness.texts(ZH))

    await harness.send(ZH, "/script maturity phone 赵敏")

    note, track = _new_texts(harness, ZH, before)
    assert "赵姐名下还没有记着满期日的保单" in note
    assert "赵姐，您好！我是王芳" in track
    assert "保单号" not in track and "****" not in track
    _assert_clean([note, track])


async def test_client_without_policy_gets_no_note_outside_the_maturity_track(
    harness: Harness,
) -> None:
    agent = await _agent(harness, EN, "en", "Fang")
    await harness.seed_client(agent, "Zhao Min")
    before = len(harness.texts(EN))

    await harness.send(EN, "/script warm 2 Zhao Min")

    texts = _new_texts(harness, EN, before)
    assert len(texts) == 1 and "Zhao Min" in texts[0]


# --- which policy a track talks about ------------------------------------------------------


async def test_track_talks_about_the_open_maturity_nearest_today(harness: Harness) -> None:
    agent = await _agent(harness, ZH, "zh", "王芳")
    client_id = await harness.seed_client(agent, "张丽华")
    await _policy(harness, agent, client_id, "P000000001111", maturity_date=date(2031, 1, 1))
    await _policy(harness, agent, client_id, "P000000002222", maturity_date=date(2026, 12, 20))
    await _policy(harness, agent, client_id, "P000000003333", maturity_date=date(2020, 1, 1))

    await harness.send(ZH, "/script maturity materials 张丽华")

    track = harness.last_text(ZH)
    assert "****2222" in track and "****1111" not in track and "****3333" not in track


async def test_settled_policies_give_way_to_an_open_one(harness: Harness) -> None:
    agent = await _agent(harness, ZH, "zh", "王芳")
    client_id = await harness.seed_client(agent, "张丽华")
    closed = await _policy(harness, agent, client_id, "P000000001111")
    await _policy(harness, agent, client_id, "P000000002222", status="renewed")
    await _policy(harness, agent, client_id, "P000000003333", maturity_date=date(2027, 6, 1))
    async with harness.db.session() as session:
        session.add(
            MaturityCase(
                agent_id=agent.id,
                policy_id=closed,
                stage="closed",
                closed_at=datetime(2026, 12, 1, tzinfo=UTC),
            )
        )

    await harness.send(ZH, "/script maturity materials 张丽华")

    assert "****3333" in harness.last_text(ZH)


async def test_with_every_policy_settled_the_latest_is_talked_about(harness: Harness) -> None:
    agent = await _agent(harness, EN, "en", "Fang")
    client_id = await harness.seed_client(agent, "Zhang Lihua")
    await _policy(harness, agent, client_id, "P000000001111", status="paid_out")
    await _policy(
        harness,
        agent,
        client_id,
        "P000000002222",
        status="renewed",
        maturity_date=date(2026, 11, 30),
    )
    await _policy(harness, agent, client_id, "P000000003333", maturity_date=None)

    await harness.send(EN, "/script maturity phone Zhang Lihua")

    track = harness.last_text(EN)
    assert "****1111" in track and "matures in 12 days" in track


async def test_a_policy_past_maturity_reads_as_matured(harness: Harness) -> None:
    agent = await _agent(harness, EN, "en", "Fang")
    client_id = await harness.seed_client(agent, "Zhang Lihua")
    await _policy(harness, agent, client_id, maturity_date=date(2026, 11, 30))

    await harness.send(EN, "/script maturity phone Zhang Lihua")

    assert f"policy no. {MASKED}, matured on 2026-11-30" in harness.last_text(EN)


# --- refusals ------------------------------------------------------------------------------


async def test_another_agents_client_gets_the_same_refusal_as_a_missing_one(
    harness: Harness,
) -> None:
    await _agent(harness, ZH, "zh", "王芳")
    other = await _agent(harness, OTHER, "zh", "李雷")
    theirs = await harness.seed_client(other, "钱多多", honorific="钱总")
    await _policy(harness, other, theirs)

    await harness.press_data(ZH, SCRIPT_FOR_CLIENT.build(client_id=theirs))
    forged = harness.last_text(ZH)
    await harness.press_data(ZH, SCRIPT_FOR_CLIENT.build(client_id=theirs + 1000))
    missing = harness.last_text(ZH)
    await harness.press_data(
        ZH, SCRIPT_PART.build(client_id=theirs, topic="maturity", variant="phone")
    )
    forged_part = harness.last_text(ZH)

    assert forged == missing == forged_part == "这个按钮已经用不了了。请发 /script 重新选。"
    assert not any("钱" in text for text in harness.texts(ZH))
    assert FULL_NUMBER not in "".join(harness.texts(ZH))


async def test_another_agents_client_is_not_found_by_name(harness: Harness) -> None:
    await _agent(harness, EN, "en", "Fang")
    other = await _agent(harness, OTHER, "zh", "李雷")
    await harness.seed_client(other, "钱多多")

    await harness.send(EN, "/script bank counter 钱多多")

    assert "No client matches" in harness.last_text(EN)


@pytest.mark.parametrize(
    "data",
    [
        "sv:1:maturity",
        "sv:x:maturity:phone",
        "st:0:astrology",
        "sv:0:maturity:astrology",
        "sc:0",
        "sc:",
    ],
)
async def test_malformed_or_outdated_buttons_are_refused_in_english(
    harness: Harness, data: str
) -> None:
    await _agent(harness, EN, "en", "Fang")

    await harness.press_data(EN, data)

    assert harness.last_text(EN) == "This button no longer works. Send /script to choose again."
    answered = harness.request.sent(method="answerCallbackQuery")
    assert answered, "the button press was never answered"


async def test_every_button_fits_telegrams_callback_limit(harness: Harness) -> None:
    agent = await _agent(harness, ZH, "zh", "王芳")
    client_id = await harness.seed_client(agent, "张丽华")
    await harness.press_data(ZH, SCRIPT_TOPIC.build(client_id=client_id, topic="objections"))
    await harness.send(ZH, "/script warm")

    data = [d for call in harness.request.sent(chat_id=ZH.id) for _, d in call.buttons]
    assert data and all(len(d.encode()) <= MAX_BYTES for d in data)
    assert any(str(client_id) in d for d in data)
