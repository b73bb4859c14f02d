"""The callback context every handler receives, with the agent, the database and texts.

``BotContext`` is registered through ``ContextTypes``; one instance serves all handler
groups of one update, so the access check in the first group can attach the agent for
every handler after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message
from telegram.ext import Application, CallbackContext, ExtBot

from bot import i18n
from bot.config import Settings

if TYPE_CHECKING:
    from bot.flows import Flow
    from storage.db import Database
    from storage.models import Agent

MESSAGE_LIMIT = 4096

# Buttons as (label, callback data) pairs, one inner list per keyboard row.
Buttons = Sequence[Sequence[tuple[str, str]]]


class Clock:
    """The time source; tests replace it to move the bot through days."""

    def now(self) -> datetime:
        """Return the current time in UTC."""
        return datetime.now(UTC)


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[str, Any]]):
    """A callback context that knows the asking agent and the shared resources."""

    def __init__(
        self,
        application: Application[Any, Any, Any, Any, Any, Any],
        chat_id: int | None = None,
        user_id: int | None = None,
    ) -> None:
        super().__init__(application=application, chat_id=chat_id, user_id=user_id)
        self.agent: Agent | None = None
        self.fallback_language: str = i18n.DEFAULT_LANGUAGE

    @property
    def db(self) -> Database:
        """Return the process's database."""
        db: Database = self.bot_data["db"]
        return db

    @property
    def settings(self) -> Settings:
        """Return the process's settings."""
        settings: Settings = self.bot_data["settings"]
        return settings

    @property
    def clock(self) -> Clock:
        """Return the time source."""
        clock: Clock = self.bot_data["clock"]
        return clock

    @property
    def flows(self) -> dict[str, Flow]:
        """Return the registered guided conversations by name."""
        flows: dict[str, Flow] = self.bot_data["flows"]
        return flows

    @property
    def lang(self) -> str:
        """Return the asking agent's language (or the guess for a stranger)."""
        return self.agent.language if self.agent is not None else self.fallback_language

    def t(self, key: str, /, **values: object) -> str:
        """Render a catalog message in the asking agent's language."""
        return i18n.t(self.lang, key, **values)

    def now(self) -> datetime:
        """Return the current time in UTC."""
        return self.clock.now()

    def today(self) -> date:
        """Return today's date in the asking agent's time zone."""
        zone = self.agent.timezone if self.agent is not None else self.settings.default_timezone
        return self.now().astimezone(ZoneInfo(zone)).date()

    def require_agent(self) -> Agent:
        """Return the asking agent; the access check guarantees one for agent handlers."""
        if self.agent is None:
            raise RuntimeError("handler reached without an agent; check the access group")
        return self.agent

    async def say(
        self, text: str, buttons: Buttons | None = None, *, chat_id: int | None = None
    ) -> Message | None:
        """Send ``text`` to the asking chat, split under Telegram's limit, buttons on the last."""
        target = chat_id if chat_id is not None else self._chat_id
        if target is None:
            return None
        parts = split_text(text)
        sent: Message | None = None
        for index, part in enumerate(parts):
            markup = keyboard(buttons) if buttons and index == len(parts) - 1 else None
            sent = await self.bot.send_message(target, part, reply_markup=markup)
        return sent


def keyboard(buttons: Buttons) -> InlineKeyboardMarkup:
    """Build an inline keyboard from rows of (label, callback data) pairs."""
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(label, callback_data=data) for label, data in row]
            for row in buttons
        ]
    )


def split_text(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split ``text`` into messages of at most ``limit`` characters at paragraph boundaries.

    Paragraphs (blank-line separated) are kept whole where they fit; a paragraph that is
    itself too long is cut at line ends, then at sentence ends, then hard.
    """
    units: list[tuple[str, str]] = []
    for paragraph in text.strip().split("\n\n"):
        paragraph = paragraph.strip()
        if paragraph:
            for index, piece in enumerate(_cut(paragraph, limit, _SEPARATORS)):
                units.append(("\n\n" if index == 0 else "\n", piece))

    chunks: list[str] = []
    current = ""
    for joiner, piece in units:
        if not current:
            current = piece
        elif len(current) + len(joiner) + len(piece) <= limit:
            current += joiner + piece
        else:
            chunks.append(current)
            current = piece
    if current:
        chunks.append(current)
    return chunks


_SEPARATORS = ("\n", "。", ". ", "！", "？", "；", " ")


def _cut(text: str, limit: int, separators: Sequence[str]) -> list[str]:
    """Cut one paragraph into pieces of at most ``limit``, at the latest separator that fits."""
    out: list[str] = []
    while len(text) > limit:
        cut = 0
        for sep in separators:
            found = text.rfind(sep, 0, limit - len(sep) + 1)
            if found > 0:
                cut = found + len(sep)
                break
        if cut <= 0:
            cut = limit
        out.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        out.append(text)
    return out
