"""Tests for the talk-track registry, renderer and message splitter."""

from __future__ import annotations

import itertools
import re
from datetime import date
from decimal import Decimal

import jinja2
import pytest

from bot import i18n
from bot.talktracks import (
    MAX_MESSAGE_LENGTH,
    SCRIPTS_DIR,
    TOPICS,
    ScriptClient,
    ScriptContext,
    ScriptPolicy,
    UnknownScript,
    _environment,
    mask_policy_number,
    render,
    split_message,
    topic_title,
    topics,
    variant_title,
    variants,
)

FULL_NUMBER = "P2019000123456"
MASKED = "****3456"
AGENT = {"zh": "李明", "en": "Li Ming"}
HONORED = {
    "zh": ScriptClient(name="张丽华", honorific="张大姐"),
    "en": ScriptClient(name="Zhang Lihua", honorific="Mrs Zhang"),
}
PLAIN = {"zh": ScriptClient(name="王强"), "en": ScriptClient(name="Wang Qiang")}

# Every optional field filled, and every optional field missing, on both sides of maturity.
RICH_POLICY = ScriptPolicy(
    bank="工商银行",
    policy_number=FULL_NUMBER,
    product="鑫享两全",
    maturity_date=date(2025, 7, 1),
    amount=Decimal("50000"),
    days_left=12,
)
BARE_POLICY = ScriptPolicy(
    bank=None,
    policy_number=FULL_NUMBER,
    product=None,
    maturity_date=date(2025, 6, 16),
    amount=None,
    days_left=-3,
)
EDGE_POLICIES = [
    ScriptPolicy(
        bank="",
        policy_number=FULL_NUMBER,
        product=" ",
        maturity_date=date(2025, 6, 19),
        amount=Decimal("0"),
        days_left=days,
    )
    for days in (0, 1, -1)
]

# Variants whose lines the agent signs with their own name.
SIGNED = {
    ("maturity", "phone"),
    ("maturity", "visit"),
    ("referral", "approach"),
    ("bank", "counter"),
    *(("events", name) for name in variants("events")),
    *(("warm", name) for name in ("cat2", "cat7", "cat8", "cat9", "cat11", "cat13")),
}

ALL_VARIANTS = [
    (topic.name, name, lang)
    for topic in TOPICS
    for name in topic.variants
    for lang in i18n.LANGUAGES
]
LEAKS = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}|\bNone\b|Undefined")


def _contexts(lang: str) -> list[tuple[str, ScriptContext]]:
    agent = AGENT[lang]
    return [
        ("client-policy", ScriptContext(lang, agent, HONORED[lang], RICH_POLICY)),
        ("client-only", ScriptContext(lang, agent, HONORED[lang])),
        ("no-client", ScriptContext(lang, agent)),
        ("plain-client-bare-policy", ScriptContext(lang, agent, PLAIN[lang], BARE_POLICY)),
        ("policy-only", ScriptContext(lang, agent, None, RICH_POLICY)),
        *(
            (f"edge-{policy.days_left}", ScriptContext(lang, agent, PLAIN[lang], policy))
            for policy in EDGE_POLICIES
        ),
    ]


def _assert_clean(messages: list[str]) -> None:
    assert messages
    for message in messages:
        assert message.strip() == message
        assert message
        assert len(message.encode("utf-16-le")) // 2 <= MAX_MESSAGE_LENGTH
        assert not LEAKS.search(message), LEAKS.search(message)


@pytest.mark.parametrize(("topic", "variant", "lang"), ALL_VARIANTS)
def test_every_variant_renders_cleanly_in_every_context(topic: str, variant: str, lang: str):
    for label, ctx in _contexts(lang):
        messages = render(topic, variant, ctx)

        _assert_clean(messages)
        text = "\n".join(messages)
        assert FULL_NUMBER not in text, label
        if ctx.client is not None:
            assert (ctx.client.honorific or ctx.client.name) in text, label
        if ctx.policy is not None and topic == "maturity":
            assert MASKED in text, label
        if (topic, variant) in SIGNED:
            assert ctx.agent_name in text, label


@pytest.mark.parametrize("topic", topics())
@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_whole_topic_renders_every_variant_in_order(topic: str, lang: str):
    ctx = ScriptContext(lang, AGENT[lang], HONORED[lang], RICH_POLICY)

    text = "\n".join(render(topic, None, ctx))

    positions = [text.index(variant_title(topic, name, lang)) for name in variants(topic)]
    assert positions == sorted(positions)


