"""The guided conversations of a maturity case, each saved step by step.

Owns four flows started from a case card: the appointment call's result (agreed with a
visit date, refused with help for the payout, no answer with a date to try again); the
report after the visit (outcome A/B/C, a note, the renewal result, the new policy number,
a follow-up date for B); new contact details (phone or address); and escalating the case
to the agent's manager with a line on what help is needed.
"""

from __future__ import annotations

import logging
import re
from datetime import date, time, timedelta
from typing import Final

from telegram.error import TelegramError
from telegram.ext import Application

from bot import links
from bot import maturity as rules
from bot.context import keyboard
from bot.flows import END, RETRY, Answer, Flow, Turn
from bot.handlers.maturity_case import (
    APPOINT_FLOW,
    CONTACT_FLOW,
    ESCALATE_FLOW,
    REPORT_FLOW,
    due_text,
    progress_line,
    record_lines,
    render_case,
)
from bot.i18n import t
from bot.parsing import (
    ParseError,
    format_date,
    format_money,
    parse_date,
    parse_date_and_time,
    parse_phone,
)
from storage import policies
from storage.choices import APPOINTMENT_RESULTS, CASE_OUTCOMES, RENEWAL_RESULTS
from storage.clients import log_interaction
from storage.models import Agent
from storage.policies import CaseView

logger = logging.getLogger(__name__)

NOTE_LIMIT: Final = 500
ADDRESS_LIMIT: Final = 200
SKIP: Final = "skip"
_POLICY_NUMBER: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{3,49}")
# Suggested follow-up dates after a B outcome, in days from today.
_FOLLOWUP_DAYS: Final = (7, 14)


async def _view(turn: Turn) -> CaseView | None:
    """Load the conversation's case, checked against the agent."""
    case_id = turn.data.get("case_id")
    if not isinstance(case_id, int):
        return None
    return await policies.get_case(turn.session, turn.agent.id, case_id)


def _holder(view: CaseView | None) -> str:
    if view is None:
        return ""
    if view.client is not None:
        return view.client.name
    return view.policy.holder_name or view.policy.policy_number


def _today(turn: Turn) -> date:
    return turn.context.today()


def _gone(turn: Turn) -> str:
    """Say that the case is no longer there and end the conversation."""
    turn.send(turn.t("maturity.case_gone"))
    return END


def _send_card(turn: Turn, view: CaseView) -> None:
    """Queue the case's card, so that the next step is one tap away."""
    text, buttons = render_case(view, turn.agent, _today(turn))
    turn.send(text, buttons)


def _read_date(turn: Turn, answer: Answer) -> date | str:
    """Read a date on or after today from a button or typed text; or queue why not."""
    raw = answer.choice or answer.text or ""
    if not raw:
        return turn.retry("maturity.type_a_date")
    try:
        found = parse_date(raw, _today(turn))
    except ParseError as error:
        turn.send(error.message(turn.lang))
        return RETRY
    if found < _today(turn):
        return turn.retry("maturity.date_in_past", date=format_date(found, turn.lang))
    return found


class CaseFlow(Flow):
    """A conversation about one case, started from its card rather than by a command."""

    command = "maturity"

    async def on_idle(self, turn: Turn) -> None:
        """Tell the agent how to come back to the paused conversation."""
        turn.send(turn.t("maturity.paused"))


# --- the appointment call -----------------------------------------------------------------


