"""Queries behind the due list and the morning push: due candidates, snoozes, push records.

The database filters coarsely (by agent, by date bounds, with the indexes in
:mod:`storage.models`); :mod:`bot.due` then applies the exact rules. Every candidate query
is scoped to one agent.

A push record (``pushes``, unique per agent and local date) decides whether an agent's
morning push went out. Its status is one of:

- ``sending``   — claimed; the send is under way (or the process died during it);
- ``sent``      — every message of the push was delivered;
- ``empty``     — nothing was due and the agent does not want empty pushes;
- ``uncertain`` — a send timed out: Telegram may or may not have delivered it;
- ``blocked``   — Telegram refused (the agent blocked the bot); the agent is now inactive;
- ``failed``    — Telegram rejected the message for another reason;
- ``partial``   — a long push broke off after its first messages arrived.

Only a claim whose send surely never reached Telegram is released (deleted), so that the
next run tries again; every other status stays, so a push is never sent twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.due import (
    DONE_POLICY_STATUSES,
    STALE_GRADES,
    ClientRow,
    DueList,
    DueRules,
    PolicyRow,
    build_due_list,
    local_zone,
    push_is_due,
    start_of_day,
)
from storage.models import Agent, Client, MaturityCase, Policy, Push, Snooze

logger = logging.getLogger(__name__)

SNOOZE_KINDS: Final = ("maturity", "followup", "referral", "stale")
PUSH_STATUSES: Final = ("sending", "sent", "empty", "uncertain", "blocked", "failed", "partial")
# Agents are loaded in chunks so that the IN lists stay well under database limits.
_CHUNK: Final = 500


# --- the due list -------------------------------------------------------------------------

# The statements are built once: building them (aliases, coercions) costs more than running
# them. Each takes a list of agents, so the morning job asks once for a whole batch.
_HOLDER = aliased(Client, name="holder")
_REFERRER = aliased(Client, name="referrer")
_STALE_CANDIDATE = or_(
    Client.grade_timing.in_(STALE_GRADES), Client.grade_willingness.in_(STALE_GRADES)
)

_POLICY_CANDIDATES = (
    select(
        Policy.agent_id,
        Policy.id,
        Policy.client_id,
        func.coalesce(_HOLDER.name, Policy.holder_name, Policy.insured_name, ""),
        Policy.policy_number,
        Policy.maturity_date,
        Policy.sum_insured,
        Policy.status,
    )
    .outerjoin(MaturityCase, MaturityCase.policy_id == Policy.id)
    .outerjoin(_HOLDER, _HOLDER.id == Policy.client_id)
    .where(
        Policy.agent_id.in_(bindparam("agent_ids", expanding=True)),
        Policy.maturity_date.is_not(None),
        Policy.maturity_date <= bindparam("horizon"),
        Policy.status.not_in(DONE_POLICY_STATUSES),
        MaturityCase.closed_at.is_(None),
    )
)

_CLIENT_CANDIDATES = (
    select(
        Client.agent_id,
        Client.id,
        Client.name,
        Client.source,
        Client.created_at,
        Client.last_contact_at,
        Client.next_followup,
        Client.grade_timing,
        Client.grade_willingness,
        _REFERRER.name,
    )
    .outerjoin(_REFERRER, _REFERRER.id == Client.referred_by_id)
    .where(
        Client.agent_id.in_(bindparam("agent_ids", expanding=True)),
        or_(
            # a follow-up date reached
            Client.next_followup <= bindparam("today"),
            # a referral never contacted, saved long enough ago
            (Client.source == "referral")
            & Client.last_contact_at.is_(None)
            & (Client.created_at < bindparam("referral_before")),
            # a B/C lead with nothing planned, silent long enough
            _STALE_CANDIDATE
            & Client.next_followup.is_(None)
            & or_(
                Client.last_contact_at < bindparam("silent_since"),
                Client.last_contact_at.is_(None) & (Client.created_at < bindparam("silent_since")),
            ),
        ),
    )
)

_SNOOZES = select(Snooze.agent_id, Snooze.kind, Snooze.item_id, Snooze.until).where(
    Snooze.agent_id.in_(bindparam("agent_ids", expanding=True)),
    Snooze.until > bindparam("today"),
)


@dataclass(frozen=True)
class _Plan:
    """One agent's date, rules and zone, and the coarse bounds the database filters by."""

    today: date
    rules: DueRules
    zone: ZoneInfo

    @property
    def referral_before(self) -> datetime:
        # A referral saved on day S is due from day S + N: saved before (today - N + 1).
        days = self.rules.referral_contact_days - 1
        return start_of_day(self.today - timedelta(days=days), self.zone)

    @property
    def silent_since(self) -> datetime:
        # Stale after more than N silent days: last heard of before (today - N).
        days = self.rules.shortest_stale_days()
        return start_of_day(self.today - timedelta(days=days), self.zone)


