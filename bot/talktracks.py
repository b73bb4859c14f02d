"""Talk tracks: the registry of topics and variants, and their renderer.

A talk track is a Jinja2 template per topic and language,
``bot/scripts/<lang>/<topic>.j2``; each variant of the topic is one
``{% block %}`` in that file. Adding a topic is adding one template per
language and one :class:`Topic` line to :data:`TOPICS`.

:func:`render` fills a track with what the agent knows about the client and
their policy and returns plain-text messages that fit Telegram's length limit.
``variant=None`` renders the whole topic: every variant in registry order,
each under its own heading. Nothing here touches Telegram or the database.

Templates see these names:

* ``agent`` — the agent's own name (a neutral "your client manager" if blank);
* ``client`` — ``None`` or an object with ``name``, ``honorific`` (``None`` if
  not given) and ``address`` (the honorific, else the name);
* ``policy`` — ``None`` or an object with ``bank``, ``product`` and ``amount``
  (each possibly ``None``), ``number`` (already masked to ``****1234``; the
  full number never reaches a template), ``maturity_date`` and ``days_left``;
* filters ``date`` and ``money`` (formatted for the language) and ``due``
  (``12`` → "还有12天到期" / "matures in 12 days").

Printing ``None`` is an error, so an optional value must be guarded with
``{% if %}``; the tests render every track with and without each value.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache, partial
from pathlib import Path
from typing import Any, Final

import jinja2

from bot.i18n import DEFAULT_LANGUAGE, LANGUAGES, t
from bot.parsing import format_date, format_money

__all__ = [
    "MAX_MESSAGE_LENGTH",
    "TOPICS",
    "ScriptClient",
    "ScriptContext",
    "ScriptPolicy",
    "Topic",
    "UnknownScript",
    "mask_policy_number",
    "render",
    "split_message",
    "topic_title",
    "topics",
    "variant_title",
    "variants",
]

logger = logging.getLogger(__name__)

SCRIPTS_DIR: Final = Path(__file__).parent / "scripts"

# Telegram's cap on a text message. Lengths are counted in UTF-16 code units, which is
# never less than Telegram's own count, so a message that passes here is never refused.
MAX_MESSAGE_LENGTH: Final = 4096

_MASK: Final = "****"
_VISIBLE_DIGITS: Final = 4


@dataclass(frozen=True)
class Topic:
    """One talk-track topic and its variants, in the order they are offered."""

    name: str
    variants: tuple[str, ...]


TOPICS: Final[tuple[Topic, ...]] = (
    Topic("maturity", ("phone", "visit", "materials", "renewal", "cautions")),
    Topic(
        "objections",
        ("committed", "cash", "distrust", "deposit", "family", "bad_experience"),
    ),
    Topic(
        "referral",
        ("acknowledge", "names", "scopes", "confirm", "more", "approach", "refusal"),
    ),
    Topic("warm", tuple(f"cat{number}" for number in range(1, 14))),
    Topic("bank", ("qualify", "counter")),
    Topic("events", ("appreciation", "dividend", "upgrade", "launch", "points")),
    Topic("followup", ("d", "c", "b", "a")),
)


@dataclass(frozen=True)
class ScriptClient:
    """The client a talk track is addressed to."""

    name: str
    honorific: str | None = None


@dataclass(frozen=True)
class ScriptPolicy:
    """The client's policy a talk track talks about; ``days_left`` is negative once matured."""

    bank: str | None
    policy_number: str
    product: str | None
    maturity_date: date
    amount: Decimal | None
    days_left: int


@dataclass(frozen=True)
class ScriptContext:
    """Everything a talk track is filled in with."""

    lang: str
    agent_name: str
    client: ScriptClient | None = None
    policy: ScriptPolicy | None = None


