"""Splitting long messages under Telegram's limit."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.context import split_text


def test_short_text_is_one_message() -> None:
    assert split_text("你好") == ["你好"]
    assert split_text("   ") == []


def test_paragraphs_are_kept_whole_when_they_fit() -> None:
    paragraphs = [f"第{i}段。" + "话" * 1500 for i in range(5)]

    parts = split_text("\n\n".join(paragraphs))

    assert all(len(part) <= 4096 for part in parts)
    for paragraph in paragraphs:
        assert any(paragraph in part for part in parts)


def test_an_overlong_paragraph_is_cut_at_sentence_ends() -> None:
    paragraph = "这是一句话。" * 1200

    parts = split_text(paragraph)

    assert len(parts) > 1
    assert all(len(part) <= 4096 and part.endswith("。") for part in parts)


@given(st.text(alphabet=st.sampled_from(["a", " ", "\n", "。", "字"]), max_size=12000))
def test_no_part_is_over_the_limit_and_no_word_is_lost(text: str) -> None:
    parts = split_text(text, limit=500)

    assert all(0 < len(part) <= 500 for part in parts)
    assert "".join("".join(parts).split()) == "".join(text.split())
