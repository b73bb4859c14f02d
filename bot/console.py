"""The console: the real bot in a terminal, with no token and no network.

Each line read from standard input becomes a private-chat message from a local agent
(an admin by default) and goes through the same Application, handlers and database as
in production. What the bot sends is printed; inline buttons are numbered so that typing
the number presses the button. Lines starting with ``:`` are console commands:
``:contact NAME PHONE`` shares a contact, ``:file PATH`` sends a document, ``:text WORDS``
sends WORDS even when they are a button number, ``:help`` lists these.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from telegram import CallbackQuery, Chat, Contact, Document, Message, MessageEntity, Update, User

from bot.app import build_application
from bot.config import Settings
from bot.offline import BOT_ID, FAKE_TOKEN, ApiCall, OfflineRequest

logger = logging.getLogger(__name__)

CONSOLE_HELP = """console commands:
  N                press button number N of the last message with buttons
  :text WORDS      send WORDS as text even if they look like a button number
  :contact NAME PHONE   share a contact
  :file PATH       send a document (e.g. a maturity table .xlsx/.csv)
  :help            this list"""


# ":contact NAME PHONE": the name, then the phone from its first "+" or digit on.
_CONTACT = re.compile(r"(?P<name>.*?)\s+(?P<phone>[+0-9][0-9 ()+-]*)")


class Console:
    """Feeds terminal lines to the Application as updates from one local user."""

    def __init__(self, settings: Settings, user_id: int, out: TextIO) -> None:
        self.out = out
        self.user = User(user_id, "Console", False, language_code="zh-hans", username="console")
        self.chat = Chat(user_id, Chat.PRIVATE)
        self.request = OfflineRequest(on_call=self._show)
        if user_id not in settings.admin_ids:
            settings = replace(settings, admin_ids=settings.admin_ids | {user_id})
        self.application = build_application(
            replace(settings, bot_token=FAKE_TOKEN, bot_api_base_url=None), request=self.request
        )
        self.buttons: list[tuple[int, str]] = []  # (message id, callback data)
        # Update ids only grow, across runs too, as Telegram's do: the conversation engine
        # ignores an id it has already applied.
        self.ids = itertools.count(time.time_ns() // 1000)

    def _line(self, text: str) -> None:
        """Write one line of the conversation to the terminal."""
        self.out.write(text + "\n")
        self.out.flush()

    def _show(self, call: ApiCall, result: dict[str, Any]) -> None:
        if call.method not in ("sendMessage", "editMessageText", "sendDocument", "sendPhoto"):
            if call.method == "answerCallbackQuery" and call.params.get("text"):
                self._line(f"  ({call.params['text']})")
            return
        if call.method in ("sendDocument", "sendPhoto"):
            name = next(iter(call.files.values()), ("file", b""))[0]
            self._line(f"[{call.method[4:].lower()}: {name}]")
        if call.text:
            self._line(call.text)
        labels = call.buttons
        if labels:
            self.buttons = [(int(result.get("message_id", 0)), data) for _, data in labels]
            for number, (label, _) in enumerate(labels, start=1):
                self._line(f"  [{number}] {label}")
        self._line("")

    def _message(self, **fields: Any) -> Message:
        message = Message(
            next(self.ids), datetime.now(UTC), self.chat, from_user=self.user, **fields
        )
        message.set_bot(self.application.bot)
        return message

    def _update_for(self, line: str) -> Update | None:
        update_id = next(self.ids)
        if line.startswith(":"):
            verb, _, rest = line[1:].partition(" ")
            if verb == "text":
                return Update(update_id, message=self._text(rest))
            if verb == "contact":
                # The phone starts at the first word that begins like a number, so that
                # ":contact 张三 +86 138 1234 5678" keeps every digit and only the name.
                match = _CONTACT.fullmatch(rest.strip())
                name, phone = (match["name"], match["phone"]) if match else ("", rest.strip())
                contact = Contact(phone, name or phone, user_id=None)
                return Update(update_id, message=self._message(contact=contact))
            if verb == "file":
                path = Path(rest.strip()).expanduser()
                try:
                    content = path.read_bytes()
                except OSError as error:
                    self._line(f"cannot read {path}: {error.strerror}")
                    return None
                file_id = self.request.add_file(content)
                document = Document(file_id, file_id, file_name=path.name, file_size=len(content))
                return Update(update_id, message=self._message(document=document))
            self._line(CONSOLE_HELP)
            return None
        if line.isdigit() and 0 < int(line) <= len(self.buttons):
            message_id, data = self.buttons[int(line) - 1]
            original = Message(
                message_id, datetime.now(UTC), self.chat, from_user=self._bot_user()
            )
            original.set_bot(self.application.bot)
            query = CallbackQuery(
                str(update_id), self.user, "console", message=original, data=data
            )
            query.set_bot(self.application.bot)
            return Update(update_id, callback_query=query)
        return Update(update_id, message=self._text(line))

    def _text(self, text: str) -> Message:
        entities = []
        if text.startswith("/"):
            entities = [MessageEntity(MessageEntity.BOT_COMMAND, 0, len(text.split()[0]))]
        return self._message(text=text, entities=entities)

    @staticmethod
    def _bot_user() -> User:
        return User(BOT_ID, "Client Resource Assistant", True)

    async def run(self, lines: TextIO) -> None:
        """Process every line of ``lines`` until end of input."""
        async with self.application:
            await self.application.post_init(self.application)  # type: ignore[misc]
            try:
                interactive = lines.isatty()
                while True:
                    if interactive:
                        self.out.write("> ")
                        self.out.flush()
                    line = await asyncio.to_thread(lines.readline)
                    if not line:
                        break
                    line = line.strip()
                    if not line:
                        continue
                    if not interactive:
                        self._line(f"> {line}")
                    update = self._update_for(line)
                    if update is not None:
                        await self.application.process_update(update)
            finally:
                await self.application.post_shutdown(self.application)  # type: ignore[misc]


def run_console(settings: Settings, user_id: int) -> int:
    """Run the console on standard input and output; return the exit code."""
    console = Console(settings, user_id, sys.stdout)
    asyncio.run(console.run(sys.stdin))
    return 0
