"""Benchmark: preparing a whole morning's pushes, and one agent's /due, on a large SQLite book.

Seeds an SQLite file with 10,000 agents, 1,000,000 policies and 300,000 clients (bulk core
inserts), then times, through the same functions the push job and /due use:

- finding the agents whose push is waiting;
- building and rendering every waiting agent's list, a batch of agents per query as the
  job does (goal: all of them under 60 s, so that
  only Telegram's ~30 messages/s bounds the morning);
- recording every push claim the way the job does, one committed insert each;
- one agent's /due: building and rendering one list (goal: under 50 ms).

Run it with ``python -m tests.benchmarks.bench_due`` (``--help`` for sizes and the file).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert

from bot.handlers.due import batches, messages
from storage import due as store
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Agent, Client, MaturityCase, Policy

# 09:00 in Shanghai: every agent's default 08:30 push is waiting.
NOW = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)
TODAY = date(2026, 12, 3)
BATCH = 20_000
GOAL_ALL_SECONDS = 60.0
GOAL_ONE_MS = 50.0


def _batches(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _agents(count: int) -> Iterator[dict[str, Any]]:
    for i in range(1, count + 1):
        yield {
            "id": i,
            "telegram_id": 10_000_000 + i,
            "name": f"经理{i}",
            "language": "zh" if i % 4 else "en",
            "timezone": "Asia/Shanghai",
            "role": "agent",
            "active": True,
            "onboarded": True,
            "created_at": NOW,
            "updated_at": NOW,
        }


def _clients(agents: int, per_agent: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    client_id = 0
    for agent_id in range(1, agents + 1):
        for _ in range(per_agent):
            client_id += 1
            contacted = rng.random() < 0.8
            followup = rng.random() < 0.3
            yield {
                "id": client_id,
                "agent_id": agent_id,
                "name": f"客户{client_id}",
                "name_pinyin": f"kehu{client_id}",
                "name_initials": "kh",
                "source": rng.choice(("warm", "referral", "bank", "maturity", "cold")),
                "grade_timing": rng.choice(("A", "B", "C", "D", None)),
                "grade_willingness": rng.choice(("A", "B", "C", "D", None)),
                "last_contact_at": NOW - timedelta(days=rng.randint(0, 90)) if contacted else None,
                "next_followup": TODAY + timedelta(days=rng.randint(-10, 30))
                if followup
                else None,
                "created_at": NOW - timedelta(days=rng.randint(0, 400)),
                "updated_at": NOW,
            }


def _policies(
    agents: int, per_agent: int, clients_per_agent: int, rng: random.Random
) -> Iterator[dict[str, Any]]:
    """Policies maturing over four years around today; most past ones are finished."""
    policy_id = 0
    for agent_id in range(1, agents + 1):
        first_client = (agent_id - 1) * clients_per_agent + 1
        for _ in range(per_agent):
            policy_id += 1
            matures = TODAY + timedelta(days=rng.randint(-730, 730))
            status = "active"
            if matures < TODAY and rng.random() < 0.85:
                status = rng.choice(("paid_out", "renewed"))
            linked = rng.random() < 0.5
            yield {
                "id": policy_id,
                "agent_id": agent_id,
                "client_id": first_client + rng.randrange(clients_per_agent) if linked else None,
                "policy_number": f"P{policy_id:09d}",
                "holder_name": f"投保人{policy_id}",
                "sum_insured": Decimal(rng.randrange(10_000, 200_000, 1_000)),
                "maturity_date": matures,
                "status": status,
                "created_at": NOW,
                "updated_at": NOW,
            }


def _cases(policies: list[dict[str, Any]], rng: random.Random) -> Iterator[dict[str, Any]]:
    """Cases for most active policies past or near maturity; two thirds of past ones closed."""
    for policy in policies:
        if policy["status"] != "active" or policy["maturity_date"] > TODAY + timedelta(days=30):
            continue
        if rng.random() < 0.7:
            past = policy["maturity_date"] < TODAY
            yield {
                "agent_id": policy["agent_id"],
                "policy_id": policy["id"],
                "stage": "visit",
                "checklist": [],
                "closed_at": NOW if past and rng.random() < 0.67 else None,
                "created_at": NOW,
                "updated_at": NOW,
            }


def seed(path: Path, agents: int, policies: int, clients: int) -> None:
    """Create the schema through the migrations and bulk-insert the book."""
    upgrade(f"sqlite+aiosqlite:///{path}")
    rng = random.Random(7)
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        for batch in _batches(_agents(agents)):
            conn.execute(insert(Agent.__table__), batch)
        for batch in _batches(_clients(agents, clients // agents, rng)):
            conn.execute(insert(Client.__table__), batch)
        for batch in _batches(_policies(agents, policies // agents, clients // agents, rng)):
            conn.execute(insert(Policy.__table__), batch)
            cases = list(_cases(batch, rng))
            if cases:
                conn.execute(insert(MaturityCase.__table__), cases)
    engine.dispose()


async def measure(path: Path, samples: int) -> dict[str, float]:
    """Time the morning's preparation and single /due lists; return the figures."""
    db = Database(f"sqlite+aiosqlite:///{path}")
    figures: dict[str, float] = {}
    try:
        started = time.perf_counter()
        async with db.session() as session:
            waiting = await store.agents_awaiting_push(session, NOW)
        figures["find"] = time.perf_counter() - started

        started = time.perf_counter()
        items = 0
        for batch in batches(waiting):
            async with db.session() as session:
                lists = await store.due_lists(session, batch)
            for agent, _ in batch:
                messages(lists[agent.id], agent.language, greeting=agent.name)
                items += len(lists[agent.id].items)
        figures["build"] = time.perf_counter() - started
        figures["agents"] = len(waiting)
        figures["items"] = items

        started = time.perf_counter()
        for agent, day in waiting:
            async with db.session() as session:
                await store.claim_push(session, agent.id, day, status="sending", items=0, now=NOW)
        figures["claim"] = time.perf_counter() - started

        timings = []
        for agent, day in random.Random(11).sample(waiting, min(samples, len(waiting))):
            started = time.perf_counter()
            async with db.session() as session:
                due = await store.due_list(session, agent, day)
            messages(due, agent.language)
            timings.append((time.perf_counter() - started) * 1000)
        figures["one_median_ms"] = statistics.median(timings)
        figures["one_p95_ms"] = statistics.quantiles(timings, n=20)[-1]
        figures["one_max_ms"] = max(timings)
    finally:
        await db.close()
    return figures


