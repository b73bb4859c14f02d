"""A fake Telegram Bot API server that end-to-end tests run the bot against.

``FakeBotApi`` listens on loopback and answers the Bot API methods a
python-telegram-bot 22 bot uses: ``getMe``, ``getUpdates`` with offsets and long
polling, ``sendMessage``, message edits, callback answers, the command list,
documents, photos and file downloads. Its answers parse into PTB's own objects, so
the bot needs nothing but ``base_url=api.base_url`` and
``base_file_url=api.base_file_url``.

The test plays the user from the other side: ``send_text``, ``press``,
``send_contact`` and ``send_document`` queue updates; ``sent``, ``messages`` and
``wait_for`` show what the bot did; ``fail_next``, ``delay_next`` and ``block``
produce the faults the real server produces.

The server refuses what Telegram refuses and a bot can get wrong: over-long texts
and captions, broken HTML / Markdown / MarkdownV2 markup, callback data over 64
bytes, an edit that changes nothing, a callback query answered twice, a message to
a chat that never talked to the bot. It answers those calls with Telegram's status
code and a description worded like Telegram's, so PTB raises the same exception.

Every public method is thread-safe. The ``wait_*`` methods block, so async tests
call them through ``asyncio.to_thread``.
"""

from __future__ import annotations

import copy
import itertools
import json
import logging
import mimetypes
import posixpath
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message as HeaderMessage
from html.parser import HTMLParser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = ["DEFAULT_TOKEN", "Call", "FakeBotApi", "UploadedFile"]

logger = logging.getLogger(__name__)

JSONDict = dict[str, Any]

DEFAULT_TOKEN = "123456:TEST-fake-token-for-end-to-end-runs"

# Limits Telegram enforces; the bot has to respect them, so the fake enforces them too.
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_CALLBACK_ANSWER_LENGTH = 200
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
MAX_POLL_LIMIT = 100

NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
CONFLICT = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance "
    "is running"
)
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
INLINE_BUTTON_ACTIONS = (
    "callback_data",
    "url",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
# Update kinds Telegram leaves out unless a bot asks for them by name.
OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

# Parameters whose value is plain text. PTB sends every other parameter JSON-encoded in
# form fields, so a text of "123" must not be decoded into a number.
STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "inline_message_id",
        "business_connection_id",
        "message_effect_id",
        "action",
        "language_code",
        "url",
        "file_id",
        "document",
        "photo",
        "thumbnail",
        "emoji",
        "title",
        "description",
        "short_description",
        "name",
        "secret_token",
    }
)


@dataclass(frozen=True)
class UploadedFile:
    """A file that arrived as one part of a multipart request."""

    field: str
    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class Call:
    """One Bot API request the bot made, as the server decoded and answered it.

    ``text`` is the message text or caption as the user sees it, markup removed.
    """

    seq: int
    method: str
    params: JSONDict
    files: dict[str, UploadedFile]
    status: int
    result: Any
    description: str | None
    text: str | None

    @property
    def ok(self) -> bool:
        """Tells whether the server accepted the call."""
        return self.status == HTTPStatus.OK

    @property
    def chat_id(self) -> int | str | None:
        """Returns the chat the call addressed, if any."""
        value = self.params.get("chat_id")
        return value if isinstance(value, int | str) else None

    def summary(self) -> str:
        """Describes the call on one line for failure messages."""
        text = "" if self.text is None else f" text={self.text[:80]!r}"
        error = "" if self.description is None else f" error={self.description!r}"
        return f"#{self.seq} {self.method} chat={self.chat_id} status={self.status}{text}{error}"


