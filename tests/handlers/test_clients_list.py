"""/find, /client and /list through the real Application: search, pages and filters."""

from __future__ import annotations

from datetime import date, timedelta

from bot.handlers import clients_views as views
from storage.models import Policy
from tests.harness import Harness, TgUser

ZH = TgUser(4401, "芳", "zh-hans")
EN = TgUser(4402, "Amy", "en")
OTHER = TgUser(4403, "强", "zh-hans")


# --- /find and /client ----------------------------------------------------------------------


async def test_find_by_pinyin_initials_lists_matches_with_masked_phones(harness: Harness) -> None:
    await harness.make_agent(ZH)
    await harness.seed_client(ZH, "张三", phone="13812345678")
    await harness.seed_client(ZH, "张思", phone="13987654321")
    await harness.seed_client(ZH, "李四")
    await harness.send(ZH, "/find zs")
    text = harness.last_text(ZH)
    assert "和“zs”相符的客户（2 位）" in text
    assert "张三 · 138****5678" in text and "张思 · 139****4321" in text
    assert "13812345678" not in text and "李四" not in text
    assert harness.buttons(ZH) == ["1. 张三", "2. 张思"]

    await harness.press(ZH, "2. 张思")
    assert "👤 张思" in harness.last_text(ZH)
    assert "139 8765 4321" in harness.last_text(ZH)


async def test_find_with_one_match_opens_the_card(harness: Harness) -> None:
    await harness.make_agent(EN, lang="en")
    await harness.seed_client(EN, "张三", phone="13812345678")
    for text in ("zhang", "5678", "三"):
        await harness.send(EN, f"/find {text}")
        assert "👤 张三" in harness.last_text(EN), text


async def test_find_by_policy_number(harness: Harness) -> None:
    agent = await harness.make_agent(ZH)
    client_id = await harness.seed_client(ZH, "王五")
    async with harness.db.session() as session:
        session.add(Policy(agent_id=agent.id, client_id=client_id, policy_number="880012345"))
    await harness.send(ZH, "/find 0012345")
    assert "👤 王五" in harness.last_text(ZH)
    assert "880012345" in harness.last_text(ZH)


async def test_find_nothing_says_what_to_try(harness: Harness) -> None:
    await harness.make_agent(EN, lang="en")
    await harness.send(EN, "/find nobody")
    assert 'No client in your book matches "nobody"' in harness.last_text(EN)


async def test_find_never_shows_another_agents_clients(harness: Harness) -> None:
    await harness.make_agent(ZH)
    await harness.make_agent(OTHER, name="李强")
    await harness.seed_client(OTHER, "张三", phone="13812345678")
    await harness.send(ZH, "/find 张三")
    assert "名册里没有和“张三”相符的客户" in harness.last_text(ZH)


async def test_find_without_a_name_asks_for_one(harness: Harness) -> None:
    await harness.make_agent(ZH)
    await harness.seed_client(ZH, "李四")
    await harness.send(ZH, "/find")
    assert "找哪位客户" in harness.last_text(ZH)
    await harness.send(ZH, "王")
    harness.assert_retried(ZH, "名册里没有和“王”相符的客户", "找哪位客户")
    await harness.send(ZH, "ls")
    assert "👤 李四" in harness.last_text(ZH)


async def test_client_without_a_name_asks_for_one_in_english(harness: Harness) -> None:
    await harness.make_agent(EN, lang="en")
    await harness.seed_client(EN, "Li Si")
    await harness.send(EN, "/client")
    assert "Whom are you looking for?" in harness.last_text(EN)
    await harness.send(EN, "zzz")
    harness.assert_retried(EN, 'No client in your book matches "zzz"', "Whom are you")
    await harness.send(EN, "li")
    assert "👤 Li Si" in harness.last_text(EN)


async def test_many_matches_are_cut_at_ten_with_a_note(harness: Harness) -> None:
    await harness.make_agent(ZH)
    for n in range(12):
        await harness.seed_client(ZH, f"王{n:02d}")
    await harness.send(ZH, "/find 王")
    assert "只列出前 10 位" in harness.last_text(ZH)
    assert len(harness.buttons(ZH)) == 10


# --- /list ----------------------------------------------------------------------------------


async def test_empty_book_says_how_to_add(harness: Harness) -> None:
    await harness.make_agent(ZH)
    await harness.send(ZH, "/list")
    assert "名册还是空的。发 /add" in harness.last_text(ZH)


