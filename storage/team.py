"""Queries for teams: managers and their members' figures, roles, and escalated cases.

A team is the agents whose ``manager_id`` names their manager. What a manager may read is
counted figures per member, never a client's row: no query here returns a client's name,
phone or address, except the policy holder's name on an escalated case, which the member
chose to send to their manager.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.agents import ROLE_ADMIN, ROLE_AGENT, ROLE_MANAGER
from storage.models import Agent, Client, MaturityCase, Policy
from storage.stats import local_midnight

# Policies in these states need no more work, whatever their date.
FINISHED_POLICY_STATUSES = ("renewed", "paid_out")


@dataclass(frozen=True)
class MemberFigures:
    """One team member's workload, counted on their own calendar."""

    agent_id: int
    name: str
    active: bool
    followups_today: int
    maturing_soon: int
    # The member's own "maturing soon" window, in days, that ``maturing_soon`` counts.
    soon_days: int
    overdue_followups: int
    open_escalations: int
    renewals_this_month: int

    @property
    def due_today(self) -> int:
        """Return today's items: follow-ups dated today and policies maturing soon."""
        return self.followups_today + self.maturing_soon


def display_name(agent: Agent) -> str:
    """Return how to show an agent to colleagues: their name, else @username, else '#id'."""
    if agent.name:
        return agent.name
    return f"@{agent.username}" if agent.username else f"#{agent.id}"


async def members(session: AsyncSession, manager_id: int) -> Sequence[Agent]:
    """Return the members of the manager's team, by name."""
    result = await session.scalars(
        select(Agent).where(Agent.manager_id == manager_id).order_by(Agent.name, Agent.id)
    )
    return result.all()


async def member_figures(session: AsyncSession, member: Agent, *, now: datetime) -> MemberFigures:
    """Count one member's follow-ups, maturities, escalations and renewals as of ``now``."""
    today = now.astimezone(ZoneInfo(member.timezone)).date()
    mine = Client.agent_id == member.id

    followups_today = await _count(session, mine, Client.next_followup == today)
    overdue = await _count(session, mine, Client.next_followup < today)
    soon = await _count_maturing(session, member.id, today, member.maturity_soon_days)
    escalations = await _count(
        session,
        MaturityCase.agent_id == member.id,
        MaturityCase.escalated_at.is_not(None),
        MaturityCase.escalation_acknowledged_at.is_(None),
    )
    renewals = await _count(
        session,
        MaturityCase.agent_id == member.id,
        MaturityCase.renewal_result == "renewed",
        MaturityCase.updated_at >= local_midnight(today.replace(day=1), member.timezone),
    )
    return MemberFigures(
        agent_id=member.id,
        name=display_name(member),
        active=member.active,
        followups_today=followups_today,
        maturing_soon=soon,
        soon_days=member.maturity_soon_days,
        overdue_followups=overdue,
        open_escalations=escalations,
        renewals_this_month=renewals,
    )


async def team_figures(
    session: AsyncSession, manager_id: int, *, now: datetime
) -> list[MemberFigures]:
    """Return the figures of every member of the manager's team."""
    return [
        await member_figures(session, member, now=now)
        for member in await members(session, manager_id)
    ]


async def _count(session: AsyncSession, *where: ColumnElement[bool]) -> int:
    """Count the rows matching every condition in ``where``."""
    count = await session.scalar(select(func.count()).where(*where))
    return int(count or 0)


async def _count_maturing(session: AsyncSession, agent_id: int, today: date, days: int) -> int:
    """Count the agent's policies maturing from today to ``days`` ahead with work left."""
    closed_case = select(MaturityCase.policy_id).where(
        MaturityCase.agent_id == agent_id, MaturityCase.closed_at.is_not(None)
    )
    count = await session.scalar(
        select(func.count())
        .select_from(Policy)
        .where(
            Policy.agent_id == agent_id,
            Policy.maturity_date >= today,
            Policy.maturity_date <= today + timedelta(days=days),
            Policy.status.not_in(FINISHED_POLICY_STATUSES),
            Policy.id.not_in(closed_case),
        )
    )
    return int(count or 0)


# --- roles -------------------------------------------------------------------------------


async def find_agent(session: AsyncSession, reference: str) -> Agent | None:
    """Return the agent named by ``@username`` (any case) or Telegram user id, if any."""
    reference = reference.strip()
    if reference.lstrip("-").isdigit():
        return await session.scalar(select(Agent).where(Agent.telegram_id == int(reference)))
    username = reference.removeprefix("@").lower()
    if not username:
        return None
    return await session.scalar(
        select(Agent).where(func.lower(Agent.username) == username).order_by(Agent.id).limit(1)
    )


async def set_manager_role(session: AsyncSession, agent: Agent, manager: bool) -> None:
    """Make ``agent`` a team manager, or a plain agent again (admins keep their role)."""
    if agent.role == ROLE_ADMIN:
        raise ValueError("an admin's role is not changed through the team commands")
    agent.role = ROLE_MANAGER if manager else ROLE_AGENT
    await session.flush()


@dataclass(frozen=True)
class ManagerSummary:
    """A manager and the size of their team."""

    agent_id: int
    name: str
    members: int


async def managers(session: AsyncSession) -> list[ManagerSummary]:
    """Return every manager with the number of agents in their team."""
    member = Agent.__table__.alias("member")
    rows = await session.execute(
        select(Agent, func.count(member.c.id))
        .outerjoin(member, member.c.manager_id == Agent.id)
        .where(Agent.role == ROLE_MANAGER)
        .group_by(Agent.id)
        .order_by(Agent.name, Agent.id)
    )
    return [ManagerSummary(agent.id, display_name(agent), int(count)) for agent, count in rows]


async def promotable(session: AsyncSession, *, limit: int) -> Sequence[Agent]:
    """Return active plain agents that could be made managers, by name."""
    result = await session.scalars(
        select(Agent)
        .where(Agent.role == ROLE_AGENT, Agent.active.is_(True), Agent.onboarded.is_(True))
        .order_by(Agent.name, Agent.id)
        .limit(limit)
    )
    return result.all()


# --- escalations -------------------------------------------------------------------------


@dataclass(frozen=True)
class Escalation:
    """An escalated maturity case as its manager sees it."""

    case: MaturityCase
    member: Agent
    policy: Policy


async def escalation_for(
    session: AsyncSession, case_id: int, manager_id: int
) -> Escalation | None:
    """Return the escalated case if its agent is in the manager's team, else None."""
    row = (
        await session.execute(
            select(MaturityCase, Agent, Policy)
            .join(Agent, Agent.id == MaturityCase.agent_id)
            .join(Policy, Policy.id == MaturityCase.policy_id)
            .where(
                MaturityCase.id == case_id,
                MaturityCase.escalated_at.is_not(None),
                Agent.manager_id == manager_id,
                # The policy must be the same agent's: a case never points across books.
                Policy.agent_id == MaturityCase.agent_id,
            )
        )
    ).one_or_none()
    if row is None:
        return None
    maturity_case, member, policy = row
    return Escalation(case=maturity_case, member=member, policy=policy)


async def acknowledge(session: AsyncSession, escalation: Escalation, *, now: datetime) -> bool:
    """Mark the escalation seen; return False when it had been acknowledged already."""
    if escalation.case.escalation_acknowledged_at is not None:
        return False
    escalation.case.escalation_acknowledged_at = now
    await session.flush()
    return True
