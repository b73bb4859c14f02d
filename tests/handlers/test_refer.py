"""/refer, the five-step referral ask, driven through the real Application in zh and en."""

from __future__ import annotations

from datetime import date

import pytest

from bot.flows import FLOW_BUTTON
from bot.links import CLIENT_CARD
from storage.models import Client, Conversation, Interaction
from tests.harness import Harness, TgUser

AGENT = TgUser(5101)
AGENT_EN = TgUser(5102, "Tester", "en")
OTHER = TgUser(5103)
TODAY = date(2026, 12, 3)


async def _named(harness: Harness, name: str) -> Client:
    """Return the one stored client called ``name``."""
    found = await harness.rows(Client, Client.name == name)
    assert len(found) == 1, f"expected one {name!r}, found {len(found)}"
    return found[0]


async def _to_names(harness: Harness, user: TgUser, referrer: str = "张三") -> None:
    """Start /refer with a new referrer who agreed, and stop at step 2."""
    await harness.send(user, "/refer")
    await harness.send(user, referrer)
    await harness.press(user, "新建客户")
    await harness.press(user, "答应了")


async def _finish_name(harness: Harness, user: TgUser) -> None:
    """Answer step 3 for the current name with no phone, a relation and no line about them."""
    await harness.press(user, "跳过")
    await harness.press(user, "朋友")
    await harness.press(user, "跳过")


async def _lock(harness: Harness, user: TgUser) -> None:
    """Answer step 5 for the current name."""
    await harness.press(user, "朋友写信")
    await harness.press(user, "同意当介绍人")
    await harness.press(user, "电话")


async def _to_summary(harness: Harness, user: TgUser, *names: str) -> None:
    """Walk /refer with ``names``, each answered plainly, up to the summary before saving."""
    await _to_names(harness, user)
    await harness.send(user, "、".join(names))
    for _ in names:
        await _finish_name(harness, user)
    await harness.press(user, "没有了")
    for _ in names:
        await _lock(harness, user)


# --- whole walks ---------------------------------------------------------------------------


