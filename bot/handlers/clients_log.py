"""/log and the card's follow-up button: record a contact, and set the next follow-up.

/log asks whom (by a typed name, or straight from a card), through which channel, what
happened, and when to follow up next; the contact becomes the client's last contact. The
follow-up button sets, moves or clears that date on its own.
"""

from __future__ import annotations

import logging

from bot.flows import END, Answer, Flow, Turn
from bot.handlers import clients_views as views
from bot.handlers.clients_flows import (
    CLEAR,
    NOTE_LIMIT,
    PICK_LIMIT,
    SKIP,
    ask_pick,
    client_of,
    end_gone,
    exact_match,
    followup_buttons,
    in_rows,
    read_followup,
    read_pick,
    today_of,
    typed_choice,
)
from bot.parsing import ParseError, format_date
from storage import clients as store
from storage.choices import CHANNELS

logger = logging.getLogger(__name__)


class LogContactFlow(Flow):
    """/log: which client, channel, what happened, and the next follow-up date."""

    name = "log"
    first_step = "client"
    command = "log"

    async def begin(self, turn: Turn, argument: str) -> str:
        """Start at the channel when the client is known (from a card or the argument)."""
        if "client_id" in turn.data:
            return "channel" if await client_of(turn) is not None else end_gone(turn)
        if not argument:
            return "client"
        found = await store.search_clients(turn.session, turn.agent.id, argument, limit=PICK_LIMIT)
        match = exact_match(found, argument)
        if match is not None:
            turn.data["client_id"] = match.id
            return "channel"
        if found:
            turn.data["query"] = argument
            return "pick"
        turn.send(turn.t("clients.pick.not_found", text=argument[:30]))
        return "client"

    async def ask_client(self, turn: Turn) -> None:
        """Ask whom the agent contacted."""
        turn.ask(turn.t("clients.log.ask_client"))

    async def on_client(self, turn: Turn, answer: Answer) -> str:
        """Find the client by a typed name; several matches are offered as buttons."""
        return await read_pick(
            turn, answer, key="client_id", query_key="query", pick_step="pick", chosen=_channel
        )

    async def ask_pick(self, turn: Turn) -> None:
        """Offer the matching clients."""
        await ask_pick(turn, "query")

    async def on_pick(self, turn: Turn, answer: Answer) -> str:
        """Take the pressed client, or search again with new text."""
        return await self.on_client(turn, answer)

    async def ask_channel(self, turn: Turn) -> None:
        """Ask how the contact happened."""
        client = await client_of(turn)
        buttons = [turn.button(turn.t(f"choices.channel.{c}"), c) for c in CHANNELS]
        name = client.name if client is not None else ""
        turn.ask(turn.t("clients.log.ask_channel", name=name), in_rows(buttons, 3))

    async def on_channel(self, turn: Turn, answer: Answer) -> str:
        """Store the channel, pressed or typed."""
        code = answer.choice if answer.choice in CHANNELS else None
        code = code or typed_choice(answer.text, "choices.channel", CHANNELS)
        if code is None:
            return turn.retry("clients.log.press_channel")
        turn.data["channel"] = code
        return "note"

    async def ask_note(self, turn: Turn) -> None:
        """Ask what happened."""
        turn.ask(turn.t("clients.log.ask_note"))

    async def on_note(self, turn: Turn, answer: Answer) -> str:
        """Store what happened; it cannot be empty."""
        note = (answer.text or "").strip()
        if not note:
            return turn.retry("clients.log.empty_note")
        if len(note) > NOTE_LIMIT:
            return turn.retry("clients.too_long", limit=NOTE_LIMIT, length=len(note))
        turn.data["note"] = note
        return "followup"

    async def ask_followup(self, turn: Turn) -> None:
        """Ask for the next follow-up date, with quick buttons."""
        client = await client_of(turn)
        text = turn.t("clients.log.ask_followup")
        if client is not None and client.next_followup is not None:
            current = format_date(client.next_followup, turn.lang)
            text += "\n" + turn.t("clients.follow.current", date=current)
        turn.ask(text, followup_buttons(turn, skip=True))

    async def on_followup(self, turn: Turn, answer: Answer) -> str:
        """Save the contact; it becomes the client's last contact."""
        if answer.choice == SKIP:
            followup = None
        else:
            try:
                followup = read_followup(turn, answer)
            except ParseError as error:
                return turn.retry(error.key, **error.values)
        client = await client_of(turn)
        if client is None:
            return end_gone(turn)

        today = today_of(turn)
        done_due = None
        if followup is None and client.next_followup is not None and client.next_followup <= today:
            # The contact was the follow-up that was due; leaving the date would keep it on
            # the due list although it has been done.
            done_due, client.next_followup = client.next_followup, None
        await store.log_interaction(
            turn.session,
            client,
            channel=str(turn.data["channel"]),
            note=str(turn.data["note"]),
            at=turn.context.now(),
            next_followup=followup,
        )
        logger.info("agent %s logged a contact with client %s", turn.agent.id, client.id)
        lines = [turn.t("clients.log.done", name=client.name)]
        if followup is not None:
            lines.append(turn.t("clients.follow.set", date=format_date(followup, turn.lang)))
        elif done_due is not None:
            lines.append(turn.t("clients.log.due_done", date=format_date(done_due, turn.lang)))
        turn.send("\n".join(lines), [[views.open_card_button(client, turn.lang)]])
        return END


async def _channel(turn: Turn) -> str:
    """Go on to the channel once the client is chosen."""
    return "channel"


# --- the follow-up date ---------------------------------------------------------------------


class FollowupFlow(Flow):
    """The card's follow-up button: set, change or clear the next follow-up date."""

    name = "client_followup"
    first_step = "date"
    # /client without a name resumes a paused follow-up or edit draft.
    command = "client"

    async def begin(self, turn: Turn, argument: str) -> str:
        """Check the client is still the agent's."""
        return self.first_step if await client_of(turn) is not None else end_gone(turn)

    async def ask_date(self, turn: Turn) -> None:
        """Ask the date, showing the current one."""
        client = await client_of(turn)
        name = client.name if client is not None else ""
        text = turn.t("clients.follow.ask", name=name)
        if client is not None and client.next_followup is not None:
            current = format_date(client.next_followup, turn.lang)
            text += "\n" + turn.t("clients.follow.current", date=current)
        has_date = client is not None and client.next_followup is not None
        turn.ask(text, followup_buttons(turn, clear=has_date))

    async def on_date(self, turn: Turn, answer: Answer) -> str:
        """Save the new date, or clear it."""
        followup = None
        if answer.choice != CLEAR:
            try:
                followup = read_followup(turn, answer)
            except ParseError as error:
                return turn.retry(error.key, **error.values)
        client = await client_of(turn)
        if client is None:
            return end_gone(turn)

        client.next_followup = followup
        logger.debug("agent %s set the follow-up of client %s", turn.agent.id, client.id)
        if followup is None:
            text = turn.t("clients.follow.cleared", name=client.name)
        else:
            text = turn.t("clients.follow.set", date=format_date(followup, turn.lang))
        turn.send(text, [[views.open_card_button(client, turn.lang)]])
        return END
