"""Queries that look at an agent's whole book: the /stats figures, the export, referral trees.

Every function takes a session and an agent id and reads only that agent's rows. Period
boundaries ("this week", "this month") are passed in as UTC instants, computed by
:func:`period_starts` from the agent's own calendar.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, case, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased

from storage.choices import CASE_OUTCOMES, GRADE_AXES, RENEWAL_RESULTS, SOURCES
from storage.models import Client, Interaction, MaturityCase, Policy

TOP_REFERRERS = 5
TREE_DEPTH = 2


@dataclass(frozen=True)
class Periods:
    """The UTC instants where the agent's current week (from Monday) and month begin."""

    week_start: datetime
    month_start: datetime


def local_midnight(day: date, zone: str) -> datetime:
    """Return the UTC instant at which ``day`` begins in the time zone ``zone``."""
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def period_starts(today: date, zone: str) -> Periods:
    """Return where the week (weeks start on Monday) and the month of ``today`` begin."""
    monday = today - timedelta(days=today.weekday())
    return Periods(
        week_start=local_midnight(monday, zone),
        month_start=local_midnight(today.replace(day=1), zone),
    )


@dataclass(frozen=True)
class Referrer:
    """A client who referred others: how many, and how many of those turned out well."""

    client_id: int
    name: str
    referred: int
    # Referred clients graded A on any axis, or who hold a policy in the book.
    reached: int


@dataclass(frozen=True)
class BookStats:
    """The figures of one agent's book shown by /stats."""

    total: int
    by_source: dict[str, int]
    by_warm_category: dict[int | None, int]
    by_grade: dict[str, dict[str | None, int]]
    new_this_week: int
    new_this_month: int
    contacts_this_week: int
    contacts_this_month: int
    top_referrers: list[Referrer]
    renewal_results: dict[str, int]
    outcomes: dict[str, int]

    @property
    def referral_share(self) -> float | None:
        """Return the share of clients who came by referral (None for an empty book)."""
        return self.by_source["referral"] / self.total if self.total else None


async def book_stats(
    session: AsyncSession, agent_id: int, periods: Periods, *, top: int = TOP_REFERRERS
) -> BookStats:
    """Return every /stats figure of the agent's book."""
    mine = Client.agent_id == agent_id

    by_source = dict.fromkeys(SOURCES, 0)
    for source, count in (await _grouped(session, Client.source, mine)).items():
        # A code this version does not know still counts, as "other", so the sum holds.
        by_source[source if source in by_source else "other"] += count

    by_warm_category = await _grouped(session, Client.warm_category, mine, Client.source == "warm")
    by_grade = {
        axis: await _grouped(session, getattr(Client, f"grade_{axis}"), mine)
        for axis in GRADE_AXES
    }

    # Maturity results count the cases worked on this month, by their latest update.
    recent = (MaturityCase.agent_id == agent_id, MaturityCase.updated_at >= periods.month_start)
    renewal_results = dict.fromkeys(RENEWAL_RESULTS, 0)
    renewal_results.update(
        await _grouped(
            session,
            MaturityCase.renewal_result,
            *recent,
            MaturityCase.renewal_result.in_(RENEWAL_RESULTS),
        )
    )
    outcomes = dict.fromkeys(CASE_OUTCOMES, 0)
    outcomes.update(
        await _grouped(
            session, MaturityCase.outcome, *recent, MaturityCase.outcome.in_(CASE_OUTCOMES)
        )
    )

    return BookStats(
        total=sum(by_source.values()),
        by_source=by_source,
        by_warm_category=by_warm_category,
        by_grade=by_grade,
        new_this_week=await _count_clients_since(session, agent_id, periods.week_start),
        new_this_month=await _count_clients_since(session, agent_id, periods.month_start),
        contacts_this_week=await _count_contacts_since(session, agent_id, periods.week_start),
        contacts_this_month=await _count_contacts_since(session, agent_id, periods.month_start),
        top_referrers=await top_referrers(session, agent_id, limit=top),
        renewal_results=renewal_results,
        outcomes=outcomes,
    )


async def _grouped(
    session: AsyncSession, column: InstrumentedAttribute[Any], *where: ColumnElement[bool]
) -> dict[Any, int]:
    """Count the rows matching ``where`` by each value of ``column``."""
    rows = await session.execute(select(column, func.count()).where(*where).group_by(column))
    return {value: int(count) for value, count in rows}


async def _count_clients_since(session: AsyncSession, agent_id: int, since: datetime) -> int:
    """Count the clients added to the book since ``since``."""
    count = await session.scalar(
        select(func.count()).where(Client.agent_id == agent_id, Client.created_at >= since)
    )
    return int(count or 0)


async def _count_contacts_since(session: AsyncSession, agent_id: int, since: datetime) -> int:
    """Count the contacts logged since ``since``."""
    count = await session.scalar(
        select(func.count()).where(Interaction.agent_id == agent_id, Interaction.at >= since)
    )
    return int(count or 0)