def test_whole_topic_never_leaves_a_heading_without_its_text():
    ctx = ScriptContext("en", AGENT["en"], HONORED["en"], RICH_POLICY)

    messages = render("warm", None, ctx)

    assert len(messages) > 1
    headings = {
        i18n.t(
            "en",
            "talktracks.heading",
            topic=topic_title("warm", "en"),
            variant=variant_title("warm", name, "en"),
        )
        for name in variants("warm")
    }
    for message in messages:
        assert message.split("\n\n")[-1] not in headings
    assert all(message.split("\n\n")[0] in headings for message in messages)


def test_whole_topic_packs_short_sections_into_one_message():
    ctx = ScriptContext("en", AGENT["en"], HONORED["en"], RICH_POLICY)

    messages = render("events", None, ctx)

    assert len(messages) == 1
    assert messages[0].count("— Event invitations ·") == len(variants("events"))


def test_maturity_phone_fills_in_the_policy_in_chinese():
    ctx = ScriptContext("zh", "李明", HONORED["zh"], RICH_POLICY)

    text = "\n".join(render("maturity", "phone", ctx))

    assert "张大姐，您好！我是李明" in text
    assert "还有12天到期" in text
    assert "工商银行" in text
    assert "2025年7月1日" in text
    assert "¥50,000" in text


def test_maturity_phone_says_how_long_ago_a_policy_matured_in_english():
    ctx = ScriptContext("en", "Li Ming", PLAIN["en"], BARE_POLICY)

    text = "\n".join(render("maturity", "phone", ctx))

    assert "matured 3 days ago" in text
    assert "Hello Wang Qiang, this is Li Ming" in text


def test_referral_acknowledge_thanks_the_referrer_by_name():
    ctx = ScriptContext("zh", "李明", HONORED["zh"])

    first = render("referral", "acknowledge", ctx)[0]

    assert first.startswith(f"【{topic_title('referral', 'zh')}｜")
    assert "张大姐，今天真谢谢您" in first


def test_neutral_wording_without_a_client_addresses_them_politely():
    zh = "\n".join(render("maturity", "phone", ScriptContext("zh", "李明")))
    en = "\n".join(render("objections", "cash", ScriptContext("en", "Li Ming")))

    assert "您好！我是李明" in zh
    assert "Of course. It's your money" in en


def test_blank_agent_name_falls_back_to_a_neutral_title():
    messages = render("events", "appreciation", ScriptContext("zh", "  ", HONORED["zh"]))

    text = "\n".join(messages)
    assert f"我是{i18n.t('zh', 'talktracks.neutral_agent')}" in text
    assert "我是。" not in text


def test_client_without_name_or_honorific_is_treated_as_unknown():
    nameless = ScriptContext("en", "Li Ming", ScriptClient(name=" ", honorific=""))

    assert render("bank", "counter", nameless) == render(
        "bank", "counter", ScriptContext("en", "Li Ming")
    )


def test_unsupported_language_falls_back_to_chinese():
    messages = render("followup", "a", ScriptContext("fr", "李明", HONORED["zh"]))

    assert "【" in messages[0]
    assert "张大姐" in messages[0]


def test_unknown_topic_raises_unknown_script_with_a_catalog_message():
    with pytest.raises(UnknownScript) as caught:
        render("weather", None, ScriptContext("en", "Li Ming"))

    assert isinstance(caught.value, KeyError)
    assert caught.value.key == "talktracks.unknown_topic"
    message = caught.value.message("en")
    assert "weather" in message
    assert "maturity" in message


def test_unknown_variant_raises_unknown_script_naming_the_choices():
    with pytest.raises(UnknownScript) as caught:
        render("maturity", "lunch", ScriptContext("zh", "李明"))

    assert caught.value.key == "talktracks.unknown_variant"
    message = caught.value.message("zh")
    assert "lunch" in message
    assert "/script maturity phone" in message


@pytest.mark.parametrize(
    "call",
    [
        lambda: variants("nope"),
        lambda: topic_title("nope", "zh"),
        lambda: variant_title("maturity", "nope", "en"),
    ],
)
def test_registry_lookups_reject_unknown_names(call):
    with pytest.raises(UnknownScript):
        call()


