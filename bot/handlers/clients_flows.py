"""What the client book's guided conversations share, and the two small ones: finding a
client when no name came with /find or /client, and /forget_me.

The shared pieces read names, phones and typed labels, pick a client by a typed name or a
pressed button, ask for a follow-up date, and record where a client came from (the source
steps that /add and editing both walk). A client id kept in a draft is looked up again,
scoped to the agent, at every step that uses it: the client may have been deleted in the
meantime, and a pressed button's value may be forged.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, timedelta
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from bot.context import Buttons
from bot.flows import END, Answer, Flow, Turn
from bot.handlers import clients_views as views
from bot.i18n import LANGUAGES, t
from bot.parsing import MAX_NAME_LENGTH, ParseError, format_date, parse_date, parse_int_in_range
from storage import clients as store
from storage.agents import delete_agent_data
from storage.choices import SOURCES, WARM_CATEGORIES
from storage.models import Agent, Client

logger = logging.getLogger(__name__)

SKIP: Final = "skip"
CLEAR: Final = "clear"
# How many clients a "which one did you mean" question offers as buttons.
PICK_LIMIT: Final = 8
# How many search results a find shows before asking for more of the name.
FIND_LIMIT: Final = 10
NOTE_LIMIT: Final = 1000
# Quick follow-up buttons: days from today.
FOLLOWUP_OFFSETS: Final = (1, 3, 7, 30)


# --- shared pieces --------------------------------------------------------------------------


def clean_name(text: str | None) -> str | None:
    """Return a client's name trimmed to single spaces, or None if it cannot be a name.

    A name needs a letter: digits alone are a phone number typed one step too early.
    """
    name = " ".join((text or "").split())
    if not name or len(name) > MAX_NAME_LENGTH or not any(ch.isalpha() for ch in name):
        return None
    return name


# A name followed by something that looks like a phone number: "张三 138 1234 5678".
_NAME_THEN_PHONE: Final = re.compile(r"(?P<name>.*?[^\d\s+])\s*(?P<phone>\+?\d[\d\s()-]{5,})")


def split_name_and_phone(text: str) -> tuple[str, str | None]:
    """Split ``张三 138 1234 5678`` into the name and the phone-like tail, if there is one."""
    match = _NAME_THEN_PHONE.fullmatch(text.strip())
    if match:
        return match["name"], match["phone"]
    return text, None


def typed_choice(text: str | None, group: str, codes: Sequence[object]) -> str | None:
    """Match typed text against the labels of a vocabulary, in any language."""
    wanted = fold(text or "")
    if not wanted:
        return None
    for code in codes:
        for lang in LANGUAGES:
            label = t(lang, f"{group}.{code}")
            # "A：1个月内可促成" is also chosen by typing just "A".
            if wanted in (fold(label), fold(label.split("：")[0].split(":")[0])):
                return str(code)
    return None


def fold(text: str) -> str:
    """Fold width, case and spaces away so typed text compares with a label."""
    return "".join(unicodedata.normalize("NFKC", text).casefold().split())


def in_rows(buttons: list[tuple[str, str]], width: int = 2) -> list[list[tuple[str, str]]]:
    """Lay buttons out ``width`` to a row."""
    return [buttons[i : i + width] for i in range(0, len(buttons), width)]


async def card_message(
    session: AsyncSession, agent: Agent, client_id: int, today: date
) -> tuple[str, Buttons] | None:
    """Return a client's card and its buttons, or None if the client is not the agent's."""
    details = await store.client_details(session, agent.id, client_id)
    if details is None:
        return None
    return (
        views.card_text(details, agent.language, agent.timezone, today),
        views.card_buttons(details, agent.language),
    )


def found_message(
    clients: Sequence[Client], text: str, lang: str, *, limit: int = FIND_LIMIT
) -> tuple[str, Buttons]:
    """Return search results: one line and one button per client, with a note when cut short."""
    shown = clients[:limit]
    lines = [t(lang, "clients.find.found", text=text, count=len(shown))]
    lines += [f"{n}. {views.client_line(c, lang)}" for n, c in enumerate(shown, start=1)]
    if len(clients) > limit:
        lines += ["", t(lang, "clients.find.more", limit=limit)]
    return "\n".join(lines), views.client_buttons(shown)


def exact_match(clients: Sequence[Client], text: str) -> Client | None:
    """Return the one client a search means: the only result, or the only exact name."""
    if len(clients) == 1:
        return clients[0]
    exact = [c for c in clients if c.name == text.strip()]
    return exact[0] if len(exact) == 1 else None


async def client_of(turn: Turn, key: str = "client_id") -> Client | None:
    """Look up the client a draft names, scoped to the agent; None if gone or not theirs."""
    client_id = turn.data.get(key)
    if not isinstance(client_id, int):
        return None
    return await store.get_client(turn.session, turn.agent.id, client_id)


def end_gone(turn: Turn) -> str:
    """End the conversation because its client is no longer in the book."""
    turn.send(turn.t("clients.gone"))
    return END


def today_of(turn: Turn) -> date:
    """Return today in the agent's time zone."""
    return turn.context.today()


