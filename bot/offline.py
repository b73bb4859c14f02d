"""An offline Bot API: answers the bot's requests locally and records every call.

The console (``python -m bot console``) and the in-process tests run the real
``Application`` on top of :class:`OfflineRequest`, so no token and no network are needed.
It answers enough of the Bot API for this bot (sending, editing, callback answers,
commands, documents and photos, file downloads) with the JSON Telegram would return.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from telegram.error import TimedOut
from telegram.request import BaseRequest, RequestData

logger = logging.getLogger(__name__)

BOT_ID = 5000000001
BOT_USERNAME = "client_resource_bot"
FAKE_TOKEN = "5000000001:OFFLINE-console-token"
_EPOCH = 1_800_000_000


@dataclass
class ApiCall:
    """One request the bot made: the method, its parameters and any uploaded files."""

    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def message_id(self) -> int | None:
        """Return the id of the message the call sent or edited, when there is one."""
        value = self.result.get("message_id") or self.params.get("message_id")
        return int(value) if value is not None else None

    @property
    def chat_id(self) -> int | None:
        """Return the chat the call was addressed to, when it names one."""
        value = self.params.get("chat_id")
        return int(value) if value is not None else None

    @property
    def text(self) -> str:
        """Return the message text or caption of the call ('' when it has none)."""
        return str(self.params.get("text") or self.params.get("caption") or "")

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """Return the inline buttons of the call as (label, callback data), row by row."""
        markup = self.params.get("reply_markup") or {}
        if isinstance(markup, str):
            markup = json.loads(markup)
        rows = markup.get("inline_keyboard") or []
        return [
            (b.get("text", ""), b.get("callback_data") or b.get("url") or "")
            for r in rows
            for b in r
        ]


class OfflineRequest(BaseRequest):
    """A request backend that plays Telegram's part locally, recording every call."""

    def __init__(self, on_call: Callable[[ApiCall, dict[str, Any]], None] | None = None) -> None:
        self.calls: list[ApiCall] = []
        self.on_call = on_call
        self.files: dict[str, bytes] = {}
        self._message_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._failures: dict[str, list[Exception | dict[str, Any]]] = {}

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    @property
    def read_timeout(self) -> float:
        """Return the default read timeout (unused offline)."""
        return 5.0

    def add_file(self, content: bytes) -> str:
        """Store a file as if a user had uploaded it; return its file id."""
        file_id = f"offline-file-{next(self._file_ids)}"
        self.files[file_id] = content
        return file_id

    def fail_next(self, method: str, *, status: int, description: str, **parameters: Any) -> None:
        """Make the next call of ``method`` fail with a Bot API error (429, 403 …)."""
        error = {"ok": False, "error_code": status, "description": description}
        if parameters:
            error["parameters"] = parameters
        self._failures.setdefault(method, []).append(error)

    def time_out_next(self, method: str) -> None:
        """Make the next call of ``method`` time out on the client side."""
        self._failures.setdefault(method, []).append(TimedOut("offline timeout"))

    def sent(self, chat_id: int | None = None, method: str | None = None) -> list[ApiCall]:
        """Return recorded calls, optionally only those to ``chat_id`` or of ``method``."""
        return [
            c
            for c in self.calls
            if (chat_id is None or c.chat_id == chat_id) and (method is None or c.method == method)
        ]

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        """Answer one Bot API request as Telegram would."""
        if "/file/" in url:
            file_path = url.rsplit("/", 1)[-1]
            stored = self.files.get(file_path)
            return (200, stored) if stored is not None else (404, b"")

        api_method = url.rsplit("/", 1)[-1]
        params = dict(request_data.parameters) if request_data else {}
        files: dict[str, tuple[str, bytes]] = {}
        if request_data is not None:
            for name, part in request_data.multipart_data.items():
                filename, content = part[0], part[1]
                raw = content if isinstance(content, bytes) else content.read()
                files[name] = (str(filename), raw)
        call = ApiCall(api_method, params, files)

        pending = self._failures.get(api_method)
        if pending:
            failure = pending.pop(0)
            if isinstance(failure, Exception):
                raise failure
            return int(failure["error_code"]), json.dumps(failure).encode()

        result = self._answer(call)
        if isinstance(result, dict):
            call.result = result
        self.calls.append(call)
        if self.on_call is not None:
            self.on_call(call, result if isinstance(result, dict) else {})
        return 200, json.dumps({"ok": True, "result": result}).encode()

    def _answer(self, call: ApiCall) -> Any:
        method, params = call.method, call.params
        if method == "getMe":
            return {
                "id": BOT_ID,
                "is_bot": True,
                "first_name": "Client Resource Assistant",
                "username": BOT_USERNAME,
                "can_join_groups": False,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
            }
        if method in ("sendMessage", "sendDocument", "sendPhoto", "editMessageText"):
            return self._message(call)
        if method == "editMessageReplyMarkup":
            return self._message(call)
        if method == "getFile":
            file_id = str(params.get("file_id"))
            size = len(self.files.get(file_id, b""))
            return {
                "file_id": file_id,
                "file_unique_id": file_id,
                "file_size": size,
                "file_path": file_id,
            }
        if method == "getUpdates":
            return []
        # answerCallbackQuery, setMyCommands, deleteWebhook, sendChatAction, ...
        return True

    def _message(self, call: ApiCall) -> dict[str, Any]:
        params = call.params
        chat_id = int(params.get("chat_id") or 0)
        message_id = int(params.get("message_id") or next(self._message_ids))
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": _EPOCH,
            "chat": {"id": chat_id, "type": "private"},
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "Client Resource Assistant"},
        }
        if call.method == "editMessageText" or "text" in params:
            message["text"] = str(params.get("text", ""))
        if params.get("reply_markup"):
            markup = params["reply_markup"]
            message["reply_markup"] = json.loads(markup) if isinstance(markup, str) else markup
        for kind in ("document", "photo"):
            if kind in call.files or kind in params:
                filename = call.files.get(kind, ("file", b""))[0]
                file_id = self.add_file(call.files.get(kind, ("", b""))[1])
                if kind == "photo":
                    message["photo"] = [
                        {"file_id": file_id, "file_unique_id": file_id, "width": 1, "height": 1}
                    ]
                else:
                    message["document"] = {
                        "file_id": file_id,
                        "file_unique_id": file_id,
                        "file_name": filename,
                    }
                if "caption" in params:
                    message["caption"] = params["caption"]
        return message
