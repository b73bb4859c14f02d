"""Queries behind personalised talk tracks: which clients a typed name means, which policy
a track talks about. Every function is scoped to one agent."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.clients import search_clients
from storage.models import Client, MaturityCase, Policy

# A policy whose money has been renewed into a new policy or paid out needs no more talk
# about its maturity, even when no maturity case was ever opened for it.
_SETTLED_STATUSES = ("renewed", "paid_out")


async def find_clients_for_script(
    session: AsyncSession, agent_id: int, text: str, *, limit: int
) -> Sequence[Client]:
    """Return the agent's clients a typed name means, by name, pinyin, phone, number or honorific.

    A client whose name or honorific equals the text exactly comes back alone, so that
    "张三" does not stop to ask about "张三丰".
    """
    text = text.strip()
    if not text:
        return []
    by_honorific = await session.scalars(
        select(Client)
        .where(Client.agent_id == agent_id, Client.honorific.contains(text, autoescape=True))
        .order_by(Client.name, Client.id)
        .limit(limit)
    )
    found: dict[int, Client] = {client.id: client for client in by_honorific}
    for client in await search_clients(session, agent_id, text, limit=limit):
        found.setdefault(client.id, client)

    exact = [c for c in found.values() if text in (c.name, (c.honorific or "").strip())]
    if len(exact) == 1:
        return exact
    ordered = sorted(found.values(), key=lambda c: (c not in exact, c.name, c.id))

    return ordered[:limit]


async def policy_for_script(
    session: AsyncSession, agent_id: int, client_id: int, today: date
) -> Policy | None:
    """Return the client's policy to talk about: the open maturity nearest today, else the latest.

    A policy is open while it is neither renewed nor paid out and its maturity case, if
    any, is not closed. Policies without a maturity date are never chosen, because a
    maturity track cannot speak about them.
    """
    closed_case = select(MaturityCase.policy_id).where(
        MaturityCase.agent_id == agent_id, MaturityCase.closed_at.is_not(None)
    )
    result = await session.execute(
        select(Policy, or_(Policy.status.in_(_SETTLED_STATUSES), Policy.id.in_(closed_case)))
        .where(
            Policy.agent_id == agent_id,
            Policy.client_id == client_id,
            Policy.maturity_date.is_not(None),
        )
        .order_by(Policy.id)
    )
    rows = [(policy, bool(settled)) for policy, settled in result.all()]
    if not rows:
        return None

    open_policies = [policy for policy, settled in rows if not settled]
    if open_policies:
        # Nearest in either direction: an overdue maturity still waits to be handled, but one
        # years overdue (stale imported data) should not hide the one due next month. On a
        # tie the one still ahead wins.
        return min(open_policies, key=lambda p: (abs(_days(p, today)), _days(p, today) < 0))

    return max((policy for policy, _ in rows), key=lambda p: (_maturity(p), p.id))


def _maturity(policy: Policy) -> date:
    # Only called on policies filtered to have a maturity date.
    assert policy.maturity_date is not None
    return policy.maturity_date


def _days(policy: Policy, today: date) -> int:
    return (_maturity(policy) - today).days
