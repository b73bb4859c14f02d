"""Seeing the whole book: /stats (a short text and one chart) and /export (one .xlsx file).

/stats counts the agent's clients by source (the warm market by category), by grade on
each axis, the new clients and logged contacts of this week and month, the referral share
and top referrers, and this month's maturity results; the same figures go into one PNG.
Each top referrer has a button showing their referral tree: who referred them and whom
they referred, two levels each way (:func:`referral_tree_text` renders it, for the client
card too). /export sends every stored row as a workbook, the agent's own copy of their data.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date
from functools import partial
from typing import Final

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot import charts, i18n
from bot.callbacks import CallbackError, Codec
from bot.context import BotContext, Buttons
from bot.export import build_workbook
from bot.links import CLIENT_CARD, REFERRAL_TREE
from bot.parsing import format_date
from storage import stats as store
from storage.choices import CASE_OUTCOMES, GRADE_AXES, GRADES, RENEWAL_RESULTS, SOURCES
from storage.stats import BookStats, ReferralTree, TreeNode

logger = logging.getLogger(__name__)


EXPORT = Codec("xe")

# How many referred clients a tree lists under one person before "and N more".
TREE_LIST_LIMIT: Final = 15


# --- /stats ------------------------------------------------------------------------------


async def stats_command(update: Update, context: BotContext) -> None:
    """Send the book's figures as a short text, then the same figures as one chart."""
    agent = context.require_agent()
    today = context.today()
    periods = store.period_starts(today, agent.timezone)
    async with context.db.session() as session:
        figures = await store.book_stats(session, agent.id, periods)

    if figures.total == 0:
        await context.say(context.t("stats.empty"))
        return

    await context.say(stats_text(context.lang, figures, today), _stats_buttons(context, figures))
    title = context.t(
        "stats.chart_title", name=agent.name or "", date=format_date(today, agent.language)
    )
    try:
        png = await asyncio.to_thread(
            charts.render_panels, title, chart_panels(context.lang, figures)
        )
    except Exception:
        # The text above already carries every figure; a failed drawing must not hide it.
        logger.exception("drawing the stats chart for agent %s failed", agent.id)
        await context.say(context.t("stats.chart_failed"))
        return
    chat_id = update.effective_chat.id if update.effective_chat else agent.telegram_id
    await context.bot.send_photo(chat_id, photo=png, filename="stats.png", caption=title)


def _stats_buttons(context: BotContext, figures: BookStats) -> Buttons:
    """Return a referral-tree button per top referrer and the export button."""
    rows: list[list[tuple[str, str]]] = [
        [
            (
                context.t("stats.tree_button", name=referrer.name),
                REFERRAL_TREE.build(client_id=referrer.client_id),
            )
        ]
        for referrer in figures.top_referrers
    ]
    rows.append([(context.t("stats.export_button"), EXPORT.build())])
    return rows


def _percent(share: float | None) -> str:
    """Write a share as a whole percentage."""
    return f"{round((share or 0) * 100)}%"


def stats_text(lang: str, figures: BookStats, today: date) -> str:
    """Write the /stats message for ``figures``."""
    t = partial(i18n.t, lang)

    sep = t("stats.list_separator")
    lines = [
        t("stats.header", date=format_date(today, lang)),
        t(
            "stats.total",
            total=figures.total,
            referral=figures.by_source["referral"],
            share=_percent(figures.referral_share),
        ),
        "",
        t("stats.sources_header"),
    ]
    for source in SOURCES:
        line = t(
            "stats.source_line",
            label=t(f"choices.source.{source}"),
            count=figures.by_source[source],
        )
        if source == "warm" and figures.by_source["warm"]:
            parts = [
                t("stats.count_item", label=_warm_label(lang, category), count=count)
                for category, count in _warm_sorted(figures)
            ]
            line += t("stats.warm_detail", detail=sep.join(parts))
        lines.append(line)

    lines += ["", t("stats.grades_header")]
    for axis in GRADE_AXES:
        counts = figures.by_grade[axis]
        values = " / ".join(str(counts.get(grade, 0)) for grade in GRADES)
        ungraded = counts.get(None, 0)
        lines.append(
            t("stats.grade_line", axis=t(f"choices.axis.{axis}"), values=values, ungraded=ungraded)
        )

    lines += [
        "",
        t("stats.new_line", week=figures.new_this_week, month=figures.new_this_month),
        t(
            "stats.contacts_line",
            week=figures.contacts_this_week,
            month=figures.contacts_this_month,
        ),
        "",
        t("stats.referrers_header"),
    ]
    if figures.top_referrers:
        lines += [
            t(
                "stats.referrer_line",
                rank=rank,
                name=referrer.name,
                referred=referrer.referred,
                reached=referrer.reached,
            )
            for rank, referrer in enumerate(figures.top_referrers, start=1)
        ]
    else:
        lines.append(t("stats.no_referrers"))

    renewals = sep.join(
        t(
            "stats.count_item",
            label=t(f"choices.renewal.{code}"),
            count=figures.renewal_results[code],
        )
        for code in RENEWAL_RESULTS
    )
    outcomes = sep.join(
        t("stats.count_item", label=code, count=figures.outcomes[code]) for code in CASE_OUTCOMES
    )
    lines += [
        "",
        t("stats.maturity_header"),
        t("stats.renewal_line", detail=renewals),
        t("stats.outcome_line", detail=outcomes),
    ]
    return "\n".join(lines)