async def due_lists(
    session: AsyncSession, waiting: Sequence[tuple[Agent, date]]
) -> dict[int, DueList]:
    """Return everything due for each agent on their local date, keyed by agent id.

    The agents are fetched together; the database bounds are the loosest of the batch and
    :func:`bot.due.build_due_list` applies each agent's own rules, so a batch of agents
    with similar settings (see :func:`batch_key`) reads little more than it needs.
    """
    if not waiting:
        return {}
    plans = {
        agent.id: _Plan(today, DueRules.of(agent), local_zone(agent.timezone))
        for agent, today in waiting
    }
    ids = list(plans)
    bounds = {
        "agent_ids": ids,
        "horizon": max(plan.rules.maturity_horizon(plan.today) for plan in plans.values()),
        "today": max(plan.today for plan in plans.values()),
        "referral_before": max(plan.referral_before for plan in plans.values()),
        "silent_since": max(plan.silent_since for plan in plans.values()),
    }

    policies: dict[int, list[PolicyRow]] = {agent_id: [] for agent_id in ids}
    for policy in await session.execute(_POLICY_CANDIDATES, bounds):
        agent_id, policy_id, client_id, name, number, matures, amount, status = policy
        if matures is not None:  # always: the statement leaves undated policies out
            policies[agent_id].append(
                PolicyRow(policy_id, client_id, name, number, matures, amount, status)
            )
    clients: dict[int, list[ClientRow]] = {agent_id: [] for agent_id in ids}
    for client in await session.execute(_CLIENT_CANDIDATES, bounds):
        agent_id, client_id, name, source, created, contacted, followup, timing, will, by = client
        clients[agent_id].append(
            ClientRow(client_id, name, source, created, contacted, followup, timing, will, by)
        )
    earliest = {"agent_ids": ids, "today": min(plan.today for plan in plans.values())}
    snoozed: dict[int, set[tuple[str, int]]] = {agent_id: set() for agent_id in ids}
    for agent_id, kind, item_id, until in await session.execute(_SNOOZES, earliest):
        if until > plans[agent_id].today:
            snoozed[agent_id].add((kind, item_id))

    return {
        agent_id: build_due_list(
            plan.today,
            plan.zone,
            plan.rules,
            policies[agent_id],
            clients[agent_id],
            snoozed[agent_id],
        )
        for agent_id, plan in plans.items()
    }


async def due_list(session: AsyncSession, agent: Agent, today: date) -> DueList:
    """Return everything due for ``agent`` on their local date ``today``."""
    return (await due_lists(session, [(agent, today)]))[agent.id]


def batch_key(pair: tuple[Agent, date]) -> tuple[date, DueRules]:
    """Return what agents should share to be fetched in one batch cheaply."""
    agent, today = pair
    return today, DueRules.of(agent)


# --- snoozes ------------------------------------------------------------------------------


async def item_belongs_to(session: AsyncSession, agent_id: int, kind: str, item_id: int) -> bool:
    """Tell whether the due item (a policy for maturities, else a client) is the agent's."""
    if kind not in SNOOZE_KINDS:
        return False
    model = Policy if kind == "maturity" else Client
    found = await session.scalar(
        select(model.id).where(model.id == item_id, model.agent_id == agent_id)
    )
    return found is not None


