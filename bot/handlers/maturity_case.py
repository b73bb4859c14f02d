"""The maturity case card: one policy's work from organising to the report, and its buttons.

Owns opening a case (the shared ``mc`` button from the maturity book and elsewhere), the
card that shows its progress line, what the agent has recorded and what to do next, and
the card's one-tap actions (``ma``): region and trait, the preparation checklist, moving
on a stage, confirming the contact details, reopening. Actions that need typed answers
(the appointment, the report, new contact details, escalating) start the guided
conversations of :mod:`bot.handlers.maturity_steps`.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Final
from zoneinfo import ZoneInfo

from telegram import Update
from telegram.error import BadRequest
from telegram.ext import Application, CallbackQueryHandler

from bot import flows, links
from bot import maturity as rules
from bot.callbacks import CallbackError, Codec
from bot.context import MESSAGE_LIMIT, BotContext, Buttons, keyboard
from bot.i18n import t
from bot.parsing import format_date, format_money, format_phone
from storage import conversations, policies
from storage.choices import REGIONS, TRAITS
from storage.models import Agent
from storage.policies import CaseView

logger = logging.getLogger(__name__)

# ``ma:<case id>:<action>:<value>`` — one tap on a case card.
CASE_ACTION = Codec("ma", case_id=int, action=str, value=str)

# The guided conversations a card starts; their steps live in maturity_steps.
APPOINT_FLOW: Final = "mappoint"
REPORT_FLOW: Final = "mreport"
CONTACT_FLOW: Final = "mcontact"
ESCALATE_FLOW: Final = "mescalate"

_STATE_MARKS: Final = {"done": "✅", "current": "▶️", "todo": "▫️"}


# --- the card -----------------------------------------------------------------------------


def due_text(lang: str, days: int) -> str:
    """Say how far a maturity date is: in N days, today, or N days ago."""
    if days > 0:
        return t(lang, "maturity.due_in", days=days)
    if days == 0:
        return t(lang, "maturity.due_today")
    return t(lang, "maturity.due_past", days=-days)


def band_label(lang: str, band: str, agent: Agent) -> str:
    """Name an amount band with the agent's own thresholds."""
    low, high = format_money(agent.band_low, lang), format_money(agent.band_high, lang)
    return t(lang, f"maturity.band.{band}", low=low, high=high)


def progress_line(lang: str, stage: str) -> str:
    """Draw the stages as one line: done, current and still to do."""
    parts = [
        f"{_STATE_MARKS[state]}{t(lang, f'choices.stage.{name}')}"
        for name, state in rules.progress(stage)
    ]
    return " → ".join(parts)


def render_case(view: CaseView, agent: Agent, today: date) -> tuple[str, Buttons]:
    """Return the card of a case: what is known, where it stands, and its buttons."""
    lang = agent.language
    case, policy, client = view.case, view.policy, view.client
    holder = client.name if client is not None else policy.holder_name or policy.policy_number
    amount = policy.sum_insured if policy.sum_insured is not None else policy.premium

    lines = [t(lang, "maturity.card_title", holder=holder), ""]
    lines.append(t(lang, "maturity.card_policy", number=policy.policy_number))
    if policy.bank:
        lines.append(t(lang, "maturity.card_bank", bank=policy.bank))
    if policy.product:
        lines.append(t(lang, "maturity.card_product", product=policy.product))
    if policy.sum_insured is not None:
        lines.append(t(lang, "maturity.card_sum", amount=format_money(policy.sum_insured, lang)))
    if policy.premium is not None:
        lines.append(t(lang, "maturity.card_premium", amount=format_money(policy.premium, lang)))
    if policy.maturity_date is not None:
        days = rules.days_left(policy.maturity_date, today)
        when = format_date(policy.maturity_date, lang)
        lines.append(t(lang, "maturity.card_maturity", date=when, due=due_text(lang, days)))
    if policy.insured_name and policy.insured_name != holder:
        lines.append(t(lang, "maturity.card_insured", name=policy.insured_name))

    band = rules.amount_band(amount, agent.band_low, agent.band_high)
    if client is not None:
        region = client.region if client.region in REGIONS else None
        trait = client.trait if client.trait in TRAITS else None
        lines.append(
            t(
                lang,
                "maturity.card_segments",
                region=t(lang, f"choices.region.{region}") if region else _unset(lang),
                band=band_label(lang, band, agent),
                trait=t(lang, f"choices.trait.{trait}") if trait else _unset(lang),
            )
        )
        phones = " / ".join(format_phone(p) for p in (client.phone, client.phone2) if p)
        lines.append(t(lang, "maturity.card_phone", phone=phones or _unset(lang)))
        lines.append(t(lang, "maturity.card_address", address=client.address or _unset(lang)))
    else:
        lines.append(t(lang, "maturity.card_no_client"))

    lines += ["", t(lang, "maturity.card_progress", line=progress_line(lang, case.stage))]
    lines += record_lines(view, lang, agent.timezone)
    if case.closed_at is None:
        lines += ["", t(lang, f"maturity.hint.{case.stage}")]
        if client is not None:
            confirmed = (
                format_date(local_date(case.contact_confirmed_at, agent.timezone), lang)
                if case.contact_confirmed_at is not None
                else t(lang, "maturity.never")
            )
            lines += ["", t(lang, "maturity.card_reconfirm", when=confirmed)]
    return "\n".join(lines), _case_buttons(view, lang)


