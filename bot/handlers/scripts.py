"""The /script command: pick a talk track by topic and part, filled in for a client.

``/script`` shows the topics as buttons; ``/script maturity`` shows that topic's parts;
``/script maturity phone`` sends one part; a client's name, honorific, pinyin or phone
digits after the topic (``/script maturity 张大姐``) fills the track in with the client,
their policy and the agent's own name. The client card's *talk track* button
(:data:`bot.links.SCRIPT_FOR_CLIENT`) opens the topics for that client.

Every button carries the client's id (or :data:`NO_CLIENT`) and short topic and part
codes; the id is checked against the agent who pressed it before anything is shown.
"""

from __future__ import annotations

import difflib
import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot.callbacks import CallbackError, Codec
from bot.context import BotContext, Buttons
from bot.i18n import LANGUAGES, t
from bot.links import SCRIPT_FOR_CLIENT
from bot.parsing import mask_phone
from bot.talktracks import (
    ScriptClient,
    ScriptContext,
    ScriptPolicy,
    UnknownScript,
    render,
    topic_title,
    topics,
    variant_title,
    variants,
)
from storage import clients as client_store
from storage import scripts as script_store
from storage.models import Client

logger = logging.getLogger(__name__)

# Database ids start at 1, so 0 in a button means "no client: the neutral wording".
NO_CLIENT: Final = 0
# The part code that stands for the whole topic.
WHOLE_TOPIC: Final = "all"

SCRIPT_MENU = Codec("sm", client_id=int)
SCRIPT_TOPIC = Codec("st", client_id=int, topic=str)
SCRIPT_PART = Codec("sv", client_id=int, topic=str, variant=str)

# Enough buttons to tell namesakes apart; more than this and typing more of the name is
# quicker than scrolling.
CLIENT_CHOICES: Final = 8
# Labels up to this display width (a Chinese character counts two) sit two to a row.
_NARROW_LABEL: Final = 16
# How alike a typed word and a part's code must be (difflib's ratio) to read as a typo:
# "phnoe" for "phone" scores 0.8, while a name such as "Smith" scores 0.6 against "visit".
_TYPO: Final = 0.75
# Only the maturity track is built around the policy, so only there does a missing
# policy deserve a word before the track.
_POLICY_TOPICS: Final = frozenset({"maturity"})


@dataclass(frozen=True)
class _Target:
    """Who a track is filled in for: the client as rendered, and how to name them."""

    client_id: int
    script: ScriptContext
    label: str
    has_policy: bool


# --- commands ----------------------------------------------------------------------------


async def script_command(update: Update, context: BotContext) -> None:
    """Read `/script [topic] [part] [client]` and show the menu or track it names."""
    words = list(context.args or [])
    if not words:
        await _send_topic_menu(context, None)
        return

    topic = _match_topic(words[0])
    if topic is None:
        await _script_for_typed_name(context, " ".join(words), None, None)
        return

    rest = words[1:]
    variant = _match_variant(topic, rest[0]) if rest else None
    if variant is not None:
        rest = rest[1:]
    if rest:
        await _script_for_typed_name(context, " ".join(rest), topic, variant)
        return

    await _show(context, None, topic, variant)


async def script_for_client(update: Update, context: BotContext) -> None:
    """Show the topics for the client whose card's *talk track* button was pressed."""
    values = await _parsed(update, context, SCRIPT_FOR_CLIENT)
    if values is None:
        return
    await _open_pressed(context, values["client_id"], None, None, allow_neutral=False)


async def script_menu(update: Update, context: BotContext) -> None:
    """Show the topics again, for the same client or none."""
    values = await _parsed(update, context, SCRIPT_MENU)
    if values is None:
        return
    await _open_pressed(context, values["client_id"], None, None, allow_neutral=True)


async def script_topic(update: Update, context: BotContext) -> None:
    """Show the parts of the pressed topic."""
    values = await _parsed(update, context, SCRIPT_TOPIC)
    if values is None:
        return
    await _open_pressed(context, values["client_id"], values["topic"], None, allow_neutral=True)


