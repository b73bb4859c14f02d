"""Benchmark: finding, listing and opening clients in a book of 5,000.

Run from the project root:

    .venv/bin/python tests/benchmarks/bench_clients.py [clients]

It builds a fresh SQLite database (or uses ``DATABASE_URL`` when that names PostgreSQL),
seeds one agent with 5,000 clients (contacts, grades, policies and referrals included) and
a few other agents with books of their own, then times what an agent does all day, each
in its own session as a handler does it: a find (name part, pinyin, initials, phone
digits, policy number), a list page (first and deep pages, each filter) and a card (read
and rendered). It prints the median of each; the goal is under 50 ms each.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from bot.handlers.clients_flows import card_message
from bot.handlers.clients_views import PAGE_SIZE, list_text
from bot.parsing import pinyin_keys
from storage import clients as store
from storage.clients import ClientFilter, Horizon
from storage.db import Database
from storage.migrate import upgrade_async
from storage.models import Agent, Client, GradeChange, Interaction, Policy

GOAL_MS = 50.0
ROUNDS = 40
NOW = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)
TODAY = date(2026, 12, 3)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国"
GRADES = (None, "A", "B", "C", "D")
SOURCES = ("warm", "referral", "bank", "maturity", "cold", "other")


def _client_rows(agent_id: int, count: int, rng: random.Random) -> list[dict[str, Any]]:
    rows = []
    for _ in range(count):
        name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
        full, initials = pinyin_keys(name)
        contacted = NOW - timedelta(days=rng.randrange(120)) if rng.random() < 0.7 else None
        rows.append(
            {
                "agent_id": agent_id,
                "name": name,
                "name_pinyin": full,
                "name_initials": initials,
                "phone": f"13{rng.randrange(10**9):09d}" if rng.random() < 0.8 else None,
                "source": rng.choice(SOURCES),
                "warm_category": rng.randrange(1, 14),
                "grade_timing": rng.choice(GRADES),
                "grade_willingness": rng.choice(GRADES),
                "grade_depth": rng.choice(GRADES),
                "last_contact_at": contacted,
                "next_followup": TODAY + timedelta(days=rng.randrange(-20, 40))
                if rng.random() < 0.4
                else None,
                "notes": "家里有两个孩子，关心教育金" if rng.random() < 0.3 else None,
                "created_at": NOW - timedelta(days=rng.randrange(400)),
                "updated_at": NOW,
            }
        )
    return rows


async def seed(db: Database, clients: int) -> tuple[Agent, list[int]]:
    """Create the agent under test with ``clients`` clients, and three other agents."""
    rng = random.Random(11)
    async with db.session() as session:
        agents = [Agent(telegram_id=1000 + n, name=f"agent {n}", onboarded=True) for n in range(4)]
        session.add_all(agents)
        await session.flush()
        for index, agent in enumerate(agents):
            count = clients if index == 0 else clients // 10
            await session.execute(insert(Client), _client_rows(agent.id, count, rng))
        mine = agents[0]
        ids = list(await session.scalars(select(Client.id).where(Client.agent_id == mine.id)))

        # Referrals, contacts, grade history and policies for the agent under test.
        for client_id in rng.sample(ids, len(ids) // 5):
            await session.execute(
                Client.__table__.update()
                .where(Client.id == client_id)
                .values(referred_by_id=rng.choice(ids), source="referral")
            )
        contacts = [
            {
                "agent_id": mine.id,
                "client_id": rng.choice(ids),
                "at": NOW - timedelta(hours=rng.randrange(24 * 200)),
                "channel": rng.choice(("phone", "sms", "wechat", "visit", "event")),
                "note": "电话沟通，约下周见面",
            }
            for _ in range(len(ids) * 4)
        ]
        await session.execute(insert(Interaction), contacts)
        changes = [
            {
                "client_id": rng.choice(ids),
                "axis": rng.choice(("timing", "willingness", "depth")),
                "old": None,
                "new": rng.choice(("A", "B", "C", "D")),
                "changed_at": NOW - timedelta(days=rng.randrange(200)),
            }
            for _ in range(len(ids) * 2)
        ]
        await session.execute(insert(GradeChange), changes)
        policies = [
            {
                "agent_id": mine.id,
                "client_id": client_id,
                "policy_number": f"88{n:08d}",
                "product": "鑫享年金",
                "premium": Decimal(rng.randrange(5, 200) * 1000),
                "maturity_date": TODAY + timedelta(days=rng.randrange(-30, 365)),
                "status": "active",
                "created_at": NOW,
                "updated_at": NOW,
            }
            for n, client_id in enumerate(rng.sample(ids, len(ids) // 2))
        ]
        await session.execute(insert(Policy), policies)
        await session.refresh(mine)
    return mine, ids


async def median_ms(
    db: Database, operations: list[Callable[[Any], Awaitable[object]]]
) -> tuple[float, float]:
    """Run each operation ``ROUNDS`` times in a fresh session; return median and worst ms."""
    timings = []
    for round_no in range(ROUNDS):
        operation = operations[round_no % len(operations)]
        start = time.perf_counter()
        async with db.session() as session:
            await operation(session)
        timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings), max(timings)


async def main(clients: int) -> int:
    """Seed, time, print; exit status 1 when a median misses the goal."""
    configured = os.environ.get("DATABASE_URL", "")
    with tempfile.TemporaryDirectory() as folder:
        if configured.startswith("postgres"):
            url = configured
        else:
            url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        await upgrade_async(url)
        db = Database(url)
        try:
            started = time.perf_counter()
            agent, ids = await seed(db, clients)
            print(f"seeded {clients} clients in {time.perf_counter() - started:.1f} s")
            return await _measure(db, agent, ids)
        finally:
            await db.close()


async def _measure(db: Database, agent: Agent, ids: list[int]) -> int:
    rng = random.Random(5)
    horizon = Horizon.for_agent(agent, NOW, TODAY)
    async with db.session() as session:
        some = await session.get(Client, rng.choice(ids))
        assert some is not None
    phone_part = some.phone or "13800001388"

    finds = [
        lambda s, text=text: store.search_clients(s, agent.id, text, limit=11)
        for text in ("张", "zhang", "zwf", phone_part[-4:], "8800001", some.name)
    ]

    def page(flt: ClientFilter, number: int) -> Callable[[Any], Awaitable[str]]:
        async def render(session: Any) -> str:
            result = await store.list_clients(
                session, agent.id, flt, horizon, offset=number * PAGE_SIZE
            )
            return list_text(result, flt, number, "zh", agent.timezone)

        return render

    pages = [
        page(ClientFilter(), 0),
        page(ClientFilter(), len(ids) // PAGE_SIZE - 1),
        page(ClientFilter("grade", "timing", "B"), 3),
        page(ClientFilter("source", value="bank"), 0),
        page(ClientFilter("stale"), 0),
        page(ClientFilter("due"), 1),
    ]
    cards = [lambda s, cid=cid: card_message(s, agent, cid, TODAY) for cid in rng.sample(ids, 20)]

    failed = False
    print(f"{'operation':<10} {'median ms':>10} {'worst ms':>10}  goal < {GOAL_MS:.0f} ms")
    for label, operations in (("find", finds), ("list page", pages), ("card", cards)):
        median, worst = await median_ms(db, operations)
        verdict = "ok" if median < GOAL_MS else "TOO SLOW"
        failed |= median >= GOAL_MS
        print(f"{label:<10} {median:>10.1f} {worst:>10.1f}  {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    sys.exit(asyncio.run(main(size)))
