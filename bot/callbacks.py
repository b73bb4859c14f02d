"""Callback data: one codec per prefix, so no callback string is written twice.

A codec builds ``prefix:field:field`` strings and parses them back into typed
values. Every id it carries must still be checked against the agent who pressed
the button: Telegram clients can send any callback data they like.

    CLIENT_CARD = Codec("cc", client_id=int, action=str)
    data = CLIENT_CARD.build(client_id=42, action="log")   # "cc:42:log"
    CLIENT_CARD.pattern                                    # for CallbackQueryHandler
    CLIENT_CARD.parse(data)                                # {"client_id": 42, "action": "log"}
"""

from __future__ import annotations

import re
from typing import Any

MAX_BYTES = 64
_SEP = ":"

_registry: dict[str, Codec] = {}


class CallbackError(ValueError):
    """Callback data that does not match its codec (stale, truncated or forged)."""


class Codec:
    """Builds and parses the callback data of one prefix."""

    def __init__(self, prefix: str, **fields: type) -> None:
        if _SEP in prefix or not prefix:
            raise ValueError(f"callback prefix {prefix!r} must be non-empty and contain no ':'")
        if prefix in _registry:
            raise ValueError(f"callback prefix {prefix!r} is already taken")
        for kind in fields.values():
            if kind not in (int, str):
                raise TypeError("callback fields are int or str")
        self.prefix = prefix
        self.fields = fields
        self.pattern = re.compile("^" + re.escape(prefix) + "(:|$)")
        _registry[prefix] = self

    def build(self, **values: Any) -> str:
        """Return the callback data for ``values``; it must fit Telegram's 64 bytes."""
        if set(values) != set(self.fields):
            raise TypeError(f"{self.prefix}: expected fields {sorted(self.fields)}")
        parts = [self.prefix]
        for name, kind in self.fields.items():
            text = str(values[name])
            if kind is str and _SEP in text:
                raise ValueError(f"{self.prefix}.{name} may not contain ':' ({text!r})")
            if kind is int and not isinstance(values[name], int):
                raise TypeError(f"{self.prefix}.{name} must be an int, got {values[name]!r}")
            parts.append(text)
        data = _SEP.join(parts)
        if len(data.encode()) > MAX_BYTES:
            raise ValueError(f"callback data {data!r} is over {MAX_BYTES} bytes")
        return data

    def parse(self, data: str | None) -> dict[str, Any]:
        """Return the typed fields of ``data``; raise CallbackError when it does not fit."""
        if not data:
            raise CallbackError("empty callback data")
        parts = data.split(_SEP)
        if parts[0] != self.prefix or len(parts) != len(self.fields) + 1:
            raise CallbackError(f"callback data {data!r} does not match {self.prefix!r}")
        values: dict[str, Any] = {}
        for (name, kind), raw in zip(self.fields.items(), parts[1:], strict=True):
            if kind is int:
                if not re.fullmatch(r"-?\d{1,18}", raw):
                    raise CallbackError(f"{self.prefix}.{name} is not a number: {raw!r}")
                values[name] = int(raw)
            else:
                values[name] = raw
        return values

    def matches(self, data: object) -> bool:
        """Tell whether ``data`` carries this codec's prefix (for handler patterns)."""
        return isinstance(data, str) and self.pattern.match(data) is not None