async def test_refer_walks_every_step_in_chinese_and_stores_each_field(harness: Harness) -> None:
    await harness.make_agent(AGENT)

    await harness.send(AGENT, "/refer")
    assert "刚见完哪位客户" in harness.last_text(AGENT)
    await harness.send(AGENT, "张三、李四")
    assert "一次只输入一位推荐人" in harness.previous_text(AGENT)
    await harness.send(AGENT, "张三")
    assert "档案里没有找到“张三”" in harness.last_text(AGENT)
    await harness.press(AGENT, "新建客户：张三")

    texts = harness.texts(AGENT)
    assert any("第一步 · 取得认同" in text for text in texts)
    assert any("张三，今天真谢谢您" in text for text in texts)
    assert "张三 答应帮你介绍朋友了吗" in harness.last_text(AGENT)
    await harness.send(AGENT, "嗯")
    assert "请点下面的按钮，或者输入“是”" in harness.previous_text(AGENT)
    await harness.press(AGENT, "答应了")

    assert "第二步" in harness.last_text(AGENT)
    await harness.send(AGENT, "😀")
    assert "“😀”不像一个名字" in harness.previous_text(AGENT)
    await harness.press(AGENT, "A · 和您一样成功的人")
    assert "范围：和您一样成功的人" in harness.last_text(AGENT)
    await harness.send(AGENT, "张" * 41)
    assert "名字太长了" in harness.previous_text(AGENT)
    await harness.send(AGENT, "李四、王五")
    assert "已记下：李四、王五。" in harness.previous_text(AGENT)

    assert "核对信息（1/2）李四" in harness.last_text(AGENT)
    await harness.send(AGENT, "12345")
    assert "没看懂这个电话号码" in harness.previous_text(AGENT)
    await harness.send(AGENT, "138 1234 5678")
    assert "李四 和 张三 是什么关系" in harness.last_text(AGENT)
    await harness.send(AGENT, "很" * 31)
    assert "30 个字以内" in harness.previous_text(AGENT)
    await harness.press(AGENT, "同事")
    await harness.send(AGENT, "长" * 201)
    assert "200 个字以内" in harness.previous_text(AGENT)
    await harness.send(AGENT, "四十岁左右，做外贸，两个孩子")

    assert "核对信息（2/2）王五" in harness.last_text(AGENT)
    await harness.press(AGENT, "跳过")
    await harness.send(AGENT, "大学同学")
    await harness.press(AGENT, "跳过")

    assert "第四步" in harness.last_text(AGENT)
    assert "李四、王五" in harness.last_text(AGENT)
    await harness.send(AGENT, "还有吧")
    assert "请点下面的按钮：还有人就继续添加" in harness.previous_text(AGENT)
    await harness.press(AGENT, "还有")
    assert "已记下 2 位" in harness.last_text(AGENT)
    await harness.send(AGENT, "赵六")  # typed at once: no scope
    await harness.share_contact(AGENT, "赵六", "+86 139 0000 1111")
    await harness.press(AGENT, "邻居")
    await harness.press(AGENT, "跳过")
    await harness.press(AGENT, "没有了")

    # Step 5, by button, by number, by label, and a wrong answer once.
    assert "第五步" in harness.last_text(AGENT) and "李四" in harness.last_text(AGENT)
    await harness.press(AGENT, "朋友写信")
    await harness.send(AGENT, "随便")
    assert "输入它的序号（1 到 4）" in harness.previous_text(AGENT)
    await harness.send(AGENT, "2")
    await harness.send(AGENT, "微信/QQ")
    assert "王五" in harness.last_text(AGENT)
    await harness.press(AGENT, "只是听别人说起过")
    await harness.press(AGENT, "不同意提他的名字")
    await harness.send(AGENT, "9")
    await harness.press(AGENT, "电话")
    await harness.send(AGENT, "2")
    await harness.press(AGENT, "客户书面推荐")
    await harness.press(AGENT, "拜访")

    summary = harness.last_text(AGENT)
    assert "推荐人：张三（新客户，保存时建档）" in summary
    assert "1. 李四" in summary and "138 1234 5678" in summary and "同事" in summary
    assert "四十岁左右，做外贸，两个孩子" in summary
    assert "3. 赵六" in summary and "不限范围" in summary
    assert "2026年12月5日（2 天后）" in summary
    await harness.send(AGENT, "好的")
    assert "请点下面的按钮：保存" in harness.previous_text(AGENT)
    await harness.press(AGENT, "保存")

    assert "已保存 3 位准客户" in harness.last_text(AGENT)
    assert "2026年12月5日" in harness.last_text(AGENT)
    referrer = await _named(harness, "张三")
    li = await _named(harness, "李四")
    wang = await _named(harness, "王五")
    zhao = await _named(harness, "赵六")
    assert (li.phone, li.relation, li.notes, li.referral_scope) == (
        "13812345678",
        "同事",
        "四十岁左右，做外贸，两个孩子",
        "A",
    )
    assert (li.referral_approach, li.referral_permission, li.referral_channel) == (
        "introduce",
        "referrer",
        "wechat",
    )
    assert (wang.phone, wang.relation, wang.notes, wang.referral_scope) == (
        None,
        "大学同学",
        None,
        "A",
    )
    assert (wang.referral_approach, wang.referral_permission, wang.referral_channel) == (
        "heard",
        "no_name",
        "phone",
    )
    assert (zhao.phone, zhao.relation, zhao.referral_scope) == ("13900001111", "邻居", None)
    assert (zhao.referral_approach, zhao.referral_permission, zhao.referral_channel) == (
        "close",
        "written",
        "visit",
    )
    for prospect in (li, wang, zhao):
        assert prospect.source == "referral"
        assert prospect.referred_by_id == referrer.id
        assert prospect.next_followup == date(2026, 12, 5)
        assert prospect.name_pinyin  # created through the book, so findable by pinyin
    interactions = await harness.rows(Interaction)
    assert [(i.client_id, i.channel) for i in interactions] == [(referrer.id, "visit")]
    assert "李四、王五、赵六" in (interactions[0].note or "")
    assert await harness.count(Conversation) == 0
    buttons = harness.request.sent(chat_id=AGENT.id)[-1].buttons
    assert (("📇 打开 李四 的档案", CLIENT_CARD.build(client_id=li.id))) in buttons


