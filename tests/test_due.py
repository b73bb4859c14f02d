"""The due list's rules and layout, without Telegram or a database."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from bot.due import (
    ITEMS_PER_MESSAGE,
    MESSAGE_LIMIT,
    SHOWN_LIMIT,
    ClientRow,
    DueList,
    DueRules,
    PolicyRow,
    build_due_list,
    layout,
    local_zone,
    maturity_bucket,
    push_is_due,
    short_date,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 12, 3)
RULES = DueRules()


def _policy(policy_id: int, days: int, **fields: object) -> PolicyRow:
    values: dict[str, object] = {
        "client_id": None,
        "name": f"持有人{policy_id}",
        "policy_number": f"P{policy_id:04d}",
        "maturity_date": TODAY + timedelta(days=days),
        "amount": Decimal(50000),
    }
    values.update(fields)
    return PolicyRow(policy_id=policy_id, **values)  # type: ignore[arg-type]


def _at(day: date, hour: int = 10) -> datetime:
    """Return a moment on local ``day`` in Shanghai, as stored (UTC)."""
    return datetime.combine(day, time(hour), tzinfo=SHANGHAI).astimezone(UTC)


def _client(client_id: int, **fields: object) -> ClientRow:
    values: dict[str, object] = {
        "name": f"客户{client_id}",
        "source": "warm",
        "created_at": _at(TODAY - timedelta(days=100)),
        "last_contact_at": _at(TODAY - timedelta(days=1)),
    }
    values.update(fields)
    return ClientRow(client_id=client_id, **values)  # type: ignore[arg-type]


def _due(
    policies: list[PolicyRow] = [],  # noqa: B006 - never mutated
    clients: list[ClientRow] = [],  # noqa: B006 - never mutated
    *,
    rules: DueRules = RULES,
    snoozed: set[tuple[str, int]] | None = None,
    today: date = TODAY,
) -> DueList:
    return build_due_list(today, SHANGHAI, rules, policies, clients, snoozed or set())


def _sections(due: DueList) -> list[tuple[str, str, int]]:
    return [(item.section, item.bucket, item.item_id) for item in due.items]


# --- maturities ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "bucket"),
    [(-40, "matured"), (-1, "matured"), (0, "today"), (1, "soon"), (7, "soon"),
     (8, "window"), (30, "window"), (31, None)],
)  # fmt: skip
def test_maturity_buckets_follow_the_default_windows(days: int, bucket: str | None) -> None:
    assert maturity_bucket(_policy(1, days), TODAY, RULES) == bucket


def test_maturity_windows_are_the_agents_own() -> None:
    rules = DueRules(maturity_soon_days=3, maturity_window_days=10)

    buckets = [maturity_bucket(_policy(1, days), TODAY, rules) for days in (3, 4, 10, 11)]

    assert buckets == ["soon", "window", "window", None]


def test_matured_policy_stays_until_its_case_is_closed() -> None:
    open_case = _policy(1, -5)
    closed_case = _policy(2, -5, case_closed=True)
    renewed = _policy(3, -5, status="renewed")
    paid_out = _policy(4, 2, status="paid_out")

    due = _due([open_case, closed_case, renewed, paid_out])

    assert _sections(due) == [("maturity", "matured", 1)]


def test_maturities_are_listed_oldest_bucket_first() -> None:
    due = _due([_policy(1, 20), _policy(2, 3), _policy(3, 0), _policy(4, -2), _policy(5, 1)])

    assert [item.item_id for item in due.items] == [4, 3, 5, 2, 1]
    assert due.count("maturity", "soon") == 2


# --- follow-ups, referrals, stale leads ---------------------------------------------------


def test_followup_due_today_or_overdue_and_not_in_the_future() -> None:
    due = _due(
        clients=[
            _client(1, next_followup=TODAY),
            _client(2, next_followup=TODAY - timedelta(days=4)),
            _client(3, next_followup=TODAY + timedelta(days=1)),
        ]
    )

    assert _sections(due) == [("followup", "overdue", 2), ("followup", "today", 1)]


@pytest.mark.parametrize(("saved_days_ago", "listed"), [(1, False), (2, True), (9, True)])
def test_referral_is_listed_from_the_agents_day_count_after_saving(
    saved_days_ago: int, listed: bool
) -> None:
    referral = _client(
        1,
        source="referral",
        created_at=_at(TODAY - timedelta(days=saved_days_ago), hour=23),
        last_contact_at=None,
        referred_by="老周",
    )

    due = _due(clients=[referral])

    assert bool(due.items) is listed
    if listed:
        assert due.items[0].referred_by == "老周"


def test_contacted_referral_is_not_listed_as_new() -> None:
    referral = _client(
        1,
        source="referral",
        created_at=_at(TODAY - timedelta(days=5)),
        last_contact_at=_at(TODAY - timedelta(days=3)),
    )

    assert _due(clients=[referral]).is_empty


@pytest.mark.parametrize(
    ("timing", "willingness", "silent_days", "bucket"),
    [
        ("B", None, 14, None),
        ("B", None, 15, "B"),
        (None, "C", 30, None),
        (None, "C", 31, "C"),
        ("A", "D", 400, None),
        ("C", "B", 15, "B"),  # a B on either axis gets the shorter B threshold
        (None, None, 400, None),
    ],
)
def test_stale_lead_thresholds_by_grade(
    timing: str | None, willingness: str | None, silent_days: int, bucket: str | None
) -> None:
    lead = _client(
        1,
        grade_timing=timing,
        grade_willingness=willingness,
        last_contact_at=_at(TODAY - timedelta(days=silent_days)),
    )

    due = _due(clients=[lead])

    assert [item.bucket for item in due.items] == ([bucket] if bucket else [])


def test_stale_thresholds_are_the_agents_own() -> None:
    lead = _client(1, grade_timing="B", last_contact_at=_at(TODAY - timedelta(days=8)))

    assert _due(clients=[lead], rules=DueRules(stale_b_days=7)).items
    assert _due(clients=[lead]).is_empty


def test_never_contacted_lead_is_measured_from_when_it_was_saved() -> None:
    fresh = _client(1, grade_timing="B", created_at=_at(TODAY - timedelta(days=10)))
    old = _client(2, grade_timing="B", created_at=_at(TODAY - timedelta(days=20)))
    fresh = ClientRow(**{**fresh.__dict__, "last_contact_at": None})
    old = ClientRow(**{**old.__dict__, "last_contact_at": None})

    due = _due(clients=[fresh, old])

    assert [(item.item_id, item.never_contacted) for item in due.items] == [(2, True)]


def test_a_recent_contact_resets_staleness() -> None:
    silent = _client(1, grade_timing="B", last_contact_at=_at(TODAY - timedelta(days=20)))
    reached = ClientRow(**{**silent.__dict__, "last_contact_at": _at(TODAY)})

    assert _due(clients=[silent]).items
    assert _due(clients=[reached]).is_empty


def test_a_future_followup_means_not_stale() -> None:
    planned = _client(
        1,
        grade_timing="C",
        last_contact_at=_at(TODAY - timedelta(days=90)),
        next_followup=TODAY + timedelta(days=5),
    )

    assert _due(clients=[planned]).is_empty
    on_the_day = _due(clients=[planned], today=TODAY + timedelta(days=5))
    assert _sections(on_the_day) == [("followup", "today", 1)]


def test_a_client_shows_once_in_the_first_section_that_claims_them() -> None:
    both = _client(
        1,
        source="referral",
        grade_timing="B",
        created_at=_at(TODAY - timedelta(days=40)),
        last_contact_at=None,
        next_followup=TODAY,
    )

    assert _sections(_due(clients=[both, both])) == [("followup", "today", 1)]


def test_snoozed_items_are_left_out() -> None:
    due = _due(
        [_policy(1, 0), _policy(2, 0)],
        [_client(3, next_followup=TODAY), _client(4, next_followup=TODAY)],
        snoozed={("maturity", 1), ("stale", 3)},
    )

    assert [item.item_id for item in due.items] == [2, 4]


def test_local_dates_come_from_the_agents_time_zone() -> None:
    # Saved at 00:30 on 2 December in Shanghai, which is still 1 December in UTC: the
    # two-day count starts on the 2nd.
    saved = datetime(2026, 12, 1, 16, 30, tzinfo=UTC)  # 00:30 on 2 December in Shanghai
    referral = _client(1, source="referral", created_at=saved, last_contact_at=None)

    assert _due(clients=[referral], today=date(2026, 12, 3)).is_empty
    assert _due(clients=[referral], today=date(2026, 12, 4)).items


def test_push_is_due_once_local_push_time_has_come() -> None:
    before = datetime(2026, 12, 3, 0, 29, tzinfo=UTC)  # 08:29 in Shanghai
    after = datetime(2026, 12, 3, 0, 30, tzinfo=UTC)

    assert push_is_due(before, SHANGHAI, time(8, 30)) == (False, date(2026, 12, 3))
    assert push_is_due(after, SHANGHAI, time(8, 30)) == (True, date(2026, 12, 3))
    # Late evening in New York is already the next day in Shanghai, not there.
    new_york = ZoneInfo("America/New_York")
    assert push_is_due(after, new_york, time(8, 30)) == (True, date(2026, 12, 2))


def test_unknown_stored_zone_falls_back_to_the_default() -> None:
    assert local_zone("Mars/Olympus") == SHANGHAI


# --- urgency and layout -------------------------------------------------------------------


def _many(count: int, *, name: str = "客户") -> DueList:
    clients = [
        _client(
            i, name=f"{name}{i}", grade_timing="C", last_contact_at=_at(TODAY - timedelta(days=60))
        )
        for i in range(1, count + 1)
    ]
    return _due([_policy(10_000, 0), _policy(10_001, 25)], clients)


def test_most_urgent_keeps_todays_maturity_and_drops_the_far_one() -> None:
    due = _many(40)

    shown = due.most_urgent()

    assert len(shown) == SHOWN_LIMIT
    ids = {item.item_id for item in shown}
    assert 10_000 in ids and 10_001 not in ids
    assert list(shown) == [item for item in due.items if item in shown]  # display order kept


def test_layout_lists_sections_in_order_with_full_counts() -> None:
    due = _due(
        [_policy(1, 3)],
        [
            _client(2, next_followup=TODAY),
            _client(
                3,
                source="referral",
                created_at=_at(TODAY - timedelta(days=3)),
                last_contact_at=None,
            ),
            _client(4, grade_willingness="B", last_contact_at=_at(TODAY - timedelta(days=20))),
        ],
    )

    (part,) = layout(due, "zh")

    positions = [
        part.text.index(word)
        for word in (
            "满期保单（1）",
            "到期跟进（1）",
            "新转介绍还没联系（1）",
            "放久了的 B/C 级准客户（1）",
        )
    ]
    assert positions == sorted(positions)
    assert "12月3日周四" in part.text and "共 4 项" in part.text
    assert [number for number, _ in part.items] == [1, 2, 3, 4]


def test_layout_in_english_reads_naturally() -> None:
    due = _due([_policy(1, 1), _policy(2, -1)])

    text = layout(due, "en")[0].text

    assert "Thu 3 Dec: today's list, 2 items" in text
    assert "(tomorrow)" in text and "(matured yesterday)" in text and "¥50,000" in text


def test_long_list_is_cut_to_the_most_urgent_with_counts_of_the_rest() -> None:
    due = _many(40)

    parts = layout(due, "zh")

    shown = [item for part in parts for item in part.items]
    assert len(shown) == SHOWN_LIMIT
    text = "\n".join(part.text for part in parts)
    assert "最紧急的 30 项" in text and "这一类还有 11 项没列出" in text and "还有 1 项" in text


def test_every_message_stays_under_telegrams_limits() -> None:
    due = _many(150, name="很长的名字" * 12)

    parts = layout(due, "zh", show_all=True)

    assert len(parts) > 1
    assert all(len(part.text) <= MESSAGE_LIMIT for part in parts)
    assert all(len(part.items) <= ITEMS_PER_MESSAGE for part in parts)
    numbers = [number for part in parts for number, _ in part.items]
    assert numbers == list(range(1, 153))
    # A section cut in two is titled again, and no item line is broken across messages.
    assert parts[1].text.startswith("（接上条")
    for part in parts:
        for number, item in part.items:
            assert f"{number}. {item.name}" in part.text


def test_empty_day_has_its_own_sentence() -> None:
    (part,) = layout(_due(), "en")

    assert "nothing is due today" in part.text
    assert part.items == ()


def test_short_date_in_both_languages() -> None:
    assert short_date(date(2026, 1, 5), "zh") == "1月5日周一"
    assert short_date(date(2026, 1, 5), "en") == "Mon 5 Jan"


def test_a_full_message_hands_its_next_heading_on_with_the_items() -> None:
    matured = [_policy(i, -5 - i) for i in range(1, ITEMS_PER_MESSAGE + 1)]
    due = _due([*matured, _policy(99, 0)])

    first, second = layout(due, "zh", show_all=True)

    assert len(first.items) == ITEMS_PER_MESSAGE
    assert "今天满期" not in first.text
    assert second.text.splitlines()[:2] == ["（接上条 · 满期保单）", "· 今天满期：1"]
