"""/add through the real Application: every step, bad input, duplicates and shared contacts."""

from __future__ import annotations

from bot.flows import FLOW_BUTTON
from bot.i18n import t
from storage.models import Client, Conversation
from tests.harness import Harness, TgUser

ZH = TgUser(4101, "芳", "zh-hans")
EN = TgUser(4102, "Amy", "en")


async def test_add_in_chinese_walks_every_step_and_rejects_bad_input_at_each(
    harness: Harness,
) -> None:
    await harness.make_agent(ZH)
    await harness.send(ZH, "/add")
    assert "新客户叫什么名字" in harness.last_text(ZH)

    await harness.send(ZH, "！！！")
    harness.assert_retried(ZH, "名字要有 1 到 40 个字", "新客户叫什么名字")
    await harness.send(ZH, "张" * 41)
    harness.assert_retried(ZH, "名字要有 1 到 40 个字", "新客户叫什么名字")
    await harness.send(ZH, " 张三 ")
    assert "张三 的电话号码" in harness.last_text(ZH)

    await harness.send(ZH, "12345")
    harness.assert_retried(ZH, "没看懂这个电话号码“12345”", "张三 的电话号码")
    await harness.send(ZH, "+86 138-1234-5678")
    assert "从哪里来的" in harness.last_text(ZH)

    await harness.send(ZH, "路上遇到的")
    harness.assert_retried(ZH, "请点下面的按钮选择来源", "从哪里来的")
    await harness.press(ZH, "缘故市场")
    assert "缘故市场的哪一类" in harness.last_text(ZH)
    assert "13. 老客户身边的人" in harness.buttons(ZH)

    await harness.send(ZH, "14")
    harness.assert_retried(ZH, "不在 1 到 13 之间", "缘故市场的哪一类")
    await harness.send(ZH, "邻居吧")
    harness.assert_retried(ZH, "不是整数", "缘故市场的哪一类")
    await harness.send(ZH, "三")
    assert "有什么要备注的吗" in harness.last_text(ZH)

    await harness.send(ZH, "长" * 1001)
    harness.assert_retried(ZH, "太长了：1001 个字，最多 1000 个字", "有什么要备注的吗")
    await harness.send(ZH, "家里两个孩子")

    texts = harness.texts(ZH)
    assert "已把 张三 加进名册" in texts[-2]
    assert "👤 张三" in texts[-1] and "缘故市场 · 邻居" in texts[-1]
    assert "138 1234 5678" in texts[-1]
    assert "记录联系" in " ".join(harness.buttons(ZH))

    [client] = await harness.rows(Client)
    assert (client.name, client.phone, client.source, client.warm_category, client.notes) == (
        "张三",
        "13812345678",
        "warm",
        3,
        "家里两个孩子",
    )
    assert (client.name_pinyin, client.name_initials) == ("zhangsan", "zs")
    assert await harness.first(Conversation) is None


async def test_add_in_english_with_typed_source_and_skips(harness: Harness) -> None:
    await harness.make_agent(EN, lang="en")
    await harness.send(EN, "/add")
    assert "What is the new client's name?" in harness.last_text(EN)
    await harness.send(EN, "***")
    harness.assert_retried(EN, "A name needs 1 to 40 characters", "new client's name")
    await harness.send(EN, "John  Smith")
    await harness.send(EN, "555-0100")
    harness.assert_retried(EN, "I couldn't read the phone number", "John Smith's phone number?")
    await harness.press(EN, "Skip")
    assert "Where did this client come from?" in harness.last_text(EN)

    await harness.send(EN, "the moon")
    harness.assert_retried(EN, "Please choose the source", "Where did this client")
    await harness.send(EN, "bank channel")
    assert "Anything to note?" in harness.last_text(EN)
    await harness.send(EN, "x" * 1200)
    harness.assert_retried(EN, "at most 1000", "Anything to note?")
    await harness.press(EN, "Skip")

    assert "John Smith is now in your book." in harness.texts(EN)[-2]
    assert "Source: Bank channel" in harness.last_text(EN)
    assert "Phone: not given" in harness.last_text(EN)
    [client] = await harness.rows(Client)
    assert (client.name, client.phone, client.source, client.notes) == (
        "John Smith",
        None,
        "bank",
        None,
    )