async def test_refer_in_english_uses_an_existing_referrer_and_the_agents_delay(
    harness: Harness,
) -> None:
    await harness.make_agent(AGENT_EN, lang="en", name="Amy", referral_contact_days=5)
    chen = await harness.seed_client(AGENT_EN, "Chen Wei", honorific="Mr Chen", source="bank")

    await harness.send(AGENT_EN, "/refer chen")
    assert 'These clients match "chen"' in harness.last_text(AGENT_EN)
    await harness.press(AGENT_EN, "Chen Wei (Bank channel)")
    assert any("Thank you so much for today, Mr Chen" in t for t in harness.texts(AGENT_EN))
    await harness.send(AGENT_EN, "yes")

    assert "Step 2" in harness.last_text(AGENT_EN)
    await harness.send(AGENT_EN, "e")
    assert "Scope: The person who trusts you most" in harness.last_text(AGENT_EN)
    await harness.send(AGENT_EN, "Li Si")
    assert "(1/1) Li Si" in harness.last_text(AGENT_EN)
    await harness.send(AGENT_EN, "call him")
    assert "I couldn't read the phone number" in harness.previous_text(AGENT_EN)
    await harness.send(AGENT_EN, "010-12345678")
    await harness.send(AGENT_EN, "x" * 31)
    assert "at most 30 characters" in harness.previous_text(AGENT_EN)
    await harness.press(AGENT_EN, "Relative")
    await harness.send(AGENT_EN, "y" * 201)
    assert "at most 200 characters" in harness.previous_text(AGENT_EN)
    await harness.send(AGENT_EN, "runs a bakery")
    await harness.send(AGENT_EN, "maybe")
    assert "Please tap a button: add more names" in harness.previous_text(AGENT_EN)
    await harness.press(AGENT_EN, "That's all")

    await harness.send(AGENT_EN, "5")
    assert (
        "Please tap one of the buttons below, or type its number (1 to 3)"
        in harness.previous_text(AGENT_EN)
    )
    await harness.send(AGENT_EN, "they know each other; the friend mentions we are close")
    await harness.send(AGENT_EN, "3")
    await harness.press(AGENT_EN, "SMS")
    summary = harness.last_text(AGENT_EN)
    assert "Referrer: Chen Wei" in summary and "new client" not in summary
    assert "Phone: 010-1234 5678 | Relation: Relative" in summary
    assert "due on 2026-12-08 (in 5 days)" in summary
    await harness.press(AGENT_EN, "Save")

    assert "Prospects saved: 1" in harness.last_text(AGENT_EN)
    li = await _named(harness, "Li Si")
    assert (li.phone, li.relation, li.notes, li.referral_scope) == (
        "010-12345678",
        "Relative",
        "runs a bakery",
        "E",
    )
    assert (li.referral_approach, li.referral_permission, li.referral_channel) == (
        "close",
        "use_name",
        "sms",
    )
    assert li.referred_by_id == chen and li.next_followup == date(2026, 12, 8)
    assert len(await harness.rows(Client)) == 2  # the referrer was not added again
    interactions = await harness.rows(Interaction)
    assert [i.client_id for i in interactions] == [chen]
    assert "names given (1): Li Si" in (interactions[0].note or "")


# --- "not now" -----------------------------------------------------------------------------


