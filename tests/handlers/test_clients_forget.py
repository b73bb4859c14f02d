"""/forget_me: confirmed by a typed word, it leaves nothing of the agent in any table."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import clients as store
from storage.models import (
    Agent,
    Base,
    Conversation,
    Invite,
    MaturityCase,
    Policy,
    Push,
    Snooze,
)
from tests.harness import ADMIN_ID, Harness, TgUser

ZH = TgUser(4501, "芳", "zh-hans")
EN = TgUser(4502, "Amy", "en")
NEIGHBOUR = TgUser(4503, "强", "zh-hans")
MEMBER = TgUser(4504, "小李", "zh-hans")
ADMIN = TgUser(ADMIN_ID, "Admin", "zh-hans")
NOW = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)


async def _fill_book(session: AsyncSession, agent: Agent) -> None:
    """Give an agent a row in every kind of table: clients, contacts, grades, policies…"""
    referrer = await store.create_client(session, agent.id, name="李四", phone="13812345678")
    client = await store.create_client(
        session, agent.id, name="张三", source="referral", referred_by_id=referrer.id
    )
    await store.log_interaction(session, client, channel="phone", note="聊了", at=NOW)
    await store.set_grade(session, client, "timing", "A", at=NOW)
    policy = Policy(agent_id=agent.id, client_id=client.id, policy_number=f"P-{agent.id}")
    session.add(policy)
    await session.flush()
    session.add_all(
        [
            MaturityCase(agent_id=agent.id, policy_id=policy.id),
            Snooze(agent_id=agent.id, kind="followup", item_id=client.id, until=date(2026, 12, 9)),
            Push(agent_id=agent.id, local_date=date(2026, 12, 2), status="sent"),
            Conversation(agent_id=agent.id, flow="add", step="phone", data={"name": "王五"}),
        ]
    )


async def _owned_rows(session: AsyncSession, agent_id: int) -> dict[str, set[Any]]:
    """Find every row that belongs to the agent: reached from it through CASCADE keys."""
    owned: dict[str, set[Any]] = {"agents": {agent_id}}
    for table in Base.metadata.sorted_tables:
        if table.name == "agents":
            continue
        rows: set[Any] = set()
        for column in table.columns:
            for key in column.foreign_keys:
                parent = key.column.table.name
                if key.ondelete == "CASCADE" and owned.get(parent):
                    found = await session.scalars(
                        select(_pk(table)).where(column.in_(owned[parent]))
                    )
                    rows.update(found)
        owned[table.name] = rows
    return owned


def _pk(table: Table) -> Any:
    [column] = table.primary_key.columns
    return column


async def _row_count(session: AsyncSession) -> dict[str, int]:
    counts = {}
    for table in Base.metadata.sorted_tables:
        counts[table.name] = int(
            await session.scalar(select(func.count()).select_from(table)) or 0
        )
    return counts


async def test_forget_me_leaves_nothing_of_the_agent_in_any_table(harness: Harness) -> None:
    admin = await harness.make_agent(ADMIN, name="管理员", role="admin")
    agent = await harness.make_agent(ZH, role="manager")
    neighbour = await harness.make_agent(NEIGHBOUR, name="李强")
    await harness.make_agent(MEMBER, name="小李", manager_id=agent.id)
    async with harness.db.session() as session:
        for owner in (agent, neighbour):
            await _fill_book(session, await session.merge(owner))
        expires = NOW + timedelta(days=7)
        session.add_all(
            [
                Invite(token_hash="a" * 64, created_by_id=agent.id, expires_at=expires),
                Invite(
                    token_hash="b" * 64,
                    created_by_id=admin.id,
                    used_by_id=agent.id,
                    team_manager_id=agent.id,
                    expires_at=expires,
                ),
            ]
        )
    async with harness.db.session() as session:
        owned = await _owned_rows(session, agent.id)
        others_before = await _owned_rows(session, neighbour.id)
    seeded = ("clients", "interactions", "grade_changes", "policies", "maturity_cases")
    for name in (*seeded, "snoozes", "pushes", "conversations", "invites"):
        assert owned[name], f"the test seeded nothing in {name}"

    await harness.send(ZH, "/forget_me")
    assert "2 位客户" in harness.last_text(ZH) and "删除全部" in harness.last_text(ZH)
    await harness.send(ZH, "删除")
    assert "没有删除任何东西" in harness.texts(ZH)[-2]
    async with harness.db.session() as session:
        assert await session.get(Agent, agent.id) is not None
    await harness.send(ZH, " 删除全部 ")
    assert "你的全部数据都已删除" in harness.last_text(ZH)

    async with harness.db.session() as session:
        for table in Base.metadata.sorted_tables:
            if owned[table.name]:
                left = await session.scalar(
                    select(func.count())
                    .select_from(table)
                    .where(_pk(table).in_(owned[table.name]))
                )
                assert left == 0, f"{table.name} still holds the agent's rows"
            for column in table.columns:
                for key in column.foreign_keys:
                    gone = owned.get(key.column.table.name)
                    if gone:
                        pointing = await session.scalar(
                            select(func.count()).select_from(table).where(column.in_(gone))
                        )
                        assert pointing == 0, f"{table.name}.{column.name} points at the agent"
        assert await _owned_rows(session, neighbour.id) == others_before
        member = await session.scalar(select(Agent).where(Agent.telegram_id == MEMBER.id))
        assert member is not None and member.manager_id is None


async def test_forget_me_in_english_accepts_the_word_in_any_case(harness: Harness) -> None:
    agent = await harness.make_agent(EN, lang="en")
    async with harness.db.session() as session:
        await _fill_book(session, await session.merge(agent))
    await harness.send(EN, "/forget_me")
    assert "type exactly: DELETE ALL" in harness.last_text(EN)
    await harness.send(EN, "yes")
    assert "Nothing was deleted." in harness.texts(EN)[-2]
    await harness.send(EN, "delete all")
    assert "All your data has been deleted." in harness.last_text(EN)
    async with harness.db.session() as session:
        counts = await _row_count(session)
    assert all(count == 0 for count in counts.values()), counts


async def test_cancel_keeps_everything(harness: Harness) -> None:
    agent = await harness.make_agent(ZH)
    async with harness.db.session() as session:
        await _fill_book(session, await session.merge(agent))
        before = await _row_count(session)
    await harness.send(ZH, "/forget_me")
    await harness.send(ZH, "/cancel")
    await harness.send(ZH, "删除全部")
    async with harness.db.session() as session:
        after = await _row_count(session)
    # Only the /forget_me draft came and went; the book is whole.
    assert after == before
