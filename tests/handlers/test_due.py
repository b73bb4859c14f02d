"""/due, its one-tap buttons and the morning push, through the real Application."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from telegram.error import NetworkError

from bot.context import BotContext
from bot.handlers.due import CONTACTED, PUSH_JOB, SNOOZE, send_pushes
from storage.clients import create_client, log_interaction
from storage.models import Agent, Client, Interaction, MaturityCase, Policy, Push, Snooze
from tests.harness import Harness, TgUser, add_client

AGENT = TgUser(5101, "王芳")
OTHER = TgUser(5102, "李强")
TODAY = date(2026, 12, 3)  # the harness clock stands at 09:00 in Shanghai on this day


def _days(n: int) -> date:
    return TODAY + timedelta(days=n)


def _ago(days: int) -> datetime:
    return datetime(2026, 12, 3, 1, 0, tzinfo=UTC) - timedelta(days=days)


async def _policy(
    harness: Harness, agent_id: int, number: str, matures: date, **fields: Any
) -> int:
    async with harness.db.session() as session:
        policy = Policy(
            agent_id=agent_id,
            policy_number=number,
            maturity_date=matures,
            holder_name=fields.pop("holder_name", f"持有人{number}"),
            sum_insured=Decimal(80000),
            **fields,
        )
        session.add(policy)
        await session.flush()
        return policy.id


async def _client(harness: Harness, agent_id: int, name: str, **fields: Any) -> int:
    fields.setdefault("created_at", _ago(100))
    return await add_client(harness.db, agent_id, name, **fields)


async def _run_push(harness: Harness) -> None:
    await harness.run_job(PUSH_JOB)


def _pushes_to(harness: Harness, user: TgUser) -> list[str]:
    return [c.text for c in harness.request.sent(chat_id=user.id, method="sendMessage")]


async def _push_rows(harness: Harness) -> list[tuple[int, date, str]]:
    async with harness.db.session() as session:
        rows = await session.execute(
            select(Push.agent_id, Push.local_date, Push.status).order_by(Push.agent_id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


# --- /due -----------------------------------------------------------------------------------


async def test_due_lists_every_section_with_counts_and_buttons(harness: Harness) -> None:
    me = (await harness.make_agent(AGENT)).id
    holder = await _client(harness, me, "张伟")
    await _policy(harness, me, "P-TODAY", TODAY, client_id=holder)
    await _policy(harness, me, "P-SOON", _days(5))
    await _policy(harness, me, "P-LATER", _days(31))
    await _client(harness, me, "刘洋", next_followup=_days(-2))
    await _client(harness, me, "陈静", source="referral", created_at=_ago(3))
    await _client(harness, me, "杨帆", grade_timing="B", last_contact_at=_ago(20))

    await harness.send(AGENT, "/due")

    text = harness.last_text(AGENT)
    assert "共 5 项" in text
    assert "满期保单（2）" in text and "P-TODAY" in text and "P-SOON" in text
    assert "P-LATER" not in text
    assert "到期跟进（1）" in text and "刘洋" in text and "已过 2 天" in text
    assert "新转介绍还没联系（1）" in text and "陈静" in text
    assert "放久了的 B/C 级准客户（1）" in text and "杨帆" in text
    labels = harness.buttons(AGENT)
    assert "✅ 1 张伟" in labels and "💬 1" in labels
    assert "📂 2 持有人P-SOON" in labels  # a policy with no client opens its case instead


async def test_due_on_a_quiet_day_says_so_in_english(harness: Harness) -> None:
    await harness.make_agent(AGENT, lang="en")

    await harness.send(AGENT, "/due")

    assert "nothing is due today" in harness.last_text(AGENT)


async def test_due_never_shows_another_agents_items(harness: Harness) -> None:
    await harness.make_agent(AGENT)
    other = (await harness.make_agent(OTHER)).id
    await _policy(harness, other, "P-THEIRS", TODAY)
    await _client(harness, other, "别人的客户", next_followup=TODAY)

    await harness.send(AGENT, "/due")

    assert "今天没有到期要办的事" in harness.last_text(AGENT)


async def test_matured_policy_stays_until_its_case_closes(harness: Harness) -> None:
    me = (await harness.make_agent(AGENT)).id
    no_case = await _policy(harness, me, "P-NOCASE", _days(-10))
    open_case = await _policy(harness, me, "P-OPEN", _days(-3))
    closed = await _policy(harness, me, "P-CLOSED", _days(-3))
    async with harness.db.session() as session:
        session.add(MaturityCase(agent_id=me, policy_id=open_case, stage="visit"))
        session.add(MaturityCase(agent_id=me, policy_id=closed, closed_at=_ago(1)))

    await harness.send(AGENT, "/due")

    text = harness.last_text(AGENT)
    assert "已满期、案件还没结：2" in text
    assert "P-NOCASE" in text and "P-OPEN" in text and "P-CLOSED" not in text
    assert no_case


async def test_contacted_logs_a_contact_and_asks_for_the_next_date(harness: Harness) -> None:
    me = (await harness.make_agent(AGENT)).id
    lead = await _client(harness, me, "杨帆", grade_timing="B", last_contact_at=_ago(20))
    await harness.send(AGENT, "/due")

    await harness.press(AGENT, "✅ 1 杨帆")

    texts = harness.texts(AGENT)
    assert "已记下和杨帆的一次电话联系" in texts[-2]
    assert "下次什么时候跟进" in texts[-1]
    await harness.press(AGENT, "1 周后")
    assert "12月10日" in harness.last_text(AGENT) or "2026年12月10日" in harness.last_text(AGENT)
    client = await harness.get(Client, lead)
    logged = await harness.count(Interaction)
    assert client is not None and client.next_followup == _days(7)
    assert client.last_contact_at == harness.clock.now()
    assert logged == 1

    # Contacted and planned: neither stale nor due any more.
    await harness.send(AGENT, "/due")
    assert "今天没有到期要办的事" in harness.last_text(AGENT)


async def test_next_date_accepts_typed_dates_and_refuses_the_past(harness: Harness) -> None:
    me = (await harness.make_agent(AGENT, lang="en")).id
    lead = await _client(harness, me, "Amy", next_followup=TODAY)
    await harness.send(AGENT, "/due")
    await harness.press(AGENT, "✅ 1 Amy")

    await harness.send(AGENT, "yesterday")
    assert "is in the past" in harness.texts(AGENT)[-2]
    assert "When do you want to follow up" in harness.last_text(AGENT)
    await harness.send(AGENT, "soonish")
    assert "couldn't read the date" in harness.texts(AGENT)[-2]
    await harness.send(AGENT, "2026-12-20")

    assert "on 2026-12-20" in harness.last_text(AGENT)
    client = await harness.get(Client, lead)
    assert client is not None and client.next_followup == date(2026, 12, 20)


async def test_contacted_on_a_followup_clears_it_when_no_next_date(harness: Harness) -> None:
    me = (await harness.make_agent(AGENT)).id
    lead = await _client(harness, me, "刘洋", next_followup=_days(-1))
    await harness.send(AGENT, "/due")

    await harness.press(AGENT, "✅ 1")
    await harness.press(AGENT, "先不约")

    client = await harness.get(Client, lead)
    assert client is not None and client.next_followup is None
    assert "暂时不约" in harness.last_text(AGENT)


async def test_a_second_tap_on_contacted_logs_once(harness: Harness) -> None:
    me = (await harness.make_agent(AGENT)).id
    lead = await _client(harness, me, "刘洋", next_followup=TODAY)
    data = CONTACTED.build(client_id=lead)

    await harness.press_data(AGENT, data)
    await harness.press_data(AGENT, data)

    assert "刚才已经记过" in harness.texts(AGENT)[-2]
    assert await harness.count(Interaction) == 1


async def test_logging_a_contact_elsewhere_resets_staleness(harness: Harness) -> None:
    me = (await harness.make_agent(AGENT)).id
    lead = await _client(harness, me, "杨帆", grade_willingness="C", last_contact_at=_ago(31))
    await harness.send(AGENT, "/due")
    assert "杨帆" in harness.last_text(AGENT)

    async with harness.db.session() as session:
        client = await session.get(Client, lead)
        assert client is not None
        await log_interaction(session, client, channel="wechat", note=None, at=_ago(0))
    await harness.send(AGENT, "/due")

    assert "杨帆" not in harness.last_text(AGENT)


async def test_future_followup_keeps_a_silent_lead_off_the_list(harness: Harness) -> None:
    me = (await harness.make_agent(AGENT)).id
    await _client(
        harness, me, "杨帆", grade_timing="B", last_contact_at=_ago(60), next_followup=_days(2)
    )
    await harness.send(AGENT, "/due")
    assert "今天没有到期要办的事" in harness.last_text(AGENT)

    harness.clock.advance(days=2)
    await harness.send(AGENT, "/due")
    assert "到期跟进（1）" in harness.last_text(AGENT) and "杨帆" in harness.last_text(AGENT)


async def test_snooze_hides_an_item_for_three_days(harness: Harness) -> None:
    me = (await harness.make_agent(AGENT)).id
    await _policy(harness, me, "P-SOON", _days(6))
    await harness.send(AGENT, "/due")

    await harness.press(AGENT, "💤 1")

    answers = harness.request.sent(method="answerCallbackQuery")
    assert "12月6日" in answers[-1].params["text"]
    for day, listed in ((0, False), (2, False), (3, True)):
        harness.clock.set(datetime(2026, 12, 3, 1, 0, tzinfo=UTC) + timedelta(days=day))
        await harness.send(AGENT, "/due")
        assert ("P-SOON" in harness.last_text(AGENT)) is listed, day


async def test_forged_buttons_get_a_refusal_and_change_nothing(harness: Harness) -> None:
    await harness.make_agent(AGENT)
    other = (await harness.make_agent(OTHER)).id
    their_client = await _client(harness, other, "别人的客户", next_followup=TODAY)
    their_policy = await _policy(harness, other, "P-THEIRS", TODAY)

    await harness.press_data(AGENT, CONTACTED.build(client_id=their_client))
    await harness.press_data(AGENT, SNOOZE.build(kind="m", item_id=their_policy))
    await harness.press_data(AGENT, SNOOZE.build(kind="x", item_id=1))
    await harness.press_data(AGENT, "dz:m:notanumber")

    answers = [c.params.get("text") for c in harness.request.sent(method="answerCallbackQuery")]
    assert answers == ["这一项已经不在你的清单里了，发 /due 看最新的。"] * 4
    assert harness.texts(AGENT) == []
    assert await harness.count(Interaction) == 0
    assert await harness.count(Snooze) == 0


async def test_long_list_shows_the_most_urgent_and_show_all_sends_the_rest(
    harness: Harness,
) -> None:
    me = (await harness.make_agent(AGENT)).id
    async with harness.db.session() as session:
        for i in range(45):
            await create_client(
                session,
                me,
                name=f"客户{i:02d}",
                grade_timing="C",
                last_contact_at=_ago(40),
                created_at=_ago(100),
            )
    await _policy(harness, me, "P-TODAY", TODAY)

    await harness.send(AGENT, "/due")

    first = harness.request.sent(chat_id=AGENT.id, method="sendMessage")
    assert "P-TODAY" in first[-1].text and "最紧急的 30 项" in first[-1].text
    assert len(first[-1].buttons) <= 100
    before = len(first)
    await harness.press(AGENT, "全部显示（46 项）")

    full = harness.request.sent(chat_id=AGENT.id, method="sendMessage")[before:]
    text = "\n".join(call.text for call in full)
    assert all(f"客户{i:02d}" in text for i in range(45))
    assert all(len(call.text) <= 4096 and len(call.buttons) <= 100 for call in full)


# --- the morning push -------------------------------------------------------------------------


async def test_push_goes_out_once_across_two_runs(harness: Harness) -> None:
    me = (await harness.make_agent(AGENT)).id
    await _policy(harness, me, "P-TODAY", TODAY)

    await _run_push(harness)
    await _run_push(harness)
    await asyncio.gather(_run_push(harness), _run_push(harness))

    pushed = _pushes_to(harness, AGENT)
    assert len(pushed) == 1 and "P-TODAY" in pushed[0] and "王芳，你好" in pushed[0]
    assert await _push_rows(harness) == [(me, TODAY, "sent")]


async def test_push_waits_for_the_agents_local_push_time(harness: Harness) -> None:
    await harness.make_agent(AGENT, push_time=time(9, 30), push_when_empty=True)
    await harness.make_agent(OTHER, timezone="Europe/London", push_when_empty=True)

    await _run_push(harness)  # 09:00 in Shanghai, 01:00 in London
    assert harness.texts(AGENT) == [] and harness.texts(OTHER) == []

    harness.clock.advance(minutes=30)
    await _run_push(harness)
    assert len(_pushes_to(harness, AGENT)) == 1 and harness.texts(OTHER) == []

    harness.clock.advance(hours=8)  # 08:30 in London
    await _run_push(harness)
    assert len(_pushes_to(harness, OTHER)) == 1


async def test_push_survives_a_restart_and_a_second_process(harness: Harness) -> None:
    me = (await harness.make_agent(AGENT)).id
    await _client(harness, me, "刘洋", next_followup=TODAY)

    # Two processes on one database, running the job at the same moment.
    async with harness.second_process() as second:
        await asyncio.gather(_run_push(harness), _run_push(second))
        total = len(_pushes_to(harness, AGENT)) + len(_pushes_to(second, AGENT))
        assert total == 1

    # A restart: a fresh application on the same database finds the push recorded.
    async with harness.second_process() as restarted:
        await _run_push(restarted)
        assert _pushes_to(restarted, AGENT) == []
    assert await _push_rows(harness) == [(me, TODAY, "sent")]


async def test_push_missed_while_down_is_sent_the_same_day_only(harness: Harness) -> None:
    me = (await harness.make_agent(AGENT)).id
    await _client(harness, me, "刘洋", next_followup=_days(-1))

    # The bot was down from before 08:30 until 15:00: it catches up when it starts.
    harness.clock.set(datetime(2026, 12, 3, 7, 0, tzinfo=UTC))
    await _run_push(harness)
    assert len(_pushes_to(harness, AGENT)) == 1

    # Down all of the next day until 02:00 on the day after: the missed day is not sent
    # late, and the new day's push waits for its own push time.
    harness.clock.set(datetime(2026, 12, 4, 18, 0, tzinfo=UTC))
    await _run_push(harness)
    assert len(_pushes_to(harness, AGENT)) == 1
    harness.clock.set(datetime(2026, 12, 5, 0, 31, tzinfo=UTC))
    await _run_push(harness)
    assert len(_pushes_to(harness, AGENT)) == 2
    days = [row[1] for row in await _push_rows(harness)]
    assert days == [TODAY, date(2026, 12, 5)]


async def test_empty_day_sends_nothing_unless_the_agent_asked(harness: Harness) -> None:
    await harness.make_agent(AGENT)
    await harness.make_agent(OTHER, lang="en", push_when_empty=True)

    await _run_push(harness)
    await _run_push(harness)

    assert harness.texts(AGENT) == []
    assert len(_pushes_to(harness, OTHER)) == 1
    assert "nothing is due today" in _pushes_to(harness, OTHER)[0]
    statuses = sorted(row[2] for row in await _push_rows(harness))
    assert statuses == ["empty", "sent"]


async def test_inactive_and_unfinished_agents_get_no_push(harness: Harness) -> None:
    await harness.make_agent(AGENT, active=False, push_when_empty=True)
    await harness.make_agent(OTHER, push_when_empty=True)
    async with harness.db.session() as session:
        other = await session.scalar(select(Agent).where(Agent.telegram_id == OTHER.id))
        assert other is not None
        other.onboarded = False

    await _run_push(harness)

    assert harness.request.sent(method="sendMessage") == []


async def test_blocked_agent_is_marked_inactive_and_the_others_still_get_theirs(
    harness: Harness,
) -> None:
    users = [TgUser(5200 + i) for i in range(4)]
    for user in users:
        await harness.make_agent(user, push_when_empty=True)
    harness.request.fail_next(
        "sendMessage", status=403, description="Forbidden: bot was blocked by the user"
    )

    await _run_push(harness)
    await _run_push(harness)

    received = [user for user in users if _pushes_to(harness, user)]
    assert len(received) == 3
    (blocked,) = [user for user in users if user not in received]
    agent = await harness.find_agent(blocked)
    assert agent is not None and agent.active is False
    statuses = sorted(row[2] for row in await _push_rows(harness))
    assert statuses == ["blocked", "sent", "sent", "sent"]


# PTB warns about the future type of RetryAfter.retry_after when it builds the error.
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_rate_limited_push_is_retried_and_arrives_once(harness: Harness) -> None:
    await harness.make_agent(AGENT, push_when_empty=True)
    harness.request.fail_next(
        "sendMessage", status=429, description="Too Many Requests: retry after 1", retry_after=1
    )

    await _run_push(harness)

    assert len(_pushes_to(harness, AGENT)) == 1
    assert [row[2] for row in await _push_rows(harness)] == ["sent"]


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_push_still_refused_after_the_retries_goes_out_on_the_next_run(
    harness: Harness,
) -> None:
    await harness.make_agent(AGENT, push_when_empty=True)
    for _ in range(4):  # the first try and the rate limiter's three retries
        harness.request.fail_next(
            "sendMessage",
            status=429,
            description="Too Many Requests: retry after 1",
            retry_after=1,
        )

    await _run_push(harness)
    assert _pushes_to(harness, AGENT) == [] and await _push_rows(harness) == []

    await _run_push(harness)
    assert len(_pushes_to(harness, AGENT)) == 1


async def test_timed_out_push_is_recorded_as_uncertain_and_not_resent(harness: Harness) -> None:
    await harness.make_agent(AGENT, push_when_empty=True)
    harness.request.time_out_next("sendMessage")

    await _run_push(harness)
    await _run_push(harness)

    assert _pushes_to(harness, AGENT) == []
    assert [row[2] for row in await _push_rows(harness)] == ["uncertain"]


async def test_unreachable_telegram_leaves_the_push_for_the_next_run(harness: Harness) -> None:
    await harness.make_agent(AGENT, push_when_empty=True)
    await harness.make_agent(OTHER, push_when_empty=True)
    refused = NetworkError("httpx.ConnectError: connection refused")
    refused.__cause__ = httpx.ConnectError("connection refused")
    # OfflineRequest raises queued exceptions as they are; a refused connection is one.
    harness.request._failures.setdefault("sendMessage", []).append(refused)

    job = harness.app.job_queue.get_jobs_by_name(PUSH_JOB)[0]
    outcomes = await send_pushes(BotContext.from_job(job, harness.app))

    assert outcomes["release"] == 1
    assert len(await _push_rows(harness)) == outcomes["sent"]  # the run stopped early or not
    await _run_push(harness)
    assert len(_pushes_to(harness, AGENT)) == 1 and len(_pushes_to(harness, OTHER)) == 1


async def test_push_job_tolerates_a_busy_loop_and_checks_every_minute(harness: Harness) -> None:
    (job,) = harness.app.job_queue.get_jobs_by_name(PUSH_JOB)

    assert job.job.misfire_grace_time >= 3600
    assert job.job.coalesce is True
    assert job.job.trigger.interval == timedelta(seconds=60)
