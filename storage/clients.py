"""Queries on an agent's client book: adding, finding, listing, grading, logging, deleting.

Every function is scoped to one agent: a client id that belongs to another agent behaves
exactly like one that does not exist.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Final

from sqlalchemy import ColumnElement, String, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.parsing import pinyin_keys
from storage.choices import GRADE_AXES, GRADES, SOURCES
from storage.models import Agent, Client, GradeChange, Interaction, Policy, Snooze

# Due-list snoozes whose item is a client (the others point at policies).
CLIENT_SNOOZE_KINDS: Final = ("followup", "referral", "stale")
# Grades that make a lead "stale" when it goes without contact for too long.
STALE_GRADES: Final = ("B", "C")

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
        # Landlines are stored as 010-12345678; the dash is dropped so that typed digits
        # (01012345678) still match.
        conditions += [
            func.replace(Client.phone, "-", "", type_=String).contains(digits, autoescape=True),
            func.replace(Client.phone2, "-", "", type_=String).contains(digits, autoescape=True),
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


# --- lists ----------------------------------------------------------------------------------

FILTER_KINDS: Final = ("all", "grade", "source", "stale", "due")


@dataclass(frozen=True)
class ClientFilter:
    """Which clients a list shows: all, one grade on one axis, one source, stale, or due."""

    kind: str = "all"
    axis: str | None = None
    value: str | None = None

    def is_valid(self) -> bool:
        """Tell whether the filter names a known kind with values from the vocabularies."""
        if self.kind == "grade":
            return self.axis in GRADE_AXES and self.value in GRADES
        if self.kind == "source":
            return self.axis is None and self.value in SOURCES
        return self.kind in FILTER_KINDS and self.axis is None and self.value is None


@dataclass(frozen=True)
class Horizon:
    """The moments that decide, for one agent now, which follow-ups are due and who is stale."""

    today: date
    stale_b_before: datetime
    stale_c_before: datetime

    @classmethod
    def for_agent(cls, agent: Agent, now: datetime, today: date) -> Horizon:
        """Build the horizon from the agent's own stale limits."""
        return cls(
            today=today,
            stale_b_before=now - timedelta(days=agent.stale_b_days),
            stale_c_before=now - timedelta(days=agent.stale_c_days),
        )


@dataclass
class ClientPage:
    """One page of a client list and how many clients the whole list has."""

    clients: Sequence[Client]
    total: int


def _stale(horizon: Horizon) -> ColumnElement[bool]:
    """Match B/C leads whose last contact (or, never contacted, whose entry) is too old."""
    # A lead graded B on either axis must be contacted more often than a C lead, so a
    # client graded B on one axis and C on the other is stale after the shorter limit.
    since = func.coalesce(Client.last_contact_at, Client.created_at)
    return or_(
        or_(Client.grade_timing == "B", Client.grade_willingness == "B")
        & (since < horizon.stale_b_before),
        or_(Client.grade_timing == "C", Client.grade_willingness == "C")
        & (since < horizon.stale_c_before),
    )


def _filter_condition(flt: ClientFilter, horizon: Horizon) -> ColumnElement[bool] | None:
    if flt.kind == "grade" and flt.axis in GRADE_AXES:
        column: ColumnElement[Any] = getattr(Client, f"grade_{flt.axis}")
        return column == flt.value
    if flt.kind == "source":
        return Client.source == flt.value
    if flt.kind == "stale":
        return _stale(horizon)
    if flt.kind == "due":
        return Client.next_followup <= horizon.today
    return None


async def list_clients(
    session: AsyncSession,
    agent_id: int,
    flt: ClientFilter,
    horizon: Horizon,
    *,
    offset: int = 0,
    limit: int = 10,
) -> ClientPage:
    """Return one page of the agent's clients that match ``flt``, and the list's size."""
    conditions = [Client.agent_id == agent_id]
    condition = _filter_condition(flt, horizon)
    if condition is not None:
        conditions.append(condition)

    order: list[Any]
    if flt.kind == "due":
        order = [Client.next_followup, Client.name_pinyin, Client.id]
    elif flt.kind == "stale":
        order = [func.coalesce(Client.last_contact_at, Client.created_at), Client.id]
    else:
        order = [Client.name_pinyin, Client.name, Client.id]
    total = await session.scalar(select(func.count()).select_from(Client).where(*conditions))
    result = await session.scalars(
        select(Client).where(*conditions).order_by(*order).offset(max(offset, 0)).limit(limit)
    )
    return ClientPage(result.all(), int(total or 0))


