"""The day's due list: which items are due for an agent on a local date, their order, and
how the list is laid out in chat messages.

Four sections, always in this order, each with its count:

- **maturity** — policies maturing today, within the agent's "soon" window, within their
  longer window, and policies already matured whose case is still open (no case, or a
  case not closed yet). A policy renewed or paid out, or whose case is closed, is done;
- **followup** — clients whose next follow-up date is today or already past;
- **referral** — referred clients never contacted, from the N-th day after they were saved;
- **stale** — leads graded B or C on closing timing or willingness that nobody contacted
  for more than the grade's threshold, counted from the last logged contact (or from the
  day they were saved when never contacted). A follow-up date in the future means the lead
  is planned for, so not stale.

A client shows once, in the first section that claims them. Snoozed items are left out
until the snooze ends. Every date is the agent's local calendar date.

This module is free of Telegram and of the database: :mod:`storage.due` fetches candidate
rows, this module decides, ranks and renders, and the handlers send.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Final, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.i18n import t
from bot.parsing import format_money

logger = logging.getLogger(__name__)

SECTIONS: Final = ("maturity", "followup", "referral", "stale")
MATURITY_BUCKETS: Final = ("matured", "today", "soon", "window")
STALE_GRADES: Final = ("B", "C")
# Policies in these states need no more work at maturity.
DONE_POLICY_STATUSES: Final = ("renewed", "paid_out")

SNOOZE_DAYS: Final = 3
# Beyond this many items a list shows the most urgent ones and a "show all" button.
SHOWN_LIMIT: Final = 30
# Each item carries up to three buttons and Telegram allows 100 per message.
ITEMS_PER_MESSAGE: Final = 30
MESSAGE_LIMIT: Final = 4096
FALLBACK_ZONE: Final = "Asia/Shanghai"

# Which items go first when a list is cut to the most urgent, lowest first. Money paid out
# today and promises already due lead; a maturity weeks away can wait for "show all".
_URGENCY: Final = {
    ("maturity", "today"): 0,
    ("followup", "overdue"): 1,
    ("followup", "today"): 1,
    ("maturity", "matured"): 2,
    ("maturity", "soon"): 3,
    ("referral", "new"): 4,
    ("stale", "B"): 5,
    ("stale", "C"): 6,
    ("maturity", "window"): 7,
}


class AgentRules(Protocol):
    """The agent fields the due rules read (``storage.models.Agent`` has them all)."""

    maturity_soon_days: int
    maturity_window_days: int
    referral_contact_days: int
    stale_b_days: int
    stale_c_days: int


@dataclass(frozen=True)
class DueRules:
    """One agent's windows and thresholds, in days."""

    maturity_soon_days: int = 7
    maturity_window_days: int = 30
    referral_contact_days: int = 2
    stale_b_days: int = 14
    stale_c_days: int = 30

    @classmethod
    def of(cls, agent: AgentRules) -> DueRules:
        """Return the rules stored on an agent."""
        return cls(
            maturity_soon_days=agent.maturity_soon_days,
            maturity_window_days=agent.maturity_window_days,
            referral_contact_days=agent.referral_contact_days,
            stale_b_days=agent.stale_b_days,
            stale_c_days=agent.stale_c_days,
        )

    def maturity_horizon(self, today: date) -> date:
        """Return the last maturity date the list looks at."""
        return today + timedelta(days=max(self.maturity_soon_days, self.maturity_window_days))

    def stale_days(self, *grades: str | None) -> int | None:
        """Return after how many silent days a lead with these grades is stale (None: never).

        A lead graded B on one axis and C on the other gets the shorter threshold: the
        better grade is the one worth chasing.
        """
        days = [
            self.stale_b_days if grade == "B" else self.stale_c_days
            for grade in grades
            if grade in STALE_GRADES
        ]
        return min(days) if days else None

    def shortest_stale_days(self) -> int:
        """Return the smaller of the two stale thresholds (for a coarse database filter)."""
        return min(self.stale_b_days, self.stale_c_days)


@dataclass(frozen=True)
class PolicyRow:
    """A policy that may be due: what the list needs to know and show about it."""

    policy_id: int
    client_id: int | None
    name: str
    policy_number: str
    maturity_date: date
    amount: Decimal | None = None
    status: str = "active"
    case_closed: bool = False


