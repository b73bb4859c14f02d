"""The maturity case through the real Application: every stage, outcome and refusal."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select

from bot import i18n, links
from bot.handlers.maturity_case import CASE_ACTION
from storage.models import Agent, Client, Interaction, MaturityCase, Policy
from tests.handlers.maturity_seed import seed_policy
from tests.harness import Harness, TgUser

AGENT = TgUser(3201)
AGENT_EN = TgUser(3202, "Ann", "en")
OTHER = TgUser(3203)


async def _case(harness: Harness) -> MaturityCase:
    case = await harness.first(MaturityCase)
    assert case is not None
    return case


async def _open(harness: Harness, user: TgUser, policy_id: int) -> None:
    await harness.press_data(user, links.OPEN_CASE.build(policy_id=policy_id))


async def _to_stage(harness: Harness, user: TgUser, stage: str) -> None:
    """Press the card's buttons until the case reaches ``stage`` (from organise)."""
    if stage in ("prepare", "appoint", "visit"):
        await harness.press(user, "整理好了")
    if stage in ("appoint", "visit"):
        await harness.press(user, "准备好了")
    if stage == "visit":
        await harness.press(user, "记录约访结果")
        await harness.press(user, "同意见面")
        await harness.send(user, "12月8日")


async def _case_at(
    harness: Harness, stage: str, holder: str = "张三", days: int = 7, **policy: Any
) -> tuple[int, int | None]:
    """Seed a policy for a new agent, open its case and bring it to ``stage``; return the ids."""
    agent = await harness.make_agent(AGENT)
    policy_id, client_id = await seed_policy(harness, agent, holder, days, **policy)
    await _open(harness, AGENT, policy_id)
    await _to_stage(harness, AGENT, stage)
    return policy_id, client_id


async def _report(harness: Harness, grade: str, renewal: str) -> None:
    """File the visit report with ``grade``, no note and ``renewal`` as the result."""
    await harness.press(AGENT, "填写拜访回报")
    await harness.press(AGENT, grade)
    await harness.press(AGENT, "跳过")
    await harness.press(AGENT, renewal)


def _edited(harness: Harness, user: TgUser) -> str:
    return harness.request.sent(chat_id=user.id, method="editMessageText")[-1].text


# --- opening and organising ---------------------------------------------------------------


async def test_opening_a_case_shows_the_card_and_creates_the_case_once(harness: Harness) -> None:
    agent = await harness.make_agent(AGENT)
    policy_id, _ = await seed_policy(harness, agent, "张三", 7)

    await _open(harness, AGENT, policy_id)
    await _open(harness, AGENT, policy_id)

    card = harness.last_text(AGENT)
    assert "满期案件：张三" in card and "还有 7 天" in card
    assert "进度：▶️整理 → ▫️准备 → ▫️约访 → ▫️拜访 → ▫️分析回报" in card
    assert "电话：138 1234 5678" in card and "核对一次最新的电话和通讯地址" in card
    assert "✓ 市区" in harness.buttons(AGENT)
    assert await harness.count(MaturityCase) == 1


async def test_organise_sets_region_and_trait_then_moves_to_prepare(harness: Harness) -> None:
    _, client_id = await _case_at(harness, "organise", region=None)

    await harness.press(AGENT, "乡镇")
    await harness.press(AGENT, "忠诚客户")
    assert "区域：乡镇" in _edited(harness, AGENT) and "特点：忠诚客户" in _edited(harness, AGENT)
    await harness.press(AGENT, "整理好了")

    client = await harness.row(Client, client_id)
    assert (client.region, client.trait) == ("township", "loyal")
    assert (await _case(harness)).stage == "prepare"
    assert "✅整理 → ▶️准备" in _edited(harness, AGENT)


async def test_a_double_tap_on_next_moves_the_case_on_only_once(harness: Harness) -> None:
    await _case_at(harness, "organise")
    case = await _case(harness)

    tap = CASE_ACTION.build(case_id=case.id, action="next", value="organise")
    await harness.press_data(AGENT, tap)
    await harness.press_data(AGENT, tap)

    assert (await _case(harness)).stage == "prepare"


