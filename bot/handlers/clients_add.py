"""/add: a new client's name, phone, a duplicate check, where they came from, and a note.

A name (and phone) typed after the command, or a contact shared from the phone's address
book, fills the first answers. Before the source is asked, clients in the book with the
same phone, or the same name and no phone, are shown: the agent opens one of them or adds
anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bot.flows import END, Answer, Turn
from bot.handlers import clients_views as views
from bot.handlers.clients_flows import (
    NOTE_LIMIT,
    SKIP,
    SourceSteps,
    card_message,
    clean_name,
    client_of,
    split_name_and_phone,
    today_of,
)
from bot.parsing import MAX_NAME_LENGTH, ParseError, parse_phone
from storage import clients as store
from storage.models import Client

logger = logging.getLogger(__name__)


class AddClientFlow(SourceSteps):
    """/add: name, phone, duplicate check, source (with category or referrer), note."""

    name = "add"
    first_step = "name"
    command = "add"

    async def begin(self, turn: Turn, argument: str) -> str:
        """Take a name (and phone) typed after /add, or a shared contact, and skip ahead."""
        if "contact_name" in turn.data or "contact_phone" in turn.data:
            return await self._from_contact(
                turn, turn.data.pop("contact_name", ""), turn.data.pop("contact_phone", "")
            )
        if not argument:
            return "name"
        typed_name, typed_phone = split_name_and_phone(argument)
        name = clean_name(typed_name)
        if name is None:
            turn.send(turn.t("clients.add.bad_name", limit=MAX_NAME_LENGTH))
            return "name"
        turn.data["name"] = name
        if typed_phone is None:
            return "phone"
        try:
            turn.data["phone"] = parse_phone(typed_phone)
        except ParseError as error:
            turn.send(error.message(turn.lang))
            return "phone"
        return await self._after_phone(turn)

    async def _from_contact(self, turn: Turn, name: str | None, phone: str | None) -> str:
        """Fill name and phone from a shared contact; ask again for what does not fit."""
        try:
            turn.data["phone"] = parse_phone(phone or "")
        except ParseError as error:
            turn.send(error.message(turn.lang))
        cleaned = clean_name(name)
        if cleaned is None:
            return "name"
        turn.data["name"] = cleaned
        if "phone" not in turn.data:
            return "phone"
        return await self._after_phone(turn)

    async def ask_name(self, turn: Turn) -> None:
        """Ask the new client's name."""
        turn.ask(turn.t("clients.add.ask_name"))

    async def on_name(self, turn: Turn, answer: Answer) -> str:
        """Store the name; a contact shared here fills the phone too."""
        if answer.contact_name is not None or answer.contact_phone is not None:
            return await self._from_contact(turn, answer.contact_name, answer.contact_phone)
        name = clean_name(answer.text)
        if name is None:
            return turn.retry("clients.add.bad_name", limit=MAX_NAME_LENGTH)
        turn.data["name"] = name
        if turn.data.get("phone"):
            return await self._after_phone(turn)
        return "phone"

    async def ask_phone(self, turn: Turn) -> None:
        """Ask the phone number, which may be skipped."""
        skip = [[turn.button(turn.t("flows.skip"), SKIP)]]
        turn.ask(turn.t("clients.add.ask_phone", name=turn.data.get("name", "")), skip)

    async def on_phone(self, turn: Turn, answer: Answer) -> str:
        """Store the phone, typed, shared as a contact or skipped."""
        if answer.choice == SKIP:
            turn.data["phone"] = None
            return await self._after_phone(turn)
        typed = answer.contact_phone if answer.contact_phone is not None else answer.text
        try:
            turn.data["phone"] = parse_phone(typed or "")
        except ParseError as error:
            return turn.retry(error.key, **error.values)
        return await self._after_phone(turn)

    async def _duplicates(self, turn: Turn) -> Sequence[Client]:
        return await store.find_duplicates(
            turn.session, turn.agent.id, str(turn.data.get("name", "")), turn.data.get("phone")
        )

    async def _after_phone(self, turn: Turn) -> str:
        """Go to the duplicate question when the book already has this person."""
        return "duplicate" if await self._duplicates(turn) else "source"

    async def ask_duplicate(self, turn: Turn) -> None:
        """Show the look-alike clients and ask: open one, or add anyway."""
        found = await self._duplicates(turn)
        lines = [turn.t("clients.add.duplicate", count=len(found))]
        lines += [views.client_line(c, turn.lang) for c in found]
        buttons = [
            [turn.button(turn.t("clients.add.open", name=views.pick_label(c)), f"open{c.id}")]
            for c in found
        ]
        buttons.append([turn.button(turn.t("clients.add.add_anyway"), "add")])
        turn.ask("\n".join(lines), buttons)

    async def on_duplicate(self, turn: Turn, answer: Answer) -> str:
        """Open the existing card (ending /add) or carry on adding."""
        if answer.choice == "add":
            return "source"
        if answer.choice and answer.choice.startswith("open"):
            number = answer.choice.removeprefix("open")
            card = None
            if number.isdigit():
                card = await card_message(turn.session, turn.agent, int(number), today_of(turn))
            if card is None:
                return turn.retry("clients.gone_retry")
            turn.send(*card)
            return END
        return turn.retry("clients.add.duplicate_press")

    async def source_chosen(self, turn: Turn) -> str:
        """After the source comes the optional note."""
        return "note"

    async def ask_note(self, turn: Turn) -> None:
        """Ask for an optional note about the client."""
        skip = [[turn.button(turn.t("flows.skip"), SKIP)]]
        turn.ask(turn.t("clients.add.ask_note"), skip)

    async def on_note(self, turn: Turn, answer: Answer) -> str:
        """Store the note and add the client to the book."""
        note = None
        if answer.choice != SKIP:
            note = (answer.text or "").strip()
            if not note:
                return turn.retry("clients.add.note_or_skip")
            if len(note) > NOTE_LIMIT:
                return turn.retry("clients.too_long", limit=NOTE_LIMIT, length=len(note))

        data = turn.data
        referrer = await client_of(turn, "referrer_id")
        client = await store.create_client(
            turn.session,
            turn.agent.id,
            name=str(data["name"]),
            phone=data.get("phone"),
            source=str(data.get("source", "other")),
            warm_category=data.get("warm_category"),
            referred_by_id=referrer.id if referrer is not None else None,
            notes=note,
        )
        logger.info("agent %s added client %s", turn.agent.id, client.id)
        turn.send(turn.t("clients.add.done", name=client.name))
        card = await card_message(turn.session, turn.agent, client.id, today_of(turn))
        if card is not None:
            turn.send(*card)
        return END
