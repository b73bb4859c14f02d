"""Queries on an agent's clients and their contacts; every function is scoped to one agent."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.parsing import pinyin_keys
from storage.models import Client, GradeChange, Interaction, Policy

_DIGITS = re.compile(r"\D+")


def _name_keys(name: str) -> dict[str, str]:
    full, initials = pinyin_keys(name)
    return {"name_pinyin": full, "name_initials": initials}


async def create_client(
    session: AsyncSession, agent_id: int, *, name: str, **fields: Any
) -> Client:
    """Add a client to the agent's book, with the pinyin keys that make it findable."""
    client = Client(agent_id=agent_id, name=name, **_name_keys(name), **fields)
    session.add(client)
    await session.flush()
    return client


def rename(client: Client, name: str) -> None:
    """Change a client's name and its search keys together."""
    client.name = name
    for key, value in _name_keys(name).items():
        setattr(client, key, value)


async def get_client(session: AsyncSession, agent_id: int, client_id: int) -> Client | None:
    """Return the client ``client_id`` if it belongs to the agent, else None."""
    return await session.scalar(
        select(Client).where(Client.id == client_id, Client.agent_id == agent_id)
    )


async def find_duplicates(
    session: AsyncSession, agent_id: int, name: str, phone: str | None
) -> Sequence[Client]:
    """Return clients that look like the same person: same phone, or same name and no phone."""
    same_name_no_phone = Client.name == name
    if phone:
        same_name_no_phone = same_name_no_phone & Client.phone.is_(None)
    conditions = [same_name_no_phone]
    if phone:
        conditions += [Client.phone == phone, Client.phone2 == phone]
    result = await session.scalars(
        select(Client)
        .where(Client.agent_id == agent_id, or_(*conditions))
        .order_by(Client.id)
        .limit(5)
    )
    return result.all()


async def search_clients(
    session: AsyncSession, agent_id: int, text: str, *, limit: int = 20
) -> Sequence[Client]:
    """Find clients by part of the name, its pinyin or initials, phone digits or policy number."""
    text = text.strip()
    if not text:
        return []
    lowered = re.sub(r"\s+", "", text.lower())
    conditions = [Client.name.contains(text, autoescape=True)]
    if lowered.isascii() and lowered.isalpha():
        conditions += [
            Client.name_pinyin.startswith(lowered, autoescape=True),
            Client.name_initials.startswith(lowered, autoescape=True),
        ]
        if len(lowered) >= 3:
            conditions.append(Client.name_pinyin.contains(lowered, autoescape=True))
    digits = _DIGITS.sub("", text)
    if len(digits) >= 4:
        conditions += [
            Client.phone.contains(digits, autoescape=True),
            Client.phone2.contains(digits, autoescape=True),
        ]
    if len(text) >= 4:
        policy_owner = select(Policy.client_id).where(
            Policy.agent_id == agent_id, Policy.policy_number.contains(text, autoescape=True)
        )
        conditions.append(Client.id.in_(policy_owner))

    exact_first = (Client.name == text).desc()
    result = await session.scalars(
        select(Client)
        .where(Client.agent_id == agent_id, or_(*conditions))
        .order_by(exact_first, Client.name, Client.id)
        .limit(limit)
    )
    return result.all()


async def log_interaction(
    session: AsyncSession,
    client: Client,
    *,
    channel: str,
    note: str | None,
    at: datetime,
    next_followup: date | None = None,
) -> Interaction:
    """Log a contact with the client; it becomes their last contact time."""
    interaction = Interaction(
        agent_id=client.agent_id, client_id=client.id, channel=channel, note=note, at=at
    )
    session.add(interaction)
    if client.last_contact_at is None or client.last_contact_at < at:
        client.last_contact_at = at
    if next_followup is not None:
        client.next_followup = next_followup
    await session.flush()
    return interaction


async def set_grade(
    session: AsyncSession, client: Client, axis: str, grade: str | None, *, at: datetime
) -> None:
    """Set the client's grade on one axis, keeping the change in the history."""
    column = f"grade_{axis}"
    old = getattr(client, column)
    if old == grade:
        return
    setattr(client, column, grade)
    session.add(GradeChange(client_id=client.id, axis=axis, old=old, new=grade, changed_at=at))
    await session.flush()


async def count_clients(session: AsyncSession, agent_id: int) -> int:
    """Return how many clients the agent has."""
    total = await session.scalar(
        select(func.count()).select_from(Client).where(Client.agent_id == agent_id)
    )
    return int(total or 0)