# --- the card -------------------------------------------------------------------------------

CARD_INTERACTIONS: Final = 5
CARD_REFERRALS: Final = 10
CARD_POLICIES: Final = 10


@dataclass
class ClientDetails:
    """Everything a client's card shows, read in one go."""

    client: Client
    referrer: Client | None = None
    referrals: Sequence[Client] = ()
    referral_count: int = 0
    interactions: Sequence[Interaction] = ()
    interaction_count: int = 0
    policies: Sequence[Policy] = ()
    policy_count: int = 0
    graded_at: dict[str, datetime] = field(default_factory=dict)


async def client_details(
    session: AsyncSession, agent_id: int, client_id: int
) -> ClientDetails | None:
    """Return the client's card contents, or None if the client is not the agent's."""
    client = await get_client(session, agent_id, client_id)
    if client is None:
        return None
    details = ClientDetails(client)
    if client.referred_by_id is not None:
        details.referrer = await get_client(session, agent_id, client.referred_by_id)

    referred = (Client.agent_id == agent_id, Client.referred_by_id == client.id)
    details.referrals = (
        await session.scalars(
            select(Client).where(*referred).order_by(Client.id).limit(CARD_REFERRALS)
        )
    ).all()
    details.referral_count = await _count(session, Client, *referred)

    contacts = (Interaction.agent_id == agent_id, Interaction.client_id == client.id)
    details.interactions = (
        await session.scalars(
            select(Interaction)
            .where(*contacts)
            .order_by(Interaction.at.desc(), Interaction.id.desc())
            .limit(CARD_INTERACTIONS)
        )
    ).all()
    details.interaction_count = await _count(session, Interaction, *contacts)

    owned = (Policy.agent_id == agent_id, Policy.client_id == client.id)
    details.policies = (
        await session.scalars(
            select(Policy)
            .where(*owned)
            .order_by(Policy.maturity_date.is_(None), Policy.maturity_date, Policy.id)
            .limit(CARD_POLICIES)
        )
    ).all()
    details.policy_count = await _count(session, Policy, *owned)

    rows = await session.execute(
        select(GradeChange.axis, func.max(GradeChange.changed_at))
        .where(GradeChange.client_id == client.id)
        .group_by(GradeChange.axis)
    )
    for axis, changed_at in rows:
        if changed_at is not None:
            details.graded_at[axis] = changed_at
    return details


async def _count(session: AsyncSession, model: type[Any], *conditions: Any) -> int:
    total = await session.scalar(select(func.count()).select_from(model).where(*conditions))
    return int(total or 0)


async def grade_history(
    session: AsyncSession, agent_id: int, client_id: int
) -> Sequence[GradeChange]:
    """Return every grade change of the agent's client, oldest first."""
    result = await session.scalars(
        select(GradeChange)
        .join(Client, Client.id == GradeChange.client_id)
        .where(Client.agent_id == agent_id, GradeChange.client_id == client_id)
        .order_by(GradeChange.changed_at, GradeChange.id)
    )
    return result.all()


# --- deleting -------------------------------------------------------------------------------


async def count_interactions(session: AsyncSession, agent_id: int, client_id: int) -> int:
    """Return how many contacts with the client the agent has logged."""
    return await _count(
        session, Interaction, Interaction.agent_id == agent_id, Interaction.client_id == client_id
    )


async def delete_client(session: AsyncSession, agent_id: int, client_id: int) -> bool:
    """Delete the agent's client with their contacts and grade history; False if not found."""
    client = await get_client(session, agent_id, client_id)
    if client is None:
        return False
    # People this client referred stay in the book, without a referrer; their policies
    # stay too (they belong to the maturity book), just no longer linked to a person.
    await session.execute(
        update(Client)
        .where(Client.agent_id == agent_id, Client.referred_by_id == client_id)
        .values(referred_by_id=None)
    )
    await session.execute(
        update(Policy)
        .where(Policy.agent_id == agent_id, Policy.client_id == client_id)
        .values(client_id=None)
    )
    for model in (Interaction, GradeChange):
        await session.execute(delete(model).where(model.client_id == client_id))
    await session.execute(
        delete(Snooze).where(
            Snooze.agent_id == agent_id,
            Snooze.kind.in_(CLIENT_SNOOZE_KINDS),
            Snooze.item_id == client_id,
        )
    )
    await session.delete(client)
    await session.flush()
    return True