async def test_not_now_records_the_meeting_with_a_typed_follow_up_date(harness: Harness) -> None:
    await harness.make_agent(AGENT)
    await harness.send(AGENT, "/refer 张三")
    await harness.press(AGENT, "新建客户")
    await harness.send(AGENT, "不")

    assert "要不要给 张三 定一个跟进日期" in harness.last_text(AGENT)
    await harness.send(AGENT, "改天吧")
    assert "没看懂这个日期" in harness.previous_text(AGENT)
    await harness.send(AGENT, "2026-01-05")
    assert "已经过去了" in harness.previous_text(AGENT)
    await harness.send(AGENT, "12月10日")

    assert "跟进日期定在 2026年12月10日" in harness.last_text(AGENT)
    referrer = await _named(harness, "张三")
    assert referrer.next_followup == date(2026, 12, 10)
    interactions = await harness.rows(Interaction)
    assert [(i.client_id, i.note) for i in interactions] == [
        (referrer.id, "会后请客户介绍朋友，这次暂时没答应。")
    ]
    assert await harness.count(Conversation) == 0


async def test_not_now_in_english_takes_a_quick_date_or_none(harness: Harness) -> None:
    await harness.make_agent(AGENT_EN, lang="en")
    chen = await harness.seed_client(AGENT_EN, "Chen Wei")

    await harness.send(AGENT_EN, "/refer Chen Wei")
    await harness.press(AGENT_EN, "Chen Wei")
    await harness.press(AGENT_EN, "Not this time")
    await harness.press(AGENT_EN, "In 7 days")
    assert "The follow-up is set for 2026-12-10" in harness.last_text(AGENT_EN)

    await harness.send(AGENT_EN, "/refer Chen Wei")
    await harness.press(AGENT_EN, "Chen Wei")
    await harness.send(AGENT_EN, "not now")
    await harness.press(AGENT_EN, "No date")
    assert harness.last_text(AGENT_EN) == "Noted the meeting on Chen Wei's card: not this time."

    stored = await harness.get(Client, chen)
    assert stored is not None and stored.next_followup == date(2026, 12, 10)
    assert len(await harness.rows(Interaction)) == 2
    assert len(await harness.rows(Client)) == 1


async def test_a_contact_shared_for_the_names_fills_in_the_phone(harness: Harness) -> None:
    await harness.make_agent(AGENT_EN, lang="en")
    await harness.send(AGENT_EN, "/refer Zhang San")
    await harness.press(AGENT_EN, "New client")
    await harness.press(AGENT_EN, "Yes")
    await harness.press(AGENT_EN, "D · ")
    await harness.share_contact(AGENT_EN, "W" * 60, "+86 138 1234 5678")
    assert "is too long" in harness.previous_text(AGENT_EN)
    await harness.share_contact(AGENT_EN, "Wang Wu", "+86 138 1234 5678")
    assert "(1/1) How does Wang Wu know Zhang San" in harness.last_text(AGENT_EN)
    await harness.press(AGENT_EN, "Friend")
    await harness.press(AGENT_EN, "Skip")
    await harness.press(AGENT_EN, "Yes, add more")
    await harness.share_contact(AGENT_EN, "Tom", "+1 202 555 0100")  # not a Chinese number
    assert "(2/2) Tom" in harness.last_text(AGENT_EN) and "mobile" in harness.last_text(AGENT_EN)
    await harness.press(AGENT_EN, "Skip")
    await harness.press(AGENT_EN, "Friend")
    await harness.press(AGENT_EN, "Skip")
    await harness.press(AGENT_EN, "That's all")
    for _ in range(2):
        await _lock_en(harness, AGENT_EN)
    await harness.press(AGENT_EN, "Save")

    wang = await _named(harness, "Wang Wu")
    tom = await _named(harness, "Tom")
    assert (wang.phone, wang.referral_scope) == ("13812345678", "D")
    assert (tom.phone, tom.referral_scope) == (None, None)