async def test_referral_source_picks_the_referrer_from_the_book(harness: Harness) -> None:
    await harness.make_agent(ZH)
    await harness.seed_client(ZH, "李四")
    hai = await harness.seed_client(ZH, "李四海", phone="13900001111")
    await harness.send(ZH, "/add 王五")
    await harness.press(ZH, "跳过")
    await harness.press(ZH, "转介绍")
    assert "是谁介绍的" in harness.last_text(ZH)

    await harness.send(ZH, "赵")
    harness.assert_retried(ZH, "名册里没有和“赵”相符的客户", "是谁介绍的")
    await harness.send(ZH, "ls")
    assert "和“ls”相符的有好几位" in harness.last_text(ZH)
    assert harness.buttons(ZH)[:2] == ["李四", "李四海 · 139****1111"]
    await harness.press(ZH, "李四海")
    await harness.press(ZH, "跳过")

    clients = await harness.rows(Client)
    assert clients[-1].name == "王五" and clients[-1].referred_by_id == hai
    assert "介绍人 李四海" in harness.last_text(ZH)
    assert "介绍人：李四海" in harness.buttons(ZH)


async def test_typing_the_exact_referrer_name_picks_them_at_once(harness: Harness) -> None:
    await harness.make_agent(EN, lang="en")
    li = await harness.seed_client(EN, "Li Si")
    await harness.seed_client(EN, "Li Sihai")
    await harness.send(EN, "/add Wang Wu")
    await harness.press(EN, "Skip")
    await harness.press(EN, "Referral")
    await harness.send(EN, "Zhao")
    harness.assert_retried(EN, 'No client in your book matches "Zhao"', "Who referred them?")
    await harness.send(EN, "li")
    assert 'Several clients match "li"' in harness.last_text(EN)
    await harness.send(EN, "nobody")
    harness.assert_retried(EN, 'matches "nobody"', "Several clients match")
    await harness.send(EN, "Li Si")
    assert "Anything to note?" in harness.last_text(EN)
    await harness.send(EN, "met at the branch")
    clients = await harness.rows(Client)
    assert clients[-1].referred_by_id == li


async def test_referrer_step_can_be_skipped(harness: Harness) -> None:
    await harness.make_agent(ZH)
    await harness.send(ZH, "/add 王五")
    await harness.press(ZH, "跳过")
    await harness.press(ZH, "转介绍")
    await harness.press(ZH, "介绍人不在名册里")
    await harness.press(ZH, "跳过")
    [client] = await harness.rows(Client)
    assert client.source == "referral" and client.referred_by_id is None


async def test_same_phone_shows_the_existing_card_and_adds_nothing(harness: Harness) -> None:
    await harness.make_agent(ZH)
    await harness.seed_client(ZH, "张三", phone="13812345678")
    await harness.send(ZH, "/add 老张 138 1234 5678")
    assert "名册里已经有 1 位很像的客户" in harness.last_text(ZH)
    assert "张三 · 138****5678" in harness.last_text(ZH)

    await harness.send(ZH, "是的")
    harness.assert_retried(ZH, "请点下面的按钮", "很像的客户")
    await harness.press(ZH, "打开 张三")
    assert "👤 张三" in harness.last_text(ZH)
    assert [c.name for c in await harness.rows(Client)] == ["张三"]


async def test_same_name_without_phone_can_be_added_anyway(harness: Harness) -> None:
    await harness.make_agent(EN, lang="en")
    await harness.seed_client(EN, "Zhang San")
    await harness.send(EN, "/add Zhang San")
    await harness.press(EN, "Skip")
    assert "already has 1 look-alike" in harness.last_text(EN)
    await harness.send(EN, "same guy?")
    harness.assert_retried(EN, "Please press a button below", "look-alike")
    await harness.press(EN, "add anyway")
    await harness.press(EN, "Cold market")
    await harness.press(EN, "Skip")
    assert [c.name for c in await harness.rows(Client)] == ["Zhang San", "Zhang San"]


async def test_shared_contact_starts_add_with_name_and_phone(harness: Harness) -> None:
    await harness.make_agent(ZH)
    await harness.share_contact(ZH, "Bob Lee", "+86 139 1234 5678")
    assert "从哪里来的" in harness.last_text(ZH)
    await harness.press(ZH, "陌生市场")
    await harness.press(ZH, "跳过")
    [client] = await harness.rows(Client)
    assert (client.name, client.phone, client.source) == ("Bob Lee", "13912345678", "cold")