async def script_part(update: Update, context: BotContext) -> None:
    """Send the pressed part of a topic, or the whole topic."""
    values = await _parsed(update, context, SCRIPT_PART)
    if values is None:
        return
    await _open_pressed(
        context,
        values["client_id"],
        values["topic"],
        values["variant"],
        allow_neutral=True,
    )


# --- steps -------------------------------------------------------------------------------


async def _parsed(update: Update, context: BotContext, codec: Codec) -> dict[str, Any] | None:
    """Answer the button press and return its fields; data that does not parse is refused."""
    query = update.callback_query
    assert query is not None
    # Answered first, whatever follows, so the button stops spinning on the phone.
    await query.answer()
    try:
        return codec.parse(query.data)
    except CallbackError:
        await _refuse(context)
        return None


async def _open_pressed(
    context: BotContext,
    client_id: int,
    topic: str | None,
    variant: str | None,
    *,
    allow_neutral: bool,
) -> None:
    """Check a pressed button's client and codes, then show what it asks for."""
    agent = context.require_agent()
    refused = topic is not None and not _known(topic, variant)
    target = None
    if not refused and (client_id != NO_CLIENT or not allow_neutral):
        target = await _target(context, client_id)
        refused = target is None
    if refused:
        # The same words for a forged id, another agent's client, a deleted client and an
        # outdated code, so that a press learns nothing about what exists.
        logger.info("refused a talk-track button from agent %s", agent.id)
        await _refuse(context)
        return

    await _show(context, target, topic, variant)


async def _script_for_typed_name(
    context: BotContext, text: str, topic: str | None, variant: str | None
) -> None:
    """Find the client a typed name means, then open the track or ask which client."""
    agent = context.require_agent()
    async with context.db.session() as session:
        found = await script_store.find_clients_for_script(
            session, agent.id, text, limit=CLIENT_CHOICES + 1
        )
    if len(found) == 1:
        await _show(context, await _target(context, found[0].id), topic, variant)
        return
    if found:
        await _ask_which_client(context, text, found, topic, variant)
        return

    if topic is None:
        # Neither a topic nor a client: most likely a mistyped topic.
        await context.say(
            context.t(
                "talktracks.unknown_topic", topic=text.split()[0], choices=", ".join(topics())
            ),
            _topic_buttons(context.lang, NO_CLIENT),
        )
        return
    if variant is None and difflib.get_close_matches(
        _key(text), variants(topic), n=1, cutoff=_TYPO
    ):
        # A word that nearly spells a part ("phnoe") is a mistyped part, not a client.
        await context.say(
            context.t(
                "talktracks.unknown_variant",
                topic=topic,
                variant=text,
                choices=", ".join(variants(topic)),
                example=variants(topic)[0],
            ),
            _variant_buttons(context.lang, NO_CLIENT, topic),
        )
        return
    neutral = (
        SCRIPT_PART.build(client_id=NO_CLIENT, topic=topic, variant=variant)
        if variant is not None
        else SCRIPT_TOPIC.build(client_id=NO_CLIENT, topic=topic)
    )
    await context.say(
        context.t("scripts.no_client", text=text, topic=topic),
        [[(context.t("scripts.use_neutral"), neutral)]],
    )


async def _ask_which_client(
    context: BotContext,
    text: str,
    found: Sequence[Client],
    topic: str | None,
    variant: str | None,
) -> None:
    """Offer the matching clients as buttons that carry the topic and part along."""
    rows: list[list[tuple[str, str]]] = []
    for client in found[:CLIENT_CHOICES]:
        if topic is None:
            data = SCRIPT_FOR_CLIENT.build(client_id=client.id)
        elif variant is None:
            data = SCRIPT_TOPIC.build(client_id=client.id, topic=topic)
        else:
            data = SCRIPT_PART.build(client_id=client.id, topic=topic, variant=variant)
        rows.append([(_client_button(context.lang, client), data)])

    key = "scripts.choose_client_more" if len(found) > CLIENT_CHOICES else "scripts.choose_client"
    await context.say(context.t(key, text=text, count=CLIENT_CHOICES), rows)