class AppointmentFlow(CaseFlow):
    """The result of the call that asks for a meeting, and the date it leads to."""

    name = APPOINT_FLOW
    first_step = "result"

    async def ask_result(self, turn: Turn) -> None:
        """Ask how the call went."""
        view = await _view(turn)
        buttons = [
            [turn.button(turn.t(f"choices.appointment.{code}"), code)]
            for code in APPOINTMENT_RESULTS
        ]
        turn.ask(turn.t("maturity.ask_appointment", holder=_holder(view)), buttons)

    async def on_result(self, turn: Turn, answer: Answer) -> str:
        """Keep the result; a refusal ends here with help for the payout."""
        if answer.choice not in APPOINTMENT_RESULTS:
            return turn.retry("maturity.press_a_button")
        view = await _view(turn)
        if view is None:
            return _gone(turn)
        turn.data["result"] = answer.choice
        if answer.choice == "agreed":
            return "visit_date"
        if answer.choice == "no_answer":
            return "retry_date"

        case = view.case
        case.appointment_result, case.appointment_date, case.retry_date = "refused", None, None
        # No meeting: the case goes straight to the report, where the payout is recorded.
        case.stage = "report"
        await _log_call(turn, view, "refused")
        turn.send(turn.t("maturity.payout_help"))
        _send_card(turn, view)
        return END

    async def ask_visit_date(self, turn: Turn) -> None:
        """Ask the day of the visit."""
        turn.ask(turn.t("maturity.ask_visit_date"))

    async def on_visit_date(self, turn: Turn, answer: Answer) -> str:
        """Book the visit and move the case to the visit stage."""
        # "后天下午3点" is how a visit is agreed on the phone: the time goes into the log.
        found: date | str
        at: time | None = None
        try:
            found, at = parse_date_and_time(answer.text or "", _today(turn))
        except ParseError:
            found = _read_date(turn, answer)
        if not isinstance(found, date):
            return found
        if found < _today(turn):
            return turn.retry("maturity.date_in_past", date=format_date(found, turn.lang))
        view = await _view(turn)
        if view is None:
            return _gone(turn)
        case = view.case
        case.appointment_result, case.appointment_date, case.retry_date = "agreed", found, None
        case.stage = "visit"
        if view.client is not None:
            view.client.next_followup = found
        when = format_date(found, turn.lang)
        if at is not None:
            when = turn.t("maturity.date_at_time", date=when, time=at.strftime("%H:%M"))
        await _log_call(turn, view, "agreed", when=when)
        turn.send(turn.t("maturity.visit_booked", date=when))
        _send_card(turn, view)
        return END

    async def ask_retry_date(self, turn: Turn) -> None:
        """Ask when to call again."""
        tomorrow = _today(turn) + timedelta(days=1)
        buttons = [[turn.button(turn.t("maturity.tomorrow"), tomorrow.isoformat())]]
        turn.ask(turn.t("maturity.ask_retry_date"), buttons)

    async def on_retry_date(self, turn: Turn, answer: Answer) -> str:
        """Note the unanswered call and when to try again (it becomes a follow-up)."""
        found = _read_date(turn, answer)
        if not isinstance(found, date):
            return found
        view = await _view(turn)
        if view is None:
            return _gone(turn)
        case = view.case
        case.appointment_result, case.retry_date = "no_answer", found
        # A visit that was booked and could not be confirmed goes back to appointing.
        case.stage, case.appointment_date = "appoint", None
        if view.client is not None:
            view.client.next_followup = found
        turn.send(turn.t("maturity.retry_booked", date=format_date(found, turn.lang)))
        _send_card(turn, view)
        return END


async def _log_call(turn: Turn, view: CaseView, result: str, *, when: str = "") -> None:
    """Log the appointment call as a contact with the holder, with the meeting time if set."""
    if view.client is None:
        return
    note = turn.t("maturity.log_call", result=turn.t(f"choices.appointment.{result}"))
    if when:
        note = turn.t("maturity.log_call_when", note=note, when=when)
    await log_interaction(
        turn.session, view.client, channel="phone", note=note, at=turn.context.now()
    )


# --- the report ---------------------------------------------------------------------------


class ReportFlow(CaseFlow):
    """The analysis after the visit: outcome, note, renewal result, and what comes next."""

    name = REPORT_FLOW
    first_step = "outcome"

    async def ask_outcome(self, turn: Turn) -> None:
        """Ask for the client's grade after the visit."""
        view = await _view(turn)
        buttons = [
            [turn.button(turn.t(f"maturity.outcome.{code}"), code)] for code in CASE_OUTCOMES
        ]
        turn.ask(turn.t("maturity.ask_outcome", holder=_holder(view)), buttons)

    async def on_outcome(self, turn: Turn, answer: Answer) -> str:
        """Keep the grade (a typed letter counts too)."""
        choice = answer.choice or (answer.text or "").strip().upper()
        if choice not in CASE_OUTCOMES:
            return turn.retry("maturity.bad_outcome")
        turn.data["outcome"] = choice
        return "note"

    async def ask_note(self, turn: Turn) -> None:
        """Ask for a short note on the visit."""
        turn.ask(turn.t("maturity.ask_note"), [[turn.button(turn.t("flows.skip"), SKIP)]])

    async def on_note(self, turn: Turn, answer: Answer) -> str:
        """Keep the note, or none when skipped."""
        if answer.choice == SKIP:
            turn.data["note"] = None
            return "renewal"
        note = (answer.text or "").strip()
        if not note:
            return turn.retry("maturity.bad_note", limit=NOTE_LIMIT)
        if len(note) > NOTE_LIMIT:
            return turn.retry("maturity.note_too_long", limit=NOTE_LIMIT, length=len(note))
        turn.data["note"] = note
        return "renewal"

    async def ask_renewal(self, turn: Turn) -> None:
        """Ask what became of the maturing money."""
        buttons = [
            [turn.button(turn.t(f"choices.renewal.{code}"), code)] for code in RENEWAL_RESULTS
        ]
        turn.ask(turn.t("maturity.ask_renewal"), buttons)

    async def on_renewal(self, turn: Turn, answer: Answer) -> str:
        """Keep the renewal result; a renewal asks for the new policy's number."""
        if answer.choice not in RENEWAL_RESULTS:
            return turn.retry("maturity.press_a_button")
        turn.data["renewal"] = answer.choice
        if answer.choice == "renewed":
            return "new_number"
        return await self._after_number(turn)

    async def ask_new_number(self, turn: Turn) -> None:
        """Ask the number of the new policy."""
        turn.ask(turn.t("maturity.ask_new_number"))

    async def on_new_number(self, turn: Turn, answer: Answer) -> str:
        """Keep the new policy number."""
        number = "".join((answer.text or "").split())
        if not _POLICY_NUMBER.fullmatch(number):
            return turn.retry("maturity.bad_policy_number")
        turn.data["new_number"] = number
        return await self._after_number(turn)

    async def _after_number(self, turn: Turn) -> str:
        """Ask for a follow-up date after a B outcome; otherwise record the report."""
        if turn.data.get("outcome") == "B":
            return "followup"
        return await _finish_report(turn)

    async def ask_followup(self, turn: Turn) -> None:
        """Ask when to follow the B client up."""
        today = _today(turn)
        buttons = [
            [
                turn.button(
                    turn.t("maturity.in_days", days=days), (today + timedelta(days)).isoformat()
                )
                for days in _FOLLOWUP_DAYS
            ]
        ]
        turn.ask(turn.t("maturity.ask_followup"), buttons)

    async def on_followup(self, turn: Turn, answer: Answer) -> str:
        """Keep the follow-up date and record the report."""
        found = _read_date(turn, answer)
        if not isinstance(found, date):
            return found
        turn.data["followup"] = found.isoformat()
        return await _finish_report(turn)


