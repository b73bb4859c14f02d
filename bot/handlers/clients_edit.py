"""The card's edit button: choose a field, then type or press its new value.

Names keep their pinyin search keys in step; phones are checked and stored normalised;
region and client type are chosen by buttons; the source walks the same steps as /add.
Optional fields can be cleared.
"""

from __future__ import annotations

import logging
from typing import Final

from bot.flows import END, Answer, Turn
from bot.handlers.clients_flows import (
    CLEAR,
    NOTE_LIMIT,
    SourceSteps,
    card_message,
    clean_name,
    client_of,
    end_gone,
    in_rows,
    today_of,
    typed_choice,
)
from bot.i18n import t
from bot.parsing import MAX_NAME_LENGTH, ParseError, format_phone, parse_phone
from storage import clients as store
from storage.choices import REGIONS, TRAITS
from storage.models import Client

logger = logging.getLogger(__name__)

# Text fields an agent can edit and the longest value each column holds.
TEXT_LIMITS: Final = {
    "name": MAX_NAME_LENGTH,
    "honorific": 32,
    "address": 255,
    "relation": 64,
    "notes": NOTE_LIMIT,
}
PHONE_FIELDS: Final = ("phone", "phone2")
CHOICE_FIELDS: Final = {"region": REGIONS, "trait": TRAITS}
EDITABLE: Final = (
    "name",
    "honorific",
    "phone",
    "phone2",
    "address",
    "source",
    "region",
    "trait",
    "relation",
    "notes",
)


class EditClientFlow(SourceSteps):
    """The card's edit button: choose a field, then type or press its new value."""

    name = "client_edit"
    first_step = "field"
    command = "client"

    async def begin(self, turn: Turn, argument: str) -> str:
        """Check the client is still the agent's."""
        return self.first_step if await client_of(turn) is not None else end_gone(turn)

    async def ask_field(self, turn: Turn) -> None:
        """Offer the editable fields."""
        client = await client_of(turn)
        buttons = [turn.button(turn.t(f"clients.field.{f}"), f) for f in EDITABLE]
        name = client.name if client is not None else ""
        turn.ask(turn.t("clients.edit.ask_field", name=name), in_rows(buttons))

    async def on_field(self, turn: Turn, answer: Answer) -> str:
        """Store which field to change."""
        field = answer.choice if answer.choice in EDITABLE else None
        field = field or typed_choice(answer.text, "clients.field", EDITABLE)
        if field is None:
            return turn.retry("clients.edit.press_field")
        turn.data["field"] = field
        return "source" if field == "source" else "value"

    async def ask_value(self, turn: Turn) -> None:
        """Ask the new value, showing the current one; optional fields can be cleared."""
        client = await client_of(turn)
        field = str(turn.data.get("field"))
        current = _current_value(client, field, turn.lang) if client is not None else ""
        label = turn.t(f"clients.field.{field}")
        rows: list[list[tuple[str, str]]] = []
        if field in CHOICE_FIELDS:
            buttons = [
                turn.button(turn.t(f"choices.{field}.{c}"), c) for c in CHOICE_FIELDS[field]
            ]
            rows = in_rows(buttons, 3)
            text = turn.t("clients.edit.ask_choice", field=label)
        else:
            text = turn.t("clients.edit.ask_text", field=label)
        if current:
            text += "\n" + turn.t("clients.edit.current", value=current)
            if field != "name":
                rows.append([turn.button(turn.t("clients.edit.clear"), CLEAR)])
        turn.ask(text, rows or None)

    async def on_value(self, turn: Turn, answer: Answer) -> str:
        """Check and save the new value."""
        field = str(turn.data.get("field"))
        client = await client_of(turn)
        if client is None:
            return end_gone(turn)

        if answer.choice == CLEAR and field != "name":
            setattr(client, field, None)
        elif field == "name":
            name = clean_name(answer.text)
            if name is None:
                return turn.retry("clients.add.bad_name", limit=MAX_NAME_LENGTH)
            store.rename(client, name)
        elif field in PHONE_FIELDS:
            try:
                setattr(client, field, parse_phone(answer.text or ""))
            except ParseError as error:
                return turn.retry(error.key, **error.values)
        elif field in CHOICE_FIELDS:
            codes = CHOICE_FIELDS[field]
            code = answer.choice if answer.choice in codes else None
            code = code or typed_choice(answer.text, f"choices.{field}", codes)
            if code is None:
                return turn.retry("clients.edit.press_choice")
            setattr(client, field, code)
        else:
            value = (answer.text or "").strip()
            limit = TEXT_LIMITS[field]
            if not value:
                return turn.retry("clients.edit.empty", field=turn.t(f"clients.field.{field}"))
            if len(value) > limit:
                return turn.retry("clients.too_long", limit=limit, length=len(value))
            setattr(client, field, value)
        return await self._saved(turn, client)

    async def source_chosen(self, turn: Turn) -> str:
        """Save the source with its category or referrer, dropping details that no longer fit."""
        client = await client_of(turn)
        if client is None:
            return end_gone(turn)
        source = str(turn.data.get("source"))
        client.source = source
        client.warm_category = turn.data.get("warm_category") if source == "warm" else None
        referrer = await client_of(turn, "referrer_id") if source == "referral" else None
        client.referred_by_id = referrer.id if referrer is not None else None
        return await self._saved(turn, client)

    async def _saved(self, turn: Turn, client: Client) -> str:
        """Confirm the change and show the card as it now reads."""
        await turn.session.flush()
        changed = turn.data.get("field")
        logger.info("agent %s changed the %s of client %s", turn.agent.id, changed, client.id)
        field = turn.t(f"clients.field.{changed}")
        turn.send(turn.t("clients.edit.done", field=field))
        card = await card_message(turn.session, turn.agent, client.id, today_of(turn))
        if card is not None:
            turn.send(*card)
        return END


def _current_value(client: Client, field: str, lang: str) -> str:
    """Write a field's current value for the edit prompt ('' when empty)."""
    value = getattr(client, field, None)
    if not value:
        return ""
    if field in PHONE_FIELDS:
        return format_phone(str(value))
    if field in CHOICE_FIELDS:
        return t(lang, f"choices.{field}.{value}")
    return str(value)