async def _lock_en(harness: Harness, user: TgUser) -> None:
    """Answer step 5 in English for the current name, by number."""
    for answer in ("1", "1", "1"):
        await harness.send(user, answer)


# --- back at every step ----------------------------------------------------------------

# (action, argument, what the prompt after it says), zh and en.
WALK = {
    "zh": [
        ("send", "/refer", "刚见完哪位客户"),
        ("send", "张三", "档案里没有找到"),
        ("press", "新建客户", "答应帮你介绍朋友了吗"),
        ("press", "这次先不", "定一个跟进日期"),
        ("back", "", "答应帮你介绍朋友了吗"),
        ("press", "答应了", "第二步"),
        ("press", "B · ", "范围：晋升最快的人"),
        ("send", "李四", "核对信息（1/1）李四"),
        ("send", "13812345678", "是什么关系"),
        ("press", "同事", "用一句话介绍"),
        ("press", "跳过", "第四步"),
        ("press", "还有", "第二步"),
        ("back", "", "第四步"),
        ("press", "没有了", "第五步"),
        ("press", "朋友写信", "愿意帮到哪一步"),
        ("press", "同意当介绍人", "第一次联系"),
        ("press", "电话", "请核对"),
        ("press", "修改", "要修改哪一位"),
        ("press", "1. 李四", "要改哪一项"),
        ("press", "范围", "属于哪个范围"),
        ("press", "C · ", "请核对"),
    ],
    "en": [
        ("send", "/refer", "Which client did you just meet"),
        ("send", "Zhang San", "No client called"),
        ("press", "New client", "Did Zhang San agree"),
        ("press", "Not this time", "Set a follow-up date"),
        ("back", "", "Did Zhang San agree"),
        ("press", "Yes", "Step 2"),
        ("press", "B · ", "Scope: Whoever was promoted fastest"),
        ("send", "Li Si", "(1/1) Li Si"),
        ("send", "13812345678", "How does Li Si know"),
        ("press", "Colleague", "One line about"),
        ("press", "Skip", "Step 4"),
        ("press", "Yes, add more", "Step 2"),
        ("back", "", "Step 4"),
        ("press", "That's all", "Step 5"),
        ("press", "introduces me", "How far will"),
        ("press", "act as referrer", "How will you first contact"),
        ("press", "Phone", "Please check"),
        ("press", "Edit a name", "Which one"),
        ("press", "1. Li Si", "what do you want to change"),
        ("press", "Scope", "Which scope"),
        ("press", "C · ", "Please check"),
    ],
}


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_back_at_every_step_returns_to_the_previous_prompt(
    harness: Harness, lang: str
) -> None:
    user = AGENT if lang == "zh" else AGENT_EN
    await harness.make_agent(user, lang=lang)
    back_label = "上一步" if lang == "zh" else "Back"
    previous = ""

    for index, (action, argument, expected) in enumerate(WALK[lang]):
        if action == "back":
            await harness.press(user, back_label)
        elif action == "send":
            await harness.send(user, argument)
        else:
            await harness.press(user, argument)
        assert expected in harness.last_text(user), (index, harness.last_text(user))
        if index < 2 or action == "back":
            previous = expected
            continue

        # Every step's back button leads to the step before it, which can be answered again.
        await harness.press(user, back_label)
        assert previous in harness.last_text(user), (index, harness.last_text(user))
        if action == "send":
            await harness.send(user, argument)
        else:
            await harness.press(user, argument)
        assert expected in harness.last_text(user), (index, harness.last_text(user))
        previous = expected

    await harness.press(user, "保存" if lang == "zh" else "Save")
    name = "李四" if lang == "zh" else "Li Si"
    prospect = await _named(harness, name)
    assert (prospect.referral_scope, prospect.phone, prospect.source) == (
        "C",
        "13812345678",
        "referral",
    )