Chosen = Callable[[Turn], Awaitable[str]]


async def read_pick(
    turn: Turn, answer: Answer, *, key: str, query_key: str, pick_step: str, chosen: Chosen
) -> str:
    """Choose a client from a pressed button or a typed name; several matches ask which."""
    if answer.choice is not None:
        client_id = int(answer.choice) if answer.choice.isdigit() else -1
        client = await store.get_client(turn.session, turn.agent.id, client_id)
        if client is None:
            return turn.retry("clients.gone_retry")
        turn.data[key] = client.id
        return await chosen(turn)

    text = " ".join((answer.text or "").split())
    if not text:
        return turn.retry("clients.pick.type_name")
    found = await store.search_clients(turn.session, turn.agent.id, text, limit=PICK_LIMIT)
    if not found:
        return turn.retry("clients.pick.not_found", text=text[:30])
    match = exact_match(found, text)
    if match is not None:
        turn.data[key] = match.id
        return await chosen(turn)
    turn.data[query_key] = text
    return pick_step


async def ask_pick(turn: Turn, query_key: str) -> None:
    """Offer the clients matching the stored search as buttons."""
    query = str(turn.data.get(query_key, ""))
    found = await store.search_clients(turn.session, turn.agent.id, query, limit=PICK_LIMIT)
    buttons = [[turn.button(views.pick_label(c), str(c.id))] for c in found]
    turn.ask(turn.t("clients.pick.which", text=query), buttons)


# --- source steps, shared by /add and editing -----------------------------------------------


class SourceSteps(Flow):
    """The steps that record where a client came from: source, warm category, referrer."""

    async def source_chosen(self, turn: Turn) -> str:
        """Act on the finished source answers and return the next step."""
        raise NotImplementedError

    async def ask_source(self, turn: Turn) -> None:
        """Offer the six sources as buttons."""
        buttons = [turn.button(turn.t(f"choices.source.{s}"), s) for s in SOURCES]
        turn.ask(turn.t("clients.source.ask"), in_rows(buttons))

    async def on_source(self, turn: Turn, answer: Answer) -> str:
        """Store the source; warm market asks the category, referral asks the referrer."""
        code = answer.choice if answer.choice in SOURCES else None
        code = code or typed_choice(answer.text, "choices.source", SOURCES)
        if code is None:
            return turn.retry("clients.source.press")
        turn.data["source"] = code
        turn.data.pop("warm_category", None)
        turn.data.pop("referrer_id", None)

        if code == "warm":
            return "warm_category"
        if code == "referral":
            return "referrer"
        return await self.source_chosen(turn)

    async def ask_warm_category(self, turn: Turn) -> None:
        """Offer the 13 warm-market categories."""
        buttons = [
            [turn.button(f"{n}. {turn.t(f'choices.warm.{n}')}", str(n))] for n in WARM_CATEGORIES
        ]
        turn.ask(turn.t("clients.source.ask_warm"), buttons)

    async def on_warm_category(self, turn: Turn, answer: Answer) -> str:
        """Store the warm-market category, pressed or typed as its number."""
        try:
            number = parse_int_in_range(
                answer.choice or answer.text or "", 1, len(WARM_CATEGORIES)
            )
        except ParseError as error:
            return turn.retry(error.key, **error.values)
        turn.data["warm_category"] = number
        return await self.source_chosen(turn)

    async def ask_referrer(self, turn: Turn) -> None:
        """Ask who referred the client, by part of their name."""
        skip = [[turn.button(turn.t("clients.source.no_referrer"), SKIP)]]
        turn.ask(turn.t("clients.source.ask_referrer"), skip)

    async def on_referrer(self, turn: Turn, answer: Answer) -> str:
        """Find the referrer in the book; several matches are offered as buttons."""
        if answer.choice == SKIP:
            return await self.source_chosen(turn)
        return await read_pick(
            turn,
            answer,
            key="referrer_id",
            query_key="referrer_query",
            pick_step="referrer_pick",
            chosen=self._referrer_chosen,
        )

    async def ask_referrer_pick(self, turn: Turn) -> None:
        """Offer the clients whose name matched the typed referrer."""
        await ask_pick(turn, "referrer_query")

    async def on_referrer_pick(self, turn: Turn, answer: Answer) -> str:
        """Take the pressed referrer, or search again with new text."""
        return await self.on_referrer(turn, answer)

    async def _referrer_chosen(self, turn: Turn) -> str:
        if turn.data.get("referrer_id") == turn.data.get("client_id"):
            turn.data.pop("referrer_id", None)
            return turn.retry("clients.source.self_referral")
        return await self.source_chosen(turn)


