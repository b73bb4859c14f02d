"""Queries on an agent's policies and maturity cases; every function is scoped to one agent.

Owns writing an imported maturity table (policies matched by number, holders matched to
the client book), reading the policies that mature within a window, and opening and
loading maturity cases. Also finds the agent named as a manager for escalations.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import and_, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.maturity import guess_region
from bot.parsing import pinyin_keys
from storage.models import Agent, Client, MaturityCase, Policy

if TYPE_CHECKING:
    from bot.importer import PolicyRow

logger = logging.getLogger(__name__)

# Rows per IN (...) list: far under the bound-parameter limits of SQLite and PostgreSQL.
_CHUNK = 500
# Statuses a policy reaches when its case is settled; it then leaves the maturity book.
SETTLED_STATUSES = ("renewed", "paid_out")
# Policy columns an imported row fills, by the row's field name.
_POLICY_FIELDS = (
    ("bank", "bank"),
    ("product", "product"),
    ("premium", "premium"),
    ("sum_insured", "sum_insured"),
    ("effective_date", "effective_date"),
    ("maturity_date", "maturity_date"),
    ("holder", "holder_name"),
    ("insured", "insured_name"),
)

_T = TypeVar("_T")


@dataclass
class ImportCounts:
    """What writing an imported table did, per policy row."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    clients_added: int = 0


@dataclass(frozen=True)
class CaseView:
    """A case with its policy and, when the holder is still in the book, the client."""

    case: MaturityCase
    policy: Policy
    client: Client | None


def _chunks(values: Iterable[_T]) -> Iterator[list[_T]]:
    batch: list[_T] = []
    for value in values:
        batch.append(value)
        if len(batch) == _CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def _numbers(row: PolicyRow) -> list[str]:
    """Return the row's phone numbers, mobile first, without repeats."""
    numbers: list[str] = []
    for number in (row.mobile, row.home_phone, row.office_phone):
        if number and number not in numbers:
            numbers.append(number)
    return numbers


class _Book:
    """The agent's clients that an import can match, indexed the way holders are matched.

    Matching holds the rule of :func:`storage.clients.find_duplicates` (same phone, or the
    same name where the stored client has no phone) against an index kept in memory,
    because a query per row would cost one round trip per policy on a 10,000-row table.
    """

    def __init__(self) -> None:
        self.by_phone: dict[str, Client] = {}
        self.by_name: dict[str, list[Client]] = {}

    def add(self, client: Client) -> None:
        """Index a client by its phones and its name."""
        for phone in (client.phone, client.phone2):
            if phone:
                self.by_phone.setdefault(phone, client)
        self.by_name.setdefault(client.name, []).append(client)

    def match(self, row: PolicyRow) -> Client | None:
        """Find the holder: by mobile, then home phone, then by name."""
        for phone in (row.mobile, row.home_phone):
            if phone and phone in self.by_phone:
                return self.by_phone[phone]
        has_phone = bool(row.mobile or row.home_phone)
        for client in self.by_name.get(row.holder, ()):
            # Two people may share a name; one whose stored phone differs is someone else.
            if not has_phone or client.phone is None:
                return client
        return None


async def _load_book(session: AsyncSession, agent_id: int, rows: Sequence[PolicyRow]) -> _Book:
    """Load the agent's clients that share a name or a phone with any holder of ``rows``."""
    names = {row.holder for row in rows}
    phones = {phone for row in rows for phone in (row.mobile, row.home_phone) if phone}
    found: dict[int, Client] = {}
    conditions: list[Any] = [Client.name.in_(chunk) for chunk in _chunks(sorted(names))]
    for chunk in _chunks(sorted(phones)):
        conditions += [Client.phone.in_(chunk), Client.phone2.in_(chunk)]
    for condition in conditions:
        result = await session.scalars(
            select(Client).where(Client.agent_id == agent_id, condition)
        )
        found.update((client.id, client) for client in result)

    book = _Book()
    for client_id in sorted(found):
        book.add(found[client_id])
    return book


def _fill_client(client: Client, row: PolicyRow) -> bool:
    """Fill the client's empty contact fields from the row; tell whether anything changed."""
    changed = False
    numbers = [number for number in _numbers(row) if number not in (client.phone, client.phone2)]
    if client.phone is None and numbers:
        client.phone = numbers.pop(0)
        changed = True
    if client.phone2 is None and numbers:
        client.phone2 = numbers.pop(0)
        changed = True
    if client.address is None and row.address:
        client.address = row.address
        changed = True
    if client.region is None and client.address:
        region = guess_region(client.address)
        if region is not None:
            client.region = region
            changed = True
    return changed


