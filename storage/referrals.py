"""Queries behind the referral ask (/refer) and the warm-market search (/warm).

Both conversations add prospects in one batch when the agent finishes; every client of a
batch carries the batch's creation time, so the batch can be listed again afterwards (to
grade the new names) without remembering their ids anywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.clients import find_duplicates
from storage.models import Client

# A batch is stamped with a time truncated to the second; its window is that second.
BATCH_WINDOW = timedelta(seconds=1)


def batch_time(moment: datetime) -> datetime:
    """Return the stamp for a batch created at ``moment`` (whole seconds, so ids stay short)."""
    return moment.replace(microsecond=0)


def _in_batch(agent_id: int, source: str, stamp: datetime) -> list[ColumnElement[bool]]:
    return [
        Client.agent_id == agent_id,
        Client.source == source,
        Client.created_at >= stamp,
        Client.created_at < stamp + BATCH_WINDOW,
    ]


async def count_batch(session: AsyncSession, agent_id: int, source: str, stamp: datetime) -> int:
    """Return how many of the agent's clients from ``source`` were added in the batch ``stamp``."""
    total = await session.scalar(
        select(func.count()).select_from(Client).where(*_in_batch(agent_id, source, stamp))
    )
    return int(total or 0)


async def list_batch(
    session: AsyncSession,
    agent_id: int,
    source: str,
    stamp: datetime,
    *,
    offset: int = 0,
    limit: int = 10,
) -> Sequence[Client]:
    """Return one page of the agent's clients from ``source`` added in the batch ``stamp``."""
    result = await session.scalars(
        select(Client)
        .where(*_in_batch(agent_id, source, stamp))
        .order_by(Client.warm_category, Client.id)
        .offset(offset)
        .limit(limit)
    )
    return result.all()


async def book_duplicates(
    session: AsyncSession,
    agent_id: int,
    name: str,
    phone: str | None,
    *,
    accepted: Sequence[int] = (),
) -> Sequence[Client]:
    """Return clients that look like this person, leaving out those already ruled different."""
    found = await find_duplicates(session, agent_id, name, phone)
    return [client for client in found if client.id not in accepted]


async def get_clients(
    session: AsyncSession, agent_id: int, client_ids: Sequence[int]
) -> Sequence[Client]:
    """Return those of ``client_ids`` that belong to the agent, in id order."""
    if not client_ids:
        return []
    result = await session.scalars(
        select(Client)
        .where(Client.agent_id == agent_id, Client.id.in_(list(client_ids)))
        .order_by(Client.id)
    )
    return result.all()
