"""Tests for the maturity book's rules: regions, bands, windows, grouping and case stages."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from bot import maturity as rules
from bot.maturity import BookLine

LOW, HIGH = Decimal(20000), Decimal(50000)


def _line(policy_id: int, days: int, **fields: object) -> BookLine:
    values: dict[str, object] = {
        "policy_id": policy_id,
        "holder": f"客户{policy_id}",
        "maturity_date": date(2026, 12, 3),
        "days_left": days,
        "amount": Decimal(30000),
        "bank": "工商银行",
        "region": "city",
        "trait": None,
        "stage": None,
    }
    values.update(fields)
    return BookLine(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("address", "region"),
    [
        ("浙江省杭州市西湖区文三路1号", "city"),
        ("河北省正定县中山路8号", "county"),
        ("湖南省长沙县黄兴镇新桥村", "township"),
        ("四川省某某县某某乡", "township"),
        ("江苏省镇江市京口区", "city"),  # a city whose name starts with 镇
        ("浙江省宁波市镇海区", "city"),
        ("苏州市县前街5号", "city"),  # a street named after the old county office
        ("12 Elm Street, Orange County", "county"),
        ("Riverside Township, Lot 4", "township"),
        ("  ", None),
        (None, None),
    ],
)
def test_guesses_the_region_from_the_address(address: str | None, region: str | None) -> None:
    assert rules.guess_region(address) == region


@pytest.mark.parametrize(
    ("amount", "band"),
    [
        (Decimal("19999.99"), "under"),
        (Decimal(20000), "middle"),
        (Decimal(50000), "middle"),
        (Decimal("50000.01"), "over"),
        (None, "unknown"),
    ],
)
def test_places_amounts_in_bands_with_inclusive_middle(amount: Decimal | None, band: str) -> None:
    assert rules.amount_band(amount, LOW, HIGH) == band


def test_bands_follow_the_agents_own_thresholds() -> None:
    assert rules.amount_band(Decimal(15000), Decimal(10000), Decimal(12000)) == "over"


@pytest.mark.parametrize(
    ("days", "window"), [(-5, 0), (0, 30), (30, 30), (31, 60), (60, 60), (90, 90), (91, None)]
)
def test_puts_days_left_in_the_smallest_window(days: int, window: int | None) -> None:
    assert rules.window_of(days) == window


def test_arrange_groups_by_window_then_segment_in_method_order() -> None:
    lines = [
        _line(1, 40, region="township"),
        _line(2, 5, region="county"),
        _line(3, 2, region="city"),
        _line(4, -3, region="city"),
        _line(5, 1, region=None),
        _line(6, 80, region="city"),
        _line(7, 10, region="city"),
    ]

    sections = rules.arrange(lines, 60, "region", LOW, HIGH)

    layout = [(s.window, s.segment, [line.policy_id for line in s.lines]) for s in sections]
    assert layout == [
        (0, "city", [4]),
        (30, "city", [3, 7]),
        (30, "county", [2]),
        (30, "unknown", [5]),
        (60, "township", [1]),
    ]


def test_arrange_segments_by_band_and_trait() -> None:
    lines = [
        _line(1, 3, amount=Decimal(80000), trait="loyal"),
        _line(2, 4, amount=Decimal(1000), trait="sensitive"),
        _line(3, 5, amount=None, trait="bogus"),
    ]

    by_band = [
        (s.segment, s.lines[0].policy_id) for s in rules.arrange(lines, 30, "band", LOW, HIGH)
    ]
    by_trait = [
        (s.segment, s.lines[0].policy_id) for s in rules.arrange(lines, 30, "trait", LOW, HIGH)
    ]

    assert by_band == [("under", 2), ("over", 1), ("unknown", 3)]
    assert by_trait == [("loyal", 1), ("sensitive", 2), ("unknown", 3)]


def test_page_of_cuts_across_sections_and_clamps_the_page() -> None:
    lines = [_line(i, i, region="city" if i < 3 else "county") for i in range(1, 6)]
    sections = rules.arrange(lines, 30, "region", LOW, HIGH)

    first, page, pages = rules.page_of(sections, 0, 2)
    second, _, _ = rules.page_of(sections, 1, 2)
    beyond, last_page, _ = rules.page_of(sections, 99, 2)

    assert (page, pages) == (0, 3)
    assert [[line.policy_id for line in s.lines] for s in first] == [[1, 2]]
    assert [(s.segment, [line.policy_id for line in s.lines]) for s in second] == [
        ("county", [3, 4])
    ]
    assert last_page == 2 and [line.policy_id for line in beyond[0].lines] == [5]


def test_page_of_an_empty_book_is_one_empty_page() -> None:
    assert rules.page_of([], 3, 10) == ([], 0, 1)


def test_progress_marks_done_current_and_todo_stages() -> None:
    assert rules.progress("appoint") == [
        ("organise", "done"),
        ("prepare", "done"),
        ("appoint", "current"),
        ("visit", "todo"),
        ("report", "todo"),
    ]
    assert {state for _, state in rules.progress("closed")} == {"done"}


def test_next_stage_walks_the_stages_to_closed() -> None:
    walked = ["organise"]
    while walked[-1] != rules.CLOSED:
        walked.append(rules.next_stage(walked[-1]))
    assert walked == ["organise", "prepare", "appoint", "visit", "report", "closed"]


def test_toggle_ticks_and_unticks_in_checklist_order_and_ignores_unknown_items() -> None:
    ticked = rules.toggle([], "pen")
    ticked = rules.toggle(ticked, "intro")
    assert ticked == ["intro", "pen"]
    assert rules.toggle(ticked, "pen") == ["intro"]
    assert rules.toggle(["intro", "forged"], "nonsense") == ["intro"]


@pytest.mark.parametrize(
    ("outcome", "renewal", "closes"),
    [
        ("A", "pending", False),
        ("B", "pending", False),
        ("C", "pending", True),
        ("B", "paid_out", True),
        ("A", "renewed", True),
    ],
)
def test_grade_c_paid_out_and_renewed_close_the_case(
    outcome: str, renewal: str, closes: bool
) -> None:
    assert rules.closes_case(outcome, renewal) is closes


def test_policy_status_follows_a_settled_renewal_only() -> None:
    assert rules.policy_status_after("renewed") == "renewed"
    assert rules.policy_status_after("paid_out") == "paid_out"
    assert rules.policy_status_after("pending") is None


def test_days_left_is_negative_after_maturity() -> None:
    assert rules.days_left(date(2026, 12, 1), date(2026, 12, 3)) == -2
    assert rules.days_left(date(2026, 12, 13), date(2026, 12, 3)) == 10