@dataclass(frozen=True)
class ClientRow:
    """A client who may be due: source, grades, dates and who referred them."""

    client_id: int
    name: str
    source: str
    created_at: datetime
    last_contact_at: datetime | None = None
    next_followup: date | None = None
    grade_timing: str | None = None
    grade_willingness: str | None = None
    referred_by: str | None = None


@dataclass(frozen=True)
class DueItem:
    """One line of the due list.

    ``item_id`` is the policy id for maturities and the client id otherwise; ``day`` is the
    date the line is about (maturity, follow-up, saved, or last contact); ``days`` is how
    many days ``day`` lies from today (negative: in the past).
    """

    section: str
    bucket: str
    item_id: int
    client_id: int | None
    name: str
    day: date
    days: int
    policy_number: str | None = None
    amount: Decimal | None = None
    grades: str | None = None
    referred_by: str | None = None
    never_contacted: bool = False

    @property
    def urgency(self) -> tuple[int, date, int]:
        """Return the sort key that puts the most urgent item first."""
        return _URGENCY[(self.section, self.bucket)], self.day, self.item_id


@dataclass(frozen=True)
class DueList:
    """Every item due for one agent on one local date, in display order."""

    today: date
    items: tuple[DueItem, ...]
    rules: DueRules = field(default_factory=DueRules)

    @property
    def is_empty(self) -> bool:
        """Tell whether nothing is due."""
        return not self.items

    def count(self, section: str, bucket: str | None = None) -> int:
        """Return how many items a section (or one bucket of it) holds."""
        return sum(
            1
            for item in self.items
            if item.section == section and (bucket is None or item.bucket == bucket)
        )

    def most_urgent(self, limit: int = SHOWN_LIMIT) -> tuple[DueItem, ...]:
        """Return the ``limit`` most urgent items, still in display order."""
        if len(self.items) <= limit:
            return self.items
        chosen = set(sorted(self.items, key=lambda item: item.urgency)[:limit])
        return tuple(item for item in self.items if item in chosen)


@dataclass(frozen=True)
class Part:
    """One chat message of a rendered list and the numbered items it shows."""

    text: str
    items: tuple[tuple[int, DueItem], ...] = field(default_factory=tuple)


def local_zone(name: str) -> ZoneInfo:
    """Return the time zone ``name``, or the default zone when the name is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        logger.warning("unknown time zone %r stored for an agent; using %s", name, FALLBACK_ZONE)
        return ZoneInfo(FALLBACK_ZONE)


def local_date(moment: datetime, zone: ZoneInfo) -> date:
    """Return the calendar date of ``moment`` in ``zone``."""
    return moment.astimezone(zone).date()


def start_of_day(day: date, zone: ZoneInfo) -> datetime:
    """Return the moment local ``day`` begins in ``zone`` (aware)."""
    return datetime.combine(day, time(0), tzinfo=zone)


def push_is_due(now: datetime, zone: ZoneInfo, push_time: time) -> tuple[bool, date]:
    """Tell whether the agent's push time has come today, and which local date today is."""
    local = now.astimezone(zone)
    return local.time().replace(tzinfo=None) >= push_time, local.date()


# --- the rules ----------------------------------------------------------------------------


def maturity_bucket(row: PolicyRow, today: date, rules: DueRules) -> str | None:
    """Return which maturity bucket a policy is in today, or None when it is not due."""
    if row.case_closed or row.status in DONE_POLICY_STATUSES:
        return None
    days = (row.maturity_date - today).days
    if days < 0:
        return "matured"
    if days == 0:
        return "today"
    if days <= rules.maturity_soon_days:
        return "soon"
    if days <= rules.maturity_window_days:
        return "window"
    return None


