"""The maturity book: /maturity lists maturing policies; /manager names who escalations reach.

Owns ``/maturity`` — the agent's policies maturing within 30, 60 or 90 days (and matured
ones whose case is still open), grouped by window and segmented by region, amount band or
client trait, a page at a time, each with a button that opens its case — and ``/manager``,
which sets the colleague an agent escalates cases to. Registers the rest of the feature:
/import (:mod:`bot.handlers.maturity_import`), the case card
(:mod:`bot.handlers.maturity_case`) and its conversations
(:mod:`bot.handlers.maturity_steps`).
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from datetime import date, timedelta
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot import links
from bot import maturity as rules
from bot.callbacks import CallbackError, Codec
from bot.context import BotContext, Buttons
from bot.handlers import maturity_case, maturity_import, maturity_steps
from bot.handlers.maturity_case import band_label, due_text, show
from bot.handlers.maturity_steps import colleague_name
from bot.i18n import t
from bot.parsing import format_money
from storage import agents as agent_store
from storage import policies
from storage.models import Agent

logger = logging.getLogger(__name__)

# ``ml:<window days>:<segmented by>:<page>`` — a view of the maturity book.
MATURITY_LIST = Codec("ml", window=int, by=str, page=int)

PAGE_SIZE: Final = 10
_USERNAME: Final = re.compile(r"@?([A-Za-z][A-Za-z0-9_]{3,31})")
_CLEAR_WORDS: Final = frozenset({"off", "none", "clear", "无", "取消", "清除"})


# --- /maturity ----------------------------------------------------------------------------


async def maturity_command(update: Update, context: BotContext) -> None:
    """Show the policies maturing within 30 days, segmented by region."""
    await _show_book(update, context, rules.WINDOWS[0], rules.SEGMENT_BY[0], 0)


async def book_pressed(update: Update, context: BotContext) -> None:
    """Switch the book to another window, segmentation or page."""
    query = update.callback_query
    assert query is not None
    try:
        pressed = MATURITY_LIST.parse(query.data)
    except CallbackError:
        await query.answer(context.t("flows.stale_button"))
        return
    window = pressed["window"] if pressed["window"] in rules.WINDOWS else rules.WINDOWS[0]
    by = pressed["by"] if pressed["by"] in rules.SEGMENT_BY else rules.SEGMENT_BY[0]
    await query.answer()
    await _show_book(update, context, window, by, max(pressed["page"], 0))


async def _show_book(update: Update, context: BotContext, window: int, by: str, page: int) -> None:
    """Render one page of the book and show it (editing the pressed message when there is one)."""
    agent = context.require_agent()
    today = context.today()
    async with context.db.session() as session:
        lines, closed = await _book_lines(session, agent, today, window)
    text, buttons = render_book(agent, lines, closed, window, by, page)
    await show(update, context, text, buttons)


async def _book_lines(
    session: AsyncSession, agent: Agent, today: date, window: int
) -> tuple[list[rules.BookLine], int]:
    """Load the window's policies as book lines; also count the closed cases left out."""
    found = await policies.maturity_book(session, agent.id, today, today + timedelta(days=window))
    lines: list[rules.BookLine] = []
    closed = 0
    for policy, client, case in found:
        if policy.maturity_date is None:
            continue
        settled = policy.status in policies.SETTLED_STATUSES
        if settled or (case is not None and case.closed_at is not None):
            closed += 1
            continue
        amount = policy.sum_insured if policy.sum_insured is not None else policy.premium
        lines.append(
            rules.BookLine(
                policy_id=policy.id,
                holder=client.name if client else policy.holder_name or policy.policy_number,
                maturity_date=policy.maturity_date,
                days_left=rules.days_left(policy.maturity_date, today),
                amount=amount,
                bank=policy.bank,
                region=client.region if client else None,
                trait=client.trait if client else None,
                stage=case.stage if case else None,
            )
        )
    return lines, closed


def segment_label(lang: str, by: str, segment: str, agent: Agent) -> str:
    """Name a segment of the book: a region, an amount band or a trait."""
    if by == "band":
        return band_label(lang, segment, agent)
    if segment == rules.UNKNOWN:
        return t(lang, f"maturity.unknown_{by}")
    return t(lang, f"choices.{by}.{segment}")