async def _show(
    context: BotContext, target: _Target | None, topic: str | None, variant: str | None
) -> None:
    """Show the topic menu, a topic's parts or a track, for a checked client or none."""
    if topic is None:
        await _send_topic_menu(context, target)
    elif variant is None:
        await _send_variant_menu(context, target, topic)
    else:
        await _send_track(context, target, topic, variant)


async def _send_topic_menu(context: BotContext, target: _Target | None) -> None:
    """Send the topics as buttons."""
    text = (
        context.t("scripts.choose_topic_for", client=target.label)
        if target is not None
        else context.t("scripts.choose_topic")
    )
    client_id = target.client_id if target is not None else NO_CLIENT
    await context.say(text, _topic_buttons(context.lang, client_id))


async def _send_variant_menu(context: BotContext, target: _Target | None, topic: str) -> None:
    """Send one topic's parts as buttons, with *all* and a way back to the topics."""
    title = topic_title(topic, context.lang)
    text = (
        context.t("scripts.choose_part_for", client=target.label, topic=title)
        if target is not None
        else context.t("scripts.choose_part", topic=title)
    )
    client_id = target.client_id if target is not None else NO_CLIENT
    await context.say(text, _variant_buttons(context.lang, client_id, topic))


async def _send_track(
    context: BotContext, target: _Target | None, topic: str, variant: str
) -> None:
    """Render the track and send it message by message, the way back on the last one."""
    lang = context.lang
    script = target.script if target is not None else _neutral(context)
    messages = render(topic, None if variant == WHOLE_TOPIC else variant, script)

    if target is not None and not target.has_policy and topic in _POLICY_TOPICS:
        await context.say(context.t("scripts.no_policy", client=target.label))
    client_id = target.client_id if target is not None else NO_CLIENT
    back = [
        [
            (
                context.t("scripts.back_to_topic", topic=topic_title(topic, lang)),
                SCRIPT_TOPIC.build(client_id=client_id, topic=topic),
            ),
            (context.t("scripts.all_topics"), SCRIPT_MENU.build(client_id=client_id)),
        ]
    ]
    for index, message in enumerate(messages):
        await context.say(message, back if index == len(messages) - 1 else None)
    logger.debug(
        "sent talk track %s/%s in %d messages (personalised: %s)",
        topic,
        variant,
        len(messages),
        target is not None,
    )


async def _target(context: BotContext, client_id: int) -> _Target | None:
    """Load the agent's client ``client_id`` with the policy to talk about; None if not theirs."""
    agent = context.require_agent()
    today = context.today()
    async with context.db.session() as session:
        client = await client_store.get_client(session, agent.id, client_id)
        if client is None:
            return None
        policy = await script_store.policy_for_script(session, agent.id, client.id, today)

    script_policy = None
    if policy is not None and policy.maturity_date is not None:
        script_policy = ScriptPolicy(
            bank=policy.bank,
            policy_number=policy.policy_number,
            product=policy.product,
            maturity_date=policy.maturity_date,
            amount=policy.sum_insured,
            days_left=(policy.maturity_date - today).days,
        )
    script = ScriptContext(
        lang=context.lang,
        agent_name=agent.name or "",
        client=ScriptClient(name=client.name, honorific=client.honorific),
        policy=script_policy,
    )
    label = (client.honorific or "").strip() or client.name

    return _Target(client.id, script, label, script_policy is not None)


def _neutral(context: BotContext) -> ScriptContext:
    """Return the rendering context of a track for no particular client."""
    agent = context.require_agent()
    return ScriptContext(lang=context.lang, agent_name=agent.name or "")


async def _refuse(context: BotContext) -> None:
    """Answer a button that cannot be acted on, saying only that it is out of date."""
    await context.say(context.t("scripts.stale"))


# --- reading what was typed --------------------------------------------------------------