async def snooze(
    session: AsyncSession, agent_id: int, kind: str, item_id: int, *, today: date, days: int
) -> date:
    """Hide a due item for ``days`` days from ``today``; return the date it shows again."""
    until = today + timedelta(days=days)
    # Ended snoozes hide nothing; clearing them here keeps the table at its working size.
    await session.execute(delete(Snooze).where(Snooze.agent_id == agent_id, Snooze.until <= today))
    existing = await session.scalar(
        select(Snooze).where(
            Snooze.agent_id == agent_id, Snooze.kind == kind, Snooze.item_id == item_id
        )
    )
    if existing is not None:
        existing.until = max(existing.until, until)
    else:
        session.add(Snooze(agent_id=agent_id, kind=kind, item_id=item_id, until=until))
    await session.flush()
    return until


# --- pushes -------------------------------------------------------------------------------


async def agents_awaiting_push(session: AsyncSession, now: datetime) -> list[tuple[Agent, date]]:
    """Return active, set-up agents whose push time has passed today (in their zone) and
    who have no push record for that local date, with the date."""
    waiting: dict[int, date] = {}
    rows = await session.execute(
        select(Agent.id, Agent.timezone, Agent.push_time).where(
            Agent.active.is_(True), Agent.onboarded.is_(True)
        )
    )
    for agent_id, zone_name, push_time in rows:
        reached, today = push_is_due(now, local_zone(zone_name), push_time)
        if reached:
            waiting[agent_id] = today
    if not waiting:
        return []

    done = await session.execute(
        select(Push.agent_id, Push.local_date).where(Push.local_date.in_(set(waiting.values())))
    )
    for agent_id, day in done:
        if waiting.get(agent_id) == day:
            del waiting[agent_id]

    agents: list[tuple[Agent, date]] = []
    ids = sorted(waiting)
    for start in range(0, len(ids), _CHUNK):
        chunk = await session.scalars(
            select(Agent).where(Agent.id.in_(ids[start : start + _CHUNK]))
        )
        agents += [(agent, waiting[agent.id]) for agent in chunk]
    agents.sort(key=lambda pair: pair[0].id)
    return agents


async def claim_push(
    session: AsyncSession, agent_id: int, day: date, *, status: str, items: int, now: datetime
) -> int | None:
    """Record the agent's push for ``day`` before it is sent; return its id, or None when
    another run or process already recorded one.

    The caller must commit right away: the committed row is what keeps every other run
    from sending the same push.
    """
    push = Push(agent_id=agent_id, local_date=day, status=status, items=items, created_at=now)
    session.add(push)
    try:
        await session.flush()
    except IntegrityError:
        # The unique (agent, date) constraint fired: someone else owns this push. Nothing
        # else was written in this session, so rolling it back loses nothing.
        await session.rollback()
        return None
    return push.id


async def finish_push(session: AsyncSession, push_id: int, status: str, *, now: datetime) -> None:
    """Record how the push ended."""
    sent_at = now if status == "sent" else None
    await session.execute(
        update(Push).where(Push.id == push_id).values(status=status, sent_at=sent_at)
    )


async def release_push(session: AsyncSession, push_id: int) -> None:
    """Remove a claim whose send never reached Telegram, so the next run sends it."""
    await session.execute(delete(Push).where(Push.id == push_id))


async def mark_inactive(session: AsyncSession, agent_id: int) -> None:
    """Stop pushing to an agent who blocked the bot (writing to it again reactivates them)."""
    await session.execute(update(Agent).where(Agent.id == agent_id).values(active=False))


async def push_for(session: AsyncSession, agent_id: int, day: date) -> Push | None:
    """Return the agent's push record for ``day``, if there is one."""
    return await session.scalar(
        select(Push).where(Push.agent_id == agent_id, Push.local_date == day)
    )