async def test_typed_back_word_goes_back_too(harness: Harness) -> None:
    await harness.make_agent(AGENT)
    await _to_names(harness, AGENT)
    await harness.send(AGENT, "返回")
    assert "答应帮你介绍朋友了吗" in harness.last_text(AGENT)


# --- duplicates ----------------------------------------------------------------------------


async def test_a_name_already_in_the_book_is_flagged_and_the_agent_decides(
    harness: Harness,
) -> None:
    await harness.make_agent(AGENT)
    li = await harness.seed_client(AGENT, "李四", source="warm")
    wang = await harness.seed_client(AGENT, "王五", phone="13812345678")

    await _to_names(harness, AGENT)
    await harness.send(AGENT, "李四、孙七")
    prompt = harness.last_text(AGENT)
    assert "“李四”可能已经在你的名单或档案里了" in prompt and "李四（缘故市场）" in prompt
    assert ("📇 打开 李四 的档案", CLIENT_CARD.build(client_id=li)) in (
        harness.request.sent(chat_id=AGENT.id)[-1].buttons
    )
    await harness.send(AGENT, "也许")
    assert "请点下面的按钮" in harness.previous_text(AGENT)
    await harness.press(AGENT, "是同一人")
    assert "李四 不重复添加" in harness.previous_text(AGENT)

    assert "核对信息（1/1）孙七" in harness.last_text(AGENT)
    await harness.send(AGENT, "13812345678")
    assert "王五（其他，138****5678）" in harness.last_text(AGENT)
    await harness.press(AGENT, "不是同一人")
    assert "孙七 和 张三 是什么关系" in harness.last_text(AGENT)
    await harness.press(AGENT, "朋友")
    await harness.press(AGENT, "跳过")

    await harness.press(AGENT, "还有")
    await harness.send(AGENT, "孙七")
    assert "这次的名单里已经有“孙七”" in harness.last_text(AGENT)
    await harness.press(AGENT, "是同一人")
    assert "第四步" in harness.last_text(AGENT)
    await harness.press(AGENT, "没有了")
    await _lock(harness, AGENT)
    await harness.press(AGENT, "保存")

    names = sorted(client.name for client in await harness.rows(Client))
    assert names == ["孙七", "张三", "李四", "王五"]
    sun = await _named(harness, "孙七")
    assert sun.phone == "13812345678" and sun.source == "referral"
    untouched = await harness.get(Client, wang)
    assert untouched is not None and untouched.source == "other"


async def test_adding_a_same_named_person_anyway_keeps_both(harness: Harness) -> None:
    await harness.make_agent(AGENT_EN, lang="en")
    await harness.seed_client(AGENT_EN, "Li Si")

    await harness.send(AGENT_EN, "/refer Zhang San")
    await harness.press(AGENT_EN, "New client")
    await harness.press(AGENT_EN, "Yes")
    await harness.send(AGENT_EN, "Li Si")
    assert '"Li Si" may already be' in harness.last_text(AGENT_EN)
    await harness.press(AGENT_EN, "add anyway")
    assert "(1/1) Li Si" in harness.last_text(AGENT_EN)
    await harness.press(AGENT_EN, "Skip")
    await harness.press(AGENT_EN, "Friend")
    await harness.press(AGENT_EN, "Skip")
    await harness.press(AGENT_EN, "That's all")
    for answer in ("1", "1", "1"):
        await harness.send(AGENT_EN, answer)
    # Already judged different: saving does not ask again.
    await harness.press(AGENT_EN, "Save")

    assert "Prospects saved: 1" in harness.last_text(AGENT_EN)
    assert [c.name for c in await harness.rows(Client)].count("Li Si") == 2