def _unset(lang: str) -> str:
    return t(lang, "maturity.unset")


def local_date(moment: datetime, zone: str) -> date:
    """Return the calendar date of a stored UTC time in the time zone ``zone``."""
    return moment.astimezone(ZoneInfo(zone)).date()


def record_lines(view: CaseView, lang: str, zone: str) -> list[str]:
    """Return what has been recorded on the case so far, one line each (dates in ``zone``)."""
    case = view.case
    lines: list[str] = []
    if case.appointment_result:
        result = t(lang, f"choices.appointment.{case.appointment_result}")
        if case.appointment_result == "agreed" and case.appointment_date is not None:
            result += t(lang, "maturity.on_date", date=format_date(case.appointment_date, lang))
        if case.appointment_result == "no_answer" and case.retry_date is not None:
            result += t(lang, "maturity.retry_on", date=format_date(case.retry_date, lang))
        lines.append(t(lang, "maturity.card_appointment", result=result))
    if case.outcome:
        lines.append(
            t(lang, "maturity.card_outcome", outcome=t(lang, f"maturity.outcome.{case.outcome}"))
        )
    if case.renewal_result:
        renewal = t(lang, f"choices.renewal.{case.renewal_result}")
        if case.new_policy_number:
            renewal += t(lang, "maturity.new_number", number=case.new_policy_number)
        lines.append(t(lang, "maturity.card_renewal", result=renewal))
    if case.note:
        lines.append(t(lang, "maturity.card_note", note=case.note))
    if case.escalated_at is not None:
        key = "card_escalated_ack" if case.escalation_acknowledged_at else "card_escalated"
        lines.append(
            t(lang, f"maturity.{key}", date=format_date(local_date(case.escalated_at, zone), lang))
        )
    if case.closed_at is not None:
        lines.append(
            t(
                lang,
                "maturity.card_closed",
                date=format_date(local_date(case.closed_at, zone), lang),
            )
        )
    return lines


def _case_buttons(view: CaseView, lang: str) -> Buttons:
    """Return the card's buttons for the stage the case is in."""
    case, client = view.case, view.client

    def tap(label_key: str, action: str, value: str = "", **values: object) -> tuple[str, str]:
        label = t(lang, label_key, **values)
        return label, CASE_ACTION.build(case_id=case.id, action=action, value=value)

    rows: list[list[tuple[str, str]]] = []
    if case.closed_at is not None:
        rows.append([tap("maturity.btn_reopen", "reopen")])
    elif case.stage == "organise":
        if client is not None:
            rows.append(
                [_choice(lang, case.id, "region", code, client.region) for code in REGIONS]
            )
            rows.append([_choice(lang, case.id, "trait", code, client.trait) for code in TRAITS])
        rows.append([tap("maturity.btn_next.organise", "next", "organise")])
    elif case.stage == "prepare":
        ticked = set(case.checklist or [])
        items = [
            tap(
                "maturity.tick_on" if code in ticked else "maturity.tick_off",
                "tick",
                code,
                item=t(lang, f"maturity.checklist.{code}"),
            )
            for code in rules.CHECKLIST
        ]
        rows += [items[i : i + 2] for i in range(0, len(items), 2)]
        rows.append([tap("maturity.btn_next.prepare", "next", "prepare")])
    elif case.stage == "appoint":
        rows.append([tap("maturity.btn_appoint", "appoint")])
    elif case.stage == "visit":
        rows.append([tap("maturity.btn_report", "report")])
        rows.append([tap("maturity.btn_reappoint", "appoint")])
    else:
        rows.append([tap("maturity.btn_report", "report")])

    if case.closed_at is None and client is not None:
        rows.append([tap("maturity.btn_confirm", "confirm")])
        rows.append([tap("maturity.btn_phone", "phone"), tap("maturity.btn_address", "address")])
    if case.closed_at is None:
        rows.append([tap("maturity.btn_escalate", "escalate")])
    if client is not None:
        rows.append(
            [
                (t(lang, "maturity.btn_client"), links.CLIENT_CARD.build(client_id=client.id)),
                (
                    t(lang, "maturity.btn_script"),
                    links.SCRIPT_FOR_CLIENT.build(client_id=client.id),
                ),
            ]
        )
    return rows


def _choice(
    lang: str, case_id: int, field: str, code: str, current: str | None
) -> tuple[str, str]:
    """Return a segment button; the chosen one carries a tick."""
    label = t(lang, f"choices.{field}.{code}")
    if code == current:
        label = t(lang, "maturity.chosen", label=label)
    return label, CASE_ACTION.build(case_id=case_id, action=field, value=code)