async def test_the_checklist_ticks_and_unticks_and_is_saved(harness: Harness) -> None:
    await _case_at(harness, "prepare")

    await harness.press(AGENT, "☐ 公司简介")
    await harness.press(AGENT, "☐ 计算器")
    await harness.press(AGENT, "☐ 分红通知书")
    await harness.press(AGENT, "☑ 公司简介")

    assert (await _case(harness)).checklist == ["dividend", "calculator"]
    labels = harness.buttons(AGENT)
    assert "☑ 分红通知书" in labels and "☐ 公司简介" in labels and "☐ 演练客户可能的提问" in labels
    await harness.press(AGENT, "准备好了")
    assert (await _case(harness)).stage == "appoint"


# --- the appointment ------------------------------------------------------------------------


async def test_an_agreed_appointment_books_the_visit_after_bad_dates(harness: Harness) -> None:
    _, client_id = await _case_at(harness, "appoint")

    await harness.press(AGENT, "记录约访结果")
    assert "给张三打的约访电话" in harness.last_text(AGENT)
    await harness.press(AGENT, "同意见面")
    await harness.send(AGENT, "找个时间")
    assert "“找个时间”" in harness.texts(AGENT)[-2]  # the parser quotes what it could not read
    await harness.send(AGENT, "2026-12-01")
    assert "已经过去了" in harness.texts(AGENT)[-2]
    await harness.send(AGENT, "12月8日")

    case = await _case(harness)
    assert (case.stage, case.appointment_result, case.appointment_date) == (
        "visit",
        "agreed",
        date(2026, 12, 8),
    )
    assert (await harness.row(Client, client_id)).next_followup == date(2026, 12, 8)
    assert "约访结果：同意见面，2026年12月8日 见面" in harness.last_text(AGENT)
    logged = await harness.first(Interaction)
    assert logged is not None and logged.channel == "phone"


async def test_a_refused_appointment_helps_with_the_payout_and_goes_to_report(
    harness: Harness,
) -> None:
    await _case_at(harness, "appoint")

    await harness.press(AGENT, "记录约访结果")
    await harness.press(AGENT, "拒绝见面")

    assert any("满期给付通知书" in text for text in harness.texts(AGENT)[-2:])
    case = await _case(harness)
    assert (case.stage, case.appointment_result) == ("report", "refused")
    assert "填写拜访回报" in " ".join(harness.buttons(AGENT))


async def test_no_answer_sets_a_retry_date_as_the_follow_up(harness: Harness) -> None:
    _, client_id = await _case_at(harness, "appoint")

    await harness.press(AGENT, "记录约访结果")
    await harness.press(AGENT, "没接通")
    await harness.press(AGENT, "明天")

    case = await _case(harness)
    assert (case.stage, case.appointment_result, case.retry_date) == (
        "appoint",
        "no_answer",
        date(2026, 12, 4),
    )
    assert (await harness.row(Client, client_id)).next_followup == date(2026, 12, 4)


async def test_pressing_a_button_answer_as_text_is_asked_again(harness: Harness) -> None:
    await _case_at(harness, "appoint")
    await harness.press(AGENT, "记录约访结果")

    await harness.send(AGENT, "他同意了")

    assert harness.texts(AGENT)[-2] == i18n.t("zh", "maturity.press_a_button")
    assert (await _case(harness)).appointment_result is None


# --- the report -----------------------------------------------------------------------------


async def test_outcome_a_and_pending_keeps_the_case_open(harness: Harness) -> None:
    await _case_at(harness, "visit")

    await harness.press(AGENT, "填写拜访回报")
    await harness.send(AGENT, "a")  # a typed letter counts as the grade
    await harness.send(AGENT, "想把一半转保，下周商量")
    await harness.press(AGENT, "待定")

    case = await _case(harness)
    assert (case.outcome, case.renewal_result, case.note) == (
        "A",
        "pending",
        "想把一半转保，下周商量",
    )
    assert case.stage == "report" and case.closed_at is None
    assert "案件继续跟进" in harness.texts(AGENT)[-2]
    async with harness.db.session() as session:
        channels = (await session.scalars(select(Interaction.channel))).all()
    assert sorted(channels) == ["phone", "visit"]