async def test_a_duplicate_that_appears_before_saving_is_flagged_first(harness: Harness) -> None:
    await harness.make_agent(AGENT)
    await _to_summary(harness, AGENT, "周八")
    await harness.seed_client(AGENT, "周八")  # added elsewhere while the draft waited

    await harness.press(AGENT, "保存")
    assert "保存前发现" in harness.previous_text(AGENT)
    assert "“周八”可能已经在" in harness.last_text(AGENT)
    await harness.press(AGENT, "不是同一人")
    assert "请核对" in harness.last_text(AGENT)
    await harness.press(AGENT, "保存")

    assert [c.name for c in await harness.rows(Client)].count("周八") == 2


# --- summary: edit and discard -------------------------------------------------------------


async def test_editing_from_the_summary_changes_one_field_at_a_time(harness: Harness) -> None:
    await harness.make_agent(AGENT)
    await harness.seed_client(AGENT, "李思")
    await _to_summary(harness, AGENT, "李四", "王五")

    await harness.press(AGENT, "修改")
    await harness.send(AGENT, "7")
    assert "1 到 2 之间的序号" in harness.previous_text(AGENT)
    await harness.send(AGENT, "1")
    await harness.send(AGENT, "随便")
    assert "选择要修改的一项" in harness.previous_text(AGENT)
    await harness.press(AGENT, "名字")
    await harness.send(AGENT, "李思、李斯")
    assert "只能输入一个名字" in harness.previous_text(AGENT)
    await harness.send(AGENT, "李思")
    assert "“李思”可能已经在" in harness.last_text(AGENT)
    await harness.press(AGENT, "不是同一人")
    assert "1. 李思" in harness.last_text(AGENT)

    await harness.press(AGENT, "修改")
    await harness.press(AGENT, "1. 李思")
    await harness.press(AGENT, "电话")
    await harness.send(AGENT, "999")
    assert "没看懂这个电话号码" in harness.previous_text(AGENT)
    await harness.send(AGENT, "13712345678")
    await harness.press(AGENT, "修改")
    await harness.press(AGENT, "1. 李思")
    await harness.press(AGENT, "授权程度")
    await harness.press(AGENT, "客户书面推荐")
    await harness.press(AGENT, "修改")
    await harness.press(AGENT, "2. 王五")
    await harness.press(AGENT, "从名单去掉")
    assert "已把 王五 从名单里去掉" in harness.previous_text(AGENT)
    assert "王五" not in harness.last_text(AGENT)
    await harness.press(AGENT, "保存")

    names = sorted(client.name for client in await harness.rows(Client))
    assert names == ["张三", "李思", "李思"]
    edited = [c for c in await harness.rows(Client) if c.source == "referral"]
    assert len(edited) == 1
    assert (edited[0].phone, edited[0].referral_permission) == ("13712345678", "written")


async def test_discard_stores_nothing(harness: Harness) -> None:
    await harness.make_agent(AGENT)
    await _to_summary(harness, AGENT, "李四")
    await harness.press(AGENT, "放弃")

    assert harness.last_text(AGENT) == "已放弃这份名单，什么都没有保存。"
    assert await harness.rows(Client) == []
    assert await harness.rows(Interaction) == []
    assert await harness.count(Conversation) == 0


async def test_saving_with_no_names_only_logs_the_meeting(harness: Harness) -> None:
    await harness.make_agent(AGENT)
    await _to_summary(harness, AGENT, "李四")
    await harness.press(AGENT, "修改")
    await harness.press(AGENT, "1. 李四")
    await harness.press(AGENT, "从名单去掉")
    assert "名单里还没有名字" in harness.last_text(AGENT)
    await harness.press(AGENT, "保存")

    assert "这次没有新名字" in harness.last_text(AGENT)
    assert [c.name for c in await harness.rows(Client)] == ["张三"]
    assert len(await harness.rows(Interaction)) == 1


async def test_cancel_discards_the_draft(harness: Harness) -> None:
    await harness.make_agent(AGENT)
    await _to_names(harness, AGENT)
    await harness.send(AGENT, "李四")
    await harness.send(AGENT, "/cancel")
    assert "还有 1 个名字没有保存" in harness.last_text(AGENT)
    await harness.press(AGENT, "放弃草稿")

    assert harness.last_text(AGENT) == "已取消，草稿已删除。"
    assert await harness.rows(Client) == []
    await harness.send(AGENT, "/refer")
    assert "刚见完哪位客户" in harness.last_text(AGENT)