def test_topics_are_offered_in_registry_order():
    assert topics() == [topic.name for topic in TOPICS]
    assert topics()[0] == "maturity"
    assert "acknowledge" in variants("referral")
    assert variants("warm") == [f"cat{number}" for number in range(1, 14)]
    assert variants("followup") == ["d", "c", "b", "a"]


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_every_topic_and_variant_has_a_title_in_each_language(lang: str):
    for topic in TOPICS:
        assert i18n.has(lang, f"talktracks.topic.{topic.name}")
        assert topic_title(topic.name, lang)
        for name in topic.variants:
            assert i18n.has(lang, f"talktracks.variant.{topic.name}.{name}")


def test_talktrack_catalogs_have_the_same_keys_in_both_languages():
    def keys(lang: str) -> set[str]:
        return {key for key in i18n.catalog(lang) if key.startswith("talktracks.")}

    assert keys("zh") == keys("en")


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_each_template_defines_exactly_the_registered_variants_in_order(lang: str):
    env = _environment(lang)

    for topic in TOPICS:
        template = env.get_template(f"{lang}/{topic.name}.j2")
        assert tuple(template.blocks) == topic.variants, (lang, topic.name)


def test_both_languages_hold_the_same_template_files_and_no_unregistered_topic():
    def names(lang: str) -> set[str]:
        return {path.name for path in (SCRIPTS_DIR / lang).glob("*.j2")}

    assert names("zh") == names("en")
    registered = {f"{name}.j2" for name in topics()}
    assert {name for name in names("zh") if not name.startswith("_")} == registered


def test_printing_none_in_a_track_fails_loudly():
    template = _environment("en").from_string("Hello {{ who }}")

    with pytest.raises(jinja2.TemplateRuntimeError):
        template.render(who=None)


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        (FULL_NUMBER, MASKED),
        ("8800 1234 5678", "****5678"),
        ("12345", "****2345"),
        ("1234", "****"),
        ("", "****"),
    ],
)
def test_mask_policy_number_keeps_only_the_last_four(number: str, masked: str):
    assert mask_policy_number(number) == masked


def test_split_keeps_short_text_whole():
    assert split_message("  one\n\ntwo  ") == ["one\n\ntwo"]


def test_split_packs_paragraphs_without_breaking_them():
    paragraphs = [f"paragraph {index} " + "x" * (index * 4) for index in range(40)]
    text = "\n\n".join(paragraphs)

    messages = split_message(text, limit=200)

    assert all(len(message) <= 200 for message in messages)
    assert [p for message in messages for p in message.split("\n\n")] == paragraphs
    # Greedy packing: no two neighbouring messages would have fitted in one.
    for first, second in itertools.pairwise(messages):
        assert len(first) + 2 + len(second.split("\n\n")[0]) > 200


def test_split_breaks_an_oversized_paragraph_at_line_ends():
    lines = [f"line {index}: " + "y" * 30 for index in range(10)]
    text = "intro\n\n" + "\n".join(lines) + "\n\noutro"

    messages = split_message(text, limit=100)

    pairs = ["\n".join(lines[index : index + 2]) for index in range(0, 10, 2)]
    assert messages == [f"intro\n\n{pairs[0]}", *pairs[1:4], f"{pairs[4]}\n\noutro"]


def test_split_breaks_a_single_long_line_at_sentence_ends():
    text = "这是一句很长的话，用来测试。" * 30

    messages = split_message(text, limit=50)

    assert all(len(message) <= 50 for message in messages)
    assert all(message.endswith("。") for message in messages)
    assert "".join(messages) == text


def test_split_keeps_latin_decimals_together():
    text = "Rates rose 3.5 percent. " * 20

    messages = split_message(text.strip(), limit=60)

    assert all(len(message) <= 60 for message in messages)
    assert all("3.5 percent." in message for message in messages)


def test_split_hard_cuts_a_run_without_any_boundary():
    text = "z" * 250

    messages = split_message(text, limit=100)

    assert [len(message) for message in messages] == [100, 100, 50]


def test_split_counts_emoji_as_two_units():
    text = "😀" * 60

    messages = split_message(text, limit=100)

    assert [len(message) for message in messages] == [50, 10]


def test_split_default_limit_is_telegrams():
    text = "\n\n".join("段落" + "字" * 998 for _ in range(9))

    messages = split_message(text)

    assert len(messages) == 3
    assert all(len(message) <= MAX_MESSAGE_LENGTH for message in messages)


def test_split_rejects_a_limit_below_one():
    with pytest.raises(ValueError, match="at least 1"):
        split_message("text", limit=0)