async def test_outcome_b_sets_the_follow_up_date(harness: Harness) -> None:
    _, client_id = await _case_at(harness, "visit")

    await harness.press(AGENT, "填写拜访回报")
    await harness.send(AGENT, "D")
    assert harness.texts(AGENT)[-2] == i18n.t("zh", "maturity.bad_outcome")
    await harness.press(AGENT, "B：还要继续跟进")
    await harness.press(AGENT, "跳过")
    await harness.press(AGENT, "待定")
    await harness.press(AGENT, "7 天后")

    case = await _case(harness)
    assert (case.outcome, case.note, case.closed_at) == ("B", None, None)
    assert (await harness.row(Client, client_id)).next_followup == date(2026, 12, 10)
    assert "2026年12月10日 会提醒你跟进" in harness.texts(AGENT)[-2]


async def test_outcome_c_closes_the_case(harness: Harness) -> None:
    await _case_at(harness, "visit")

    await _report(harness, "C：", "待定")

    case = await _case(harness)
    assert case.stage == "closed" and case.closed_at is not None
    assert "案件已结案" in harness.texts(AGENT)[-2]
    assert "已于 2026年12月3日 结案" in harness.last_text(AGENT)
    assert harness.buttons(AGENT)[0] == "重新打开案件"


async def test_paid_out_closes_the_case_and_settles_the_policy(harness: Harness) -> None:
    policy_id, _ = await _case_at(harness, "appoint")
    await harness.press(AGENT, "记录约访结果")
    await harness.press(AGENT, "拒绝见面")

    await _report(harness, "A：", "已领取满期金")

    case = await _case(harness)
    assert (case.renewal_result, case.stage) == ("paid_out", "closed")
    policy = await harness.get(Policy, policy_id)
    assert policy is not None and policy.status == "paid_out"


async def test_renewed_records_the_new_policy_number_after_a_bad_one(harness: Harness) -> None:
    policy_id, _ = await _case_at(harness, "visit")

    await harness.press(AGENT, "填写拜访回报")
    await harness.press(AGENT, "A：")
    await harness.send(AGENT, "签了新单")
    await harness.press(AGENT, "已转保")
    await harness.send(AGENT, "新单?")
    assert harness.texts(AGENT)[-2] == i18n.t("zh", "maturity.bad_policy_number")
    await harness.send(AGENT, "P2026 000123")

    case = await _case(harness)
    assert (case.renewal_result, case.new_policy_number, case.stage) == (
        "renewed",
        "P2026000123",
        "closed",
    )
    assert "新保单号 P2026000123" in harness.last_text(AGENT)
    policy = await harness.get(Policy, policy_id)
    assert policy is not None and policy.status == "renewed"


async def test_a_closed_case_can_be_reopened_and_refuses_other_taps(harness: Harness) -> None:
    await _case_at(harness, "visit")
    await _report(harness, "C：", "待定")
    case = await _case(harness)

    await harness.press_data(AGENT, CASE_ACTION.build(case_id=case.id, action="tick", value="pen"))
    answer = harness.request.sent(method="answerCallbackQuery")[-1]
    assert answer.params.get("text") == i18n.t("zh", "maturity.case_is_closed")
    await harness.press(AGENT, "重新打开案件")

    case = await _case(harness)
    assert (case.stage, case.closed_at, case.checklist) == ("report", None, [])


async def test_the_report_conversation_survives_a_restart(harness: Harness) -> None:
    _, client_id = await _case_at(harness, "visit")
    await harness.press(AGENT, "填写拜访回报")
    await harness.press(AGENT, "B：")
    await harness.send(AGENT, "要和家人商量")

    renewal_prompt = dict(harness.request.sent(chat_id=AGENT.id)[-1].buttons)

    # A second application on the same database: the saved step is all it knows.
    async with harness.second_process() as restarted:
        await restarted.press_data(AGENT, renewal_prompt["待定"])
        await restarted.press(AGENT, "14 天后")

    case = await _case(harness)
    assert (case.outcome, case.note, case.renewal_result) == ("B", "要和家人商量", "pending")
    assert (await harness.row(Client, client_id)).next_followup == date(2026, 12, 17)


# --- contact details ------------------------------------------------------------------------