def _key(word: str) -> str:
    """Fold a typed word for comparison: case, width, dashes, underscores and spaces."""
    folded = unicodedata.normalize("NFKC", word).casefold()
    return re.sub(r"[\s_\-·]+", "", folded)


def _match_topic(word: str) -> str | None:
    """Return the topic a typed word names: its code, its title or an alias, in any language."""
    wanted = _key(word)
    for topic in topics():
        names = {topic}
        for lang in LANGUAGES:
            names.add(topic_title(topic, lang))
            names.update(t(lang, f"scripts.alias.{topic}").split(","))
        if wanted in {_key(name) for name in names if name.strip()}:
            return topic
    return None


def _match_variant(topic: str, word: str) -> str | None:
    """Return the part a typed word names: its code, its title, its number, or *all*."""
    wanted = _key(word)
    parts = variants(topic)
    if wanted.isdigit() and 1 <= int(wanted) <= len(parts):
        return parts[int(wanted) - 1]
    whole = {WHOLE_TOPIC} | {t(lang, "scripts.all") for lang in LANGUAGES}
    if wanted in {_key(name) for name in whole}:
        return WHOLE_TOPIC
    for part in parts:
        titles = {part} | {variant_title(topic, part, lang) for lang in LANGUAGES}
        if wanted in {_key(title) for title in titles}:
            return part
    return None


def _known(topic: str, variant: str | None) -> bool:
    """Tell whether a topic and part from a button are still registered."""
    try:
        parts = variants(topic)
    except UnknownScript:
        return False
    return variant is None or variant == WHOLE_TOPIC or variant in parts


# --- buttons -----------------------------------------------------------------------------


def _topic_buttons(lang: str, client_id: int) -> Buttons:
    """Return one button per topic."""
    buttons = [
        (topic_title(topic, lang), SCRIPT_TOPIC.build(client_id=client_id, topic=topic))
        for topic in topics()
    ]
    return _rows(buttons)


def _variant_buttons(lang: str, client_id: int, topic: str) -> Buttons:
    """Return one button per part of ``topic``, then *all* and the way back to the topics."""
    buttons = [
        (
            variant_title(topic, part, lang),
            SCRIPT_PART.build(client_id=client_id, topic=topic, variant=part),
        )
        for part in variants(topic)
    ]
    footer = [
        (
            t(lang, "scripts.all"),
            SCRIPT_PART.build(client_id=client_id, topic=topic, variant=WHOLE_TOPIC),
        ),
        (t(lang, "scripts.all_topics"), SCRIPT_MENU.build(client_id=client_id)),
    ]
    return [*_rows(buttons), footer]


def _rows(buttons: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """Lay buttons out two to a row when their labels are short, else one to a row."""
    per_row = 2 if all(_width(label) <= _NARROW_LABEL for label, _ in buttons) else 1
    return [buttons[start : start + per_row] for start in range(0, len(buttons), per_row)]


def _width(label: str) -> int:
    """Return a label's display width, counting wide (Chinese) characters twice."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in label)


def _client_button(lang: str, client: Client) -> str:
    """Label a client so that namesakes can be told apart: honorific and phone tail."""
    label = client.name
    honorific = (client.honorific or "").strip()
    if honorific and honorific != client.name:
        label = t(lang, "scripts.client_with_honorific", name=label, honorific=honorific)
    if client.phone:
        label = t(lang, "scripts.client_with_phone", client=label, phone=mask_phone(client.phone))
    return label


def register(application: Application) -> None:
    """Add /script and its buttons, including the client card's *talk track* button."""
    application.add_handler(CommandHandler("script", script_command))
    application.add_handler(
        CallbackQueryHandler(script_for_client, pattern=SCRIPT_FOR_CLIENT.pattern)
    )
    application.add_handler(CallbackQueryHandler(script_menu, pattern=SCRIPT_MENU.pattern))
    application.add_handler(CallbackQueryHandler(script_topic, pattern=SCRIPT_TOPIC.pattern))
    application.add_handler(CallbackQueryHandler(script_part, pattern=SCRIPT_PART.pattern))
