"""Queries on the client book: search, duplicates, filtered lists, card details, deleting."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from storage import clients as store
from storage.clients import ClientFilter, Horizon
from storage.db import Database
from storage.models import Agent, Client, GradeChange, Interaction, Policy, Snooze
from tests.harness import add_client

NOW = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)
TODAY = date(2026, 12, 3)


@pytest.fixture
async def agents(db: Database) -> AsyncIterator[tuple[int, int]]:
    """Two agents: the one asking and another whose book must stay invisible."""
    async with db.session() as session:
        mine = Agent(telegram_id=1, name="王芳", onboarded=True)
        theirs = Agent(telegram_id=2, name="李强", onboarded=True)
        session.add_all([mine, theirs])
        await session.flush()
        ids = (mine.id, theirs.id)
    yield ids


async def _names(db: Database, agent_id: int, text: str) -> list[str]:
    async with db.session() as session:
        return [c.name for c in await store.search_clients(session, agent_id, text)]


# --- search ---------------------------------------------------------------------------------


async def test_search_finds_by_name_part_pinyin_initials_and_phone(
    db: Database, agents: tuple[int, int]
) -> None:
    mine, _ = agents
    await add_client(db, mine, "张三", phone="13812345678")
    await add_client(db, mine, "李四", phone="010-87654321")
    await add_client(db, mine, "张三丰")

    assert await _names(db, mine, "三") == ["张三", "张三丰"]
    assert await _names(db, mine, "zhang") == ["张三", "张三丰"]
    assert await _names(db, mine, "zs") == ["张三", "张三丰"]
    assert await _names(db, mine, "zsf") == ["张三丰"]
    assert await _names(db, mine, "ZhangSan") == ["张三", "张三丰"]
    assert await _names(db, mine, "5678") == ["张三"]
    assert await _names(db, mine, "138 1234") == ["张三"]
    # A landline is stored with its dash; typed without one it is still found.
    assert await _names(db, mine, "01087654321") == ["李四"]
    assert await _names(db, mine, "wangwu") == []


async def test_search_puts_the_exact_name_first(db: Database, agents: tuple[int, int]) -> None:
    mine, _ = agents
    await add_client(db, mine, "张三丰")
    await add_client(db, mine, "张三")
    assert await _names(db, mine, "张三") == ["张三", "张三丰"]


async def test_search_finds_by_policy_number(db: Database, agents: tuple[int, int]) -> None:
    mine, _ = agents
    client_id = await add_client(db, mine, "王五")
    async with db.session() as session:
        session.add(Policy(agent_id=mine, client_id=client_id, policy_number="P2026-0042"))
    assert await _names(db, mine, "2026-0042") == ["王五"]


async def test_search_never_returns_another_agents_clients(
    db: Database, agents: tuple[int, int]
) -> None:
    mine, theirs = agents
    await add_client(db, theirs, "张三", phone="13812345678")
    for text in ("张三", "zs", "5678"):
        assert await _names(db, mine, text) == []
    assert await _names(db, theirs, "zs") == ["张三"]


async def test_duplicates_match_same_phone_or_same_name_without_phone(
    db: Database, agents: tuple[int, int]
) -> None:
    mine, theirs = agents
    await add_client(db, mine, "张三", phone="13812345678")
    await add_client(db, mine, "李四")
    await add_client(db, theirs, "王五", phone="13900000000")
    async with db.session() as session:
        same_phone = await store.find_duplicates(session, mine, "老张", "13812345678")
        same_name = await store.find_duplicates(session, mine, "李四", None)
        other_phone = await store.find_duplicates(session, mine, "张三", "13700000000")
        elsewhere = await store.find_duplicates(session, mine, "王五", "13900000000")
    assert [c.name for c in same_phone] == ["张三"]
    assert [c.name for c in same_name] == ["李四"]
    # Same name but both have different phones: two different people.
    assert other_phone == []
    assert elsewhere == []


# --- lists ----------------------------------------------------------------------------------


def _horizon(b_days: int = 14, c_days: int = 30) -> Horizon:
    agent = Agent(stale_b_days=b_days, stale_c_days=c_days)
    return Horizon.for_agent(agent, NOW, TODAY)


async def _listed(db: Database, agent_id: int, flt: ClientFilter, **paging: int) -> list[str]:
    async with db.session() as session:
        page = await store.list_clients(session, agent_id, flt, _horizon(), **paging)
    return [c.name for c in page.clients]


async def test_list_pages_in_pinyin_order_and_counts_the_whole_list(
    db: Database, agents: tuple[int, int]
) -> None:
    mine, theirs = agents
    for name in ("赵六", "阿明", "王五", "李四", "张三"):
        await add_client(db, mine, name)
    await add_client(db, theirs, "白七")

    assert await _listed(db, mine, ClientFilter(), limit=2) == ["阿明", "李四"]
    assert await _listed(db, mine, ClientFilter(), offset=2, limit=2) == ["王五", "张三"]
    async with db.session() as session:
        page = await store.list_clients(session, mine, ClientFilter(), _horizon(), offset=4)
    assert [c.name for c in page.clients] == ["赵六"] and page.total == 5


async def test_list_filters_by_grade_on_each_axis_and_by_source(
    db: Database, agents: tuple[int, int]
) -> None:
    mine, _ = agents
    await add_client(db, mine, "张三", grade_timing="A", source="warm")
    await add_client(db, mine, "李四", grade_willingness="A", source="referral")
    await add_client(db, mine, "王五", grade_depth="A", grade_timing="B", source="bank")

    assert await _listed(db, mine, ClientFilter("grade", "timing", "A")) == ["张三"]
    assert await _listed(db, mine, ClientFilter("grade", "willingness", "A")) == ["李四"]
    assert await _listed(db, mine, ClientFilter("grade", "depth", "A")) == ["王五"]
    assert await _listed(db, mine, ClientFilter("source", value="bank")) == ["王五"]
    assert await _listed(db, mine, ClientFilter("source", value="cold")) == []


async def test_due_lists_follow_ups_up_to_today_earliest_first(
    db: Database, agents: tuple[int, int]
) -> None:
    mine, _ = agents
    await add_client(db, mine, "今天", next_followup=TODAY)
    await add_client(db, mine, "上周", next_followup=TODAY - timedelta(days=7))
    await add_client(db, mine, "明天", next_followup=TODAY + timedelta(days=1))
    await add_client(db, mine, "没定")
    assert await _listed(db, mine, ClientFilter("due")) == ["上周", "今天"]


async def test_stale_uses_the_b_and_c_limits_and_ignores_a_and_d(
    db: Database, agents: tuple[int, int]
) -> None:
    mine, _ = agents
    old = NOW - timedelta(days=20)
    older = NOW - timedelta(days=40)
    await add_client(db, mine, "B久", grade_timing="B", last_contact_at=old)
    await add_client(
        db, mine, "B近", grade_willingness="B", last_contact_at=NOW - timedelta(days=3)
    )
    await add_client(db, mine, "C中", grade_timing="C", last_contact_at=old)
    await add_client(db, mine, "C久", grade_willingness="C", last_contact_at=older)
    await add_client(db, mine, "A久", grade_timing="A", last_contact_at=older)
    await add_client(
        db, mine, "D久", grade_timing="D", grade_willingness="D", last_contact_at=older
    )
    # B on one axis and C on the other: the shorter B limit applies.
    await add_client(
        db, mine, "BC中", grade_timing="C", grade_willingness="B", last_contact_at=old
    )
    # Never contacted: counted from when the client was added.
    await add_client(db, mine, "B未联系", grade_timing="B", created_at=older)

    stale = set(await _listed(db, mine, ClientFilter("stale")))
    assert stale == {"B久", "C久", "BC中", "B未联系"}


async def test_stale_follows_the_agents_own_limits(db: Database, agents: tuple[int, int]) -> None:
    mine, _ = agents
    await add_client(db, mine, "B五天", grade_timing="B", last_contact_at=NOW - timedelta(days=5))
    async with db.session() as session:
        strict = await store.list_clients(session, mine, ClientFilter("stale"), _horizon(3, 30))
        loose = await store.list_clients(session, mine, ClientFilter("stale"), _horizon(14, 30))
    assert [c.name for c in strict.clients] == ["B五天"]
    assert loose.total == 0


@pytest.mark.parametrize(
    ("flt", "valid"),
    [
        (ClientFilter(), True),
        (ClientFilter("due"), True),
        (ClientFilter("grade", "depth", "D"), True),
        (ClientFilter("grade", "depth", "E"), False),
        (ClientFilter("grade", "size", "A"), False),
        (ClientFilter("source", value="warm"), True),
        (ClientFilter("source", value="friends"), False),
        (ClientFilter("stale", value="x"), False),
        (ClientFilter("everything"), False),
    ],
)
def test_filter_validity(flt: ClientFilter, valid: bool) -> None:
    assert flt.is_valid() is valid


# --- card details and grading ---------------------------------------------------------------


async def test_details_gather_referrals_last_five_contacts_policies_and_grade_dates(
    db: Database, agents: tuple[int, int]
) -> None:
    mine, _ = agents
    referrer = await add_client(db, mine, "李四")
    client_id = await add_client(db, mine, "张三", referred_by_id=referrer)
    await add_client(db, mine, "王五", referred_by_id=client_id)
    async with db.session() as session:
        client = await store.get_client(session, mine, client_id)
        assert client is not None
        for day in range(7):
            await store.log_interaction(
                session, client, channel="phone", note=f"第{day}次", at=NOW - timedelta(days=day)
            )
        await store.set_grade(session, client, "timing", "B", at=NOW - timedelta(days=2))
        await store.set_grade(session, client, "timing", "A", at=NOW)
        session.add(
            Policy(
                agent_id=mine,
                client_id=client_id,
                policy_number="P1",
                premium=Decimal(5000),
                maturity_date=date(2027, 1, 1),
            )
        )

    async with db.session() as session:
        details = await store.client_details(session, mine, client_id)
    assert details is not None
    assert details.referrer is not None and details.referrer.name == "李四"
    assert [c.name for c in details.referrals] == ["王五"] and details.referral_count == 1
    assert [i.note for i in details.interactions] == [f"第{d}次" for d in range(5)]
    assert details.interaction_count == 7
    assert [p.policy_number for p in details.policies] == ["P1"]
    assert details.graded_at == {"timing": NOW}
    assert details.client.last_contact_at == NOW


async def test_details_of_another_agents_client_are_none(
    db: Database, agents: tuple[int, int]
) -> None:
    mine, theirs = agents
    client_id = await add_client(db, theirs, "张三")
    async with db.session() as session:
        assert await store.client_details(session, mine, client_id) is None
        assert await store.grade_history(session, mine, client_id) == []


async def test_grade_history_keeps_every_change_and_skips_no_change(
    db: Database, agents: tuple[int, int]
) -> None:
    mine, _ = agents
    client_id = await add_client(db, mine, "张三")
    async with db.session() as session:
        client = await store.get_client(session, mine, client_id)
        assert client is not None
        await store.set_grade(session, client, "depth", "C", at=NOW)
        await store.set_grade(session, client, "depth", "C", at=NOW + timedelta(hours=1))
        await store.set_grade(session, client, "depth", "B", at=NOW + timedelta(days=1))
        await store.set_grade(session, client, "depth", None, at=NOW + timedelta(days=2))
    async with db.session() as session:
        history = await store.grade_history(session, mine, client_id)
    assert [(g.old, g.new) for g in history] == [(None, "C"), ("C", "B"), ("B", None)]


# --- deleting -------------------------------------------------------------------------------


async def test_delete_client_takes_contacts_grades_and_snoozes_and_unlinks_the_rest(
    db: Database, agents: tuple[int, int]
) -> None:
    mine, _ = agents
    client_id = await add_client(db, mine, "张三")
    referred = await add_client(db, mine, "王五", referred_by_id=client_id)
    async with db.session() as session:
        client = await store.get_client(session, mine, client_id)
        assert client is not None
        await store.log_interaction(session, client, channel="sms", note="hi", at=NOW)
        await store.set_grade(session, client, "timing", "A", at=NOW)
        session.add(Policy(agent_id=mine, client_id=client_id, policy_number="P9"))
        session.add(Snooze(agent_id=mine, kind="followup", item_id=client_id, until=TODAY))
        assert await store.count_interactions(session, mine, client_id) == 1

    async with db.session() as session:
        assert await store.delete_client(session, mine, client_id) is True

    async with db.session() as session:
        assert await session.get(Client, client_id) is None
        for model in (Interaction, GradeChange):
            count = await session.scalar(
                select(func.count()).select_from(model).where(model.client_id == client_id)
            )
            assert count == 0
        assert await session.scalar(select(func.count()).select_from(Snooze)) == 0
        policy = await session.scalar(select(Policy).where(Policy.policy_number == "P9"))
        assert policy is not None and policy.client_id is None
        other = await session.get(Client, referred)
        assert other is not None and other.referred_by_id is None


async def test_delete_client_refuses_another_agents_client(
    db: Database, agents: tuple[int, int]
) -> None:
    mine, theirs = agents
    client_id = await add_client(db, theirs, "张三")
    async with db.session() as session:
        assert await store.delete_client(session, mine, client_id) is False
    async with db.session() as session:
        assert await session.get(Client, client_id) is not None