def render_book(
    agent: Agent,
    lines: list[rules.BookLine],
    closed: int,
    window: int,
    by: str,
    page: int,
) -> tuple[str, Buttons]:
    """Return one page of the maturity book as text and buttons."""
    lang = agent.language
    low, high = agent.band_low, agent.band_high
    sections = rules.arrange(lines, window, by, low, high)
    shown, page, pages = rules.page_of(sections, page, PAGE_SIZE)
    total = sum(len(section.lines) for section in sections)

    out = [t(lang, "maturity.book_title", window=window, count=total)]
    if total:
        counts = Counter(rules.segment_of(line, by, low, high) for line in lines)
        parts = [
            t(lang, "maturity.book_count", label=segment_label(lang, by, seg, agent), count=n)
            for seg in rules.segment_order(by)
            if (n := counts.get(seg))
        ]
        out.append(
            t(lang, "maturity.book_by", by=t(lang, f"maturity.by.{by}"), counts=" · ".join(parts))
        )
    else:
        out += ["", t(lang, "maturity.book_empty", window=window)]

    number = page * PAGE_SIZE
    case_buttons: list[tuple[str, str]] = []
    last_window = None
    for section in shown:
        if section.window != last_window:
            out += ["", t(lang, f"maturity.window.{section.window}")]
            last_window = section.window
        out.append(
            t(lang, "maturity.book_segment", label=segment_label(lang, by, section.segment, agent))
        )
        for line in section.lines:
            number += 1
            out.append(_book_line(lang, number, line))
            label = t(lang, "maturity.btn_case", number=number, holder=line.holder)
            case_buttons.append((label, links.OPEN_CASE.build(policy_id=line.policy_id)))
    if pages > 1:
        out += ["", t(lang, "maturity.book_page", page=page + 1, pages=pages)]
    if closed:
        out += ["", t(lang, "maturity.book_closed", count=closed)]

    rows: list[list[tuple[str, str]]] = [
        case_buttons[i : i + 2] for i in range(0, len(case_buttons), 2)
    ]
    nav = []
    if page > 0:
        nav.append(
            (
                t(lang, "maturity.btn_prev"),
                MATURITY_LIST.build(window=window, by=by, page=page - 1),
            )
        )
    if page + 1 < pages:
        nav.append(
            (
                t(lang, "maturity.btn_next_page"),
                MATURITY_LIST.build(window=window, by=by, page=page + 1),
            )
        )
    if nav:
        rows.append(nav)
    rows.append(
        [
            (
                _mark(lang, t(lang, "maturity.btn_window", days=days), days == window),
                MATURITY_LIST.build(window=days, by=by, page=0),
            )
            for days in rules.WINDOWS
        ]
    )
    rows.append(
        [
            (
                _mark(lang, t(lang, f"maturity.btn_by.{dimension}"), dimension == by),
                MATURITY_LIST.build(window=window, by=dimension, page=0),
            )
            for dimension in rules.SEGMENT_BY
        ]
    )
    return "\n".join(out), rows


def _mark(lang: str, label: str, chosen: bool) -> str:
    return t(lang, "maturity.chosen", label=label) if chosen else label


def _book_line(lang: str, number: int, line: rules.BookLine) -> str:
    """Write one policy of the book: holder, days left, amount, bank and stage."""
    parts = [line.holder, due_text(lang, line.days_left)]
    parts.append(
        format_money(line.amount, lang)
        if line.amount is not None
        else t(lang, "maturity.no_amount")
    )
    if line.bank:
        parts.append(line.bank)
    if line.stage:
        parts.append(t(lang, f"choices.stage.{line.stage}"))
    return t(lang, "maturity.book_line", number=number, text=" · ".join(parts))


# --- /manager -----------------------------------------------------------------------------


async def manager_command(update: Update, context: BotContext) -> None:
    """Show, set or clear the manager that escalated cases are sent to."""
    agent = context.require_agent()
    argument = " ".join(context.args or []).strip()
    notify: Agent | None = None

    async with context.db.session() as session:
        if not argument:
            manager = await policies.manager_of(session, agent)
            key = "maturity.manager_current" if manager else "maturity.manager_none"
            reply = context.t(key, manager=colleague_name(manager) if manager else "")
        elif argument.lower() in _CLEAR_WORDS:
            agent.manager_id = None
            await session.merge(agent)
            reply = context.t("maturity.manager_cleared")
        else:
            target, reply = await _find_colleague(session, context, argument)
            if target is not None and target.id == agent.id:
                target, reply = None, context.t("maturity.manager_self")
            if target is not None:
                agent.manager_id = target.id
                await session.merge(agent)
                notify = target
                reply = context.t("maturity.manager_set", manager=colleague_name(target))
                logger.info("agent %s named agent %s as manager", agent.id, target.id)
    await context.say(reply)

    if notify is not None and notify.active:
        text = t(notify.language, "maturity.manager_told", agent=colleague_name(agent))
        try:
            await context.bot.send_message(notify.telegram_id, text)
        except TelegramError as error:
            logger.info("could not tell agent %s they were named manager: %s", notify.id, error)


async def _find_colleague(
    session: AsyncSession, context: BotContext, argument: str
) -> tuple[Agent | None, str]:
    """Find the agent named by ``@username`` or a Telegram id, with what to say if none is."""
    if argument.isdigit():
        found = await agent_store.get_by_telegram_id(session, int(argument))
        return found, context.t("maturity.manager_unknown_id", id=argument)
    match = _USERNAME.fullmatch(argument)
    if match is None:
        return None, context.t("maturity.manager_bad", text=argument[:40])
    found = await policies.agent_by_username(session, match.group(1))
    return found, context.t("maturity.manager_unknown_name", name=match.group(1))


def register(application: Application) -> None:
    """Add /maturity, /manager, /import and the case card with its conversations."""
    application.add_handler(CommandHandler("maturity", maturity_command))
    application.add_handler(CallbackQueryHandler(book_pressed, pattern=MATURITY_LIST.pattern))
    application.add_handler(CommandHandler("manager", manager_command))
    maturity_import.register(application)
    maturity_case.register(application)
    maturity_steps.register(application)