# --- forged buttons ------------------------------------------------------------------------


async def test_a_forged_referrer_id_is_refused_without_revealing_anything(
    harness: Harness,
) -> None:
    await harness.make_agent(AGENT)
    await harness.make_agent(OTHER, name="李雷")
    secret = await harness.seed_client(OTHER, "秘密客户")

    await harness.send(AGENT, "/refer 张三")
    for value in (f"c{secret}", "cabc", "c99999999"):
        forged = FLOW_BUTTON.build(flow="refer", step="pick_referrer", value=value)
        await harness.press_data(AGENT, forged)
        assert "档案里找不到这位客户了" in harness.previous_text(AGENT)
    assert not any("秘密客户" in text for text in harness.texts(AGENT))

    conv = await harness.first(Conversation)
    assert conv is not None and conv.step == "pick_referrer" and conv.data["referrer"] is None


async def test_a_forged_edit_index_is_refused(harness: Harness) -> None:
    await harness.make_agent(AGENT)
    await _to_summary(harness, AGENT, "李四")
    await harness.press(AGENT, "修改")

    await harness.press_data(AGENT, FLOW_BUTTON.build(flow="refer", step="edit_pick", value="5"))
    assert "1 到 1 之间的序号" in harness.previous_text(AGENT)
    field = FLOW_BUTTON.build(flow="refer", step="edit_field", value="name")
    await harness.press_data(AGENT, field)  # a button of a step not yet reached
    conv = await harness.first(Conversation)
    assert conv is not None and conv.step == "edit_pick"


# --- pausing and resuming ------------------------------------------------------------------


async def test_silence_pauses_refer_and_the_draft_resumes(harness: Harness) -> None:
    await harness.make_agent(AGENT)
    await _to_names(harness, AGENT)
    await harness.send(AGENT, "李四")
    await harness.let_idle(minutes=31)

    paused = harness.last_text(AGENT)
    assert "转介绍草稿先暂停（推荐人：张三，已记 1 个名字）" in paused and "/refer" in paused
    await harness.send(AGENT, "13812345678")  # ignored by the paused draft
    assert "没有对应的操作" in harness.last_text(AGENT)
    await harness.send(AGENT, "/refer")
    assert "接着你上次的进度继续" in harness.previous_text(AGENT)
    assert "核对信息（1/1）李四" in harness.last_text(AGENT)


async def test_silence_before_a_referrer_is_chosen_says_so(harness: Harness) -> None:
    await harness.make_agent(AGENT_EN, lang="en")
    await harness.send(AGENT_EN, "/refer")
    await harness.let_idle(minutes=31)
    assert "(referrer: not chosen yet; names so far: 0)" in harness.last_text(AGENT_EN)


async def test_refer_resumes_in_a_new_process_with_every_answer(harness: Harness) -> None:
    await harness.make_agent(AGENT)
    await _to_names(harness, AGENT)
    await harness.send(AGENT, "李四、王五")
    await harness.send(AGENT, "13812345678")
    await harness.press(AGENT, "同事")

    async with harness.second_process() as restarted:
        await restarted.send(AGENT, "/refer")
        assert "（1/2）用一句话介绍 李四" in restarted.last_text(AGENT)
        await restarted.press(AGENT, "跳过")
        await _finish_name(restarted, AGENT)
        await restarted.press(AGENT, "没有了")
        await _lock(restarted, AGENT)
        await _lock(restarted, AGENT)
        await restarted.press(AGENT, "保存")

    li = await _named(harness, "李四")
    assert (li.phone, li.relation) == ("13812345678", "同事")
    assert (await _named(harness, "王五")).source == "referral"