def _new_client(agent_id: int, row: PolicyRow) -> Client:
    """Build the (not yet stored) client record of a holder who is not in the book."""
    numbers = _numbers(row)
    return Client(
        agent_id=agent_id,
        name=row.holder,
        source="maturity",
        source_detail=row.bank,
        phone=numbers[0] if numbers else None,
        phone2=numbers[1] if len(numbers) > 1 else None,
        address=row.address,
        region=guess_region(row.address),
    )


async def _insert_clients(session: AsyncSession, clients: Sequence[Client]) -> None:
    """Insert new clients in batches and give each its id.

    ``Session.add`` would insert them one statement per row, because SQLite cannot return
    generated ids in parameter order. Unordered RETURNING is batched, and each row is
    matched back by name and phone, which :func:`import_policies` keeps unique among the
    clients one import creates.
    """
    keys: dict[str, tuple[str, str]] = {}
    values = []
    for client in clients:
        if client.name not in keys:
            keys[client.name] = pinyin_keys(client.name)
        full, initials = keys[client.name]
        values.append(
            {
                "agent_id": client.agent_id,
                "name": client.name,
                "name_pinyin": full,
                "name_initials": initials,
                "source": client.source,
                "source_detail": client.source_detail,
                "phone": client.phone,
                "phone2": client.phone2,
                "address": client.address,
                "region": client.region,
            }
        )
    ids: dict[tuple[str, str | None], int] = {}
    for batch in _chunks(values):
        result = await session.execute(
            insert(Client).returning(Client.id, Client.name, Client.phone), batch
        )
        ids.update(((name, phone), client_id) for client_id, name, phone in result)
    for client in clients:
        client.id = ids[(client.name, client.phone)]


def _apply_row(policy: Policy, row: PolicyRow) -> bool:
    """Copy the row's filled-in values onto the policy; tell whether any differed.

    A value the row leaves empty keeps what is stored, so a table with fewer columns
    (such as the archive layout of the export) changes nothing it does not carry.
    """
    changed = False
    for row_field, column in _POLICY_FIELDS:
        value = getattr(row, row_field)
        if value is not None and getattr(policy, column) != value:
            setattr(policy, column, value)
            changed = True
    return changed


async def import_policies(
    session: AsyncSession, agent_id: int, rows: Sequence[PolicyRow]
) -> ImportCounts:
    """Write imported rows: add new policies, update changed ones, link holders to clients.

    Policies are matched by the agent and the policy number; a holder becomes a client
    (source maturity) unless the book already has them by phone or by name. Everything
    happens in the caller's transaction, so a failure leaves the book as it was.
    """
    counts = ImportCounts()
    existing: dict[str, Policy] = {}
    for numbers in _chunks(row.policy_number for row in rows):
        stored = await session.scalars(
            select(Policy).where(Policy.agent_id == agent_id, Policy.policy_number.in_(numbers))
        )
        existing.update((policy.policy_number, policy) for policy in stored)
    book = await _load_book(session, agent_id, rows)
    linked: dict[int, Client] = {}
    for chunk in _chunks({p.client_id for p in existing.values() if p.client_id is not None}):
        result = await session.scalars(
            select(Client).where(Client.agent_id == agent_id, Client.id.in_(chunk))
        )
        linked.update((client.id, client) for client in result)

    # First pass: find or build every holder, so that new clients are inserted together.
    holders: list[tuple[PolicyRow, Policy | None, Client, bool]] = []
    created: dict[tuple[str, str | None], Client] = {}
    for row in rows:
        policy = existing.get(row.policy_number)
        client = linked.get(policy.client_id) if policy and policy.client_id else None
        if client is None:
            client = book.match(row)
        if client is None:
            candidate = _new_client(agent_id, row)
            # Matching already folds a repeated holder into the first one; the key check
            # makes that structural, as _insert_clients needs (name, phone) to be unique.
            client = created.setdefault((candidate.name, candidate.phone), candidate)
            if client is candidate:
                book.add(client)
                counts.clients_added += 1
            client_changed = True
        else:
            client_changed = _fill_client(client, row)
        holders.append((row, policy, client, client_changed))
    await _insert_clients(session, list(created.values()))

    new_policies = []
    for row, policy, client, client_changed in holders:
        if policy is None:
            new_policies.append(
                {
                    "agent_id": agent_id,
                    "client_id": client.id,
                    "policy_number": row.policy_number,
                    **{column: getattr(row, field) for field, column in _POLICY_FIELDS},
                }
            )
            counts.added += 1
            continue
        changed = _apply_row(policy, row)
        if policy.client_id != client.id:
            policy.client_id = client.id
            changed = True
        if changed or client_changed:
            counts.updated += 1
        else:
            counts.unchanged += 1
    for batch in _chunks(new_policies):
        await session.execute(insert(Policy), batch)
    await session.flush()
    logger.info(
        "agent %s imported policies: %d added, %d updated, %d unchanged, %d new clients",
        agent_id,
        counts.added,
        counts.updated,
        counts.unchanged,
        counts.clients_added,
    )
    return counts