async def top_referrers(
    session: AsyncSession, agent_id: int, *, limit: int = TOP_REFERRERS
) -> list[Referrer]:
    """Return the clients who referred the most others, with how many of those did well."""
    referred = aliased(Client)
    referrer = aliased(Client)
    bought = exists().where(Policy.client_id == referred.id, Policy.agent_id == agent_id)
    did_well = or_(
        referred.grade_timing == "A",
        referred.grade_willingness == "A",
        referred.grade_depth == "A",
        bought,
    )
    how_many = func.count(referred.id)
    reached = func.sum(case((did_well, 1), else_=0))
    rows = await session.execute(
        select(referrer.id, referrer.name, how_many, reached)
        .select_from(referred)
        .join(referrer, referred.referred_by_id == referrer.id)
        .where(referred.agent_id == agent_id, referrer.agent_id == agent_id)
        .group_by(referrer.id, referrer.name)
        .order_by(how_many.desc(), reached.desc(), referrer.name, referrer.id)
        .limit(limit)
    )
    return [
        Referrer(client_id=row_id, name=name, referred=int(count), reached=int(good or 0))
        for row_id, name, count, good in rows
    ]


# --- referral trees ----------------------------------------------------------------------


@dataclass(frozen=True)
class TreeNode:
    """A client in a referral tree, with the clients they referred below them."""

    client_id: int
    name: str
    children: tuple[TreeNode, ...] = ()


@dataclass(frozen=True)
class ReferralTree:
    """Who referred a client (nearest first) and whom they referred, a few levels each way."""

    root: TreeNode
    referrers: tuple[TreeNode, ...]


async def referral_tree(
    session: AsyncSession, agent_id: int, client_id: int, *, depth: int = TREE_DEPTH
) -> ReferralTree | None:
    """Return the referral tree around the agent's client, or None if it is not theirs."""
    row = (
        await session.execute(
            select(Client.id, Client.name, Client.referred_by_id).where(
                Client.id == client_id, Client.agent_id == agent_id
            )
        )
    ).one_or_none()
    if row is None:
        return None
    seen = {client_id}

    # Upwards: follow referred_by, stopping at a loop (A referred B, later B "referred" A).
    referrers: list[TreeNode] = []
    parent_id = row.referred_by_id
    while parent_id is not None and parent_id not in seen and len(referrers) < depth:
        parent = (
            await session.execute(
                select(Client.id, Client.name, Client.referred_by_id).where(
                    Client.id == parent_id, Client.agent_id == agent_id
                )
            )
        ).one_or_none()
        if parent is None:
            break
        seen.add(parent.id)
        referrers.append(TreeNode(parent.id, parent.name))
        parent_id = parent.referred_by_id

    children = await _descendants(session, agent_id, [client_id], depth, seen)
    root = TreeNode(row.id, row.name, tuple(children.get(client_id, ())))
    return ReferralTree(root=root, referrers=tuple(referrers))


async def _descendants(
    session: AsyncSession, agent_id: int, ids: Sequence[int], depth: int, seen: set[int]
) -> dict[int, list[TreeNode]]:
    """Return whom each of ``ids`` referred, ``depth`` levels down, in the order added."""
    if depth <= 0 or not ids:
        return {}
    rows = (
        await session.execute(
            select(Client.id, Client.name, Client.referred_by_id)
            .where(Client.agent_id == agent_id, Client.referred_by_id.in_(ids))
            .order_by(Client.id)
        )
    ).all()
    fresh = [r for r in rows if r.id not in seen]
    seen.update(r.id for r in fresh)
    below = await _descendants(session, agent_id, [r.id for r in fresh], depth - 1, seen)
    out: dict[int, list[TreeNode]] = {}
    for r in fresh:
        out.setdefault(r.referred_by_id, []).append(
            TreeNode(r.id, r.name, tuple(below.get(r.id, ())))
        )
    return out


# --- the export --------------------------------------------------------------------------


@dataclass
class ExportBook:
    """Everything an agent stored, read for the spreadsheet export."""

    clients: list[Client] = field(default_factory=list)
    policies: list[tuple[Policy, MaturityCase | None]] = field(default_factory=list)
    interactions: list[Interaction] = field(default_factory=list)

    def client_names(self) -> dict[int, str]:
        """Return each client's name by id."""
        return {client.id: client.name for client in self.clients}

    def buyers(self) -> set[int]:
        """Return the ids of clients who hold a policy in the book."""
        return {policy.client_id for policy, _ in self.policies if policy.client_id is not None}


async def export_book(session: AsyncSession, agent_id: int) -> ExportBook:
    """Read the agent's clients, policies with their cases, and logged contacts."""
    clients = await session.scalars(
        select(Client).where(Client.agent_id == agent_id).order_by(Client.id)
    )
    policies = await session.execute(
        select(Policy, MaturityCase)
        .outerjoin(MaturityCase, MaturityCase.policy_id == Policy.id)
        .where(Policy.agent_id == agent_id)
        .order_by(Policy.maturity_date, Policy.policy_number)
    )
    interactions = await session.scalars(
        select(Interaction)
        .where(Interaction.agent_id == agent_id)
        .order_by(Interaction.at, Interaction.id)
    )
    return ExportBook(
        clients=list(clients.all()),
        policies=[(policy, maturity_case) for policy, maturity_case in policies],
        interactions=list(interactions.all()),
    )
