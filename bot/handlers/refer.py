"""/refer: the five-step referral ask, chatted right after a client meeting.

The :class:`ReferFlow` walks the agent through the method's five steps with the client who
is being asked (the referrer):

0. who referred — a typed name is looked up in the book; pick a client or add a new one;
1. gain acknowledgment — a talk track with the referrer's name, then: did they agree?
   *Not now* ends with an optional follow-up date on the referrer;
2. names or a scope — one of the five scopes, then names typed or contacts shared;
3. confirm each new name — phone (or skip), relation to the referrer, one line about them;
4. anyone else? — back to step 2, or on;
5. lock in — for each name: approach, permission level, first-contact channel;

and ends on a summary to save, edit or discard. Nothing reaches the client book before
*save*: the draft lives in the conversation, which the flow engine saves before every
prompt. A name that looks like someone already in the book (or already on this list) is
shown to the agent, who decides whether it is the same person.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Final

from telegram import Update
from telegram.ext import Application, CommandHandler

from bot import flows, links
from bot.context import BotContext
from bot.flows import END, RETRY, Answer, Flow, Turn
from bot.parsing import (
    MAX_NAME_LENGTH,
    ParseError,
    format_date,
    format_phone,
    mask_phone,
    parse_date,
    parse_phone,
    split_names,
)
from bot.talktracks import ScriptClient, ScriptContext, render
from storage import clients as client_store
from storage import referrals as referral_store
from storage.choices import (
    FIRST_CONTACT_CHANNELS,
    REFERRAL_APPROACHES,
    REFERRAL_PERMISSIONS,
    REFERRAL_SCOPES,
)
from storage.models import Client

logger = logging.getLogger(__name__)

# The relation column holds 64 characters; a relation is a word or two.
RELATION_LIMIT: Final = 30
ABOUT_LIMIT: Final = 200
# Quick answers for the relation step; the stored value is the label in the agent's language.
RELATIONS: Final = ("colleague", "friend", "relative", "neighbour", "classmate")
# Quick follow-up dates offered when the client says "not now", in days from today.
LATER_DAYS: Final = (3, 7, 30)
# How many "open the card" buttons the saved message carries.
CARD_BUTTONS: Final = 10
# What the agent meant when typing instead of pressing yes / not now.
YES_WORDS: Final = frozenset(
    {"是", "好", "答应", "答应了", "愿意", "同意", "可以", "行", "yes", "y", "ok", "sure"}
)
NO_WORDS: Final = frozenset(
    {"否", "不", "先不", "不愿意", "以后再说", "以后", "下次", "no", "n", "not now", "later"}
)

# Button values.
NEW: Final = "new"
YES: Final = "yes"
NOT_NOW: Final = "no"
SKIP: Final = "skip"
KEEP: Final = "keep"
ADD: Final = "add"
MORE: Final = "more"
ON: Final = "on"
SAVE: Final = "save"
EDIT: Final = "edit"
DISCARD: Final = "discard"
FIELDS: Final = (
    "name",
    "phone",
    "relation",
    "about",
    "scope",
    "approach",
    "permission",
    "channel",
    "remove",
)


class ReferFlow(Flow):
    """The referral ask: referrer, acknowledgment, names, details, approach, then save."""

    name = "refer"
    first_step = "referrer"
    command = "refer"

    async def begin(self, turn: Turn, argument: str) -> str:
        """Start an empty draft; a name typed after /refer is looked up straight away."""
        turn.data.update(names=[], cur=0, scope=None, referrer=None, query=None)
        if argument:
            step = await self.on_referrer(turn, Answer(text=argument))
            # A name that cannot be read was explained by on_referrer; ask for it plainly.
            return step if step != RETRY else self.first_step
        return self.first_step

    def unsaved(self, data: dict[str, Any]) -> int:
        """Count the names collected so far; they are saved only at the summary."""
        return len(data.get("names", []))

    async def on_idle(self, turn: Turn) -> None:
        """Say that the draft is kept, with whom and how many names, and how to go on."""
        referrer = _referrer(turn)
        turn.send(
            turn.t(
                "refer.paused",
                referrer=referrer["name"] if referrer else turn.t("refer.no_referrer_yet"),
                count=len(_names(turn)),
                command=self.command,
            )
        )

    # --- step 0: who referred ----------------------------------------------------------

    async def ask_referrer(self, turn: Turn) -> None:
        """Ask for the name of the client who is being asked for referrals."""
        turn.ask(turn.t("refer.ask_referrer"))

    async def on_referrer(self, turn: Turn, answer: Answer) -> str:
        """Look the typed name up; the next step shows what was found."""
        typed = answer.contact_name if answer.contact_name else answer.text
        if not typed:
            return turn.retry("refer.type_referrer")
        try:
            found = split_names(typed)
        except ParseError as error:
            return turn.retry(error.key, **error.values)
        if len(found) != 1:
            return turn.retry("refer.one_referrer")
        if (odd := _not_a_name(found)) is not None:
            return turn.retry("refer.not_a_name", text=odd)

        turn.data["query"] = found[0]
        return "pick_referrer"

    async def ask_pick_referrer(self, turn: Turn) -> None:
        """Offer the matching clients as buttons, and adding the typed name as a new client."""
        query = str(turn.data["query"])
        matches = await client_store.search_clients(turn.session, turn.agent.id, query, limit=8)
        rows = [[turn.button(_client_label(turn, client), f"c{client.id}")] for client in matches]
        rows.append([turn.button(turn.t("refer.create_referrer", name=query), NEW)])
        key = "refer.matches" if matches else "refer.no_match"
        turn.ask(turn.t(key, query=query), rows)

    async def on_pick_referrer(self, turn: Turn, answer: Answer) -> str:
        """Take the picked client (if the agent's own) or the new name; text searches again."""
        if answer.choice is None:
            return await self.on_referrer(turn, answer)
        if answer.choice == NEW:
            turn.data["referrer"] = {"id": None, "name": turn.data["query"], "honorific": None}
            # Shown once on the way in, so that a re-ask of step 1 stays one short line.
            self._send_talk_track(turn)
            return "acknowledge"

        client = await _owned_client(turn, answer.choice.removeprefix("c"))
        if client is None:
            return turn.retry("refer.referrer_gone")
        turn.data["referrer"] = {
            "id": client.id,
            "name": client.name,
            "honorific": client.honorific,
        }

        self._send_talk_track(turn)
        return "acknowledge"

    # --- step 1: gain acknowledgment ---------------------------------------------------

    async def ask_acknowledge(self, turn: Turn) -> None:
        """Ask whether the referrer agreed to help (the talk track came just before)."""
        referrer = _require_referrer(turn)
        buttons = [
            [turn.button(turn.t("refer.yes"), YES), turn.button(turn.t("refer.not_now"), NOT_NOW)]
        ]
        turn.ask(turn.t("refer.ask_agreed", name=referrer["name"]), buttons)

    def _send_talk_track(self, turn: Turn) -> None:
        """Queue the acknowledgment talk track with the referrer's name filled in."""
        referrer = _require_referrer(turn)
        script = ScriptContext(
            lang=turn.lang,
            agent_name=turn.agent.name or "",
            client=ScriptClient(name=referrer["name"], honorific=referrer["honorific"]),
        )
        turn.send(turn.t("refer.acknowledge_intro", name=referrer["name"]))
        for text in render("referral", "acknowledge", script):
            turn.send(text)

    async def on_acknowledge(self, turn: Turn, answer: Answer) -> str:
        """Go on to the names when the client agreed; otherwise offer a follow-up date."""
        typed = (answer.text or "").strip().lower()
        if answer.choice == YES or typed in YES_WORDS:
            return "scope"
        if answer.choice == NOT_NOW or typed in NO_WORDS:
            return "later"
        return turn.retry("refer.yes_or_not_now")

    async def ask_later(self, turn: Turn) -> None:
        """Offer a follow-up date on the referrer: a typed date, a quick choice, or none."""
        referrer = _require_referrer(turn)
        quick = [
            turn.button(turn.t("refer.in_days", days=days), f"d{days}") for days in LATER_DAYS
        ]
        buttons = [quick, [turn.button(turn.t("refer.no_followup"), SKIP)]]
        turn.ask(turn.t("refer.ask_later", name=referrer["name"]), buttons)

    async def on_later(self, turn: Turn, answer: Answer) -> str:
        """Record the meeting on the referrer, with the follow-up date if one was given."""
        today = turn.context.today()
        followup = None
        quick = {f"d{days}": days for days in LATER_DAYS}
        if answer.choice in quick:
            followup = today + timedelta(days=quick[answer.choice])
        elif answer.choice != SKIP:
            if not answer.text:
                return turn.retry("refer.type_date")
            try:
                followup = parse_date(answer.text, today)
            except ParseError as error:
                return turn.retry(error.key, **error.values)
            if followup < today:
                return turn.retry("refer.date_past", date=format_date(followup, turn.lang))

        referrer = await _referrer_client(turn)
        await client_store.log_interaction(
            turn.session,
            referrer,
            channel="visit",
            note=turn.t("refer.note_not_now"),
            at=turn.context.now(),
            next_followup=followup,
        )
        logger.info("agent %s: referral ask not now, client %s", turn.agent.id, referrer.id)
        if followup is None:
            turn.send(turn.t("refer.later_saved", name=referrer.name))
        else:
            date = format_date(followup, turn.lang)
            turn.send(turn.t("refer.later_saved_date", name=referrer.name, date=date))

        return END

    # --- step 2: names or a scope ------------------------------------------------------

    async def ask_scope(self, turn: Turn) -> None:
        """Offer the five scopes; names can also be typed or shared straight away."""
        referrer = _require_referrer(turn)
        rows = [
            [turn.button(f"{code} · {turn.t(f'choices.scope.{code}')}", code)]
            for code in REFERRAL_SCOPES
        ]
        turn.ask(
            turn.t("refer.ask_scope", name=referrer["name"], count=len(_names(turn))),
            rows,
        )

    async def on_scope(self, turn: Turn, answer: Answer) -> str:
        """Take a scope (button or letter A–E); names typed here are taken without a scope."""
        typed = (answer.text or "").strip().upper()
        if answer.choice in REFERRAL_SCOPES or typed in REFERRAL_SCOPES:
            turn.data["scope"] = answer.choice or typed
            return "scope_names"
        if answer.choice is not None:
            return turn.retry("refer.pick_scope")
        turn.data["scope"] = None
        return await self._take_names(turn, answer)

    async def ask_scope_names(self, turn: Turn) -> None:
        """Ask for the names that fit the chosen scope."""
        scope = turn.data.get("scope")
        label = turn.t(f"choices.scope.{scope}") if scope else turn.t("refer.no_scope")
        turn.ask(turn.t("refer.ask_names", scope=label))

    async def on_scope_names(self, turn: Turn, answer: Answer) -> str:
        """Add the typed names (or the shared contact) to the list."""
        return await self._take_names(turn, answer)

    async def _take_names(self, turn: Turn, answer: Answer) -> str:
        """Append names or a contact to the draft; step 3 confirms each new one in turn."""
        names = _names(turn)
        if answer.contact_name:
            name = " ".join(answer.contact_name.split())
            if len(name) > MAX_NAME_LENGTH:
                return turn.retry("parsing.name_too_long", text=name[:30], limit=MAX_NAME_LENGTH)
            if (odd := _not_a_name([name])) is not None:
                return turn.retry("refer.not_a_name", text=odd)
            entries = [_entry(name, turn.data.get("scope"))]
            entries[0]["phone"] = _contact_phone(answer.contact_phone)
        else:
            if not answer.text:
                return turn.retry("parsing.no_names")
            try:
                typed = split_names(answer.text)
            except ParseError as error:
                return turn.retry(error.key, **error.values)
            if (odd := _not_a_name(typed)) is not None:
                return turn.retry("refer.not_a_name", text=odd)
            entries = [_entry(name, turn.data.get("scope")) for name in typed]

        turn.data["cur"] = len(names)
        names.extend(entries)
        turn.send(turn.t("refer.names_taken", names=_joined(turn, [e["name"] for e in entries])))

        return await self._confirm_next(turn)

    # --- step 3: confirm each name -----------------------------------------------------

    async def _confirm_next(self, turn: Turn) -> str:
        """Return the step that confirms the current name, or step 4 once all are done."""
        names = _names(turn)
        cur = int(turn.data["cur"])
        if cur >= len(names):
            return "more"
        if await self._flag_duplicates(turn, cur):
            return "duplicate"

        return "phone" if names[cur].get("phone") is None else "relation"

    async def _flag_duplicates(self, turn: Turn, index: int) -> bool:
        """Note who ``names[index]`` may duplicate (in the book or this list); tell if anyone."""
        entry = _names(turn)[index]
        book = await referral_store.book_duplicates(
            turn.session, turn.agent.id, entry["name"], entry.get("phone"), accepted=entry["ok"]
        )
        in_list = not entry.get("ok_list") and any(
            _same_person(entry, other) for other in _names(turn)[:index]
        )
        if not book and not in_list:
            return False
        turn.data["dup"] = {"ids": [client.id for client in book], "in_list": in_list}
        return True

    async def ask_duplicate(self, turn: Turn) -> None:
        """Show who the name may already be, and ask whether it is the same person."""
        entry = _current(turn)
        dup = turn.data["dup"]
        lines = []
        rows = []
        clients = await referral_store.get_clients(turn.session, turn.agent.id, dup["ids"])
        for client in clients:
            lines.append(_match_line(turn, client))
            # Namesakes need more than the name to tell their buttons apart.
            name = _client_label(turn, client) if len(clients) > 1 else client.name
            label = turn.t("refer.open_card", name=name)
            rows.append([(label, links.CLIENT_CARD.build(client_id=client.id))])
        if dup["in_list"]:
            lines.append(turn.t("refer.dup_in_list", name=entry["name"]))

        rows.append([turn.button(turn.t("refer.keep_existing"), KEEP)])
        rows.append([turn.button(turn.t("refer.add_anyway"), ADD)])
        text = turn.t("refer.ask_duplicate", name=entry["name"], matches="\n".join(lines))
        turn.ask(text, rows)

    async def on_duplicate(self, turn: Turn, answer: Answer) -> str:
        """Drop the name (same person) or keep it, remembering the agent's judgement."""
        entry = _current(turn)
        # The question reads "is it the same person?": a typed yes keeps the one on file.
        same = flows.yes_or_no(answer.text) if answer.choice is None else None
        choice = answer.choice if same is None else (KEEP if same else ADD)
        if choice not in (KEEP, ADD):
            return turn.retry("refer.same_or_not")
        dup = turn.data.pop("dup", None) or {"ids": [], "in_list": False}
        if choice == KEEP:
            _names(turn).pop(int(turn.data["cur"]))
            turn.send(turn.t("refer.dropped", name=entry["name"]))
            if _leave_edit(turn):
                return "summary"
            return await self._confirm_next(turn)

        entry["ok"] = sorted({*entry["ok"], *dup["ids"]})
        entry["ok_list"] = entry.get("ok_list") or dup["in_list"]
        if _leave_edit(turn):
            return "summary"
        return "phone" if entry.get("phone") is None else "relation"

    async def ask_phone(self, turn: Turn) -> None:
        """Ask the current name's phone number, which may be skipped."""
        entry = _current(turn)
        turn.ask(
            turn.t("refer.ask_phone", name=entry["name"], **_progress(turn)),
            [[turn.button(turn.t("flows.skip"), SKIP)]],
        )

    async def on_phone(self, turn: Turn, answer: Answer) -> str:
        """Store the phone (typed or from a shared contact) and check it against the book."""
        entry = _current(turn)
        if answer.choice == SKIP:
            entry["phone"] = None
            return "summary" if _leave_edit(turn) else "relation"

        raw = answer.contact_phone or answer.text
        if not raw:
            return turn.retry("refer.type_phone")
        try:
            entry["phone"] = parse_phone(raw)
        except ParseError as error:
            return turn.retry(error.key, **error.values)

        if await self._flag_duplicates(turn, int(turn.data["cur"])):
            return "duplicate"
        return "summary" if _leave_edit(turn) else "relation"

    async def ask_relation(self, turn: Turn) -> None:
        """Ask how the current name knows the referrer, with common answers as buttons."""
        entry = _current(turn)
        referrer = _require_referrer(turn)
        buttons = [turn.button(turn.t(f"refer.relation.{code}"), code) for code in RELATIONS]
        turn.ask(
            turn.t(
                "refer.ask_relation",
                name=entry["name"],
                referrer=referrer["name"],
                **_progress(turn),
            ),
            [buttons[:3], buttons[3:]],
        )

    async def on_relation(self, turn: Turn, answer: Answer) -> str:
        """Store the relation: a quick answer or a few typed words."""
        if answer.choice in RELATIONS:
            relation = turn.t(f"refer.relation.{answer.choice}")
        else:
            relation = " ".join((answer.text or "").split())
            if not relation or len(relation) > RELATION_LIMIT:
                return turn.retry("refer.bad_relation", limit=RELATION_LIMIT)
        _current(turn)["relation"] = relation

        return "summary" if _leave_edit(turn) else "about"

    async def ask_about(self, turn: Turn) -> None:
        """Ask for one line about the current name, which may be skipped."""
        entry = _current(turn)
        turn.ask(
            turn.t("refer.ask_about", name=entry["name"], **_progress(turn)),
            [[turn.button(turn.t("flows.skip"), SKIP)]],
        )

    async def on_about(self, turn: Turn, answer: Answer) -> str:
        """Store the line about them, then go to the next name (or step 4)."""
        entry = _current(turn)
        if answer.choice == SKIP:
            entry["about"] = None
        else:
            about = " ".join((answer.text or "").split())
            if not about or len(about) > ABOUT_LIMIT:
                return turn.retry("refer.bad_about", limit=ABOUT_LIMIT)
            entry["about"] = about

        if _leave_edit(turn):
            return "summary"
        turn.data["cur"] = int(turn.data["cur"]) + 1
        return await self._confirm_next(turn)

    # --- step 4: anyone else? ----------------------------------------------------------

    async def ask_more(self, turn: Turn) -> None:
        """Ask whether the client can think of anyone else, showing the list so far."""
        names = [entry["name"] for entry in _names(turn)]
        listed = _joined(turn, names) if names else turn.t("refer.none_yet")
        buttons = [
            [turn.button(turn.t("refer.more_yes"), MORE)],
            [turn.button(turn.t("refer.more_no"), ON)],
        ]
        turn.ask(turn.t("refer.ask_more", count=len(names), names=listed), buttons)

    async def on_more(self, turn: Turn, answer: Answer) -> str:
        """Go back to step 2 for more names, or on to lock in each one."""
        if answer.choice == MORE:
            return "scope"
        if answer.choice != ON:
            return turn.retry("refer.more_or_on")
        return self._lock_next(turn, 0)

    # --- step 5: lock in approach, permission and channel ------------------------------

    def _lock_next(self, turn: Turn, start: int) -> str:
        """Return step 5 for the first name from ``start`` not yet locked in, else the summary."""
        for index, entry in enumerate(_names(turn)):
            if index >= start and not all(entry.get(k) for k in _LOCKS):
                turn.data["cur"] = index
                return "approach"
        return "summary"

    async def ask_approach(self, turn: Turn) -> None:
        """Ask through which relation the current name will be approached."""
        self._ask_choice(turn, "approach", REFERRAL_APPROACHES)

    async def on_approach(self, turn: Turn, answer: Answer) -> str:
        """Store the approach, then ask the permission level."""
        if not _store_choice(turn, answer, "approach", REFERRAL_APPROACHES):
            return turn.retry("refer.pick_one", count=len(REFERRAL_APPROACHES))
        return "summary" if _leave_edit(turn) else "permission"

    async def ask_permission(self, turn: Turn) -> None:
        """Ask how far the referrer lets their name be used for the current name."""
        self._ask_choice(turn, "permission", REFERRAL_PERMISSIONS)

    async def on_permission(self, turn: Turn, answer: Answer) -> str:
        """Store the permission level, then ask the first-contact channel."""
        if not _store_choice(turn, answer, "permission", REFERRAL_PERMISSIONS):
            return turn.retry("refer.pick_one", count=len(REFERRAL_PERMISSIONS))
        return "summary" if _leave_edit(turn) else "channel"

    async def ask_channel(self, turn: Turn) -> None:
        """Ask how the first contact with the current name will be made."""
        self._ask_choice(turn, "channel", FIRST_CONTACT_CHANNELS)

    async def on_channel(self, turn: Turn, answer: Answer) -> str:
        """Store the channel, then lock in the next name (or show the summary)."""
        if not _store_choice(turn, answer, "channel", FIRST_CONTACT_CHANNELS):
            return turn.retry("refer.pick_one", count=len(FIRST_CONTACT_CHANNELS))
        if _leave_edit(turn):
            return "summary"
        return self._lock_next(turn, int(turn.data["cur"]) + 1)

    def _ask_choice(self, turn: Turn, field: str, codes: Sequence[str]) -> None:
        """Ask one step-5 question about the current name, one button per choice."""
        entry = _current(turn)
        referrer = _require_referrer(turn)
        rows = [
            [turn.button(f"{i}. {turn.t(f'choices.{field}.{code}')}", code)]
            for i, code in enumerate(codes, start=1)
        ]
        text = turn.t(
            f"refer.ask_{field}", name=entry["name"], referrer=referrer["name"], **_progress(turn)
        )
        turn.ask(text, rows)

    # --- step 6: summary, edit, save ---------------------------------------------------

    async def ask_summary(self, turn: Turn) -> None:
        """Show every name with every answer, and offer save, edit and discard."""
        referrer = _require_referrer(turn)
        new = "" if referrer["id"] else turn.t("refer.summary_new_referrer")
        parts = [turn.t("refer.summary_header", referrer=referrer["name"], new=new)]
        names = _names(turn)
        parts += [_summary_item(turn, i, entry) for i, entry in enumerate(names)]
        if not names:
            parts.append(turn.t("refer.summary_empty"))
        days = turn.agent.referral_contact_days
        due = format_date(turn.context.today() + timedelta(days=days), turn.lang)
        if names:
            parts.append(turn.t("refer.summary_footer", date=due, days=days))

        rows = [[turn.button(turn.t("refer.save"), SAVE)]]
        if names:
            rows.append([turn.button(turn.t("refer.edit"), EDIT)])
        rows.append([turn.button(turn.t("refer.discard"), DISCARD)])
        turn.ask("\n\n".join(parts), rows)

    async def on_summary(self, turn: Turn, answer: Answer) -> str:
        """Save, go to editing, or discard the whole draft."""
        if answer.choice == SAVE:
            return await self._save(turn)
        if answer.choice == EDIT and _names(turn):
            return "edit_pick"
        if answer.choice == DISCARD:
            turn.send(turn.t("refer.discarded"))
            return END
        return turn.retry("refer.save_edit_discard")

    async def ask_edit_pick(self, turn: Turn) -> None:
        """Ask which name to edit."""
        rows = [
            [turn.button(f"{i}. {entry['name']}", str(i))]
            for i, entry in enumerate(_names(turn), start=1)
        ]
        turn.ask(turn.t("refer.ask_edit_pick"), rows)

    async def on_edit_pick(self, turn: Turn, answer: Answer) -> str:
        """Take the name to edit, by button or by its number."""
        raw = answer.choice or (answer.text or "").strip()
        if not raw.isdigit() or not 1 <= int(raw) <= len(_names(turn)):
            return turn.retry("refer.pick_number", count=len(_names(turn)))
        turn.data["cur"] = int(raw) - 1

        return "edit_field"

    async def ask_edit_field(self, turn: Turn) -> None:
        """Ask which part of the chosen name to change (or to remove the name)."""
        entry = _current(turn)
        buttons = [turn.button(turn.t(f"refer.field.{field}"), field) for field in FIELDS]
        rows = [buttons[i : i + 3] for i in range(0, len(buttons), 3)]
        turn.ask(turn.t("refer.ask_edit_field", name=entry["name"]), rows)

    async def on_edit_field(self, turn: Turn, answer: Answer) -> str:
        """Open the chosen field's step in edit mode (it returns to the summary)."""
        if answer.choice not in FIELDS:
            return turn.retry("refer.pick_field")
        if answer.choice == "remove":
            removed = _names(turn).pop(int(turn.data["cur"]))
            turn.send(turn.t("refer.removed", name=removed["name"]))
            return "summary"

        turn.data["edit"] = True
        return {"name": "edit_name", "scope": "edit_scope"}.get(answer.choice, answer.choice)

    async def ask_edit_name(self, turn: Turn) -> None:
        """Ask the corrected name."""
        turn.ask(turn.t("refer.ask_edit_name", name=_current(turn)["name"]))

    async def on_edit_name(self, turn: Turn, answer: Answer) -> str:
        """Store the corrected name and check it against the book and the list."""
        try:
            typed = split_names(answer.text or "")
        except ParseError as error:
            return turn.retry(error.key, **error.values)
        if len(typed) != 1:
            return turn.retry("refer.one_name", limit=MAX_NAME_LENGTH)
        if (odd := _not_a_name(typed)) is not None:
            return turn.retry("refer.not_a_name", text=odd)
        entry = _current(turn)
        entry.update(name=typed[0], ok=[], ok_list=False)

        if await self._flag_duplicates(turn, int(turn.data["cur"])):
            return "duplicate"
        _leave_edit(turn)
        return "summary"

    async def ask_edit_scope(self, turn: Turn) -> None:
        """Ask the scope of the chosen name."""
        rows = [
            [turn.button(f"{code} · {turn.t(f'choices.scope.{code}')}", code)]
            for code in REFERRAL_SCOPES
        ]
        rows.append([turn.button(turn.t("refer.no_scope"), "-")])
        turn.ask(turn.t("refer.ask_edit_scope", name=_current(turn)["name"]), rows)

    async def on_edit_scope(self, turn: Turn, answer: Answer) -> str:
        """Store the chosen scope (or none)."""
        typed = (answer.text or "").strip().upper()
        choice = answer.choice or typed
        if choice not in (*REFERRAL_SCOPES, "-"):
            return turn.retry("refer.pick_scope")
        _current(turn)["scope"] = None if choice == "-" else choice

        _leave_edit(turn)
        return "summary"

    async def _save(self, turn: Turn) -> str:
        """Create each prospect and log the meeting on the referrer; one transaction."""
        names = _names(turn)
        for index in range(len(names)):
            # The book may have changed while the draft waited; never double anyone silently.
            if await self._flag_duplicates(turn, index):
                turn.data.update(cur=index, edit=True)
                turn.send(turn.t("refer.duplicate_appeared", name=names[index]["name"]))
                return "duplicate"

        now = turn.context.now()
        stamp = referral_store.batch_time(now)
        days = turn.agent.referral_contact_days
        followup = turn.context.today() + timedelta(days=days)
        referrer = await _referrer_client(turn)
        created = [
            await client_store.create_client(
                turn.session,
                turn.agent.id,
                name=entry["name"],
                phone=entry.get("phone"),
                source="referral",
                referred_by_id=referrer.id,
                relation=entry.get("relation"),
                notes=entry.get("about"),
                referral_scope=entry.get("scope"),
                referral_approach=entry.get("approach"),
                referral_permission=entry.get("permission"),
                referral_channel=entry.get("channel"),
                next_followup=followup,
                created_at=stamp,
            )
            for entry in names
        ]
        note_key = "refer.note_names" if created else "refer.note_no_names"
        note = turn.t(note_key, count=len(created), names=_joined(turn, [c.name for c in created]))
        await client_store.log_interaction(
            turn.session, referrer, channel="visit", note=note, at=now
        )
        logger.info(
            "agent %s saved %d referrals from client %s", turn.agent.id, len(created), referrer.id
        )

        rows = [
            [(turn.t("refer.open_card", name=c.name), links.CLIENT_CARD.build(client_id=c.id))]
            for c in created[:CARD_BUTTONS]
        ]
        if created:
            date = format_date(followup, turn.lang)
            text = turn.t("refer.saved", count=len(created), referrer=referrer.name, date=date)
        else:
            text = turn.t("refer.saved_none", referrer=referrer.name)
        turn.send(text, rows or None)

        return END


_LOCKS: Final = ("approach", "permission", "channel")


def _names(turn: Turn) -> list[dict[str, Any]]:
    names: list[dict[str, Any]] = turn.data.setdefault("names", [])
    return names


def _current(turn: Turn) -> dict[str, Any]:
    entry: dict[str, Any] = _names(turn)[int(turn.data["cur"])]
    return entry


def _referrer(turn: Turn) -> dict[str, Any] | None:
    referrer: dict[str, Any] | None = turn.data.get("referrer")
    return referrer


def _require_referrer(turn: Turn) -> dict[str, Any]:
    referrer = _referrer(turn)
    if referrer is None:
        raise RuntimeError("a referral step was reached before the referrer was chosen")
    return referrer


def _entry(name: str, scope: str | None) -> dict[str, Any]:
    """Return a fresh draft entry; ``ok`` lists book clients the agent ruled different."""
    return {"name": name, "phone": None, "scope": scope, "ok": [], "ok_list": False}


def _not_a_name(names: Sequence[str]) -> str | None:
    """Return the first of ``names`` with no letter at all (an emoji, a dash, a number)."""
    return next((name for name in names if not any(ch.isalpha() for ch in name)), None)


def _same_person(entry: dict[str, Any], other: dict[str, Any]) -> bool:
    """Tell whether two draft entries look like one person: same phone, or same name."""
    if entry.get("phone") and entry.get("phone") == other.get("phone"):
        return True
    return bool(entry["name"].casefold() == other["name"].casefold())


def _leave_edit(turn: Turn) -> bool:
    """End edit mode; tell whether the step was answered while editing from the summary."""
    return bool(turn.data.pop("edit", False))


def _progress(turn: Turn) -> dict[str, int]:
    return {"index": int(turn.data["cur"]) + 1, "total": len(_names(turn))}


def _joined(turn: Turn, names: Sequence[str]) -> str:
    return turn.t("refer.separator").join(names)


def _store_choice(turn: Turn, answer: Answer, field: str, codes: Sequence[str]) -> bool:
    """Store a step-5 choice read from a button, a typed number (1 = first) or its label."""
    typed = (answer.text or "").strip()
    chosen = None
    if answer.choice in codes:
        chosen = answer.choice
    elif typed.isdigit() and 1 <= int(typed) <= len(codes):
        chosen = codes[int(typed) - 1]
    else:
        for code in codes:
            if typed and typed.casefold() == turn.t(f"choices.{field}.{code}").casefold():
                chosen = code
    if chosen is None:
        return False
    _current(turn)[field] = chosen
    return True


def _contact_phone(raw: str | None) -> str | None:
    """Read a shared contact's phone; one that is not a Chinese number is asked for instead."""
    if not raw:
        return None
    try:
        return parse_phone(raw)
    except ParseError:
        return None


async def _owned_client(turn: Turn, raw_id: str) -> Client | None:
    """Return the client with this id from a button, only if it is the agent's own."""
    if not raw_id.isdigit():
        return None
    return await client_store.get_client(turn.session, turn.agent.id, int(raw_id))


async def _referrer_client(turn: Turn) -> Client:
    """Return the referrer's client row, adding them to the book if they are new."""
    referrer = _require_referrer(turn)
    client = None
    if referrer["id"] is not None:
        client = await client_store.get_client(turn.session, turn.agent.id, referrer["id"])
    if client is None:
        # A referrer deleted from the book while the draft waited is added back by name.
        client = await client_store.create_client(
            turn.session, turn.agent.id, name=referrer["name"], created_at=turn.context.now()
        )
        referrer["id"] = client.id
    return client


def _client_label(turn: Turn, client: Client) -> str:
    source = turn.t(f"choices.source.{client.source}")
    if client.phone:
        return turn.t(
            "refer.client_label_phone",
            name=client.name,
            source=source,
            phone=mask_phone(client.phone),
        )
    return turn.t("refer.client_label", name=client.name, source=source)


def _match_line(turn: Turn, client: Client) -> str:
    return "· " + _client_label(turn, client)


def _summary_item(turn: Turn, index: int, entry: dict[str, Any]) -> str:
    unset = turn.t("refer.unset")

    def label(field: str) -> str:
        code = entry.get(field)
        return turn.t(f"choices.{field}.{code}") if code else unset

    return turn.t(
        "refer.summary_item",
        index=index + 1,
        name=entry["name"],
        phone=format_phone(entry["phone"]) if entry.get("phone") else unset,
        relation=entry.get("relation") or unset,
        about=entry.get("about") or unset,
        scope=label("scope") if entry.get("scope") else turn.t("refer.no_scope"),
        approach=label("approach"),
        permission=label("permission"),
        channel=label("channel"),
    )


async def refer_command(update: Update, context: BotContext) -> None:
    """Start the referral ask (a name after the command picks the referrer), or resume it."""
    argument = " ".join(context.args or [])
    await flows.start(update, context, ReferFlow.name, argument)


def register(application: Application) -> None:
    """Add /refer and its guided conversation to the application."""
    application.bot_data["flows"][ReferFlow.name] = ReferFlow()
    application.add_handler(CommandHandler("refer", refer_command))
