"""The rules of the maturity book, free of Telegram and the database.

Owns how maturing policies are organised the way the method asks (by region, by amount
band and by client trait, under windows of 30, 60 and 90 days), how a region is guessed
from a Chinese address, and the rules of a maturity case: its stages, the preparation
checklist, and which results close it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Final

from storage.choices import REGIONS, TRAITS

logger = logging.getLogger(__name__)

# The windows the book is shown in, in days from today; a matured policy (days left below
# zero) whose case is still open falls in window 0.
WINDOWS: Final = (30, 60, 90)
MATURED: Final = 0

# What a list can be segmented by.
SEGMENT_BY: Final = ("region", "band", "trait")
UNKNOWN: Final = "unknown"
BANDS: Final = ("under", "middle", "over")

# The case's working stages in order; "closed" follows the last one.
STAGES: Final = ("organise", "prepare", "appoint", "visit", "report")
CLOSED: Final = "closed"

# The preparation checklist: materials to bring, then tools, then rehearsing answers.
MATERIALS: Final = ("intro", "dividend", "claim_form", "transfer", "leaflets")
TOOLS: Final = ("pen", "paper", "calculator", "rates", "application")
CHECKLIST: Final = (*MATERIALS, *TOOLS, "rehearse")

# An administrative unit of a Chinese address: a name, then the character of its level.
# Reading whole units keeps place names that merely start with 镇 (镇江市, 镇海区) or a
# street such as 县前街 from being taken for a township or a county.
_UNIT: Final = re.compile(r"[^省市区县乡镇\s\d]{1,12}([省市区县乡镇])")


@dataclass(frozen=True, slots=True)
class BookLine:
    """One maturing policy as the book lists it."""

    policy_id: int
    holder: str
    maturity_date: date
    days_left: int
    amount: Decimal | None
    bank: str | None
    region: str | None
    trait: str | None
    stage: str | None


@dataclass(frozen=True, slots=True)
class Section:
    """The lines of one segment inside one window."""

    window: int
    segment: str
    lines: tuple[BookLine, ...]


def guess_region(address: str | None) -> str | None:
    """Guess city, county or township from an address; None when there is no address."""
    text = " ".join((address or "").split()).lower()
    if not text:
        return None
    levels = {match.group(1) for match in _UNIT.finditer(text)}
    words = set(re.findall(r"[a-z]+", text))
    # A township address usually names its county too (某县某镇), so township is checked first.
    if levels & {"乡", "镇"} or "township" in words:
        return "township"
    if "县" in levels or "county" in words:
        return "county"
    return "city"


def amount_band(amount: Decimal | None, low: Decimal, high: Decimal) -> str:
    """Place an amount under ``low``, from ``low`` to ``high``, or over ``high``."""
    if amount is None:
        return UNKNOWN
    if amount < low:
        return "under"
    if amount <= high:
        return "middle"
    return "over"


def window_of(days_left: int, windows: Sequence[int] = WINDOWS) -> int | None:
    """Return the smallest window holding ``days_left``, MATURED when past, None if beyond."""
    if days_left < 0:
        return MATURED
    for window in windows:
        if days_left <= window:
            return window
    return None


def segment_of(line: BookLine, by: str, low: Decimal, high: Decimal) -> str:
    """Return the segment of ``line`` when the book is segmented ``by`` one dimension."""
    if by == "region":
        return line.region if line.region in REGIONS else UNKNOWN
    if by == "trait":
        return line.trait if line.trait in TRAITS else UNKNOWN
    return amount_band(line.amount, low, high)


def segment_order(by: str) -> tuple[str, ...]:
    """Return the segments of a dimension in the order the method lists them."""
    known = {"region": REGIONS, "trait": TRAITS}.get(by, BANDS)
    return (*known, UNKNOWN)


def arrange(
    lines: Iterable[BookLine], window: int, by: str, low: Decimal, high: Decimal
) -> list[Section]:
    """Group lines up to ``window`` days by window, then by segment, soonest first within."""
    windows = tuple(w for w in WINDOWS if w <= window) or (window,)
    buckets: dict[tuple[int, str], list[BookLine]] = {}
    for line in lines:
        slot = window_of(line.days_left, windows)
        if slot is None:
            continue
        buckets.setdefault((slot, segment_of(line, by, low, high)), []).append(line)

    sections = []
    for slot in (MATURED, *windows):
        for segment in segment_order(by):
            found = buckets.get((slot, segment))
            if found:
                found.sort(key=lambda item: (item.days_left, item.policy_id))
                sections.append(Section(slot, segment, tuple(found)))
    return sections


def page_of(sections: Sequence[Section], page: int, size: int) -> tuple[list[Section], int, int]:
    """Cut sections to the lines of one page; return them, the page used and the page count."""
    total = sum(len(section.lines) for section in sections)
    pages = max(1, -(-total // size))
    page = min(max(page, 0), pages - 1)
    start, stop = page * size, (page + 1) * size

    out: list[Section] = []
    seen = 0
    for section in sections:
        first, last = seen, seen + len(section.lines)
        seen = last
        if last <= start or first >= stop:
            continue
        kept = section.lines[max(start - first, 0) : min(stop - first, len(section.lines))]
        out.append(Section(section.window, section.segment, kept))
    return out, page, pages


# --- the case -----------------------------------------------------------------------------


def progress(stage: str) -> list[tuple[str, str]]:
    """Return each working stage with its state: "done", "current" or "todo"."""
    if stage == CLOSED:
        return [(name, "done") for name in STAGES]
    current = STAGES.index(stage) if stage in STAGES else 0
    states = []
    for index, name in enumerate(STAGES):
        state = "done" if index < current else "current" if index == current else "todo"
        states.append((name, state))
    return states


def next_stage(stage: str) -> str:
    """Return the stage after ``stage`` (the last working stage is followed by closed)."""
    if stage not in STAGES:
        return CLOSED
    index = STAGES.index(stage)
    return STAGES[index + 1] if index + 1 < len(STAGES) else CLOSED


def toggle(checklist: Sequence[str], item: str) -> list[str]:
    """Tick ``item`` if it is not ticked, untick it if it is; unknown items change nothing."""
    ticked = [code for code in checklist if code in CHECKLIST]
    if item not in CHECKLIST:
        return ticked
    if item in ticked:
        return [code for code in ticked if code != item]
    # Kept in checklist order so the stored list does not depend on the order of taps.
    return [code for code in CHECKLIST if code in ticked or code == item]


def closes_case(outcome: str | None, renewal: str | None) -> bool:
    """Tell whether a report ends the case: money committed elsewhere, paid out, or renewed."""
    return outcome == "C" or renewal in ("paid_out", "renewed")


def policy_status_after(renewal: str | None) -> str | None:
    """Return the policy status a renewal result leads to, or None to leave it as it is."""
    return renewal if renewal in ("renewed", "paid_out") else None


def days_left(maturity: date, today: date) -> int:
    """Return the days from ``today`` until ``maturity`` (negative once it has passed)."""
    return (maturity - today).days
