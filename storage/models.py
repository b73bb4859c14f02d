"""The database schema: agents, their clients, policies, contacts, cases and pushes.

Every row that holds a client's data carries ``agent_id``: queries are always scoped
to the agent who asks. Choices (sources, grades, stages …) are stored as short
strings whose allowed values are listed in :mod:`storage.choices`, so adding a value
needs no migration. Times are stored in UTC; calendar dates (maturity, follow-up,
a push's local date) are plain dates.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Annotated, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    Time,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database (SQLite returns naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} cannot be stored; attach a time zone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """Return the current time in UTC, timezone-aware."""
    return datetime.now(UTC)


intpk = Annotated[int, mapped_column(Integer, primary_key=True, autoincrement=True)]
created = Annotated[datetime, mapped_column(UTCDateTime(), default=utcnow)]
updated = Annotated[datetime, mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)]
money = Annotated[Decimal | None, mapped_column(Numeric(14, 2))]
grade = Annotated[str | None, mapped_column(String(1))]
short = Annotated[str | None, mapped_column(String(32))]

# Named constraints keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(AsyncAttrs, DeclarativeBase):
    """Declarative base with the project's constraint naming convention."""

    metadata = MetaData(naming_convention=NAMING)


class Agent(Base):
    """A client manager using the bot (or an admin / team manager, by ``role``)."""

    __tablename__ = "agents"

    id: Mapped[intpk]
    telegram_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    username: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8), default="zh")
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    role: Mapped[str] = mapped_column(String(16), default="agent")
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    onboarded: Mapped[bool] = mapped_column(Boolean, default=False)

    # The morning push and the due-list rules, per agent.
    push_time: Mapped[time] = mapped_column(Time, default=time(8, 30))
    push_when_empty: Mapped[bool] = mapped_column(Boolean, default=False)
    maturity_soon_days: Mapped[int] = mapped_column(Integer, default=7)
    maturity_window_days: Mapped[int] = mapped_column(Integer, default=30)
    stale_b_days: Mapped[int] = mapped_column(Integer, default=14)
    stale_c_days: Mapped[int] = mapped_column(Integer, default=30)
    referral_contact_days: Mapped[int] = mapped_column(Integer, default=2)
    # Maturity amount bands: under ``band_low``, up to ``band_high``, above it.
    band_low: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal(20000))
    band_high: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal(50000))

    created_at: Mapped[created]
    updated_at: Mapped[updated]

    __table_args__ = (Index("ix_agents_active_push_time", "active", "push_time"),)


class Invite(Base):
    """A single-use invitation link; only the token's hash is stored."""

    __tablename__ = "invites"

    id: Mapped[intpk]
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    team_manager_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL")
    )
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    used_by_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    created_at: Mapped[created]


class Client(Base):
    """A prospect or client in an agent's book, with source, grades and referral details."""

    __tablename__ = "clients"

    id: Mapped[intpk]
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    name_pinyin: Mapped[str] = mapped_column(String(255), default="")
    name_initials: Mapped[str] = mapped_column(String(64), default="")
    honorific: Mapped[str | None] = mapped_column(String(32))
    phone: Mapped[str | None] = mapped_column(String(32))
    phone2: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(255))
    region: Mapped[short]
    trait: Mapped[short]

    source: Mapped[str] = mapped_column(String(16), default="other")
    source_detail: Mapped[str | None] = mapped_column(String(255))
    warm_category: Mapped[int | None] = mapped_column(Integer)

    # The three A–D grading axes of the method, side by side.
    grade_timing: Mapped[grade]
    grade_willingness: Mapped[grade]
    grade_depth: Mapped[grade]

    referred_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("clients.id", ondelete="SET NULL")
    )
    relation: Mapped[str | None] = mapped_column(String(64))
    referral_scope: Mapped[str | None] = mapped_column(String(1))
    referral_permission: Mapped[short]
    referral_approach: Mapped[short]
    referral_channel: Mapped[short]

    last_contact_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    next_followup: Mapped[date | None] = mapped_column(Date)
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[created]
    updated_at: Mapped[updated]

    referred_by: Mapped[Client | None] = relationship(remote_side="Client.id")
    interactions: Mapped[list[Interaction]] = relationship(
        back_populates="client", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (
        Index("ix_clients_agent_name", "agent_id", "name"),
        Index("ix_clients_agent_phone", "agent_id", "phone"),
        Index("ix_clients_agent_pinyin", "agent_id", "name_pinyin"),
        Index("ix_clients_agent_initials", "agent_id", "name_initials"),
        Index("ix_clients_agent_followup", "agent_id", "next_followup"),
        Index("ix_clients_agent_contact", "agent_id", "last_contact_at"),
        Index("ix_clients_referred_by", "referred_by_id"),
    )


class GradeChange(Base):
    """One change of a client's grade on one axis, kept for the history."""

    __tablename__ = "grade_changes"

    id: Mapped[intpk]
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    axis: Mapped[str] = mapped_column(String(16))
    old: Mapped[grade]
    new: Mapped[grade]
    changed_at: Mapped[created]

    __table_args__ = (Index("ix_grade_changes_client", "client_id", "changed_at"),)


class Interaction(Base):
    """A logged contact with a client: when, through which channel, what happened."""

    __tablename__ = "interactions"

    id: Mapped[intpk]
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    channel: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)

    client: Mapped[Client] = relationship(back_populates="interactions")

    __table_args__ = (
        Index("ix_interactions_client_at", "client_id", "at"),
        Index("ix_interactions_agent_at", "agent_id", "at"),
    )