async def _finish_report(turn: Turn) -> str:
    """Write the report onto the case, its policy and the client; close the case if settled."""
    view = await _view(turn)
    if view is None:
        return _gone(turn)
    case, policy, client = view.case, view.policy, view.client
    outcome, renewal = turn.data.get("outcome"), turn.data.get("renewal")
    now = turn.context.now()

    case.outcome, case.renewal_result = outcome, renewal
    case.new_policy_number = turn.data.get("new_number") if renewal == "renewed" else None
    case.note = turn.data.get("note")
    status = rules.policy_status_after(renewal)
    if status is not None:
        policy.status = status
    if client is not None:
        channel = "visit" if case.appointment_result == "agreed" else "phone"
        await log_interaction(turn.session, client, channel=channel, note=case.note, at=now)
        if turn.data.get("followup"):
            client.next_followup = date.fromisoformat(turn.data["followup"])

    if rules.closes_case(outcome, renewal):
        case.stage, case.closed_at = rules.CLOSED, now
        turn.send(turn.t("maturity.report_closed"))
    else:
        case.stage = "report"
        key = "maturity.report_followup" if turn.data.get("followup") else "maturity.report_open"
        when = turn.data.get("followup") or ""
        shown = format_date(date.fromisoformat(when), turn.lang) if when else ""
        turn.send(turn.t(key, date=shown))
    _send_card(turn, view)
    return END


# --- contact details ----------------------------------------------------------------------


class ContactFlow(CaseFlow):
    """New contact details for the holder: the phone or the address, then the card again."""

    name = CONTACT_FLOW
    first_step = "phone"

    async def begin(self, turn: Turn, argument: str) -> str:
        """Go to the detail the agent chose."""
        return "address" if turn.data.get("field") == "address" else "phone"

    async def ask_phone(self, turn: Turn) -> None:
        """Ask for the new phone number, showing the one on file."""
        view = await _view(turn)
        phone = view.client.phone if view is not None and view.client is not None else None
        turn.ask(turn.t("maturity.ask_phone", phone=phone or turn.t("maturity.unset")))

    async def on_phone(self, turn: Turn, answer: Answer) -> str:
        """Store the new number (typed or from a shared contact) and count it as confirmed."""
        typed = answer.contact_phone or answer.text or ""
        try:
            phone = parse_phone(typed)
        except ParseError as error:
            turn.send(error.message(turn.lang))
            return RETRY
        view = await _view(turn)
        if view is None or view.client is None:
            return _gone(turn)
        if view.client.phone2 == phone:
            view.client.phone2 = None
        view.client.phone = phone
        view.case.contact_confirmed_at = turn.context.now()
        turn.send(turn.t("maturity.phone_saved"))
        _send_card(turn, view)
        return END

    async def ask_address(self, turn: Turn) -> None:
        """Ask for the new address, showing the one on file."""
        view = await _view(turn)
        address = view.client.address if view is not None and view.client is not None else None
        turn.ask(turn.t("maturity.ask_address", address=address or turn.t("maturity.unset")))

    async def on_address(self, turn: Turn, answer: Answer) -> str:
        """Store the new address and count the contact details as confirmed."""
        address = " ".join((answer.text or "").split())
        if len(address) < 2 or len(address) > ADDRESS_LIMIT:
            return turn.retry("maturity.bad_address", limit=ADDRESS_LIMIT)
        view = await _view(turn)
        if view is None or view.client is None:
            return _gone(turn)
        view.client.address = address
        if view.client.region is None:
            view.client.region = rules.guess_region(address)
        view.case.contact_confirmed_at = turn.context.now()
        turn.send(turn.t("maturity.address_saved"))
        _send_card(turn, view)
        return END