class UnknownScript(KeyError):
    """A topic or variant that is not registered; ``key`` and ``values`` form the user message."""

    def __init__(self, key: str, **values: str) -> None:
        super().__init__(key)
        self.key = key
        self.values = values

    def message(self, lang: str) -> str:
        """Render the explanation for the user in ``lang``."""
        return t(lang, self.key, **self.values)

    def __str__(self) -> str:
        # KeyError quotes its argument; the catalog key and values read better plainly.
        return f"{self.key} {self.values}"


@dataclass(frozen=True)
class _ClientView:
    name: str
    honorific: str | None
    address: str


@dataclass(frozen=True)
class _PolicyView:
    bank: str | None
    number: str
    product: str | None
    maturity_date: date
    amount: Decimal | None
    days_left: int


def topics() -> list[str]:
    """Return the topic names in the order they are offered."""
    return [topic.name for topic in TOPICS]


def variants(topic: str) -> list[str]:
    """Return the variant names of ``topic`` in order, or raise :class:`UnknownScript`."""
    return list(_find_topic(topic).variants)


def topic_title(topic: str, lang: str) -> str:
    """Return the button title of ``topic`` in ``lang``."""
    _find_topic(topic)
    return t(_language(lang), f"talktracks.topic.{topic}")


def variant_title(topic: str, variant: str, lang: str) -> str:
    """Return the button title of one variant of ``topic`` in ``lang``."""
    _check_variant(_find_topic(topic), variant)
    return t(_language(lang), f"talktracks.variant.{topic}.{variant}")


def render(topic: str, variant: str | None, ctx: ScriptContext) -> list[str]:
    """Fill one variant (or, for ``None``, the whole topic) and return Telegram-ready texts."""
    registered = _find_topic(topic)
    if variant is not None:
        _check_variant(registered, variant)
    lang = _language(ctx.lang)
    chosen = registered.variants if variant is None else (variant,)

    template = _environment(lang).get_template(f"{lang}/{topic}.j2")
    values = _template_values(ctx, lang)
    messages: list[str] = []
    for name in chosen:
        body = "".join(template.blocks[name](template.new_context(values)))
        heading = t(
            lang,
            "talktracks.heading",
            topic=topic_title(topic, lang),
            variant=variant_title(topic, name, lang),
        )
        chunks = split_message(f"{heading}\n\n{_tidy(body)}")
        # A section may share the previous message only from its start, so a heading is
        # never left at the bottom of one message with its text in the next.
        if messages and _units(f"{messages[-1]}\n\n{chunks[0]}") <= MAX_MESSAGE_LENGTH:
            messages[-1] = f"{messages[-1]}\n\n{chunks.pop(0)}"
        messages.extend(chunks)
    logger.debug("rendered talk track %s/%s in %s", topic, variant or "*", lang)

    return messages


def mask_policy_number(number: str) -> str:
    """Hide a policy number but its last four characters (``****1234``); short ones entirely."""
    compact = "".join(number.split())
    # A number of four characters or fewer would be shown whole, so none of it is shown.
    if len(compact) <= _VISIBLE_DIGITS:
        return _MASK
    return _MASK + compact[-_VISIBLE_DIGITS:]


