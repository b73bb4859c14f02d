"""Callback codecs: round trips, the 64-byte limit, and forged or stale data."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.callbacks import CallbackError, Codec

SAMPLE = Codec("tst", item_id=int, action=str)


def test_build_and_parse_round_trip() -> None:
    data = SAMPLE.build(item_id=42, action="log")

    assert data == "tst:42:log"
    assert SAMPLE.parse(data) == {"item_id": 42, "action": "log"}
    assert SAMPLE.matches(data) and not SAMPLE.matches("tstx:1:a")


def test_data_over_64_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="64 bytes"):
        SAMPLE.build(item_id=1, action="长" * 30)


def test_a_prefix_can_only_be_taken_once() -> None:
    with pytest.raises(ValueError, match="already taken"):
        Codec("tst", other=int)


@pytest.mark.parametrize("forged", ["", "tst", "tst:abc:log", "tst:1", "tst:1:a:b", "x:1:a"])
def test_forged_data_raises_callback_error(forged: str) -> None:
    with pytest.raises(CallbackError):
        SAMPLE.parse(forged)


@given(st.text(max_size=80))
def test_no_string_makes_parse_raise_anything_else(data: str) -> None:
    with contextlib.suppress(CallbackError):
        SAMPLE.parse(data)