# --- escalation ---------------------------------------------------------------------------


class EscalateFlow(CaseFlow):
    """Send the case to the agent's manager with a line on the question or the objection."""

    name = ESCALATE_FLOW
    first_step = "reason"

    async def ask_reason(self, turn: Turn) -> None:
        """Ask what the manager should know."""
        turn.ask(turn.t("maturity.ask_reason"), [[turn.button(turn.t("flows.skip"), SKIP)]])

    async def on_reason(self, turn: Turn, answer: Answer) -> str:
        """Send the case summary to the manager's chat and mark the case escalated."""
        reason: str | None = None
        if answer.choice != SKIP:
            reason = (answer.text or "").strip()
            if not reason:
                return turn.retry("maturity.bad_reason")
            if len(reason) > NOTE_LIMIT:
                return turn.retry("maturity.note_too_long", limit=NOTE_LIMIT, length=len(reason))
        view = await _view(turn)
        if view is None:
            return _gone(turn)
        manager = await policies.manager_of(turn.session, turn.agent)
        if manager is None:
            turn.send(turn.t("maturity.no_manager"))
            return END

        text = escalation_text(view, turn.agent, manager, reason, _today(turn))
        buttons = [
            [
                (t(manager.language, "maturity.btn_ack"), _escalation(view, "ack")),
                (t(manager.language, "maturity.btn_answer"), _escalation(view, "reply")),
            ]
        ]
        # Sent before the conversation is saved: if saving failed afterwards, the manager
        # would have the summary and the agent could simply escalate again.
        try:
            await turn.context.bot.send_message(
                manager.telegram_id, text, reply_markup=keyboard(buttons)
            )
        except TelegramError as error:
            logger.warning("escalation to manager %s failed: %s", manager.id, error)
            turn.send(turn.t("maturity.escalate_failed", manager=colleague_name(manager)))
            return END

        view.case.escalated_at = turn.context.now()
        view.case.escalation_acknowledged_at = None
        logger.info("agent %s escalated case %s to %s", turn.agent.id, view.case.id, manager.id)
        turn.send(turn.t("maturity.escalated", manager=colleague_name(manager)))
        _send_card(turn, view)
        return END


def _escalation(view: CaseView, action: str) -> str:
    return links.ESCALATION.build(case_id=view.case.id, action=action)


def colleague_name(agent: Agent) -> str:
    """Name a colleague by name and username when known, else by Telegram id."""
    if agent.name and agent.username:
        return f"{agent.name} (@{agent.username})"
    if agent.name:
        return agent.name
    return f"@{agent.username}" if agent.username else str(agent.telegram_id)


def escalation_text(
    view: CaseView, agent: Agent, manager: Agent, reason: str | None, today: date
) -> str:
    """Write the case summary for the manager, in the manager's language, without contacts."""
    lang = manager.language
    policy = view.policy
    amount = policy.sum_insured if policy.sum_insured is not None else policy.premium
    lines = [t(lang, "maturity.escalation_title", agent=colleague_name(agent)), ""]
    lines.append(t(lang, "maturity.card_holder", holder=_holder(view)))
    lines.append(t(lang, "maturity.card_policy", number=policy.policy_number))
    if policy.bank:
        lines.append(t(lang, "maturity.card_bank", bank=policy.bank))
    if amount is not None:
        lines.append(t(lang, "maturity.card_amount", amount=format_money(amount, lang)))
    if policy.maturity_date is not None:
        days = rules.days_left(policy.maturity_date, today)
        when = format_date(policy.maturity_date, lang)
        lines.append(t(lang, "maturity.card_maturity", date=when, due=due_text(lang, days)))
    lines.append(t(lang, "maturity.card_progress", line=progress_line(lang, view.case.stage)))
    lines += record_lines(view, lang, manager.timezone)
    lines += ["", t(lang, "maturity.escalation_reason", reason=reason or t(lang, "maturity.none"))]
    return "\n".join(lines)


def register(application: Application) -> None:
    """Add the case conversations to the application."""
    for flow in (AppointmentFlow(), ReportFlow(), ContactFlow(), EscalateFlow()):
        application.bot_data["flows"][flow.name] = flow