async def test_contact_details_are_confirmed_and_updated(harness: Harness) -> None:
    _, client_id = await _case_at(harness, "organise", region=None)

    await harness.press(AGENT, "电话和地址已核对无误")
    assert (await _case(harness)).contact_confirmed_at is not None
    assert "上次核对：2026年12月3日" in _edited(harness, AGENT)

    await harness.press(AGENT, "更新电话")
    assert "13812345678" in harness.last_text(AGENT)
    await harness.send(AGENT, "12345")
    assert "13812345678" in harness.texts(AGENT)[-2]  # the example in the parser's sentence
    await harness.share_contact(AGENT, "张三", "+86 139 0000 1111")
    await harness.press(AGENT, "更新地址")
    await harness.send(AGENT, "x")
    assert harness.texts(AGENT)[-2] == i18n.t("zh", "maturity.bad_address", limit=200)
    await harness.send(AGENT, "河北省正定县中山路8号")

    client = await harness.row(Client, client_id)
    assert (client.phone, client.address, client.region) == (
        "13900001111",
        "河北省正定县中山路8号",
        "county",
    )
    assert "地址已更新" in harness.texts(AGENT)[-2]


# --- escalation -----------------------------------------------------------------------------


async def test_escalation_reaches_the_managers_chat_and_marks_the_case(harness: Harness) -> None:
    boss_user = TgUser(3299, "Boss", "en", username="wang_boss")
    boss = await harness.make_agent(boss_user, lang="en", name="Wang", username="wang_boss")
    agent = await harness.make_agent(AGENT, manager_id=boss.id)
    policy_id, _ = await seed_policy(harness, agent, "张三", 7)
    await _open(harness, AGENT, policy_id)

    await harness.press(AGENT, "上报经理")
    await harness.send(AGENT, "客户对分红不满意，要求当面解释")

    summary = harness.last_text(boss_user)
    assert "王芳 escalated a maturity case" in summary
    assert "Policy holder: 张三" in summary and "Their note: 客户对分红不满意" in summary
    assert "13812345678" not in summary and "文三路" not in summary
    case = await _case(harness)
    assert harness.request.sent(chat_id=boss_user.id)[-1].buttons == [
        ("✔️ Got it", links.ESCALATION.build(case_id=case.id, action="ack")),
        ("💬 Reply", links.ESCALATION.build(case_id=case.id, action="reply")),
    ]
    assert case.escalated_at is not None and case.escalation_acknowledged_at is None
    assert "案件已发给 Wang (@wang_boss)" in harness.texts(AGENT)[-2]


async def test_escalation_without_a_manager_explains_how_to_set_one(harness: Harness) -> None:
    await _case_at(harness, "organise")

    await harness.press(AGENT, "上报经理")

    assert harness.last_text(AGENT) == i18n.t("zh", "maturity.no_manager")
    assert (await _case(harness)).escalated_at is None


async def test_escalation_to_an_unreachable_manager_is_not_marked(harness: Harness) -> None:
    boss_user = TgUser(3298, "Boss")
    boss = await harness.make_agent(boss_user, name="老板")
    agent = await harness.make_agent(AGENT, manager_id=boss.id)
    policy_id, _ = await seed_policy(harness, agent)
    await _open(harness, AGENT, policy_id)
    await harness.press(AGENT, "上报经理")
    harness.request.fail_next("sendMessage", status=403, description="Forbidden: bot was blocked")

    await harness.press(AGENT, "跳过")

    assert "没能送到 老板" in harness.texts(AGENT)[-1]
    assert (await _case(harness)).escalated_at is None


async def test_manager_command_sets_shows_and_clears_the_manager(harness: Harness) -> None:
    boss_user = TgUser(3297, "Boss", username="Li_Boss")
    boss = await harness.make_agent(boss_user, name="李经理", username="Li_Boss")
    agent = await harness.make_agent(AGENT)

    await harness.send(AGENT, "/manager")
    assert "你还没有设置经理" in harness.last_text(AGENT)
    await harness.send(AGENT, "/manager 王 经理")
    assert harness.last_text(AGENT) == i18n.t("zh", "maturity.manager_bad", text="王 经理")
    await harness.send(AGENT, "/manager @nobody_here")
    assert "没有用户名是 @nobody_here" in harness.last_text(AGENT)
    await harness.send(AGENT, f"/manager {AGENT.id}")
    assert "不能把自己设为经理" in harness.last_text(AGENT)
    await harness.send(AGENT, "/manager 424242")
    assert "数字 ID 为 424242" in harness.last_text(AGENT)

    await harness.send(AGENT, "/manager @li_boss")
    assert "已把 李经理 (@Li_Boss) 设为你的经理" in harness.last_text(AGENT)
    assert "王芳 把你设成了 TA 的经理" in harness.last_text(boss_user)
    await harness.send(AGENT, "/manager")
    assert "你的经理是 李经理" in harness.last_text(AGENT)
    await harness.send(AGENT, f"/manager {boss_user.id}")
    assert "设为你的经理" in harness.last_text(AGENT)
    stored = await harness.get(Agent, agent.id)
    assert stored is not None and stored.manager_id == boss.id

    await harness.send(AGENT, "/manager off")
    assert "已取消经理" in harness.last_text(AGENT)
    stored = await harness.get(Agent, agent.id)
    assert stored is not None and stored.manager_id is None