def _warm_label(lang: str, category: int | None) -> str:
    """Name a warm-market category, or say it was not recorded."""
    if category is None or not i18n.has(lang, f"choices.warm.{category}"):
        return i18n.t(lang, "stats.warm_unknown")
    return i18n.t(lang, f"choices.warm.{category}")


def _warm_sorted(figures: BookStats) -> list[tuple[int | None, int]]:
    """Return the warm-market counts in the method's category order, unrecorded last."""
    return sorted(
        figures.by_warm_category.items(), key=lambda item: (item[0] is None, item[0] or 0)
    )


def chart_panels(lang: str, figures: BookStats) -> list[charts.Panel]:
    """Lay out the /stats figures as chart panels with labels in ``lang``."""
    t = partial(i18n.t, lang)

    clients = t("stats.chart_clients")
    panels = [
        charts.Panel(
            t("stats.chart_sources", share=_percent(figures.referral_share)),
            tuple(t(f"choices.source.{source}") for source in SOURCES),
            (charts.Series(clients, tuple(figures.by_source[s] for s in SOURCES)),),
            horizontal=True,
        )
    ]
    warm = _warm_sorted(figures)
    if warm:
        panels.append(
            charts.Panel(
                t("stats.chart_warm"),
                tuple(_warm_label(lang, category) for category, _ in warm),
                (charts.Series(clients, tuple(count for _, count in warm)),),
                horizontal=True,
            )
        )
    grade_labels = (*GRADES, t("stats.ungraded"))
    panels += [
        charts.Panel(
            t("stats.chart_grades"),
            grade_labels,
            tuple(
                charts.Series(
                    t(f"choices.axis.{axis}"),
                    tuple(figures.by_grade[axis].get(g, 0) for g in (*GRADES, None)),
                )
                for axis in GRADE_AXES
            ),
        ),
        charts.Panel(
            t("stats.chart_activity"),
            (t("stats.this_week"), t("stats.this_month")),
            (
                charts.Series(
                    t("stats.chart_new"), (figures.new_this_week, figures.new_this_month)
                ),
                charts.Series(
                    t("stats.chart_contacts"),
                    (figures.contacts_this_week, figures.contacts_this_month),
                ),
            ),
        ),
        charts.Panel(
            t("stats.chart_renewals"),
            tuple(t(f"choices.renewal.{code}") for code in RENEWAL_RESULTS),
            (
                charts.Series(
                    t("stats.chart_cases"),
                    tuple(figures.renewal_results[c] for c in RENEWAL_RESULTS),
                ),
            ),
        ),
        charts.Panel(
            t("stats.chart_outcomes"),
            CASE_OUTCOMES,
            (
                charts.Series(
                    t("stats.chart_cases"), tuple(figures.outcomes[c] for c in CASE_OUTCOMES)
                ),
            ),
        ),
    ]
    return panels


# --- referral trees ----------------------------------------------------------------------


