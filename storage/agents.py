"""Queries on agents and their invitations."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Agent,
    Client,
    Conversation,
    GradeChange,
    Interaction,
    Invite,
    MaturityCase,
    Policy,
    Push,
    Snooze,
)

ROLE_AGENT = "agent"
ROLE_MANAGER = "manager"
ROLE_ADMIN = "admin"


async def get_by_telegram_id(session: AsyncSession, telegram_id: int) -> Agent | None:
    """Return the agent with this Telegram user id, if any."""
    return await session.scalar(select(Agent).where(Agent.telegram_id == telegram_id))


async def create_agent(
    session: AsyncSession,
    telegram_id: int,
    *,
    language: str,
    timezone: str,
    role: str = ROLE_AGENT,
    manager_id: int | None = None,
    username: str | None = None,
) -> Agent:
    """Create an agent record for a Telegram user who was let in."""
    agent = Agent(
        telegram_id=telegram_id,
        language=language,
        timezone=timezone,
        role=role,
        manager_id=manager_id,
        username=username,
    )
    session.add(agent)
    await session.flush()
    return agent


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_invite(session: AsyncSession, creator: Agent, *, now: datetime, days: int) -> str:
    """Create a single-use invitation and return its token (only its hash is stored)."""
    token = secrets.token_urlsafe(18)
    team = creator.id if creator.role == ROLE_MANAGER else None
    session.add(
        Invite(
            token_hash=_hash(token),
            created_by_id=creator.id,
            team_manager_id=team,
            expires_at=now + timedelta(days=days),
        )
    )
    await session.flush()
    return token


async def redeem_invite(session: AsyncSession, token: str, *, now: datetime) -> Invite | None:
    """Return the unused, unexpired invitation for ``token`` and mark it used; else None."""
    if not token or len(token) > 64:
        return None
    invite = await session.scalar(
        select(Invite).where(Invite.token_hash == _hash(token)).with_for_update()
    )
    if invite is None or invite.used_at is not None or invite.expires_at <= now:
        return None
    invite.used_at = now
    return invite


async def delete_agent_data(session: AsyncSession, agent_id: int) -> None:
    """Remove everything the agent stored, and the agent record itself."""
    # Explicit deletes rather than relying on ON DELETE CASCADE, which SQLite only
    # honours with foreign keys switched on for the connection.
    for model in (Snooze, Push, Conversation, Interaction, MaturityCase, Policy):
        await session.execute(delete(model).where(model.agent_id == agent_id))
    # Grade changes carry no agent id of their own; they go with the agent's clients.
    owned_clients = select(Client.id).where(Client.agent_id == agent_id)
    await session.execute(delete(GradeChange).where(GradeChange.client_id.in_(owned_clients)))
    await session.execute(
        update(Client).where(Client.agent_id == agent_id).values(referred_by_id=None)
    )
    await session.execute(delete(Client).where(Client.agent_id == agent_id))
    await session.execute(delete(Invite).where(Invite.created_by_id == agent_id))
    await session.execute(
        update(Invite).where(Invite.used_by_id == agent_id).values(used_by_id=None)
    )
    await session.execute(
        update(Invite).where(Invite.team_manager_id == agent_id).values(team_manager_id=None)
    )
    await session.execute(
        update(Agent).where(Agent.manager_id == agent_id).values(manager_id=None)
    )
    await session.execute(delete(Agent).where(Agent.id == agent_id))


async def team_members(session: AsyncSession, manager_id: int) -> Sequence[Agent]:
    """Return the agents whose manager is ``manager_id``."""
    result = await session.scalars(
        select(Agent).where(Agent.manager_id == manager_id).order_by(Agent.name)
    )
    return result.all()