def client_item(row: ClientRow, today: date, zone: ZoneInfo, rules: DueRules) -> DueItem | None:
    """Return the due item a client makes today (follow-up, referral, stale), or None."""
    name = row.name
    if row.next_followup is not None and row.next_followup <= today:
        days = (row.next_followup - today).days
        bucket = "overdue" if days < 0 else "today"
        return DueItem(
            "followup", bucket, row.client_id, row.client_id, name, row.next_followup, days
        )

    saved = local_date(row.created_at, zone)
    referral = row.source == "referral" and row.last_contact_at is None
    if referral and (today - saved).days >= rules.referral_contact_days:
        return DueItem(
            "referral",
            "new",
            row.client_id,
            row.client_id,
            name,
            saved,
            (saved - today).days,
            referred_by=row.referred_by,
            never_contacted=True,
        )

    if row.next_followup is not None and row.next_followup > today:
        return None  # a planned follow-up means the lead is not forgotten
    threshold = rules.stale_days(row.grade_timing, row.grade_willingness)
    if threshold is None:
        return None
    since = local_date(row.last_contact_at, zone) if row.last_contact_at else saved
    if (today - since).days <= threshold:
        return None
    bucket = "B" if "B" in (row.grade_timing, row.grade_willingness) else "C"
    grades = "/".join(g or "-" for g in (row.grade_timing, row.grade_willingness))
    return DueItem(
        "stale",
        bucket,
        row.client_id,
        row.client_id,
        name,
        since,
        (since - today).days,
        grades=grades,
        never_contacted=row.last_contact_at is None,
    )


def build_due_list(
    today: date,
    zone: ZoneInfo,
    rules: DueRules,
    policies: Iterable[PolicyRow],
    clients: Iterable[ClientRow],
    snoozed: Collection[tuple[str, int]] = (),
) -> DueList:
    """Decide what is due today and put it in display order.

    ``snoozed`` holds (kind, item id) pairs whose snooze still runs; a client snoozed in
    any section is left out of every client section.
    """
    snoozed_clients = {item_id for kind, item_id in snoozed if kind != "maturity"}
    items: list[DueItem] = []
    for policy in policies:
        bucket = maturity_bucket(policy, today, rules)
        if bucket is None or ("maturity", policy.policy_id) in snoozed:
            continue
        items.append(
            DueItem(
                "maturity",
                bucket,
                policy.policy_id,
                policy.client_id,
                policy.name,
                policy.maturity_date,
                (policy.maturity_date - today).days,
                policy_number=policy.policy_number,
                amount=policy.amount,
            )
        )
    seen: set[int] = set()
    for client in clients:
        if client.client_id in seen or client.client_id in snoozed_clients:
            continue
        item = client_item(client, today, zone, rules)
        if item is not None:
            seen.add(client.client_id)
            items.append(item)
    return DueList(today, tuple(sorted(items, key=_display_key)), rules)


def _display_key(item: DueItem) -> tuple[int, int, date, int]:
    """Order by section, then maturity bucket, then the oldest date first."""
    section = SECTIONS.index(item.section)
    bucket = MATURITY_BUCKETS.index(item.bucket) if item.section == "maturity" else 0
    return section, bucket, item.day, item.item_id


# --- the layout ---------------------------------------------------------------------------


def short_date(day: date, lang: str) -> str:
    """Write a date without its year, with the weekday: ``12月3日 周四`` / ``Thu 3 Dec``."""
    months = t(lang, "due.months").split(",")
    weekdays = t(lang, "due.weekdays").split(",")
    return t(
        lang,
        "due.short_date",
        month_name=months[day.month - 1],
        day=day.day,
        weekday=weekdays[day.weekday()],
    )


def _days_phrase(lang: str, key: str, days: int) -> str:
    """Render ``due.<key>`` with a day count, using the singular form for one day."""
    count = abs(days)
    return t(lang, f"due.{key}_one" if count == 1 else f"due.{key}", n=count)