class ApiError(Exception):
    """A call the server refuses, with the status and description Telegram would send."""

    def __init__(self, status: int, description: str, parameters: JSONDict | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def body(self) -> JSONDict:
        """Returns the JSON answer for this error."""
        body: JSONDict = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(detail: str) -> ApiError:
    """Builds a 400 error worded the way Telegram words it."""
    return ApiError(HTTPStatus.BAD_REQUEST, f"Bad Request: {detail}")


@dataclass
class _Injection:
    """A fault or a delay waiting for the next matching call."""

    chat_id: int | None
    remaining: int
    status: int = 0
    description: str | None = None
    retry_after: int | None = None
    seconds: float = 0.0

    def matches(self, params: JSONDict) -> bool:
        return self.chat_id is None or params.get("chat_id") == self.chat_id

    def answer(self) -> ApiError:
        parameters = None
        description = self.description
        if self.status == HTTPStatus.TOO_MANY_REQUESTS:
            parameters = {"retry_after": self.retry_after or 1}
            description = description or f"Too Many Requests: retry after {self.retry_after}"
        elif self.status == HTTPStatus.FORBIDDEN:
            description = description or "Forbidden: bot was blocked by the user"
        if description is None:
            try:
                description = HTTPStatus(self.status).phrase
            except ValueError:
                description = "Error"
        return ApiError(self.status, description, parameters)


@dataclass(frozen=True)
class _StoredFile:
    file_id: str
    unique_id: str
    path: str
    content: bytes
    name: str
    mime_type: str


_Handler = Callable[[JSONDict, dict[str, UploadedFile]], Any]


class FakeBotApi:
    """A Bot API server on loopback, with a test-side API to play the user and inspect the bot.

    Use it as a context manager, or call ``start()`` and ``stop()``. It can be started
    again after ``stop()``: it comes back on the same port with all its state, the way
    Telegram comes back after a network outage.
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        bot_username: str = "test_bot",
        bot_name: str = "Test Bot",
    ) -> None:
        self.token = token
        self._host = host
        self._port = port
        prefix = token.partition(":")[0]
        self._bot_user: JSONDict = {
            "id": int(prefix) if prefix.isdigit() else 1,
            "is_bot": True,
            "first_name": bot_name,
            "username": bot_username,
        }

        # One re-entrant lock guards all state; waiting calls sleep on its condition.
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

        self._update_ids = itertools.count(1)
        self._updates: list[JSONDict] = []
        self._allowed_updates: list[str] | None = None
        self._poll_generation = 0
        self._poll_count = 0

        self._calls: list[Call] = []
        self._users: dict[int, JSONDict] = {}
        self._groups: dict[int, JSONDict] = {}
        self._blocked: set[int] = set()
        self._messages: dict[int, dict[int, JSONDict]] = {}
        self._next_message_id: dict[int, int] = {}
        self._reply_keyboards: dict[int, JSONDict] = {}
        self._callbacks: dict[str, bool] = {}
        self._files: dict[str, _StoredFile] = {}
        self._file_numbers = itertools.count(1)
        self._commands: dict[tuple[str, str], list[JSONDict]] = {}
        self._failures: dict[str, list[_Injection]] = {}
        self._delays: dict[str, list[_Injection]] = {}

        handlers: dict[str, _Handler] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setWebhook": self._set_webhook,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "sendDocument": self._send_document,
            "sendPhoto": self._send_photo,
            "getFile": self._get_file,
            "sendChatAction": self._send_chat_action,
            "close": self._always_true,
            "logOut": self._always_true,
        }
        # Telegram matches method names without regard to case.
        self._methods = {name.lower(): (name, handler) for name, handler in handlers.items()}

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeBotApi:
        """Starts serving in a background thread and returns the server."""
        if self._server is not None:
            raise RuntimeError("FakeBotApi is already running; call stop() first.")
        self._stopping.clear()
        server = _Server((self._host, self._port), self)
        self._port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-bot-api",
            daemon=True,
        )
        self._thread.start()
        logger.info("fake Bot API listening on %s:%s", self._host, self._port)
        return self

    def stop(self) -> None:
        """Stops serving; waiting and delayed calls end at once. State is kept."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        self._server = None
        self._thread = None
        logger.info("fake Bot API stopped")

    def __enter__(self) -> FakeBotApi:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """Returns the port the server listens on."""
        if not self._port:
            raise RuntimeError("FakeBotApi has no port before start().")
        return self._port

    @property
    def base_url(self) -> str:
        """Returns the ``base_url`` for PTB; PTB appends the token."""
        return f"http://{self._host}:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """Returns the ``base_file_url`` for PTB; PTB appends the token."""
        return f"http://{self._host}:{self.port}/file/bot"

    @property
    def bot_user(self) -> JSONDict:
        """Returns the bot's own user object, as getMe reports it."""
        return copy.deepcopy(self._bot_user)

    # ------------------------------------------------------------------ playing the user

    def add_user(
        self, user_id: int, *, first_name: str | None = None, language_code: str | None = None
    ) -> None:
        """Registers a user as having started the bot, without sending an update."""
        with self._cond:
            self._register_user(user_id, first_name, language_code)

    def send_text(
        self,
        user_id: int,
        text: str,
        *,
        first_name: str | None = None,
        language_code: str | None = None,
        reply_to_message_id: int | None = None,
    ) -> int:
        """Queues a private-chat text message from the user and returns its update id.

        ``first_name`` and ``language_code`` update the user for later updates too; a
        new user starts as "Tester" speaking ``zh-hans``.
        """
        if not text:
            raise ValueError("Telegram delivers no empty messages; give send_text a text.")
        with self._cond:
            user = self._register_user(user_id, first_name, language_code)
            content: JSONDict = {"text": text}
            entities = _command_entities(text)
            if entities:
                content["entities"] = entities
            if reply_to_message_id is not None:
                content["reply_to_message"] = self._message_for_reply(user_id, reply_to_message_id)
            message = self._store_message(user_id, user, content)

            return self._queue_update("message", message)

    def send_contact(
        self,
        user_id: int,
        phone: str,
        first_name: str,
        *,
        last_name: str | None = None,
        contact_user_id: int | None = None,
    ) -> int:
        """Queues a shared contact card and returns its update id.

        ``contact_user_id`` is set when the card belongs to a Telegram user; pass the
        sender's own id for a "share my phone number" button.
        """
        with self._cond:
            user = self._register_user(user_id, None, None)
            contact: JSONDict = {"phone_number": phone, "first_name": first_name}
            if last_name is not None:
                contact["last_name"] = last_name
            if contact_user_id is not None:
                contact["user_id"] = contact_user_id
            message = self._store_message(user_id, user, {"contact": contact})

            return self._queue_update("message", message)

    def send_document(
        self,
        user_id: int,
        filename: str,
        content: bytes,
        *,
        caption: str | None = None,
        mime_type: str | None = None,
    ) -> int:
        """Queues a document from the user, stored so getFile and download work."""
        with self._cond:
            user = self._register_user(user_id, None, None)
            mime = mime_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
            stored = self._store_file(content, filename, mime, "documents")
            body: JSONDict = {"document": _document_object(stored)}
            if caption:
                body["caption"] = caption
            message = self._store_message(user_id, user, body)

            return self._queue_update("message", message)

    def send_group_text(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        *,
        title: str = "Test group",
        first_name: str | None = None,
    ) -> int:
        """Queues a text message from a user in a group chat and returns its update id."""
        if chat_id >= 0:
            raise ValueError(f"group chat ids are negative, got {chat_id!r}")
        with self._cond:
            user = self._register_user(user_id, first_name, None)
            kind = "supergroup" if str(chat_id).startswith("-100") else "group"
            self._groups[chat_id] = {"id": chat_id, "type": kind, "title": title}
            content: JSONDict = {"text": text}
            entities = _command_entities(text)
            if entities:
                content["entities"] = entities
            message = self._store_message(chat_id, user, content)

            return self._queue_update("message", message)

    def press(
        self, user_id: int, message_id: int, callback_data: str, *, chat_id: int | None = None
    ) -> int:
        """Queues a callback query as if the user tapped a button on a message the bot sent.

        The data is not checked against the message's keyboard, so a test can forge it the
        way a modified client can.
        """
        with self._cond:
            chat = user_id if chat_id is None else chat_id
            message = self._bot_message(chat, message_id)
            user = self._register_user(user_id, None, None)
            update_id = next(self._update_ids)
            query_id = f"{user_id}-{update_id}"
            self._callbacks[query_id] = False
            query = {
                "id": query_id,
                "from": user,
                "chat_instance": f"instance-{chat}",
                "message": message,
                "data": callback_data,
            }
            self._updates.append({"update_id": update_id, "callback_query": copy.deepcopy(query)})
            self._cond.notify_all()

            return update_id

    def press_button(
        self, user_id: int, message_id: int, label: str, *, chat_id: int | None = None
    ) -> int:
        """Presses the inline button whose label is ``label`` (or the one label containing it)."""
        with self._cond:
            chat = user_id if chat_id is None else chat_id
            message = self._bot_message(chat, message_id)
            buttons = [
                button
                for row in message.get("reply_markup", {}).get("inline_keyboard", [])
                for button in row
                if "callback_data" in button
            ]
            exact = [button for button in buttons if button["text"] == label]
            partial = [button for button in buttons if label in button["text"]]
            chosen = exact or partial
            if len(chosen) != 1:
                labels = [button["text"] for button in buttons]
                raise LookupError(
                    f"message {message_id} in chat {chat} has no single button labelled "
                    f"{label!r}; its buttons are {labels!r}"
                )

            return self.press(user_id, message_id, chosen[0]["callback_data"], chat_id=chat_id)

    # ------------------------------------------------------------------ faults

    def fail_next(
        self,
        method: str,
        status: int = HTTPStatus.TOO_MANY_REQUESTS,
        retry_after: int = 1,
        description: str | None = None,
        *,
        chat_id: int | None = None,
        times: int = 1,
    ) -> None:
        """Makes the next ``times`` calls of ``method`` (to ``chat_id``, if given) fail.

        A 429 carries ``retry_after``; a 403 defaults to "bot was blocked by the user".
        A failed call has no effect and is recorded with its status.
        """
        injection = _Injection(
            chat_id=chat_id,
            remaining=times,
            status=int(status),
            description=description,
            retry_after=retry_after if status == HTTPStatus.TOO_MANY_REQUESTS else None,
        )
        with self._cond:
            self._failures.setdefault(method.lower(), []).append(injection)

    def delay_next(
        self, method: str, seconds: float, *, chat_id: int | None = None, times: int = 1
    ) -> None:
        """Makes the server wait ``seconds`` before handling the next call(s) of ``method``.

        The call still takes effect after the wait, as a slow Telegram would make it,
        even when the client has given up by then.
        """
        injection = _Injection(chat_id=chat_id, remaining=times, seconds=seconds)
        with self._cond:
            self._delays.setdefault(method.lower(), []).append(injection)

    def block(self, user_id: int) -> None:
        """Makes the user block the bot: every call to their chat answers 403 until unblocked."""
        with self._cond:
            self._blocked.add(user_id)

    def unblock(self, user_id: int) -> None:
        """Lets the user receive the bot's messages again."""
        with self._cond:
            self._blocked.discard(user_id)

    # ------------------------------------------------------------------ inspecting the bot

    def sent(self, chat_id: int | None = None) -> list[Call]:
        """Returns the recorded calls (all but getUpdates), optionally only those to one chat.

        Failed calls are included; check ``Call.ok``.
        """
        with self._cond:
            return [call for call in self._calls if chat_id is None or call.chat_id == chat_id]

    def mark(self) -> int:
        """Returns the sequence number the next recorded call will get, for ``since=``."""
        with self._cond:
            return len(self._calls)

    def messages(self, chat_id: int) -> list[JSONDict]:
        """Returns the chat as the user sees it now: every message, edits applied, in order."""
        with self._cond:
            return copy.deepcopy(list(self._messages.get(chat_id, {}).values()))

    def reply_keyboard(self, chat_id: int) -> JSONDict | None:
        """Returns the reply keyboard the user currently sees in the chat, if any."""
        with self._cond:
            return copy.deepcopy(self._reply_keyboards.get(chat_id))

    def pending_updates(self) -> list[JSONDict]:
        """Returns the updates the bot has not confirmed yet."""
        with self._cond:
            return copy.deepcopy(self._updates)

    def unanswered_callbacks(self) -> list[str]:
        """Returns the ids of callback queries the bot has not answered."""
        with self._cond:
            return [query for query, answered in self._callbacks.items() if not answered]

    def commands(
        self, *, language_code: str = "", scope: JSONDict | None = None
    ) -> list[JSONDict]:
        """Returns the command list the bot set for a scope and language."""
        with self._cond:
            key = _commands_key({"scope": scope, "language_code": language_code})
            return copy.deepcopy(self._commands.get(key, []))

    def file_content(self, file_id: str) -> bytes:
        """Returns the bytes of a stored file (one the user or the bot sent)."""
        with self._cond:
            stored = self._files.get(file_id)
        if stored is None:
            raise LookupError(f"no file with id {file_id!r}")
        return stored.content

    @property
    def poll_count(self) -> int:
        """Returns how many getUpdates calls have arrived so far."""
        with self._cond:
            return self._poll_count

    def wait_for_poll(self, after: int, timeout: float = 10.0) -> bool:
        """Blocks until more than ``after`` getUpdates calls arrived; tells whether they did."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._poll_count <= after:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)

            return True

    def wait_for(
        self, predicate: Callable[[Call], bool], timeout: float = 10.0, *, since: int = 0
    ) -> Call:
        """Blocks until a recorded call from ``since`` on matches, and returns it.

        Raises AssertionError listing the calls seen when none matches in time.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            checked = since
            while True:
                for call in self._calls[checked:]:
                    if predicate(call):
                        return call
                checked = max(checked, len(self._calls))
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [call.summary() for call in self._calls[since:]][-40:]
                    raise AssertionError(
                        f"no matching Bot API call within {timeout:g} s; calls since "
                        f"#{since}:\n  " + ("\n  ".join(seen) or "(none)")
                    )
                self._cond.wait(remaining)

    def wait_for_text(
        self, chat_id: int, substring: str, timeout: float = 10.0, *, since: int = 0
    ) -> Call:
        """Blocks until the bot successfully sends or edits a text containing ``substring``."""

        def shows(call: Call) -> bool:
            return (
                call.ok
                and call.chat_id == chat_id
                and call.text is not None
                and substring in call.text
            )

        try:
            return self.wait_for(shows, timeout, since=since)
        except AssertionError as error:
            raise AssertionError(f"chat {chat_id} never showed {substring!r}: {error}") from None

    # ------------------------------------------------------------------ request handling

    def _answer(
        self, method: str, params: JSONDict, files: dict[str, UploadedFile]
    ) -> tuple[int, JSONDict]:
        """Runs one API call through delays, injected faults and its handler."""
        key = method.lower()
        name, handler = self._methods.get(key, (method, None))
        with self._cond:
            if key == "getupdates":
                self._poll_count += 1
                self._cond.notify_all()
            delay = _take(self._delays, key, params)
        if delay is not None:
            # Waiting on the stop event rather than sleeping lets stop() end the wait.
            self._stopping.wait(delay.seconds)

        with self._cond:
            failure = _take(self._failures, key, params)
            result: Any = None
            try:
                if failure is not None:
                    raise failure.answer()
                if handler is None:
                    raise ApiError(HTTPStatus.NOT_FOUND, "Not Found: method not found")
                result = handler(params, files)
                status, body = HTTPStatus.OK.value, {"ok": True, "result": result}
            except ApiError as error:
                status, body = error.status, error.body()

            if key != "getupdates":
                self._calls.append(
                    Call(
                        seq=len(self._calls),
                        method=name,
                        params=params,
                        files=files,
                        status=int(status),
                        result=copy.deepcopy(result),
                        description=body.get("description"),
                        text=_visible_text(params),
                    )
                )
            self._cond.notify_all()
        logger.debug("%s answered %s", name, status)

        return status, body

    def _download(self, token: str, path: str) -> bytes | None:
        """Returns a stored file's bytes by its download path, or None."""
        if token != self.token:
            return None
        with self._cond:
            for stored in self._files.values():
                if stored.path == path:
                    return stored.content
        return None

    # ------------------------------------------------------------------ Bot API methods
    # Each runs with the lock held, refuses bad calls by raising ApiError before changing
    # anything, and returns fresh objects, since the answer is serialised after unlocking.

    def _get_me(self, params: JSONDict, files: dict[str, UploadedFile]) -> JSONDict:
        return {
            **self._bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _always_true(self, params: JSONDict, files: dict[str, UploadedFile]) -> bool:
        return True

    def _get_updates(self, params: JSONDict, files: dict[str, UploadedFile]) -> list[JSONDict]:
        offset = _int_param(params, "offset")
        limit = min(max(_int_param(params, "limit") or MAX_POLL_LIMIT, 1), MAX_POLL_LIMIT)
        timeout = max(_float_param(params, "timeout") or 0.0, 0.0)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = [str(kind) for kind in allowed] or None

        # A newer getUpdates ends an older one still waiting, as Telegram does when a
        # second instance of the bot polls (or a killed one left its request behind).
        self._poll_generation += 1
        generation = self._poll_generation
        self._cond.notify_all()

        if offset is not None and offset < 0:
            self._updates = self._updates[offset:]
        elif offset is not None:
            self._updates = [update for update in self._updates if update["update_id"] >= offset]

        deadline = time.monotonic() + timeout
        while True:
            if generation != self._poll_generation:
                raise ApiError(HTTPStatus.CONFLICT, CONFLICT)
            if self._stopping.is_set():
                return []
            self._updates = [update for update in self._updates if self._is_allowed(update)]
            if self._updates:
                return copy.deepcopy(self._updates[:limit])
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            self._cond.wait(remaining)

    def _is_allowed(self, update: JSONDict) -> bool:
        kind = next(key for key in update if key != "update_id")
        if self._allowed_updates is None:
            return kind not in OPT_IN_UPDATES
        return kind in self._allowed_updates

    def _delete_webhook(self, params: JSONDict, files: dict[str, UploadedFile]) -> bool:
        if params.get("drop_pending_updates") in (True, "true", "True", 1):
            self._updates.clear()
        return True

    def _set_webhook(self, params: JSONDict, files: dict[str, UploadedFile]) -> bool:
        # Recorded like every call; a test reads the url and secret_token from it.
        return True

    def _get_webhook_info(self, params: JSONDict, files: dict[str, UploadedFile]) -> JSONDict:
        return {"url": "", "has_custom_certificate": False, "pending_update_count": 0}

    def _send_message(self, params: JSONDict, files: dict[str, UploadedFile]) -> JSONDict:
        chat_id = self._writable_chat(params)
        text, entities = _formatted_text(
            params, "text", "entities", MAX_TEXT_LENGTH, "message is too long", required=True
        )
        markup = _inline_markup(params.get("reply_markup"))
        reply = self._reply_target(chat_id, params)

        content: JSONDict = {"text": text}
        if entities:
            content["entities"] = entities
        if markup is not None:
            content["reply_markup"] = markup
        if reply is not None:
            content["reply_to_message"] = reply
        self._track_reply_keyboard(chat_id, params.get("reply_markup"))
        return copy.deepcopy(self._store_message(chat_id, self._bot_user, content))

    def _edit_message_text(self, params: JSONDict, files: dict[str, UploadedFile]) -> JSONDict:
        message = self._editable_message(params)
        if "text" not in message:
            raise bad_request("there is no text in the message to edit")
        text, entities = _formatted_text(
            params, "text", "entities", MAX_TEXT_LENGTH, "MESSAGE_TOO_LONG", required=True
        )
        markup = _inline_markup(params.get("reply_markup"))
        before = (message["text"], message.get("entities", []), message.get("reply_markup"))
        if before == (text, entities, markup):
            raise bad_request(NOT_MODIFIED)

        message["text"] = text
        _set_or_drop(message, "entities", entities or None)
        _set_or_drop(message, "reply_markup", markup)
        message["edit_date"] = int(time.time())
        return copy.deepcopy(message)

    def _edit_message_reply_markup(
        self, params: JSONDict, files: dict[str, UploadedFile]
    ) -> JSONDict:
        message = self._editable_message(params)
        markup = _inline_markup(params.get("reply_markup"))
        if message.get("reply_markup") == markup:
            raise bad_request(NOT_MODIFIED)

        _set_or_drop(message, "reply_markup", markup)
        message["edit_date"] = int(time.time())
        return copy.deepcopy(message)

    def _delete_message(self, params: JSONDict, files: dict[str, UploadedFile]) -> bool:
        chat_id = self._writable_chat(params)
        message_id = _int_param(params, "message_id")
        chat = self._messages.get(chat_id, {})
        if message_id is None or message_id not in chat:
            raise bad_request("message to delete not found")
        del chat[message_id]
        return True

    def _answer_callback_query(self, params: JSONDict, files: dict[str, UploadedFile]) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        # Telegram accepts one answer per query; a second one counts as an invalid id.
        if self._callbacks.get(query_id) is not False:
            raise bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        text = params.get("text")
        if isinstance(text, str) and len(text) > MAX_CALLBACK_ANSWER_LENGTH:
            raise bad_request("MESSAGE_TOO_LONG")
        self._callbacks[query_id] = True
        return True

    def _set_my_commands(self, params: JSONDict, files: dict[str, UploadedFile]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise bad_request("can't parse commands JSON object")
        if len(commands) > MAX_POLL_LIMIT:
            raise bad_request("BOT_COMMANDS_TOO_MUCH")
        cleaned = []
        for command in commands:
            name = command.get("command") if isinstance(command, dict) else None
            if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise bad_request("BOT_COMMAND_INVALID")
            description = command.get("description")
            if not isinstance(description, str) or not 1 <= len(description) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            cleaned.append({"command": name, "description": description})

        key = _commands_key(params)
        if cleaned:
            self._commands[key] = cleaned
        else:
            self._commands.pop(key, None)
        return True

    def _get_my_commands(self, params: JSONDict, files: dict[str, UploadedFile]) -> list[JSONDict]:
        return copy.deepcopy(self._commands.get(_commands_key(params), []))

    def _delete_my_commands(self, params: JSONDict, files: dict[str, UploadedFile]) -> bool:
        self._commands.pop(_commands_key(params), None)
        return True

    def _send_document(self, params: JSONDict, files: dict[str, UploadedFile]) -> JSONDict:
        chat_id = self._writable_chat(params)
        source = self._input_file(params, files, "document")
        caption, entities = _formatted_text(
            params,
            "caption",
            "caption_entities",
            MAX_CAPTION_LENGTH,
            "message caption is too long",
            required=False,
        )
        markup = _inline_markup(params.get("reply_markup"))

        if isinstance(source, UploadedFile):
            mime = source.content_type or "application/octet-stream"
            source = self._store_file(source.content, source.filename, mime, "documents")
        content: JSONDict = {"document": _document_object(source)}
        _add_caption(content, caption, entities, markup)
        return copy.deepcopy(self._store_message(chat_id, self._bot_user, content))

    def _send_photo(self, params: JSONDict, files: dict[str, UploadedFile]) -> JSONDict:
        chat_id = self._writable_chat(params)
        source = self._input_file(params, files, "photo")
        size = _image_size(source.content)
        if size is None:
            raise bad_request("IMAGE_PROCESS_FAILED")
        caption, entities = _formatted_text(
            params,
            "caption",
            "caption_entities",
            MAX_CAPTION_LENGTH,
            "message caption is too long",
            required=False,
        )
        markup = _inline_markup(params.get("reply_markup"))

        if isinstance(source, UploadedFile):
            source = self._store_file(source.content, "photo.jpg", "image/jpeg", "photos")
        width, height = size
        photo = {
            "file_id": source.file_id,
            "file_unique_id": source.unique_id,
            "file_size": len(source.content),
            "width": width,
            "height": height,
        }
        content: JSONDict = {"photo": [photo]}
        _add_caption(content, caption, entities, markup)
        return copy.deepcopy(self._store_message(chat_id, self._bot_user, content))

    def _get_file(self, params: JSONDict, files: dict[str, UploadedFile]) -> JSONDict:
        stored = self._files.get(str(params.get("file_id") or ""))
        if stored is None:
            raise bad_request("invalid file_id")
        if len(stored.content) > MAX_DOWNLOAD_BYTES:
            raise bad_request("file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.unique_id,
            "file_size": len(stored.content),
            "file_path": stored.path,
        }

    def _send_chat_action(self, params: JSONDict, files: dict[str, UploadedFile]) -> bool:
        self._writable_chat(params)
        if params.get("action") not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    # ------------------------------------------------------------------ internal state

    def _register_user(
        self, user_id: int, first_name: str | None, language_code: str | None
    ) -> JSONDict:
        """Creates or updates a user and returns a copy of the user object."""
        user = self._users.setdefault(
            user_id,
            {"id": user_id, "is_bot": False, "first_name": "Tester", "language_code": "zh-hans"},
        )
        if first_name is not None:
            user["first_name"] = first_name
        if language_code is not None:
            user["language_code"] = language_code
        return copy.deepcopy(user)

    def _chat_object(self, chat_id: int) -> JSONDict:
        if chat_id in self._groups:
            return copy.deepcopy(self._groups[chat_id])
        user = self._users[chat_id]
        return {"id": chat_id, "type": "private", "first_name": user["first_name"]}

    def _store_message(self, chat_id: int, sender: JSONDict, content: JSONDict) -> JSONDict:
        """Stores a message under the chat's next message id and returns the stored object."""
        message_id = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = message_id + 1
        message = {
            "message_id": message_id,
            "from": copy.deepcopy(sender),
            "chat": self._chat_object(chat_id),
            "date": int(time.time()),
            **content,
        }
        self._messages.setdefault(chat_id, {})[message_id] = message
        return message

    def _queue_update(self, kind: str, payload: JSONDict) -> int:
        update_id = next(self._update_ids)
        self._updates.append({"update_id": update_id, kind: copy.deepcopy(payload)})
        self._cond.notify_all()
        return update_id

    def _bot_message(self, chat_id: int, message_id: int) -> JSONDict:
        message = self._messages.get(chat_id, {}).get(message_id)
        if message is None or message["from"]["id"] != self._bot_user["id"]:
            raise LookupError(f"chat {chat_id} has no message {message_id} from the bot")
        return copy.deepcopy(message)

    def _message_for_reply(self, chat_id: int, message_id: int) -> JSONDict:
        message = self._messages.get(chat_id, {}).get(message_id)
        if message is None:
            raise LookupError(f"chat {chat_id} has no message {message_id} to reply to")
        # Telegram nests one level of replies only.
        reply = copy.deepcopy(message)
        reply.pop("reply_to_message", None)
        return reply

    def _writable_chat(self, params: JSONDict) -> int:
        """Returns the chat a call writes to, refusing unknown chats and blocked users."""
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise bad_request("chat_id is empty")
        if not isinstance(chat_id, int) or isinstance(chat_id, bool):
            raise bad_request("chat not found")
        if chat_id not in self._users and chat_id not in self._groups:
            raise bad_request("chat not found")
        if chat_id in self._blocked:
            raise ApiError(HTTPStatus.FORBIDDEN, "Forbidden: bot was blocked by the user")
        return chat_id

    def _editable_message(self, params: JSONDict) -> JSONDict:
        if params.get("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID")
        chat_id = self._writable_chat(params)
        message_id = _int_param(params, "message_id")
        if message_id is None:
            raise bad_request("message identifier is not specified")
        message = self._messages.get(chat_id, {}).get(message_id)
        if message is None:
            raise bad_request("message to edit not found")
        if message["from"]["id"] != self._bot_user["id"]:
            raise bad_request("message can't be edited")
        return message

    def _reply_target(self, chat_id: int, params: JSONDict) -> JSONDict | None:
        reply = params.get("reply_parameters")
        allow_missing = bool(params.get("allow_sending_without_reply"))
        target = params.get("reply_to_message_id")
        if isinstance(reply, dict):
            target = reply.get("message_id")
            allow_missing = bool(reply.get("allow_sending_without_reply", allow_missing))
        if target is None:
            return None
        message_id = target if isinstance(target, int) else None
        if message_id is None or message_id not in self._messages.get(chat_id, {}):
            if allow_missing:
                return None
            raise bad_request("message to be replied not found")
        return self._message_for_reply(chat_id, message_id)

    def _track_reply_keyboard(self, chat_id: int, markup: object) -> None:
        if not isinstance(markup, dict):
            return
        if "keyboard" in markup:
            self._reply_keyboards[chat_id] = copy.deepcopy(markup)
        elif markup.get("remove_keyboard"):
            self._reply_keyboards.pop(chat_id, None)

    def _input_file(
        self, params: JSONDict, files: dict[str, UploadedFile], field: str
    ) -> UploadedFile | _StoredFile:
        """Returns the uploaded file, or the stored one a file id names."""
        value = params.get(field)
        if isinstance(value, str) and value.startswith("attach://"):
            upload = files.get(value.removeprefix("attach://"))
            if upload is None:
                raise bad_request(f"file {value!r} is not found in the request")
        elif field in files:
            upload = files[field]
        elif isinstance(value, str) and value:
            stored = self._files.get(value)
            if stored is not None:
                return stored
            if value.startswith(("http://", "https://")):
                raise bad_request("failed to get HTTP URL content")
            raise bad_request("wrong file identifier/HTTP URL specified")
        else:
            raise bad_request(f"there is no {field} in the request")
        if not upload.content:
            raise bad_request("file must be non-empty")
        return upload

    def _store_file(self, content: bytes, name: str, mime_type: str, folder: str) -> _StoredFile:
        number = next(self._file_numbers)
        suffix = posixpath.splitext(name)[1]
        stored = _StoredFile(
            file_id=f"FILE{number:06d}",
            unique_id=f"UNIQ{number:06d}",
            path=f"{folder}/file_{number}{suffix}",
            content=content,
            name=name,
            mime_type=mime_type,
        )
        self._files[stored.file_id] = stored
        return stored


# ---------------------------------------------------------------------- message building


def _take(queue: dict[str, list[_Injection]], key: str, params: JSONDict) -> _Injection | None:
    """Removes and returns the first injection for a method that matches the call."""
    pending = queue.get(key, [])
    for index, injection in enumerate(pending):
        if injection.matches(params):
            injection.remaining -= 1
            if injection.remaining <= 0:
                del pending[index]
            return injection
    return None


def _set_or_drop(target: JSONDict, key: str, value: object) -> None:
    if value is None:
        target.pop(key, None)
    else:
        target[key] = value


def _add_caption(
    content: JSONDict, caption: str, entities: list[JSONDict], markup: JSONDict | None
) -> None:
    if caption:
        content["caption"] = caption
    if entities:
        content["caption_entities"] = entities
    if markup is not None:
        content["reply_markup"] = markup


def _document_object(stored: _StoredFile) -> JSONDict:
    return {
        "file_id": stored.file_id,
        "file_unique_id": stored.unique_id,
        "file_name": stored.name,
        "mime_type": stored.mime_type,
        "file_size": len(stored.content),
    }


def _commands_key(params: JSONDict) -> tuple[str, str]:
    scope = params.get("scope") or {"type": "default"}
    if not isinstance(scope, dict) or "type" not in scope:
        raise bad_request("can't parse BotCommandScope JSON object")
    return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")


_COMMAND = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![A-Za-z0-9_@])")


def _command_entities(text: str) -> list[JSONDict]:
    """Returns the bot_command entity Telegram marks on a text that starts with a command."""
    match = _COMMAND.match(text)
    if match is None:
        return []
    return [{"type": "bot_command", "offset": 0, "length": _utf16_len(match.group())}]


def _inline_markup(markup: object) -> JSONDict | None:
    """Checks a reply_markup and returns it if it is an inline keyboard Telegram echoes back."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" not in markup:
        if not any(key in markup for key in ("keyboard", "remove_keyboard", "force_reply")):
            raise bad_request("can't parse reply keyboard markup JSON object")
        return None

    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array')
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not button.get("text"):
                raise bad_request("can't parse inline keyboard button: Text must be non-empty")
            if not any(key in button for key in INLINE_BUTTON_ACTIONS):
                raise bad_request(
                    "can't parse inline keyboard button: Text buttons are unallowed in the "
                    "inline keyboard"
                )
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA_BYTES:
                raise bad_request("BUTTON_DATA_INVALID")
    return copy.deepcopy(markup) if any(rows) else None


def _formatted_text(
    params: JSONDict,
    text_key: str,
    entities_key: str,
    limit: int,
    too_long: str,
    *,
    required: bool,
) -> tuple[str, list[JSONDict]]:
    """Renders a text or caption the way Telegram stores it: markup parsed, whitespace trimmed."""
    raw = params.get(text_key)
    if raw is None or raw == "":
        if required:
            raise bad_request("message text is empty")
        return "", []

    source = raw if isinstance(raw, str) else str(raw)
    explicit = params.get(entities_key)
    if isinstance(explicit, list) and explicit:
        text, entities = source, copy.deepcopy(explicit)
    else:
        text, entities = render_markup(source, params.get("parse_mode"))
    text, entities = _strip(text, entities)

    if required and not text:
        raise bad_request("message text is empty")
    if _utf16_len(text) > limit:
        raise bad_request(too_long)
    return text, entities


def _visible_text(params: JSONDict) -> str | None:
    """Returns a call's text or caption as the user would read it."""
    for key in ("text", "caption"):
        raw = params.get(key)
        if isinstance(raw, str):
            try:
                return _strip(*render_markup(raw, params.get("parse_mode")))[0]
            except ApiError:
                return raw
    return None


# ---------------------------------------------------------------------- markup rendering


def render_markup(source: str, parse_mode: object) -> tuple[str, list[JSONDict]]:
    """Parses HTML, MarkdownV2 or Markdown into plain text and entities, as Telegram does."""
    mode = str(parse_mode or "").lower()
    if not mode:
        return source, []
    if mode == "html":
        return _HtmlRenderer(source).render()
    if mode == "markdownv2":
        return _MarkdownV2Renderer(source).render()
    if mode == "markdown":
        return _render_legacy_markdown(source)
    raise bad_request(f"unsupported parse_mode {parse_mode!r}")


def _utf16_len(text: str) -> int:
    # Entity offsets and Telegram's length limits count UTF-16 code units.
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(source: str, index: int) -> int:
    return len(source[:index].encode())


def _parse_error(detail: str) -> ApiError:
    return bad_request(f"can't parse entities: {detail}")


def _strip(text: str, entities: list[JSONDict]) -> tuple[str, list[JSONDict]]:
    """Trims surrounding whitespace as Telegram does, moving and clipping entities."""
    left = text.lstrip()
    lead = _utf16_len(text) - _utf16_len(left)
    result = left.rstrip()
    total = _utf16_len(result)
    kept = []
    for entity in entities:
        start = max(entity["offset"] - lead, 0)
        end = min(entity["offset"] + entity["length"] - lead, total)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return result, kept


class _TextBuilder:
    """Collects rendered text and the entities over it."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.position = 0
        self.entities: list[JSONDict] = []

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.position += _utf16_len(text)

    def entity(self, kind: str, start: int, **extra: Any) -> None:
        if kind and self.position > start:
            entity = {"type": kind, "offset": start, "length": self.position - start}
            self.entities.append({**entity, **extra})

    def result(self) -> tuple[str, list[JSONDict]]:
        entities = sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.parts), entities


_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}


class _HtmlRenderer(HTMLParser):
    """Telegram's HTML style: a fixed set of tags, properly nested, nothing else."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self._source = source
        self._line_starts = [0] + [match.end() for match in re.finditer("\n", source)]
        self._out = _TextBuilder()
        self._open: list[tuple[str, str, int, JSONDict]] = []

    def render(self) -> tuple[str, list[JSONDict]]:
        self.feed(self._source)
        self.close()
        if self._open:
            tag = self._open[-1][0]
            raise _parse_error(f'Can\'t find end tag corresponding to start tag "{tag}"')
        return self._out.result()

    def _offset(self) -> int:
        line, column = self.getpos()
        return _byte_offset(self._source, self._line_starts[line - 1] + column)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        kind = _HTML_TAGS.get(tag)
        if kind is None or (tag == "span" and attributes.get("class") != "tg-spoiler"):
            raise _parse_error(f'Unsupported start tag "{tag}" at byte offset {self._offset()}')

        extra: JSONDict = {}
        if tag == "a":
            extra["url"] = attributes.get("href") or ""
        elif tag == "tg-emoji":
            extra["custom_emoji_id"] = attributes.get("emoji-id") or ""
        elif tag == "blockquote" and "expandable" in attributes:
            kind = "expandable_blockquote"
        elif tag == "code" and self._open and self._open[-1][0] == "pre":
            # <pre><code class="language-x"> is one pre entity with a language.
            language = (attributes.get("class") or "").removeprefix("language-")
            if language:
                self._open[-1][3]["language"] = language
            kind = ""
        self._open.append((tag, kind, self._out.position, extra))

    def handle_endtag(self, tag: str) -> None:
        if not self._open or self._open[-1][0] != tag:
            expected = f'"</{self._open[-1][0]}>"' if self._open else "no end tag"
            raise _parse_error(
                f"Unmatched end tag at byte offset {self._offset()}, expected {expected}, "
                f'found "</{tag}>"'
            )
        _, kind, start, extra = self._open.pop()
        self._out.entity(kind, start, **extra)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        self.handle_endtag(tag)

    def handle_data(self, data: str) -> None:
        self._out.add(data)


_MDV2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MDV2_MARKERS = {
    "*": ("bold", "Bold"),
    "_": ("italic", "Italic"),
    "__": ("underline", "Underline"),
    "~": ("strikethrough", "Strikethrough"),
    "||": ("spoiler", "Spoiler"),
    "[": ("text_link", "TextUrl"),
}


class _MarkdownV2Renderer:
    """Telegram's MarkdownV2: reserved characters must be escaped, entities must close."""

    def __init__(self, source: str) -> None:
        self._source = source
        self._index = 0
        self._out = _TextBuilder()
        self._open: list[tuple[str, int, int]] = []
        self._quote_start: int | None = None

    def render(self) -> tuple[str, list[JSONDict]]:
        source = self._source
        while self._index < len(source):
            char = source[self._index]
            if char == "\\":
                self._escaped()
            elif char == "`":
                self._code()
            elif char == "[":
                self._open.append(("[", self._out.position, self._index))
                self._index += 1
            elif char == "]":
                self._link()
            elif char in "*_~|":
                self._toggle()
            elif char == ">" and (self._index == 0 or source[self._index - 1] == "\n"):
                if self._quote_start is None:
                    self._quote_start = self._out.position
                self._index += 1
            elif char in _MDV2_RESERVED:
                raise self._reserved(char)
            else:
                if char == "\n" and not source.startswith(">", self._index + 1):
                    self._end_quote()
                self._out.add(char)
                self._index += 1
        self._end_quote()

        if self._open:
            marker, _, index = self._open[-1]
            raise self._unclosed(_MDV2_MARKERS[marker][1], index)
        return self._out.result()

    def _reserved(self, char: str) -> ApiError:
        return _parse_error(
            f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
        )

    def _unclosed(self, name: str, index: int) -> ApiError:
        offset = _byte_offset(self._source, index)
        return _parse_error(f"Can't find end of {name} entity at byte offset {offset}")

    def _end_quote(self) -> None:
        if self._quote_start is not None:
            self._out.entity("blockquote", self._quote_start)
            self._quote_start = None

    def _escaped(self) -> None:
        following = self._source[self._index + 1 : self._index + 2]
        if following and ord(following) <= 126:
            self._out.add(following)
            self._index += 2
        else:
            self._out.add("\\")
            self._index += 1

    def _read_until(self, start: int, terminator: str, name: str, opened: int) -> tuple[str, int]:
        """Reads escaped content up to ``terminator``; returns it and the index after it."""
        chars = []
        index = start
        while index < len(self._source):
            if self._source[index] == "\\" and index + 1 < len(self._source):
                chars.append(self._source[index + 1])
                index += 2
                continue
            if self._source.startswith(terminator, index):
                return "".join(chars), index + len(terminator)
            chars.append(self._source[index])
            index += 1
        raise self._unclosed(name, opened)

    def _code(self) -> None:
        opened = self._index
        start = self._out.position
        if self._source.startswith("```", opened):
            content, self._index = self._read_until(opened + 3, "```", "Pre", opened)
            content, language = _pre_language(content)
            self._out.add(content)
            extra = {"language": language} if language else {}
            self._out.entity("pre", start, **extra)
        else:
            content, self._index = self._read_until(opened + 1, "`", "Code", opened)
            self._out.add(content)
            self._out.entity("code", start)

    def _link(self) -> None:
        if not self._open or self._open[-1][0] != "[":
            raise self._reserved("]")
        if not self._source.startswith("(", self._index + 1):
            raise self._reserved("]")
        _, start, opened = self._open.pop()
        url, self._index = self._read_until(self._index + 2, ")", "TextUrl", opened)
        self._out.entity("text_link", start, url=url)

    def _toggle(self) -> None:
        source, index = self._source, self._index
        marker = source[index]
        if marker == "|":
            if not source.startswith("||", index):
                raise self._reserved("|")
            marker = "||"
        elif source.startswith("__", index):
            marker = "__"
        self._index += len(marker)

        if not any(open_marker == marker for open_marker, _, _ in self._open):
            self._open.append((marker, self._out.position, index))
            return
        top, start, opened = self._open[-1]
        if top != marker:
            raise self._unclosed(_MDV2_MARKERS[top][1], opened)
        self._open.pop()
        self._out.entity(_MDV2_MARKERS[marker][0], start)


def _pre_language(content: str) -> tuple[str, str | None]:
    """Splits the language line off a pre block: ```python\\ncode```."""
    first, newline, rest = content.partition("\n")
    if not newline:
        return content, None
    if not first.strip():
        return rest, None
    if re.fullmatch(r"[\w+#.-]+", first):
        return rest, first
    return content, None


def _render_legacy_markdown(source: str) -> tuple[str, list[JSONDict]]:
    """Telegram's old Markdown: *bold*, _italic_, `code`, ```pre```, [text](url), no nesting."""
    out = _TextBuilder()
    index = 0

    def unclosed(at: int) -> ApiError:
        offset = _byte_offset(source, at)
        return _parse_error(f"Can't find end of the entity starting at byte offset {offset}")

    while index < len(source):
        char = source[index]
        start = out.position
        if char == "\\" and source[index + 1 : index + 2] in ("_", "*", "`", "["):
            out.add(source[index + 1])
            index += 2
        elif char in "*_":
            end = source.find(char, index + 1)
            if end < 0:
                raise unclosed(index)
            out.add(source[index + 1 : end])
            out.entity("bold" if char == "*" else "italic", start)
            index = end + 1
        elif source.startswith("```", index):
            end = source.find("```", index + 3)
            if end < 0:
                raise unclosed(index)
            content, language = _pre_language(source[index + 3 : end])
            out.add(content)
            out.entity("pre", start, **({"language": language} if language else {}))
            index = end + 3
        elif char == "`":
            end = source.find("`", index + 1)
            if end < 0:
                raise unclosed(index)
            out.add(source[index + 1 : end])
            out.entity("code", start)
            index = end + 1
        elif char == "[" and "](" in source[index:]:
            close = source.find("](", index + 1)
            end = source.find(")", close + 2)
            if end < 0:
                raise unclosed(index)
            out.add(source[index + 1 : close])
            out.entity("text_link", start, url=source[close + 2 : end])
            index = end + 1
        else:
            out.add(char)
            index += 1
    return out.result()


def _image_size(content: bytes) -> tuple[int, int] | None:
    """Reads the width and height of a PNG, GIF or JPEG image; None for anything else."""
    if content.startswith(b"\x89PNG\r\n\x1a\n") and len(content) >= 24:
        return int.from_bytes(content[16:20], "big"), int.from_bytes(content[20:24], "big")
    if content[:6] in (b"GIF87a", b"GIF89a") and len(content) >= 10:
        return int.from_bytes(content[6:8], "little"), int.from_bytes(content[8:10], "little")
    if not content.startswith(b"\xff\xd8"):
        return None
    index = 2
    while index + 9 < len(content):
        if content[index] != 0xFF:
            index += 1
            continue
        marker = content[index + 1]
        if marker in (0xD8, 0x01, 0xFF) or 0xD0 <= marker <= 0xD7:
            index += 1 if marker == 0xFF else 2
            continue
        # Start-of-frame segments (but not DHT, JPG and DAC, which share the range).
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height = int.from_bytes(content[index + 5 : index + 7], "big")
            width = int.from_bytes(content[index + 7 : index + 9], "big")
            return width, height
        index += 2 + int.from_bytes(content[index + 2 : index + 4], "big")
    return None


# ---------------------------------------------------------------------- HTTP plumbing


def _int_param(params: JSONDict, name: str) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request(f'field "{name}" must be of type Integer') from None


def _float_param(params: JSONDict, name: str) -> float | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise bad_request(f'field "{name}" must be a Number') from None


def _normalise(raw: dict[str, Any]) -> JSONDict:
    """Decodes parameter values: text stays text, everything else is JSON where it parses."""
    params: JSONDict = {}
    for key, value in raw.items():
        if key in STRING_PARAMS:
            params[key] = value if isinstance(value, str) or value is None else str(value)
        elif isinstance(value, str):
            try:
                params[key] = json.loads(value)
            except ValueError:
                params[key] = value
        else:
            params[key] = value
    return params


_HEADER_PARAM = re.compile(r';\s*([\w*-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))')


def _header_params(value: str) -> dict[str, str]:
    """Reads the parameters of a Content-Disposition header, as browsers and httpx write it."""
    params: dict[str, str] = {}
    for match in _HEADER_PARAM.finditer(value):
        key, quoted, bare = match.group(1).lower(), match.group(2), match.group(3)
        if quoted is not None:
            # httpx escapes the HTML5 way: \\ for a backslash, %22 for a quote.
            text = re.sub(r"\\(.)", r"\1", quoted)
            text = re.sub(r"%(22|[01][0-9A-F])", lambda m: chr(int(m.group(1), 16)), text)
        else:
            text = bare.strip()
        if key.endswith("*"):
            charset, _, encoded = text.partition("''")
            key, text = key[:-1], unquote(encoded, encoding=charset or "utf-8")
        params[key] = text
    return params


def _parse_multipart(
    body: bytes, boundary: str | None
) -> tuple[dict[str, str], dict[str, UploadedFile]]:
    """Splits a multipart/form-data body into text fields and files."""
    if not boundary:
        raise bad_request("multipart boundary is missing")
    fields: dict[str, str] = {}
    files: dict[str, UploadedFile] = {}
    for chunk in body.split(b"--" + boundary.encode())[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk.removeprefix(b"\r\n").removesuffix(b"\r\n")
        head, separator, content = chunk.partition(b"\r\n\r\n")
        if not separator:
            continue
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            header_name, _, value = line.partition(":")
            headers[header_name.strip().lower()] = value.strip()
        disposition = _header_params(headers.get("content-disposition", ""))
        name = disposition.get("name")
        if name is None:
            continue
        if "filename" in disposition:
            content_type = headers.get("content-type", "application/octet-stream")
            files[name] = UploadedFile(name, disposition["filename"], content_type, content)
        else:
            fields[name] = content.decode("utf-8", "replace")
    return fields, files


def _decode_request(
    query: str, content_type: str | None, body: bytes
) -> tuple[JSONDict, dict[str, UploadedFile]]:
    """Reads the parameters of a call from the query string and a JSON, form or multipart body."""
    raw: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    files: dict[str, UploadedFile] = {}
    header = HeaderMessage()
    header["content-type"] = content_type or "application/octet-stream"
    kind = header.get_content_type()
    if body and kind == "application/json":
        try:
            loaded = json.loads(body)
        except ValueError:
            raise bad_request("can't parse JSON encoded request") from None
        if not isinstance(loaded, dict):
            raise bad_request("JSON request must be an object")
        raw.update(loaded)
    elif body and kind == "application/x-www-form-urlencoded":
        raw.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    elif body and kind == "multipart/form-data":
        boundary = header.get_param("boundary")
        fields, files = _parse_multipart(body, boundary if isinstance(boundary, str) else None)
        raw.update(fields)
    return _normalise(raw), files


_METHOD_PATH = re.compile(r"/bot([^/]+)/([A-Za-z]+)/?")


class _Server(ThreadingHTTPServer):
    """One thread per request, so a long poll never holds up the bot's other calls."""

    daemon_threads = True
    allow_reuse_address = True
    # A bot flushing its queue opens many connections at once; the default backlog is 5.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], api: FakeBotApi) -> None:
        self.api = api
        super().__init__(address, _RequestHandler)


class _RequestHandler(BaseHTTPRequestHandler):
    """Routes /bot<token>/<method> to the API and /file/bot<token>/<path> to downloads."""

    server: _Server
    server_version = "FakeBotApi/1.0"

    def do_GET(self) -> None:
        self._respond()

    def do_POST(self) -> None:
        self._respond()

    def log_message(self, format: str, *args: Any) -> None:
        # The request line carries the bot token, so the default access log is not kept.
        pass

    def _respond(self) -> None:
        try:
            status, payload, content_type = self._route()
        except ApiError as error:
            status, content_type = error.status, "application/json"
            payload = json.dumps(error.body()).encode()
        except Exception:
            logger.exception("fake Bot API failed on a request")
            status, content_type = HTTPStatus.INTERNAL_SERVER_ERROR, "application/json"
            body = {"ok": False, "error_code": 500, "description": "Internal Server Error"}
            payload = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            # The client gave up (a timeout, or a killed bot process); nobody is listening.
            logger.debug("client went away before the answer was written")

    def _route(self) -> tuple[int, bytes, str]:
        api = self.server.api
        url = urlsplit(self.path)
        # PTB percent-encodes download paths, the colon in the token included.
        path = unquote(url.path)
        if path.startswith("/file/bot"):
            token, _, file_path = path.removeprefix("/file/bot").partition("/")
            content = api._download(token, file_path)
            if content is None:
                raise ApiError(HTTPStatus.NOT_FOUND, "Not Found")
            return HTTPStatus.OK, content, "application/octet-stream"

        match = _METHOD_PATH.fullmatch(path)
        if match is None:
            raise ApiError(HTTPStatus.NOT_FOUND, "Not Found")
        token, method = match.groups()
        if token != api.token:
            raise ApiError(HTTPStatus.UNAUTHORIZED, "Unauthorized")
        params, files = _decode_request(url.query, self.headers.get("Content-Type"), self._body())
        status, body = api._answer(method, params, files)
        return status, json.dumps(body, ensure_ascii=False).encode(), "application/json"

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""