def main() -> None:
    """Seed (unless the file exists), measure and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, help="SQLite file to seed and reuse (default: temp)")
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--policies", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=300_000)
    parser.add_argument("--samples", type=int, default=200, help="agents timed for /due")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        path = args.db or Path(folder) / "bench.db"
        if not path.exists():
            started = time.perf_counter()
            seed(path, args.agents, args.policies, args.clients)
            print(
                f"seeded {args.agents:,} agents, {args.policies:,} policies and "
                f"{args.clients:,} clients in {time.perf_counter() - started:.1f} s"
            )
        figures = asyncio.run(measure(path, args.samples))
        if args.db is not None:
            # Reruns on a kept file start from a clean morning.
            engine = create_engine(f"sqlite:///{path}")
            with engine.begin() as conn:
                conn.exec_driver_sql("DELETE FROM pushes")
            engine.dispose()

    total = figures["find"] + figures["build"]
    print(f"agents waiting for their push:  {figures['agents']:,.0f}")
    print(f"due items across all lists:     {figures['items']:,.0f}")
    print(f"finding waiting agents:         {figures['find']:.2f} s")
    print(f"building and rendering lists:   {figures['build']:.2f} s")
    verdict = "ok" if total < GOAL_ALL_SECONDS else "OVER GOAL"
    print(
        f"preparing the whole morning:    {total:.2f} s "
        f"(goal < {GOAL_ALL_SECONDS:.0f} s: {verdict})"
    )
    print(f"recording every push claim:     {figures['claim']:.2f} s")
    verdict = "ok" if figures["one_median_ms"] < GOAL_ONE_MS else "OVER GOAL"
    print(
        f"one agent's /due:               median {figures['one_median_ms']:.1f} ms, "
        f"p95 {figures['one_p95_ms']:.1f} ms, max {figures['one_max_ms']:.1f} ms "
        f"(goal < {GOAL_ONE_MS:.0f} ms: {verdict})"
    )


if __name__ == "__main__":
    main()
