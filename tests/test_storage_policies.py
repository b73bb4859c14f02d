"""Tests for the policy queries: writing an imported table, the maturity window, and cases."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import func, select

from bot.importer import PolicyRow
from storage import policies
from storage.clients import create_client
from storage.db import Database
from storage.models import Agent, Client, MaturityCase, Policy

TODAY = date(2026, 12, 3)


def _row(number: int, **changes: object) -> PolicyRow:
    row = PolicyRow(
        row_number=number + 1,
        bank="工商银行",
        policy_number=f"P{number:06d}",
        product="鑫享年金",
        premium=Decimal(10000),
        sum_insured=Decimal(50000),
        effective_date=date(2021, 12, 10),
        maturity_date=date(2026, 12, 10),
        holder=f"客户{number}",
        insured=None,
        address="浙江省杭州市西湖区文三路1号",
        home_phone=None,
        mobile=f"138{number:08d}",
        office_phone=None,
    )
    return replace(row, **changes)  # type: ignore[arg-type]


async def _agent(db: Database, telegram_id: int = 1, **fields: object) -> Agent:
    async with db.session() as session:
        agent = Agent(telegram_id=telegram_id, onboarded=True, **fields)
        session.add(agent)
    return agent


async def _import(db: Database, agent: Agent, rows: list[PolicyRow]) -> policies.ImportCounts:
    async with db.session() as session:
        return await policies.import_policies(session, agent.id, rows)


async def _count(
    db: Database, model: type[Policy] | type[Client] | type[MaturityCase], agent: Agent
) -> int:
    async with db.session() as session:
        total = await session.scalar(
            select(func.count()).select_from(model).where(model.agent_id == agent.id)
        )
    return int(total or 0)


async def test_import_adds_policies_and_their_holders_as_maturity_clients(db: Database) -> None:
    agent = await _agent(db)

    counts = await _import(db, agent, [_row(1), _row(2, address="安徽省肥东县撮镇镇")])

    assert (counts.added, counts.updated, counts.unchanged, counts.clients_added) == (2, 0, 0, 2)
    async with db.session() as session:
        clients = (await session.scalars(select(Client).order_by(Client.name))).all()
        stored = (await session.scalars(select(Policy).order_by(Policy.policy_number))).all()
    assert [(c.name, c.source, c.phone, c.region) for c in clients] == [
        ("客户1", "maturity", "13800000001", "city"),
        ("客户2", "maturity", "13800000002", "township"),
    ]
    assert clients[0].name_pinyin == "kehu1"
    assert [p.client_id for p in stored] == [clients[0].id, clients[1].id]
    assert stored[0].sum_insured == Decimal(50000) and stored[0].holder_name == "客户1"


async def test_importing_the_same_rows_again_changes_nothing(db: Database) -> None:
    agent = await _agent(db)
    rows = [_row(n) for n in range(1, 6)]
    await _import(db, agent, rows)

    again = await _import(db, agent, rows)

    assert (again.added, again.updated, again.unchanged, again.clients_added) == (0, 0, 5, 0)
    assert await _count(db, Policy, agent) == 5
    assert await _count(db, Client, agent) == 5


async def test_changed_values_update_the_policy_and_empty_cells_keep_stored_values(
    db: Database,
) -> None:
    agent = await _agent(db)
    await _import(db, agent, [_row(1), _row(2)])

    counts = await _import(
        db, agent, [_row(1, sum_insured=Decimal(60000)), _row(2, premium=None, product=None)]
    )

    assert (counts.added, counts.updated, counts.unchanged) == (0, 1, 1)
    async with db.session() as session:
        first, second = (await session.scalars(select(Policy).order_by(Policy.id))).all()
    assert first.sum_insured == Decimal(60000)
    assert second.premium == Decimal(10000) and second.product == "鑫享年金"


async def test_holders_match_existing_clients_by_mobile_then_home_phone(db: Database) -> None:
    agent = await _agent(db)
    async with db.session() as session:
        by_mobile = await create_client(session, agent.id, name="张三丰", phone="13811112222")
        by_home = await create_client(
            session, agent.id, name="李四", phone="13900000000", phone2="0571-88886666"
        )

    counts = await _import(
        db,
        agent,
        [
            _row(1, holder="张三", mobile="13811112222"),
            _row(2, holder="李四", mobile=None, home_phone="0571-88886666"),
        ],
    )

    assert counts.clients_added == 0
    async with db.session() as session:
        owners = (await session.scalars(select(Policy.client_id).order_by(Policy.id))).all()
    assert owners == [by_mobile.id, by_home.id]


async def test_holders_match_by_name_only_when_no_phone_contradicts(db: Database) -> None:
    agent = await _agent(db)
    async with db.session() as session:
        no_phone = await create_client(session, agent.id, name="王五")
        other_person = await create_client(session, agent.id, name="赵六", phone="13700000000")

    counts = await _import(
        db, agent, [_row(1, holder="王五"), _row(2, holder="赵六", mobile="13711111111")]
    )

    assert counts.clients_added == 1
    async with db.session() as session:
        matched = await session.get(Client, no_phone.id)
        first, second = (await session.scalars(select(Policy).order_by(Policy.id))).all()
    assert first.client_id == no_phone.id
    assert second.client_id not in (None, other_person.id)
    assert matched is not None and matched.phone == "13800000001"  # filled from the table


async def test_two_policies_of_one_holder_in_one_file_make_one_client(db: Database) -> None:
    agent = await _agent(db)

    counts = await _import(
        db,
        agent,
        [
            _row(1, holder="孙七", mobile="13600000000"),
            _row(2, holder="孙七", mobile="13600000000"),
        ],
    )

    assert counts.clients_added == 1 and counts.added == 2
    assert await _count(db, Client, agent) == 1


async def test_import_keeps_agents_apart(db: Database) -> None:
    first, second = await _agent(db, 1), await _agent(db, 2)
    await _import(db, first, [_row(1)])

    counts = await _import(db, second, [_row(1)])

    assert (counts.added, counts.clients_added) == (1, 1)
    assert await _count(db, Policy, first) == 1 and await _count(db, Policy, second) == 1


async def _policy(
    db: Database, agent: Agent, number: str, maturity: date, **fields: object
) -> int:
    async with db.session() as session:
        policy = Policy(agent_id=agent.id, policy_number=number, maturity_date=maturity, **fields)
        session.add(policy)
        await session.flush()
        return policy.id


async def test_maturity_book_holds_the_window_and_matured_policies_still_open(
    db: Database,
) -> None:
    agent = await _agent(db)
    other = await _agent(db, 2)
    await _policy(db, agent, "in-window", date(2026, 12, 20))
    await _policy(db, agent, "beyond", date(2027, 2, 1))
    await _policy(db, agent, "matured-no-case", date(2026, 11, 20))
    await _policy(db, agent, "matured-paid", date(2026, 11, 21), status="paid_out")
    closed_id = await _policy(db, agent, "matured-closed", date(2026, 11, 22))
    await _policy(db, other, "someone-elses", date(2026, 12, 5))
    async with db.session() as session:
        session.add(
            MaturityCase(
                agent_id=agent.id,
                policy_id=closed_id,
                closed_at=datetime(2026, 11, 30, tzinfo=UTC),
            )
        )

    async with db.session() as session:
        book = await policies.maturity_book(session, agent.id, TODAY, date(2027, 1, 2))

    assert [policy.policy_number for policy, _, _ in book] == ["matured-no-case", "in-window"]


async def test_a_case_is_created_once_and_only_for_the_owner(db: Database) -> None:
    agent, stranger = await _agent(db, 1), await _agent(db, 2)
    policy_id = await _policy(db, agent, "P1", date(2026, 12, 20))

    async with db.session() as session:
        first = await policies.open_case(session, agent.id, policy_id)
    async with db.session() as session:
        second = await policies.open_case(session, agent.id, policy_id)
        refused = await policies.open_case(session, stranger.id, policy_id)
        assert first is not None and second is not None
        foreign = await policies.get_case(session, stranger.id, first.case.id)

    assert first.case.id == second.case.id and first.case.stage == "organise"
    assert refused is None and foreign is None
    assert await _count(db, MaturityCase, agent) == 1


async def test_finds_agents_by_username_in_any_case_and_returns_the_manager(db: Database) -> None:
    boss = await _agent(db, 1, username="Wang_Boss")
    agent = await _agent(db, 2, manager_id=boss.id)

    async with db.session() as session:
        found = await policies.agent_by_username(session, "wang_boss")
        manager = await policies.manager_of(session, agent)
        nobody = await policies.manager_of(session, boss)
        missing = await policies.agent_by_username(session, "nobody_here")

    assert found is not None and found.id == boss.id
    assert manager is not None and manager.id == boss.id
    assert nobody is None and missing is None
