"""/import: the bank's maturity policy table, from a sent file into the agent's book.

Owns the ``import`` conversation (``/import``, then the file) and the fallback that takes a
file sent while no conversation is open. Both download the document, read it with
:mod:`bot.importer`, write every valid row in one transaction through
:func:`storage.policies.import_policies`, and answer with a summary: rows read, added,
updated, unchanged and rejected, with each rejected row's problem in the message or, when
there are many, in an attached CSV report.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from sqlalchemy.exc import IntegrityError
from telegram import Document, Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot import flows
from bot.context import BotContext
from bot.flows import END, Answer, Flow, Turn
from bot.importer import (
    MAX_FILE_BYTES,
    ImportRefused,
    TableRead,
    read_policy_table,
    write_problem_report,
)
from storage import policies

logger = logging.getLogger(__name__)

# More problems than this go into an attached report instead of the message.
INLINE_PROBLEMS: Final = 20


class ImportFlow(Flow):
    """``/import``: wait for the table as a file, then import it."""

    name = "import"
    first_step = "file"
    command = "import"

    async def ask_file(self, turn: Turn) -> None:
        """Ask for the table as a file."""
        turn.ask(turn.t("maturity.import_ask"))

    async def on_file(self, turn: Turn, answer: Answer) -> str:
        """Import the sent file; anything else is asked for again."""
        if answer.document is None:
            return turn.retry("maturity.import_need_file")
        await import_document(turn.context, answer.document)
        return END


async def import_command(update: Update, context: BotContext) -> None:
    """Start /import: the next file the agent sends is read as the maturity table."""
    await flows.start(update, context, ImportFlow.name, fresh=True)


async def document_sent(update: Update, context: BotContext) -> None:
    """Import a file sent while no conversation is open, as if /import had come first."""
    message = update.effective_message
    if message is None or message.document is None or context.agent is None:
        return
    await import_document(context, message.document)
    raise ApplicationHandlerStop


async def import_document(context: BotContext, document: Document) -> None:
    """Download, read and store one maturity table, then tell the agent what happened."""
    agent = context.require_agent()
    lang = context.lang
    if document.file_size is not None and document.file_size > MAX_FILE_BYTES:
        refusal = ImportRefused("importer.too_large", limit_mb=MAX_FILE_BYTES // (1024 * 1024))
        await context.say(refusal.message(lang))
        return
    try:
        telegram_file = await context.bot.get_file(document.file_id)
        content = bytes(await telegram_file.download_as_bytearray())
    except TelegramError as error:
        logger.warning("could not download an import file for agent %s: %s", agent.id, error)
        await context.say(context.t("maturity.import_download_failed"))
        return

    try:
        # Reading a large workbook takes a second or more; a thread keeps the bot answering.
        read = await asyncio.to_thread(read_policy_table, document.file_name or "", content)
    except ImportRefused as refusal:
        logger.info("agent %s sent a file that is not a policy table (%s)", agent.id, refusal.key)
        await context.say(refusal.message(lang))
        return

    try:
        async with context.db.session() as session:
            counts = await policies.import_policies(session, agent.id, read.rows)
    except IntegrityError:
        # Only a second import of the same policies committing at the same moment gets
        # here; nothing of this one was written, and sending it again is safe.
        logger.warning("import of agent %s collided with another write", agent.id)
        await context.say(context.t("maturity.import_clash"))
        return
    await _report(context, read, counts)


async def _report(context: BotContext, read: TableRead, counts: policies.ImportCounts) -> None:
    """Send the import summary and the problems of rejected rows."""
    rejected_rows = len({problem.row_number for problem in read.rejected})
    if read.rows_read == 0:
        await context.say(context.t("maturity.import_no_rows"))
        return

    lines = [
        context.t(
            "maturity.import_summary",
            read=read.rows_read,
            added=counts.added,
            updated=counts.updated,
            unchanged=counts.unchanged,
            rejected=rejected_rows,
        )
    ]
    if counts.clients_added:
        lines.append(context.t("maturity.import_new_clients", count=counts.clients_added))
    attach = len(read.rejected) > INLINE_PROBLEMS
    if read.rejected and not attach:
        lines += ["", context.t("maturity.import_problems")]
        lines += [
            context.t(
                "maturity.import_problem",
                row=problem.row_number,
                column=problem.column,
                problem=problem.message(context.lang),
            )
            for problem in read.rejected
        ]
        lines += ["", context.t("maturity.import_fix")]
    elif attach:
        lines += ["", context.t("maturity.import_attached", count=len(read.rejected))]
    if read.rows:
        lines += ["", context.t("maturity.import_next")]
    await context.say("\n".join(lines))

    if attach:
        report = write_problem_report(read.rejected, context.lang)
        await context.bot.send_document(
            context.require_agent().telegram_id,
            report,
            filename=context.t("maturity.import_report_name"),
            caption=context.t("maturity.import_report_caption", count=len(read.rejected)),
        )


def register(application: Application) -> None:
    """Add /import, its conversation, and the file fallback (group 5)."""
    application.bot_data["flows"][ImportFlow.name] = ImportFlow()
    application.add_handler(CommandHandler("import", import_command))
    application.add_handler(MessageHandler(filters.Document.ALL, document_sent), group=5)