def item_line(item: DueItem, number: int, lang: str) -> str:
    """Render one numbered line of the list."""
    when = short_date(item.day, lang)
    if item.section == "maturity":
        if item.days < 0:
            timing = _days_phrase(lang, "matured_ago", item.days)
        elif item.days == 0:
            timing = t(lang, "due.matures_today")
        else:
            timing = _days_phrase(lang, "matures_in", item.days)
        amount = (
            t(lang, "due.amount", amount=format_money(item.amount, lang)) if item.amount else ""
        )
        return t(
            lang,
            "due.line_maturity",
            n=number,
            name=item.name,
            policy=item.policy_number or "",
            date=when,
            timing=timing,
            amount=amount,
        )
    if item.section == "followup":
        timing = (
            t(lang, "due.followup_today")
            if item.days == 0
            else _days_phrase(lang, "followup_overdue", item.days)
        )
        return t(lang, "due.line_followup", n=number, name=item.name, date=when, timing=timing)
    if item.section == "referral":
        by = t(lang, "due.referred_by", name=item.referred_by) if item.referred_by else ""
        saved = _days_phrase(lang, "saved_ago", item.days)
        return t(lang, "due.line_referral", n=number, name=item.name, by=by, saved=saved)
    silent = _days_phrase(lang, "never_contacted" if item.never_contacted else "silent", item.days)
    return t(lang, "due.line_stale", n=number, name=item.name, grades=item.grades, silent=silent)


@dataclass(frozen=True)
class _Line:
    """A line of a rendered list: its text, its section, and the numbered item it shows."""

    text: str
    section: str = ""
    item: tuple[int, DueItem] | None = None
    opens_section: bool = False
    heading: bool = False


def layout(due: DueList, lang: str, *, show_all: bool = False) -> list[Part]:
    """Render the list as chat messages, each under Telegram's limits, split between items.

    Without ``show_all`` only the :data:`SHOWN_LIMIT` most urgent items are listed; every
    section still shows its full count and how many of its items were left out.
    """
    when = short_date(due.today, lang)
    if due.is_empty:
        return [Part(t(lang, "due.empty", date=when))]
    shown = due.items if show_all else due.most_urgent()

    lines = [_Line(t(lang, "due.title", date=when, total=len(due.items)))]
    if len(shown) < len(due.items):
        lines.append(_Line(t(lang, "due.most_urgent", shown=len(shown))))
    number = 0
    for section in SECTIONS:
        total = due.count(section)
        if not total:
            continue
        lines.append(_Line(""))
        heading = t(lang, f"due.section_{section}", count=total)
        lines.append(_Line(heading, section, opens_section=True, heading=True))
        in_section = [item for item in shown if item.section == section]
        bucket = None
        for item in in_section:
            if section == "maturity" and item.bucket != bucket:
                bucket = item.bucket
                heading = t(
                    lang,
                    f"due.bucket_{bucket}",
                    count=due.count(section, bucket),
                    soon=due.rules.maturity_soon_days,
                    window=due.rules.maturity_window_days,
                )
                lines.append(_Line(heading, section, heading=True))
            number += 1
            lines.append(_Line(item_line(item, number, lang), section, (number, item)))
        if len(in_section) < total:
            hidden = total - len(in_section)
            lines.append(_Line(t(lang, "due.more_in_section", count=hidden), section))
    lines.append(_Line(""))
    lines.append(_Line(t(lang, "due.legend")))
    return _pack(lines, lang)


# Room kept free in every message for the "continued" title of a section cut in two.
_CONTINUED_ROOM: Final = 200


def _pack(lines: Sequence[_Line], lang: str) -> list[Part]:
    """Pack lines into messages of at most :data:`MESSAGE_LIMIT` characters and
    :data:`ITEMS_PER_MESSAGE` items; a section cut in two is titled again as continued."""
    parts: list[Part] = []
    text: list[str] = []
    items: list[tuple[int, DueItem]] = []

    def close() -> None:
        body = "\n".join(text).strip("\n")
        if body:
            parts.append(Part(body, tuple(items)))
        text.clear()
        items.clear()

    for line in lines:
        size = sum(len(part) + 1 for part in text)
        too_long = size + len(line.text) > MESSAGE_LIMIT - _CONTINUED_ROOM
        # A heading moves on with the items it introduces when the message is full.
        too_many = len(items) >= ITEMS_PER_MESSAGE and (line.item is not None or line.heading)
        if too_long or too_many:
            close()
            if line.section and not line.opens_section:
                name = t(lang, f"due.name_{line.section}")
                text.append(t(lang, "due.continued", section=name))
        if not text and not line.text:
            continue  # no blank line at the top of a message
        text.append(line.text)
        if line.item is not None:
            items.append(line.item)
    close()
    return parts
