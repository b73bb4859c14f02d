"""Queries on saved guided conversations."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Conversation


async def get_conversation(session: AsyncSession, agent_id: int, flow: str) -> Conversation | None:
    """Return the agent's saved conversation of ``flow``, active or paused."""
    return await session.scalar(
        select(Conversation).where(Conversation.agent_id == agent_id, Conversation.flow == flow)
    )


async def active_conversations(session: AsyncSession, agent_id: int) -> Sequence[Conversation]:
    """Return the agent's active conversations (normally at most one)."""
    result = await session.scalars(
        select(Conversation).where(Conversation.agent_id == agent_id, Conversation.active)
    )
    return result.all()


async def active_conversation(session: AsyncSession, agent_id: int) -> Conversation | None:
    """Return the agent's active conversation, the most recent if somehow several."""
    return await session.scalar(
        select(Conversation)
        .where(Conversation.agent_id == agent_id, Conversation.active)
        .order_by(Conversation.updated_at.desc())
        .limit(1)
    )


async def idle_conversations(session: AsyncSession, before: datetime) -> Sequence[Conversation]:
    """Return active conversations last touched before ``before``, across agents."""
    result = await session.scalars(
        select(Conversation).where(Conversation.active, Conversation.updated_at < before)
    )
    return result.all()