def split_message(text: str, limit: int = MAX_MESSAGE_LENGTH) -> list[str]:
    """Split ``text`` into non-empty messages of at most ``limit``, at the cleanest boundaries."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit!r}")
    chunks = _split(text.strip(), limit, 0)
    return [chunk.strip() for chunk in chunks if chunk.strip()]


def _find_topic(name: str) -> Topic:
    for topic in TOPICS:
        if topic.name == name:
            return topic
    raise UnknownScript("talktracks.unknown_topic", topic=name, choices=", ".join(topics()))


def _check_variant(topic: Topic, variant: str) -> None:
    if variant not in topic.variants:
        raise UnknownScript(
            "talktracks.unknown_variant",
            topic=topic.name,
            variant=variant,
            choices=", ".join(topic.variants),
            example=topic.variants[0],
        )


def _language(lang: str) -> str:
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


@cache
def _environment(lang: str) -> jinja2.Environment:
    # One environment per language, so the filters know their language without
    # reaching into the template context (included templates see the same filters).
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(SCRIPTS_DIR),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_refuse_none,
    )
    filters: dict[str, Callable[..., str]] = {
        "date": partial(format_date, lang=lang),
        "money": partial(format_money, lang=lang),
        "due": partial(_due, lang=lang),
    }
    env.filters.update(filters)
    return env


def _refuse_none(value: Any) -> Any:
    # A printed None would reach the client as the word "None"; failing loudly makes
    # the every-combination test catch a template that forgot an {% if %} guard.
    if value is None:
        raise jinja2.TemplateRuntimeError("a talk track printed None; guard it with {% if %}")
    return value


def _due(days_left: int, lang: str) -> str:
    if days_left == 0:
        return t(lang, "talktracks.due.today")
    if days_left == 1:
        return t(lang, "talktracks.due.ahead_one")
    if days_left == -1:
        return t(lang, "talktracks.due.past_one")
    if days_left > 0:
        return t(lang, "talktracks.due.ahead", days=days_left)
    return t(lang, "talktracks.due.past", days=-days_left)


def _template_values(ctx: ScriptContext, lang: str) -> dict[str, object]:
    agent = ctx.agent_name.strip() or t(lang, "talktracks.neutral_agent")
    return {
        "agent": agent,
        "client": _client_view(ctx.client),
        "policy": _policy_view(ctx.policy),
    }


def _client_view(client: ScriptClient | None) -> _ClientView | None:
    if client is None:
        return None
    name = client.name.strip()
    honorific = (client.honorific or "").strip() or None
    address = honorific or name
    # A client with neither name nor honorific is addressed like an unknown one.
    if not address:
        return None
    return _ClientView(name=name or address, honorific=honorific, address=address)


def _policy_view(policy: ScriptPolicy | None) -> _PolicyView | None:
    if policy is None:
        return None
    return _PolicyView(
        bank=(policy.bank or "").strip() or None,
        number=mask_policy_number(policy.policy_number),
        product=(policy.product or "").strip() or None,
        maturity_date=policy.maturity_date,
        amount=policy.amount,
        days_left=policy.days_left,
    )


def _tidy(text: str) -> str:
    # Conditional lines in the templates leave trailing spaces and runs of blank lines.
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _paragraphs(text: str) -> tuple[list[str], str]:
    return re.split(r"\n[ \t]*\n\s*", text), "\n\n"


def _lines(text: str) -> tuple[list[str], str]:
    return text.split("\n"), "\n"


def _sentences(text: str) -> tuple[list[str], str]:
    # Chinese stops end a sentence at once; Latin ones only before a space, so that
    # "3.5" or "No.7" stay whole. The pieces keep their punctuation and spacing.
    return re.split(r"(?<=[。！？；…])|(?<=[.!?;])(?=\s)", text), ""


_SPLITTERS: Final[tuple[Callable[[str], tuple[list[str], str]], ...]] = (
    _paragraphs,
    _lines,
    _sentences,
)


def _split(text: str, limit: int, level: int) -> list[str]:
    if _units(text) <= limit:
        return [text]
    if level == len(_SPLITTERS):
        return _hard_cut(text, limit)

    parts, joiner = _SPLITTERS[level](text)
    chunks: list[str] = []
    current = ""
    for part in parts:
        for piece in _split(part, limit, level + 1):
            candidate = f"{current}{joiner}{piece}" if current else piece
            if _units(candidate) <= limit:
                current = candidate
                continue
            if current:
                chunks.append(current)
            current = piece
    if current:
        chunks.append(current)

    return chunks


def _hard_cut(text: str, limit: int) -> list[str]:
    # Last resort for a run with no boundary at all: cut by code points so that no
    # character is broken, counting the two UTF-16 units an astral character takes.
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for char in text:
        width = _units(char)
        if current and size + width > limit:
            chunks.append("".join(current))
            current, size = [], 0
        current.append(char)
        size += width
    if current:
        chunks.append("".join(current))
    return chunks