# --- showing ------------------------------------------------------------------------------


async def show(update: Update, context: BotContext, text: str, buttons: Buttons) -> None:
    """Replace the pressed message with ``text``, or send it when there is nothing to edit."""
    query = update.callback_query
    if query is not None and query.message is not None and len(text) <= MESSAGE_LIMIT:
        try:
            await query.edit_message_text(
                text, reply_markup=keyboard(buttons) if buttons else None
            )
            return
        except BadRequest as error:
            # Pressing a button that changes nothing makes Telegram refuse the edit.
            if "not modified" in str(error).lower():
                return
            logger.info("could not edit message, sending a new one: %s", error)
    await context.say(text, buttons)


async def refuse(update: Update, context: BotContext) -> None:
    """Answer a button whose case is not the agent's (or no longer exists), revealing nothing."""
    query = update.callback_query
    if query is not None:
        await query.answer(context.t("maturity.case_not_found"), show_alert=True)


# --- handlers -----------------------------------------------------------------------------


async def open_case(update: Update, context: BotContext) -> None:
    """Open the case of the pressed policy, creating it the first time."""
    query = update.callback_query
    assert query is not None
    agent = context.require_agent()
    try:
        policy_id = links.OPEN_CASE.parse(query.data)["policy_id"]
    except CallbackError:
        await refuse(update, context)
        return

    async with context.db.session() as session:
        view = await policies.open_case(session, agent.id, policy_id)
        if view is None:
            logger.info("agent %s pressed a case button of a policy not theirs", agent.id)
            await refuse(update, context)
            return
        text, buttons = render_case(view, agent, context.today())
    await query.answer()
    await context.say(text, buttons)


async def case_action(update: Update, context: BotContext) -> None:
    """Apply one tap on a case card, or start the conversation it stands for."""
    query = update.callback_query
    assert query is not None
    agent = context.require_agent()
    try:
        pressed = CASE_ACTION.parse(query.data)
    except CallbackError:
        await refuse(update, context)
        return
    case_id, action, value = pressed["case_id"], pressed["action"], pressed["value"]

    async with context.db.session() as session:
        view = await policies.get_case(session, agent.id, case_id)
        if view is None:
            logger.info("agent %s pressed a button of a case not theirs", agent.id)
            await refuse(update, context)
            return
        flow, note = _apply(view, action, value, context)
        text, buttons = render_case(view, agent, context.today())

    await query.answer(note)
    if flow == ESCALATE_FLOW and agent.manager_id is None:
        await context.say(context.t("maturity.no_manager"))
        return
    if flow is not None:
        await _start_flow(update, context, flow, case_id, value=action)
        return
    await show(update, context, text, buttons)


def _apply(
    view: CaseView, action: str, value: str, context: BotContext
) -> tuple[str | None, str | None]:
    """Change the case for a one-tap action; return a flow to start and a short note."""
    case, client = view.case, view.client
    if action in ("appoint", "report", "phone", "address", "escalate"):
        flow = {
            "appoint": APPOINT_FLOW,
            "report": REPORT_FLOW,
            "phone": CONTACT_FLOW,
            "address": CONTACT_FLOW,
            "escalate": ESCALATE_FLOW,
        }[action]
        return flow, None
    if case.closed_at is not None and action != "reopen":
        return None, context.t("maturity.case_is_closed")

    if action == "region" and client is not None and value in REGIONS:
        client.region = value
    elif action == "trait" and client is not None and value in TRAITS:
        client.trait = value
    elif action == "tick" and value in rules.CHECKLIST:
        case.checklist = rules.toggle(case.checklist or [], value)
    elif action == "next" and value == case.stage:
        # The stage in the data makes a double tap move the case on only once.
        case.stage = rules.next_stage(case.stage)
    elif action == "confirm":
        case.contact_confirmed_at = context.now()
        return None, context.t("maturity.contact_confirmed")
    elif action == "reopen" and case.closed_at is not None:
        case.closed_at = None
        case.stage = "report"
    return None, None


async def _start_flow(
    update: Update, context: BotContext, flow: str, case_id: int, *, value: str
) -> None:
    """Start a case conversation, resuming a kept draft only when it is for the same case."""
    agent = context.require_agent()
    data = {"case_id": case_id, "field": value}
    async with context.db.session() as session:
        kept = await conversations.get_conversation(session, agent.id, flow)
        same = kept is not None and all(kept.data.get(k) == v for k, v in data.items())
    await flows.start(update, context, flow, data=data, fresh=not same)


def register(application: Application) -> None:
    """Add the case buttons: opening a case, and the card's actions."""
    application.add_handler(CallbackQueryHandler(open_case, pattern=links.OPEN_CASE.pattern))
    application.add_handler(CallbackQueryHandler(case_action, pattern=CASE_ACTION.pattern))