# --- refusals -------------------------------------------------------------------------------


async def test_forged_buttons_for_another_agents_policy_are_refused(harness: Harness) -> None:
    await harness.make_agent(AGENT)
    other = await harness.make_agent(OTHER)
    policy_id, _ = await seed_policy(harness, other, "别人的客户")
    await _open(harness, OTHER, policy_id)
    case = await _case(harness)
    before = len(harness.texts(AGENT))

    await _open(harness, AGENT, policy_id)
    await harness.press_data(
        AGENT, CASE_ACTION.build(case_id=case.id, action="region", value="county")
    )
    await harness.press_data(AGENT, CASE_ACTION.build(case_id=case.id, action="report", value=""))
    await harness.press_data(AGENT, "mc:not-a-number")
    await _open(harness, AGENT, 999999)

    answers = harness.request.sent(chat_id=None, method="answerCallbackQuery")[-5:]
    refusal = i18n.t("zh", "maturity.case_not_found")
    assert [a.params.get("text") for a in answers] == [refusal] * 5
    assert len(harness.texts(AGENT)) == before
    assert await harness.count(MaturityCase) == 1
    client = await harness.first(Client, Client.name == "别人的客户")
    assert client is not None and client.region == "city"


# --- English --------------------------------------------------------------------------------


async def test_an_english_agent_walks_a_case_to_renewal(harness: Harness) -> None:
    agent = await harness.make_agent(AGENT_EN, lang="en", name="Ann")
    policy_id, _ = await seed_policy(harness, agent, "Zhang San", -2, with_client=False)
    await _open(harness, AGENT_EN, policy_id)

    card = harness.last_text(AGENT_EN)
    assert "Maturity case: Zhang San" in card and "matured 2 days ago" in card
    assert "no longer in your client book" in card
    await harness.press(AGENT_EN, "Organised")
    await harness.press(AGENT_EN, "Prepared")
    await harness.press(AGENT_EN, "Record the appointment call")
    await harness.press(AGENT_EN, "Agreed to meet")
    await harness.send(AGENT_EN, "tomorrow")
    assert "Visit booked for 2026-12-04" in harness.texts(AGENT_EN)[-2]
    await harness.press(AGENT_EN, "Report on the visit")
    await harness.press(AGENT_EN, "A: can be closed soon")
    await harness.send(AGENT_EN, "x" * 501)
    assert "501 characters" in harness.texts(AGENT_EN)[-2]
    await harness.press(AGENT_EN, "Skip")
    await harness.press(AGENT_EN, "Renewed")
    await harness.send(AGENT_EN, "NEW-2026-0001")

    assert "Report saved; the case is closed." in harness.texts(AGENT_EN)[-2]
    assert "Progress: ✅Organise → ✅Prepare → ✅Appoint → ✅Visit → ✅Report" in (
        harness.last_text(AGENT_EN)
    )
    assert (await _case(harness)).closed_at is not None


async def test_an_unanswered_reschedule_call_sends_the_visit_back_to_appointing(
    harness: Harness,
) -> None:
    await _case_at(harness, "visit")

    await harness.press(AGENT, "改约")
    await harness.press(AGENT, "没接通")
    await harness.send(AGENT, "3天后")

    case = await _case(harness)
    assert (case.stage, case.appointment_date, case.retry_date) == (
        "appoint",
        None,
        date(2026, 12, 6),
    )
    assert "记录约访结果" in " ".join(harness.buttons(AGENT))