async def maturity_book(
    session: AsyncSession, agent_id: int, today: date, until: date
) -> list[tuple[Policy, Client | None, MaturityCase | None]]:
    """Return policies maturing from ``today`` to ``until``, and matured ones still open.

    A matured policy counts as open until its case is closed (having no case yet is open)
    or the policy is renewed or paid out. Ordered by maturity date.
    """
    open_past = and_(
        Policy.maturity_date < today,
        MaturityCase.closed_at.is_(None),
        Policy.status.not_in(SETTLED_STATUSES),
    )
    result = await session.execute(
        select(Policy, Client, MaturityCase)
        .outerjoin(Client, and_(Client.id == Policy.client_id, Client.agent_id == agent_id))
        .outerjoin(MaturityCase, MaturityCase.policy_id == Policy.id)
        .where(
            Policy.agent_id == agent_id,
            or_(Policy.maturity_date.between(today, until), open_past),
        )
        .order_by(Policy.maturity_date, Policy.id)
    )
    return [(policy, client, case) for policy, client, case in result]


async def get_policy(session: AsyncSession, agent_id: int, policy_id: int) -> Policy | None:
    """Return the policy ``policy_id`` if it belongs to the agent, else None."""
    return await session.scalar(
        select(Policy).where(Policy.id == policy_id, Policy.agent_id == agent_id)
    )


async def _holder(session: AsyncSession, agent_id: int, policy: Policy) -> Client | None:
    if policy.client_id is None:
        return None
    return await session.scalar(
        select(Client).where(Client.id == policy.client_id, Client.agent_id == agent_id)
    )


async def open_case(session: AsyncSession, agent_id: int, policy_id: int) -> CaseView | None:
    """Return the case of the agent's policy, creating it on first opening; None if not theirs."""
    policy = await get_policy(session, agent_id, policy_id)
    if policy is None:
        return None
    case = await session.scalar(select(MaturityCase).where(MaturityCase.policy_id == policy.id))
    if case is None:
        # One case per policy is enforced by a unique key: the application handles an
        # agent's updates one at a time, so only two bot processes could race here, and
        # the loser's error leaves the winner's case for the next tap.
        case = MaturityCase(agent_id=agent_id, policy_id=policy.id, stage="organise", checklist=[])
        session.add(case)
        await session.flush()
    return CaseView(case, policy, await _holder(session, agent_id, policy))


async def get_case(session: AsyncSession, agent_id: int, case_id: int) -> CaseView | None:
    """Return the case ``case_id`` with its policy and holder if it is the agent's, else None."""
    row = (
        await session.execute(
            select(MaturityCase, Policy)
            .join(Policy, Policy.id == MaturityCase.policy_id)
            .where(
                MaturityCase.id == case_id,
                MaturityCase.agent_id == agent_id,
                Policy.agent_id == agent_id,
            )
        )
    ).first()
    if row is None:
        return None
    case, policy = row
    return CaseView(case, policy, await _holder(session, agent_id, policy))


async def agent_by_username(session: AsyncSession, username: str) -> Agent | None:
    """Return the agent whose Telegram username is ``username`` (any case), if any."""
    return await session.scalar(
        select(Agent)
        .where(func.lower(Agent.username) == username.lower())
        .order_by(Agent.id)
        .limit(1)
    )


async def manager_of(session: AsyncSession, agent: Agent) -> Agent | None:
    """Return the agent's manager, the colleague their escalations go to, if one is set."""
    if agent.manager_id is None:
        return None
    return await session.get(Agent, agent.manager_id)