async def test_list_pages_ten_at_a_time_with_next_and_previous(harness: Harness) -> None:
    await harness.make_agent(EN, lang="en")
    for n in range(23):
        await harness.seed_client(EN, f"Client {n:02d}", phone=f"138000000{n:02d}")
    await harness.send(EN, "/list")
    text = harness.last_text(EN)
    assert "All clients (23) · page 1/3" in text
    assert "1. Client 00 · 138****0000" in text and "10. Client 09" in text
    assert "Client 10" not in text
    assert "« Previous" not in harness.buttons(EN) and "Next »" in harness.buttons(EN)

    await harness.press(EN, "Next »")
    assert "page 2/3" in harness.last_text(EN) and "11. Client 10" in harness.last_text(EN)
    assert {"« Previous", "Next »"} <= set(harness.buttons(EN))
    await harness.press(EN, "Next »")
    text = harness.last_text(EN)
    assert "page 3/3" in text and "23. Client 22" in text and "Client 19" not in text
    assert "Next »" not in harness.buttons(EN)
    await harness.press(EN, "« Previous")
    assert "page 2/3" in harness.last_text(EN)


async def test_a_page_past_the_end_shows_the_last_page(harness: Harness) -> None:
    await harness.make_agent(ZH)
    await harness.seed_client(ZH, "张三")
    await harness.press_data(ZH, views.LIST_PAGE.build(filter="all", page=7))
    assert "第 1/1 页" in harness.last_text(ZH)


async def test_filter_by_grade_through_the_menus(harness: Harness) -> None:
    await harness.make_agent(ZH)
    await harness.seed_client(ZH, "张三", grade_timing="A")
    await harness.seed_client(ZH, "李四", grade_timing="B", grade_depth="A")
    await harness.send(ZH, "/list")
    await harness.press(ZH, "筛选")
    await harness.press(ZH, "按等级")
    await harness.press(ZH, "拜访程度")
    assert "A：充分沟通，准备促成" in harness.buttons(ZH)
    await harness.press(ZH, "A：充分沟通")
    text = harness.last_text(ZH)
    assert "拜访程度 A（共 1 位）" in text
    assert "1. 李四 · 其他 · B/-/A" in text and "张三" not in text


async def test_filter_by_source_and_an_empty_result(harness: Harness) -> None:
    await harness.make_agent(EN, lang="en")
    await harness.seed_client(EN, "Li Si", source="bank")
    await harness.send(EN, "/list")
    await harness.press(EN, "Filter")
    await harness.press(EN, "By source")
    await harness.press(EN, "Bank channel")
    assert "Bank channel (1)" in harness.last_text(EN)
    await harness.press(EN, "Filter")
    await harness.press(EN, "By source")
    await harness.press(EN, "Cold market")
    assert 'No client matches "Cold market"' in harness.last_text(EN)
    assert harness.buttons(EN) == ["🔍 Filter"]


async def test_due_filter_lists_follow_ups_up_to_today(harness: Harness) -> None:
    await harness.make_agent(ZH)
    today = date(2026, 12, 3)
    await harness.seed_client(ZH, "过期", next_followup=today - timedelta(days=2))
    await harness.seed_client(ZH, "今天", next_followup=today)
    await harness.seed_client(ZH, "以后", next_followup=today + timedelta(days=1))
    await harness.send(ZH, "/list")
    await harness.press(ZH, "筛选")
    await harness.press(ZH, "该跟进的")
    text = harness.last_text(ZH)
    assert "该跟进的（共 2 位）" in text
    assert "1. 过期" in text and "跟进 2026年12月1日" in text and "2. 今天" in text
    assert "以后" not in text


async def test_stale_filter_follows_the_agents_limits(harness: Harness) -> None:
    await harness.make_agent(EN, lang="en", stale_b_days=5, stale_c_days=10)
    now = harness.clock.now()
    await harness.seed_client(
        EN, "B week", grade_timing="B", last_contact_at=now - timedelta(days=7)
    )
    await harness.seed_client(
        EN, "C week", grade_timing="C", last_contact_at=now - timedelta(days=7)
    )
    await harness.seed_client(
        EN, "A old", grade_timing="A", last_contact_at=now - timedelta(days=90)
    )
    await harness.send(EN, "/list")
    await harness.press(EN, "Filter")
    await harness.press(EN, "Stale B/C leads")
    text = harness.last_text(EN)
    assert "Stale B/C leads (1)" in text
    assert "B week" in text and "last contact 2026-11-26" in text
    assert "C week" not in text and "A old" not in text


async def test_forged_filter_menu_gets_a_stale_notice(harness: Harness) -> None:
    await harness.make_agent(ZH)
    await harness.press_data(ZH, views.LIST_FILTER.build(menu="g.size"))
    answer = harness.request.sent(method="answerCallbackQuery")[-1]
    assert "按钮已经过时" in answer.params["text"]