async def test_shared_contact_with_a_foreign_number_asks_for_the_phone(harness: Harness) -> None:
    await harness.make_agent(EN, lang="en")
    await harness.share_contact(EN, "Jane", "+1 212 555 0100")
    texts = harness.texts(EN)
    assert "I couldn't read the phone number" in texts[-2]
    assert "Jane's phone number?" in texts[-1]


async def test_contact_shared_at_the_name_step_fills_both(harness: Harness) -> None:
    await harness.make_agent(ZH)
    await harness.send(ZH, "/add")
    await harness.share_contact(ZH, "赵六", "13612345678")
    assert "从哪里来的" in harness.last_text(ZH)
    await harness.press(ZH, "其他")
    await harness.press(ZH, "跳过")
    [client] = await harness.rows(Client)
    assert (client.name, client.phone, client.source) == ("赵六", "13612345678", "other")


async def test_back_returns_to_the_previous_step(harness: Harness) -> None:
    await harness.make_agent(ZH)
    await harness.send(ZH, "/add 张三")
    await harness.press(ZH, "跳过")
    await harness.press(ZH, "上一步")
    assert "张三 的电话号码" in harness.last_text(ZH)
    await harness.send(ZH, "13812345678")
    await harness.press(ZH, "银行渠道")
    await harness.press(ZH, "跳过")
    [client] = await harness.rows(Client)
    assert client.phone == "13812345678"


async def test_a_second_add_does_not_discard_a_draft_with_answers(harness: Harness) -> None:
    await harness.make_agent(ZH)
    await harness.send(ZH, "/add 张三")
    await harness.press(ZH, "跳过")
    await harness.send(ZH, "/add 李四")
    texts = harness.texts(ZH)
    assert t("zh", "clients.draft_first") in texts[-2]
    assert "从哪里来的" in texts[-1]
    conv = await harness.first(Conversation)
    assert conv is not None and conv.data["name"] == "张三"


async def test_add_draft_survives_a_restart(harness: Harness) -> None:
    await harness.make_agent(ZH)
    await harness.send(ZH, "/add 张三")
    await harness.send(ZH, "13812345678")

    # A new process on the same database, as after kill -9.
    async with harness.second_process() as restarted:
        await restarted.press_data(ZH, FLOW_BUTTON.build(flow="add", step="source", value="bank"))
        await restarted.send(ZH, "重启后补的备注")
    [client] = await harness.rows(Client)
    assert (client.name, client.phone, client.source, client.notes) == (
        "张三",
        "13812345678",
        "bank",
        "重启后补的备注",
    )


async def test_forged_referrer_button_naming_another_agents_client_is_refused(
    harness: Harness,
) -> None:
    await harness.make_agent(ZH)
    await harness.make_agent(EN, lang="en")
    secret = await harness.seed_client(EN, "Secret Client")
    await harness.seed_client(ZH, "李四")
    await harness.seed_client(ZH, "李四海")
    await harness.send(ZH, "/add 王五")
    await harness.press(ZH, "跳过")
    await harness.press(ZH, "转介绍")
    await harness.send(ZH, "ls")
    before = len(harness.request.calls)

    forged = FLOW_BUTTON.build(flow="add", step="referrer_pick", value=str(secret))
    await harness.press_data(ZH, forged)
    sent = " ".join(c.text for c in harness.request.calls[before:])
    assert "这位客户已经不在名册里了" in sent and "Secret" not in sent
    await harness.press(ZH, "李四海")
    await harness.press(ZH, "跳过")
    clients = await harness.rows(Client)
    assert clients[-1].name == "王五" and clients[-1].referred_by_id != secret


async def test_forged_duplicate_button_opens_nothing_of_another_agent(harness: Harness) -> None:
    await harness.make_agent(ZH)
    await harness.make_agent(EN, lang="en")
    secret = await harness.seed_client(EN, "Secret Client", phone="13700001111")
    await harness.seed_client(ZH, "张三")
    await harness.send(ZH, "/add 张三")
    await harness.press(ZH, "跳过")
    assert "很像的客户" in harness.last_text(ZH)
    before = len(harness.request.calls)

    await harness.press_data(
        ZH, FLOW_BUTTON.build(flow="add", step="duplicate", value=f"open{secret}")
    )
    sent = " ".join(c.text for c in harness.request.calls[before:])
    assert "这位客户已经不在名册里了" in sent
    assert "Secret" not in sent and "1111" not in sent