def followup_buttons(turn: Turn, *, skip: bool = False, clear: bool = False) -> Buttons:
    buttons = [
        turn.button(turn.t(f"clients.follow.in_{days}"), f"+{days}") for days in FOLLOWUP_OFFSETS
    ]
    rows = in_rows(buttons)
    if skip:
        rows.append([turn.button(turn.t("clients.follow.none"), SKIP)])
    if clear:
        rows.append([turn.button(turn.t("clients.follow.clear"), CLEAR)])
    return rows


def read_followup(turn: Turn, answer: Answer) -> date:
    """Read a follow-up date from a quick button or typed text; it may not be in the past."""
    today = today_of(turn)
    # Only the offered offsets count: a forged "+99999999" must not reach date arithmetic.
    quick = {f"+{days}": days for days in FOLLOWUP_OFFSETS}
    if answer.choice in quick:
        return today + timedelta(days=quick[answer.choice])
    day = parse_date(answer.text or "", today)
    if day < today:
        raise ParseError("clients.follow.past", text=format_date(day, turn.lang))
    return day


# --- finding by a typed name ----------------------------------------------------------------


class FindFlow(Flow):
    """/find or /client without a name: ask for it, then show the card or the matches."""

    name = "find"
    first_step = "query"
    command = "find"

    async def ask_query(self, turn: Turn) -> None:
        """Ask what to search for."""
        turn.ask(turn.t("clients.find.ask"))

    async def on_query(self, turn: Turn, answer: Answer) -> str:
        """Search; one match opens its card, several are listed."""
        text = " ".join((answer.text or "").split())
        if not text:
            return turn.retry("clients.pick.type_name")
        found = await store.search_clients(turn.session, turn.agent.id, text, limit=FIND_LIMIT + 1)
        if not found:
            return turn.retry("clients.pick.not_found", text=text[:30])
        match = exact_match(found, text)
        card = None
        if match is not None:
            card = await card_message(turn.session, turn.agent, match.id, today_of(turn))
        turn.send(*(card or found_message(found, text, turn.lang)))
        return END


# --- /forget_me -----------------------------------------------------------------------------


class ForgetMeFlow(Flow):
    """/forget_me: say what will be deleted, ask to type a word, then delete everything."""

    name = "forget_me"
    first_step = "confirm"
    command = "forget_me"
    answers_by_label = False  # ask_erase deletes; it must not run as a dry run

    @staticmethod
    def words() -> set[str]:
        """Return the confirmation words, folded; either language's word is accepted."""
        return {fold(t(lang, "clients.forget.word")) for lang in LANGUAGES}

    async def ask_confirm(self, turn: Turn) -> None:
        """Say what will be deleted and which word confirms it."""
        count = await store.count_clients(turn.session, turn.agent.id)
        word = turn.t("clients.forget.word")
        turn.ask(turn.t("clients.forget.ask", count=count, word=word))

    async def on_confirm(self, turn: Turn, answer: Answer) -> str:
        """Go on to the deletion only when the named word was typed."""
        if fold(answer.text or "") not in self.words():
            return turn.retry("clients.forget.wrong_word", word=turn.t("clients.forget.word"))
        return "erase"

    async def ask_erase(self, turn: Turn) -> None:
        """Delete everything the agent stored, this conversation included, and say goodbye."""
        # The deletion runs here, in the step's own session, rather than in on_confirm:
        # there the engine still holds this conversation's row and would write to it after
        # the agent's rows are gone. Should the process die before this runs, the saved
        # step is "erase" and the next message or /forget_me finishes the job.
        await delete_agent_data(turn.session, turn.agent.id)
        logger.info("agent %s deleted all their data", turn.agent.id)
        # Admins are let in again by their id alone; an invitation is for everyone else.
        admin = turn.agent.telegram_id in turn.context.settings.admin_ids
        turn.send(turn.t("clients.forget.done_admin" if admin else "clients.forget.done"))

    async def on_erase(self, turn: Turn, answer: Answer) -> str:
        """Finish an erase that was interrupted, whatever the agent sent."""
        return "erase"
