"""The client card and its buttons: grading, follow-up, editing, deleting, forged ids."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from bot import links
from bot.handlers import clients_views as views
from storage import clients as store
from storage.models import Client, GradeChange, Interaction, Policy
from tests.harness import Harness, TgUser

ZH = TgUser(4301, "芳", "zh-hans")
EN = TgUser(4302, "Amy", "en")
OTHER = TgUser(4303, "强", "zh-hans")


async def _open(harness: Harness, user: TgUser, client_id: int) -> str:
    await harness.press_data(user, links.CLIENT_CARD.build(client_id=client_id))
    return harness.last_text(user)


@pytest.fixture
async def zhang(harness: Harness) -> int:
    """Return the id of 张三, the one client of the Chinese-speaking agent."""
    await harness.make_agent(ZH)
    return await harness.seed_client(ZH, "张三")


@pytest.fixture
async def li_si(harness: Harness) -> int:
    """Return the id of Li Si, the one client of the English-speaking agent."""
    await harness.make_agent(EN, lang="en")
    return await harness.seed_client(EN, "Li Si")


# --- what the card shows --------------------------------------------------------------------


async def test_card_shows_every_field_grades_contacts_referrals_and_policies(
    harness: Harness,
) -> None:
    agent = await harness.make_agent(ZH)
    referrer = await harness.seed_client(ZH, "李四")
    client_id = await harness.seed_client(
        ZH,
        "张三",
        honorific="张总",
        phone="13812345678",
        phone2="010-12345678",
        address="和平路 8 号",
        source="referral",
        referred_by_id=referrer,
        relation="同事",
        referral_permission="use_name",
        region="city",
        trait="loyal",
        grade_timing="A",
        grade_depth="C",
        next_followup=date(2026, 12, 1),
        notes="喜欢打高尔夫",
    )
    await harness.seed_client(ZH, "王五", referred_by_id=client_id)
    now = harness.clock.now()
    async with harness.db.session() as session:
        client = await store.get_client(session, agent.id, client_id)
        assert client is not None
        for day in range(6):
            await store.log_interaction(
                session,
                client,
                channel="visit",
                note=f"第{day}次拜访",
                at=now - timedelta(days=day),
            )
        await store.set_grade(session, client, "willingness", "B", at=now)
        session.add(
            Policy(
                agent_id=agent.id,
                client_id=client_id,
                policy_number="P-778899",
                product="鑫享年金",
                premium=Decimal(50000),
                maturity_date=date(2027, 3, 1),
            )
        )

    card = await _open(harness, ZH, client_id)
    for expected in (
        "👤 张三（张总）",
        "电话：138 1234 5678 / 010-1234 5678",
        "地址：和平路 8 号",
        "来源：转介绍 · 介绍人 李四",
        "与介绍人的关系：同事",
        "同意提他的名字",
        "市区 · 忠诚客户",
        "促成时机：A：1个月内可促成",
        "投保意愿：B：有能力没意愿，需要多沟通（2026年12月3日评定）",
        "拜访程度：C：开始谈保险观念",
        "最近联系：2026年12月3日 09:00（今天）",
        "下次跟进：2026年12月1日（已到期）",
        "他/她介绍的人（1 位）：王五",
        "最近 5 次联系（共 6 次）",
        "第0次拜访",
        "第4次拜访",
        "P-778899 · 鑫享年金 · 保费 ¥50,000 · 满期 2027年3月1日 · 有效",
        "备注：喜欢打高尔夫",
    ):
        assert expected in card, expected
    assert "第5次拜访" not in card
    assert harness.buttons(ZH) == [
        "📝 记录联系",
        "⭐ 评级",
        "📅 跟进日期",
        "💬 话术",
        "✏️ 修改",
        "🗑 删除",
        "介绍人：李四",
        "🌳 转介绍关系",
    ]
    data = [b for c in harness.request.sent(chat_id=ZH.id) for _, b in c.buttons]
    assert links.SCRIPT_FOR_CLIENT.build(client_id=client_id) in data
    assert all(len(d.encode()) <= 64 for d in data)


async def test_card_of_a_new_client_in_english_says_what_is_missing(harness: Harness) -> None:
    await harness.make_agent(EN, lang="en")
    client_id = await harness.seed_client(EN, "Li Si", source="warm", warm_category=7)
    card = await _open(harness, EN, client_id)
    for expected in (
        "👤 Li Si",
        "Phone: not given",
        "Source: Warm market · People met through your children",
        "Closing timing: not graded",
        "Last contact: none logged yet",
        "Next follow-up: not set",
        "Contacts: none yet",
    ):
        assert expected in card, expected


async def test_client_command_opens_the_card_by_name(harness: Harness) -> None:
    await harness.make_agent(ZH)
    await harness.seed_client(ZH, "张三", phone="13812345678")
    await harness.send(ZH, "/client zhangsan")
    assert "👤 张三" in harness.last_text(ZH)
    assert "138 1234 5678" in harness.last_text(ZH)


# --- grading --------------------------------------------------------------------------------


async def test_grading_by_buttons_shows_meanings_and_keeps_history(
    harness: Harness, zhang: int
) -> None:
    await _open(harness, ZH, zhang)
    await harness.press(ZH, "评级")
    assert "给 张三 评级" in harness.last_text(ZH)
    assert harness.buttons(ZH)[:3] == ["促成时机", "投保意愿", "拜访程度"]

    await harness.press(ZH, "投保意愿")
    assert harness.buttons(ZH)[:4] == [
        "A：有意愿有能力，只差细节",
        "B：有能力没意愿，需要多沟通",
        "C：有意愿没能力，等待时机",
        "D：没意愿没能力，慢慢培养",
    ]
    await harness.press(ZH, "C：有意愿没能力")
    assert "已保存：投保意愿 C：有意愿没能力，等待时机" in harness.last_text(ZH)

    harness.clock.advance(days=3)
    await harness.press(ZH, "投保意愿")
    await harness.press(ZH, "A：有意愿有能力")
    await harness.press(ZH, "拜访程度")
    assert "清除这个等级" not in harness.buttons(ZH)
    await harness.press(ZH, "D：还在建立感情")
    await harness.press(ZH, "拜访程度")
    await harness.press(ZH, "清除这个等级")
    assert "已清除：拜访程度" in harness.last_text(ZH)

    client = await harness.get(Client, zhang)
    assert client is not None
    assert (client.grade_timing, client.grade_willingness, client.grade_depth) == (None, "A", None)
    history = await harness.rows(GradeChange)
    assert [(g.axis, g.old, g.new) for g in history] == [
        ("willingness", None, "C"),
        ("willingness", "C", "A"),
        ("depth", None, "D"),
        ("depth", "D", None),
    ]
    assert history[1].changed_at - history[0].changed_at == timedelta(days=3)


async def test_grading_in_english_edits_the_menu_in_place(harness: Harness, li_si: int) -> None:
    await harness.press_data(EN, views.CARD_ACTION.build(client_id=li_si, action="grade"))
    sent_before = len(harness.request.sent(chat_id=EN.id, method="sendMessage"))
    await harness.press(EN, "Closing timing")
    [edit] = harness.request.sent(chat_id=EN.id, method="editMessageText")
    await harness.press(EN, "Back to the axes")
    assert "Grading Li Si: choose an axis." in harness.last_text(EN)
    await harness.press(EN, "Closing timing")
    assert "Li Si · Closing timing: choose a grade" in edit.text
    await harness.press(EN, "B: in 1–2 months")
    assert len(harness.request.sent(chat_id=EN.id, method="sendMessage")) == sent_before
    assert "Saved: Closing timing B: in 1–2 months" in harness.last_text(EN)
    client = await harness.get(Client, li_si)
    assert client is not None and client.grade_timing == "B"


# --- follow-up ------------------------------------------------------------------------------


async def test_follow_up_button_sets_and_clears_the_date(harness: Harness, zhang: int) -> None:
    await _open(harness, ZH, zhang)
    await harness.press(ZH, "跟进日期")
    assert "张三 下次什么时候跟进" in harness.last_text(ZH)
    assert "取消跟进日期" not in harness.buttons(ZH)

    await harness.send(ZH, "下下下周")
    harness.assert_retried(ZH, "没看懂这个日期", "下次什么时候跟进")
    await harness.send(ZH, "昨天")
    harness.assert_retried(ZH, "已经过去了", "下次什么时候跟进")
    await harness.send(ZH, "12月20日")
    assert "下次跟进：2026年12月20日" in harness.last_text(ZH)
    client = await harness.get(Client, zhang)
    assert client is not None and client.next_followup == date(2026, 12, 20)

    await harness.press(ZH, "打开 张三 的档案")
    await harness.press(ZH, "跟进日期")
    assert "现在定的是：2026年12月20日" in harness.last_text(ZH)
    await harness.press(ZH, "取消跟进日期")
    assert "已取消 张三 的跟进日期" in harness.last_text(ZH)
    client = await harness.get(Client, zhang)
    assert client is not None and client.next_followup is None


async def test_follow_up_in_english_with_a_typed_weekday(harness: Harness, li_si: int) -> None:
    await harness.press_data(EN, views.CARD_ACTION.build(client_id=li_si, action="follow"))
    await harness.send(EN, "whenever")
    harness.assert_retried(EN, "I couldn't read the date", "next follow up with Li Si")
    await harness.send(EN, "yesterday")
    harness.assert_retried(EN, "has already passed", "next follow up with Li Si")
    await harness.send(EN, "next monday")
    assert "Next follow-up: 2026-12-07." in harness.last_text(EN)


# --- editing --------------------------------------------------------------------------------


async def test_edit_name_updates_the_search_keys(harness: Harness, zhang: int) -> None:
    await _open(harness, ZH, zhang)
    await harness.press(ZH, "修改")
    assert "要修改 张三 的哪一项" in harness.last_text(ZH)
    await harness.send(ZH, "生日")
    harness.assert_retried(ZH, "请点下面的按钮选择要改的项目", "要修改 张三 的哪一项")
    await harness.send(ZH, "姓名")
    assert "请输入新的姓名" in harness.last_text(ZH)
    assert "清空这一项" not in harness.buttons(ZH)
    await harness.send(ZH, "@@")
    harness.assert_retried(ZH, "名字要有 1 到 40 个字", "请输入新的姓名")
    await harness.send(ZH, "张三丰")

    assert "姓名已更新" in harness.texts(ZH)[-2]
    assert "👤 张三丰" in harness.last_text(ZH)
    client = await harness.get(Client, zhang)
    assert client is not None
    assert (client.name, client.name_pinyin, client.name_initials) == (
        "张三丰",
        "zhangsanfeng",
        "zsf",
    )


async def test_edit_phone_rejects_bad_numbers_and_can_be_cleared(
    harness: Harness, li_si: int
) -> None:
    action = views.CARD_ACTION.build(client_id=li_si, action="edit")
    await harness.press_data(EN, action)
    await harness.send(EN, "birthday")
    harness.assert_retried(EN, "Please choose the field", "What would you like to change")
    await harness.press(EN, "second phone")
    await harness.send(EN, "call me")
    harness.assert_retried(EN, "I couldn't read the phone number", "Type the new second phone")
    await harness.send(EN, "0755 8765 4321")
    assert "0755-8765 4321" in harness.last_text(EN)

    await harness.press_data(EN, action)
    await harness.press(EN, "second phone")
    assert "Currently: 0755-8765 4321" in harness.last_text(EN)
    await harness.press(EN, "Clear this field")
    client = await harness.get(Client, li_si)
    assert client is not None and client.phone2 is None


async def test_edit_choice_fields_and_text_fields(harness: Harness, zhang: int) -> None:
    action = views.CARD_ACTION.build(client_id=zhang, action="edit")
    await harness.press_data(ZH, action)
    await harness.press(ZH, "区域")
    await harness.send(ZH, "火星")
    harness.assert_retried(ZH, "请点下面的按钮选择", "请选择区域")
    await harness.send(ZH, "乡镇")

    await harness.press_data(ZH, action)
    await harness.press(ZH, "客户特点")
    await harness.press(ZH, "敏感或易起纠纷")

    await harness.press_data(ZH, action)
    await harness.press(ZH, "地址")
    await harness.send(ZH, "路" * 256)
    harness.assert_retried(ZH, "最多 255 个字", "请输入新的地址")
    await harness.send(ZH, "幸福小区 3 栋")

    client = await harness.get(Client, zhang)
    assert client is not None
    assert (client.region, client.trait, client.address) == (
        "township",
        "sensitive",
        "幸福小区 3 栋",
    )


async def test_edit_source_to_referral_links_the_referrer_and_never_the_client_itself(
    harness: Harness,
) -> None:
    await harness.make_agent(ZH)
    referrer = await harness.seed_client(ZH, "李四")
    client_id = await harness.seed_client(ZH, "张三", source="warm", warm_category=2)
    await harness.press_data(ZH, views.CARD_ACTION.build(client_id=client_id, action="edit"))
    await harness.press(ZH, "来源")
    await harness.press(ZH, "转介绍")
    await harness.send(ZH, "张三")
    harness.assert_retried(ZH, "客户不能是自己的介绍人", "是谁介绍的")
    await harness.send(ZH, "ls")

    assert "来源已更新" in harness.texts(ZH)[-2]
    client = await harness.get(Client, client_id)
    assert client is not None
    assert (client.source, client.warm_category, client.referred_by_id) == (
        "referral",
        None,
        referrer,
    )


async def test_client_command_resumes_a_paused_edit(harness: Harness, zhang: int) -> None:
    await harness.press_data(ZH, views.CARD_ACTION.build(client_id=zhang, action="edit"))
    await harness.press(ZH, "备注")
    await harness.send(ZH, "/log")
    assert "发 /client 可以接着做" in harness.texts(ZH)[-2]
    await harness.send(ZH, "/client")
    assert "请输入新的备注" in harness.last_text(ZH)
    await harness.send(ZH, "周末有空")
    client = await harness.get(Client, zhang)
    assert client is not None and client.notes == "周末有空"


# --- deleting -------------------------------------------------------------------------------


async def test_delete_asks_first_and_removes_the_client_with_contacts(harness: Harness) -> None:
    agent = await harness.make_agent(ZH)
    client_id = await harness.seed_client(ZH, "张三")
    async with harness.db.session() as session:
        client = await store.get_client(session, agent.id, client_id)
        assert client is not None
        await store.log_interaction(
            session, client, channel="phone", note="hi", at=datetime(2026, 12, 1, tzinfo=UTC)
        )
    await _open(harness, ZH, client_id)
    await harness.press(ZH, "删除")
    assert "确定删除 张三 吗？1 条联系记录" in harness.last_text(ZH)
    await harness.press(ZH, "不删了")
    assert "张三 保留不动" in harness.last_text(ZH)
    assert await harness.get(Client, client_id) is not None

    await harness.press(ZH, "删除")
    await harness.press(ZH, "确定删除")
    assert "已删除 张三" in harness.last_text(ZH)
    assert await harness.get(Client, client_id) is None
    assert await harness.first(Interaction) is None

    await harness.press_data(ZH, links.CLIENT_CARD.build(client_id=client_id))
    answer = harness.request.sent(method="answerCallbackQuery")[-1]
    assert "找不到这位客户" in answer.params["text"]


# --- ownership ------------------------------------------------------------------------------


FORGED = [
    lambda cid: links.CLIENT_CARD.build(client_id=cid),
    lambda cid: links.LOG_CONTACT.build(client_id=cid),
    lambda cid: views.CARD_ACTION.build(client_id=cid, action="grade"),
    lambda cid: views.CARD_ACTION.build(client_id=cid, action="follow"),
    lambda cid: views.CARD_ACTION.build(client_id=cid, action="edit"),
    lambda cid: views.CARD_ACTION.build(client_id=cid, action="delete"),
    lambda cid: views.GRADE.build(client_id=cid, axis="timing", grade="-"),
    lambda cid: views.GRADE.build(client_id=cid, axis="timing", grade="A"),
    lambda cid: views.GRADE.build(client_id=cid, axis="timing", grade="0"),
    lambda cid: views.GRADE.build(client_id=cid, axis="timing", grade="*"),
    lambda cid: views.DELETE.build(client_id=cid, answer="yes"),
]


@pytest.mark.parametrize("forge", FORGED)
async def test_forged_button_naming_another_agents_client_is_refused_revealing_nothing(
    harness: Harness, forge: object
) -> None:
    await harness.make_agent(ZH)
    await harness.make_agent(OTHER, name="李强")
    secret = await harness.seed_client(OTHER, "秘密客户", phone="13700001234", grade_timing="C")
    before = len(harness.request.calls)

    assert callable(forge)
    await harness.press_data(ZH, forge(secret))

    calls = harness.request.calls[before:]
    answers = [c for c in calls if c.method == "answerCallbackQuery"]
    assert len(answers) == 1
    assert answers[0].params["text"] == "找不到这位客户，可能已经删除了。发 /find 加名字重新查找。"
    assert [c for c in calls if c.method != "answerCallbackQuery"] == []
    everything = " ".join(str(c.params) for c in calls)
    assert "秘密" not in everything and "1234" not in everything

    client = await harness.get(Client, secret)
    assert client is not None and client.grade_timing == "C"
    assert await harness.first(GradeChange) is None


async def test_forged_unknown_id_gets_the_same_refusal(harness: Harness) -> None:
    await harness.make_agent(EN, lang="en")
    await harness.press_data(EN, links.CLIENT_CARD.build(client_id=987654321))
    answer = harness.request.sent(method="answerCallbackQuery")[-1]
    assert answer.params["text"].startswith("I can't find that client")


@pytest.mark.parametrize(
    "data",
    ["cc:abc", "cc:1:2", "ca:1:explode", "cg:1:size:A", "cg:1:timing:Z", "cd:1", "cn:x.y:0"],
)
async def test_malformed_button_data_gets_a_stale_notice(
    harness: Harness, zhang: int, data: str
) -> None:
    data = data.replace(":1:", f":{zhang}:")
    await harness.press_data(ZH, data)
    answer = harness.request.sent(method="answerCallbackQuery")[-1]
    assert "按钮已经过时" in answer.params["text"]
    assert harness.request.sent(method="sendMessage") == []


async def test_card_of_a_referred_client_opens_the_referral_tree(harness: Harness) -> None:
    await harness.make_agent(EN, lang="en")
    root = await harness.seed_client(EN, "Li Si")
    middle = await harness.seed_client(EN, "Zhang San", referred_by_id=root, source="referral")
    await harness.seed_client(EN, "Wang Wu", referred_by_id=middle, source="referral")
    loner = await harness.seed_client(EN, "Zhao Liu")

    await _open(harness, EN, loner)
    assert "🌳 Referral tree" not in harness.buttons(EN)

    await _open(harness, EN, middle)
    await harness.press(EN, "Referral tree")

    tree = harness.last_text(EN)
    assert "Li Si" in tree and "Wang Wu" in tree and "Zhang San" in tree
