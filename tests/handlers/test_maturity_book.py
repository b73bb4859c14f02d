"""/maturity through the real Application: windows, segments, pages and case buttons."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from bot import i18n, links
from storage.models import MaturityCase
from tests.handlers.maturity_seed import seed_policy
from tests.harness import Harness, TgUser

AGENT = TgUser(3101)
AGENT_EN = TgUser(3102, "Ann", "en")
OTHER = TgUser(3103)


async def test_book_groups_the_30_day_window_by_region(harness: Harness) -> None:
    agent = await harness.make_agent(AGENT)
    await seed_policy(harness, agent, "张三", 7, region="city")
    await seed_policy(harness, agent, "李四", 3, region="township", amount=Decimal(15000))
    await seed_policy(harness, agent, "王五", 20, region=None)
    await seed_policy(harness, agent, "赵六", 45, region="city")

    await harness.send(AGENT, "/maturity")

    text = harness.last_text(AGENT)
    assert "30 天内满期的保单" in text and "共 3 件" in text
    assert "按区域：市区 1 · 乡镇 1 · 区域未标 1" in text
    assert text.index("▸ 市区") < text.index("张三") < text.index("▸ 乡镇") < text.index("李四")
    assert "1. 张三 · 还有 7 天 · ¥50,000 · 工商银行" in text
    assert "2. 李四 · 还有 3 天 · ¥15,000" in text
    assert "赵六" not in text
    labels = harness.buttons(AGENT)
    assert labels[:3] == ["1. 张三", "2. 李四", "3. 王五"]
    assert "✓ 30 天" in labels and "✓ 按区域" in labels


async def test_window_buttons_widen_the_book_into_groups(harness: Harness) -> None:
    agent = await harness.make_agent(AGENT)
    await seed_policy(harness, agent, "张三", 7)
    await seed_policy(harness, agent, "赵六", 45)
    await seed_policy(harness, agent, "孙七", 80)
    await seed_policy(harness, agent, "周八", 120)
    await harness.send(AGENT, "/maturity")

    await harness.press(AGENT, "90 天")

    edited = harness.request.sent(chat_id=AGENT.id, method="editMessageText")[-1].text
    assert "共 3 件" in edited
    assert edited.index("【30 天内满期】") < edited.index("张三")
    assert edited.index("【31–60 天满期】") < edited.index("赵六")
    assert edited.index("【61–90 天满期】") < edited.index("孙七")
    assert "周八" not in edited


async def test_segments_by_amount_with_the_agents_thresholds(harness: Harness) -> None:
    agent = await harness.make_agent(AGENT, band_low=Decimal(10000), band_high=Decimal(30000))
    await seed_policy(harness, agent, "小额", 5, amount=Decimal(8000))
    await seed_policy(harness, agent, "中额", 6, amount=Decimal(30000))
    await seed_policy(harness, agent, "大额", 7, amount=Decimal(30001))
    await seed_policy(harness, agent, "不详", 8, amount=None)
    await harness.send(AGENT, "/maturity")

    await harness.press(AGENT, "按金额")

    text = harness.request.sent(chat_id=AGENT.id, method="editMessageText")[-1].text
    assert "按金额：¥10,000 以下 1 · ¥10,000–¥30,000 1 · ¥30,000 以上 1 · 金额不详 1" in text
    order = [text.index(name) for name in ("小额", "中额", "大额", "不详 · ")]
    assert order == sorted(order)


async def test_segments_by_trait(harness: Harness) -> None:
    agent = await harness.make_agent(AGENT)
    await seed_policy(harness, agent, "忠诚的", 5, trait="loyal")
    await seed_policy(harness, agent, "敏感的", 6, trait="sensitive")
    await harness.send(AGENT, "/maturity")

    await harness.press(AGENT, "按特点")

    text = harness.request.sent(chat_id=AGENT.id, method="editMessageText")[-1].text
    assert "按客户特点：忠诚客户 1 · 敏感或易起纠纷 1" in text
    assert "✓ 按特点" in harness.buttons(AGENT)


async def test_matured_open_cases_show_and_closed_ones_are_only_counted(harness: Harness) -> None:
    agent = await harness.make_agent(AGENT)
    await seed_policy(harness, agent, "过期未结", -4)
    closed_id, _ = await seed_policy(harness, agent, "已结案", 5)
    await seed_policy(harness, agent, "已转保", 6, status="renewed")
    async with harness.db.session() as session:
        session.add(
            MaturityCase(
                agent_id=agent.id,
                policy_id=closed_id,
                stage="closed",
                closed_at=datetime(2026, 12, 1, tzinfo=UTC),
            )
        )

    await harness.send(AGENT, "/maturity")

    text = harness.last_text(AGENT)
    assert "【已满期，尚未结案】" in text and "过期未结 · 已满期 4 天" in text
    assert "已结案 ·" not in text and "已转保" not in text
    assert "另有 2 件已结案或已处理完" in text


async def test_a_long_book_is_paged_by_ten(harness: Harness) -> None:
    agent = await harness.make_agent(AGENT)
    for day in range(1, 24):
        await seed_policy(harness, agent, f"客户{day:02d}", day)

    await harness.send(AGENT, "/maturity")
    first = harness.last_text(AGENT)
    assert "第 1/3 页" in first and "10. 客户10" in first and "客户11" not in first

    await harness.press(AGENT, "下一页")
    second = harness.request.sent(chat_id=AGENT.id, method="editMessageText")[-1].text
    assert "第 2/3 页" in second and "11. 客户11" in second and "客户10 ·" not in second
    assert "‹ 上一页" in harness.buttons(AGENT)


async def test_the_book_shows_only_the_agents_own_policies(harness: Harness) -> None:
    agent = await harness.make_agent(AGENT)
    other = await harness.make_agent(OTHER)
    await seed_policy(harness, agent, "我的客户", 5)
    await seed_policy(harness, other, "别人的客户", 5)

    await harness.send(AGENT, "/maturity")

    assert "我的客户" in harness.last_text(AGENT)
    assert "别人的客户" not in harness.last_text(AGENT)


async def test_an_empty_book_points_to_import_in_english(harness: Harness) -> None:
    await harness.make_agent(AGENT_EN, lang="en", name="Ann")

    await harness.send(AGENT_EN, "/maturity")

    assert "Nothing matures within 30 days" in harness.last_text(AGENT_EN)
    assert "/import" in harness.last_text(AGENT_EN)
    assert "60 days" in harness.buttons(AGENT_EN)


async def test_english_book_lines_and_case_button(harness: Harness) -> None:
    agent = await harness.make_agent(AGENT_EN, lang="en", name="Ann")
    policy_id, _ = await seed_policy(harness, agent, "Zhang San", 0, region="county")

    await harness.send(AGENT_EN, "/maturity")

    assert "1. Zhang San · matures today · ¥50,000 · 工商银行" in harness.last_text(AGENT_EN)
    assert "By region: Outer county 1" in harness.last_text(AGENT_EN)
    call = harness.request.sent(chat_id=AGENT_EN.id)[-1]
    assert ("1. Zhang San", links.OPEN_CASE.build(policy_id=policy_id)) in call.buttons


async def test_a_garbled_book_button_is_answered_as_stale(harness: Harness) -> None:
    await harness.make_agent(AGENT)

    await harness.press_data(AGENT, "ml:30:region")

    (answer,) = harness.request.sent(method="answerCallbackQuery")
    assert answer.params.get("text") == i18n.t("zh", "flows.stale_button")
    assert harness.texts(AGENT) == []