class Policy(Base):
    """An insurance policy in an agent's book, usually from the bank's maturity table."""

    __tablename__ = "policies"

    id: Mapped[intpk]
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id", ondelete="SET NULL"))
    bank: Mapped[str | None] = mapped_column(String(64))
    policy_number: Mapped[str] = mapped_column(String(64))
    product: Mapped[str | None] = mapped_column(String(128))
    premium: Mapped[money]
    sum_insured: Mapped[money]
    term: Mapped[str | None] = mapped_column(String(32))
    effective_date: Mapped[date | None] = mapped_column(Date)
    maturity_date: Mapped[date | None] = mapped_column(Date)
    holder_name: Mapped[str | None] = mapped_column(String(64))
    insured_name: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[created]
    updated_at: Mapped[updated]

    __table_args__ = (
        UniqueConstraint("agent_id", "policy_number"),
        Index("ix_policies_agent_maturity", "agent_id", "maturity_date"),
        Index("ix_policies_client", "client_id"),
    )


class MaturityCase(Base):
    """The work on one maturing policy: organise → prepare → appoint → visit → report."""

    __tablename__ = "maturity_cases"

    id: Mapped[intpk]
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    policy_id: Mapped[int] = mapped_column(
        ForeignKey("policies.id", ondelete="CASCADE"), unique=True
    )
    stage: Mapped[str] = mapped_column(String(16), default="organise")
    checklist: Mapped[list[str]] = mapped_column(JSON, default=list)
    appointment_result: Mapped[short]
    appointment_date: Mapped[date | None] = mapped_column(Date)
    retry_date: Mapped[date | None] = mapped_column(Date)
    outcome: Mapped[grade]
    renewal_result: Mapped[short]
    new_policy_number: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    contact_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    escalation_acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[created]
    updated_at: Mapped[updated]

    __table_args__ = (Index("ix_maturity_cases_agent_closed", "agent_id", "closed_at"),)


class Snooze(Base):
    """A due-list item put off until a date (kind: maturity, followup, referral, stale)."""

    __tablename__ = "snoozes"

    id: Mapped[intpk]
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    item_id: Mapped[int] = mapped_column(Integer)
    until: Mapped[date] = mapped_column(Date)

    __table_args__ = (UniqueConstraint("agent_id", "kind", "item_id"),)


class Push(Base):
    """The record that decides whether an agent's morning push for a local date went out."""

    __tablename__ = "pushes"

    id: Mapped[intpk]
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    local_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="sending")
    items: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[created]
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("agent_id", "local_date"),
        # The push job looks up which agents already have a record for today's dates.
        Index("ix_pushes_local_date", "local_date", "agent_id"),
    )


class Conversation(Base):
    """A guided conversation's saved state: its step, its answers so far, its way back."""

    __tablename__ = "conversations"

    id: Mapped[intpk]
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    flow: Mapped[str] = mapped_column(String(32))
    step: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    history: Mapped[list[Any]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_update_id: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        UniqueConstraint("agent_id", "flow"),
        Index("ix_conversations_active_updated", "active", "updated_at"),
    )