async def referral_tree_button(update: Update, context: BotContext) -> None:
    """Show the referral tree of the client on the pressed button, if it is the agent's."""
    query = update.callback_query
    assert query is not None
    agent = context.require_agent()
    try:
        client_id = REFERRAL_TREE.parse(query.data)["client_id"]
    except CallbackError:
        await query.answer(context.t("stats.unavailable"), show_alert=True)
        return

    async with context.db.session() as session:
        tree = await store.referral_tree(session, agent.id, client_id)
    if tree is None:
        # The same words for a deleted client and a forged id: nothing is revealed.
        await query.answer(context.t("stats.unavailable"), show_alert=True)
        return

    await query.answer()
    card = [
        [
            (
                context.t("stats.open_card", name=tree.root.name),
                CLIENT_CARD.build(client_id=tree.root.client_id),
            )
        ]
    ]
    await context.say(referral_tree_text(context.lang, tree), card)


def referral_tree_text(lang: str, tree: ReferralTree) -> str:
    """Write who referred the tree's client and whom they referred, two levels each way."""
    t = partial(i18n.t, lang)

    root = tree.root
    lines = [t("stats.tree_header", name=root.name)]
    if not tree.referrers and not root.children:
        lines.append(t("stats.tree_empty", name=root.name))
        return "\n".join(lines)

    if tree.referrers:
        chain = t("stats.tree_arrow").join(node.name for node in reversed(tree.referrers))
        lines.append(t("stats.tree_referred_by", chain=chain, name=root.name))
    if root.children:
        lines.append(t("stats.tree_referred", name=root.name, count=len(root.children)))
        sep = t("stats.list_separator")
        for child in root.children[:TREE_LIST_LIMIT]:
            if child.children:
                names = sep.join(_names(child.children))
                lines.append(t("stats.tree_child_with", name=child.name, names=names))
            else:
                lines.append(t("stats.tree_child", name=child.name))
        hidden = len(root.children) - TREE_LIST_LIMIT
        if hidden > 0:
            lines.append(t("stats.tree_more", count=hidden))
    return "\n".join(lines)


def _names(nodes: tuple[TreeNode, ...]) -> list[str]:
    """Return the nodes' names, cut to the list limit with a count of the rest."""
    names = [node.name for node in nodes[:TREE_LIST_LIMIT]]
    if len(nodes) > TREE_LIST_LIMIT:
        names.append(f"+{len(nodes) - TREE_LIST_LIMIT}")
    return names


# --- /export -----------------------------------------------------------------------------


async def export_command(update: Update, context: BotContext) -> None:
    """Send the agent's whole book as one Excel workbook."""
    agent = context.require_agent()
    async with context.db.session() as session:
        book = await store.export_book(session, agent.id)
    if not book.clients and not book.policies:
        await context.say(context.t("stats.export_empty"))
        return

    content = await asyncio.to_thread(
        build_workbook,
        book,
        lang=agent.language,
        agent_name=agent.name or "",
        zone=agent.timezone,
    )
    filename = context.t("stats.export_filename", date=context.today().isoformat())
    caption = context.t(
        "stats.export_caption",
        clients=len(book.clients),
        policies=len(book.policies),
        contacts=len(book.interactions),
    )
    chat_id = update.effective_chat.id if update.effective_chat else agent.telegram_id
    try:
        await context.bot.send_document(
            chat_id, document=content, filename=filename, caption=caption
        )
    except TelegramError:
        logger.warning("sending the export to agent %s failed", agent.id, exc_info=True)
        await context.say(context.t("stats.export_failed"))
        return
    logger.info("export sent to agent %s (%d bytes)", agent.id, len(content))


async def export_button(update: Update, context: BotContext) -> None:
    """Run /export from the button under /stats."""
    query = update.callback_query
    assert query is not None
    await query.answer()
    await export_command(update, context)


def register(application: Application) -> None:
    """Add /stats, /export and their buttons; register the chart font once, up front."""
    # Registering the font touches matplotlib's shared font list: do it here, on the main
    # thread, rather than in the first chart's worker thread.
    charts.cjk_family()
    application.add_handler(CommandHandler("stats", stats_command))
    application.add_handler(CommandHandler("export", export_command))
    application.add_handler(
        CallbackQueryHandler(referral_tree_button, pattern=REFERRAL_TREE.pattern)
    )
    application.add_handler(CallbackQueryHandler(export_button, pattern=EXPORT.pattern))
