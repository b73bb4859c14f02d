"""Message catalogs: every user-facing sentence, per language, in TOML files.

Catalogs live in ``bot/locales/<lang>/<namespace>.toml``. A key is written
``namespace.key`` (nested TOML tables add more dots). Values are
``str.format`` templates: ``"你好，{name}"``. Chinese (``zh``) is the default;
English (``en``) is complete, and a test holds the two key sets equal.
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
LOCALES_DIR = Path(__file__).parent / "locales"


def _flatten(prefix: str, table: Mapping[str, Any], into: dict[str, str]) -> None:
    for key, value in table.items():
        full = f"{prefix}.{key}"
        if isinstance(value, Mapping):
            _flatten(full, value, into)
        elif isinstance(value, str):
            into[full] = value
        else:
            raise TypeError(f"catalog value {full!r} must be a string, got {type(value).__name__}")


@cache
def catalog(lang: str) -> dict[str, str]:
    """Return every message of one language, keyed ``namespace.key``."""
    messages: dict[str, str] = {}
    for path in sorted((LOCALES_DIR / lang).glob("*.toml")):
        with path.open("rb") as fh:
            _flatten(path.stem, tomllib.load(fh), messages)
    return messages


def normalise_language(code: str | None) -> str:
    """Map a Telegram ``language_code`` (``zh-hans``, ``en-US`` …) to a supported language."""
    if code and code.lower().startswith("en"):
        return "en"
    return DEFAULT_LANGUAGE


def t(lang: str, key: str, /, **values: object) -> str:
    """Render the message ``key`` in ``lang``, filling ``{placeholders}`` from ``values``."""
    messages = catalog(lang if lang in LANGUAGES else DEFAULT_LANGUAGE)
    try:
        template = messages[key]
    except KeyError:
        # A missing key is a programming error that the catalog test catches; at run time
        # the user still gets something readable rather than a crash.
        logger.error("missing message %s for language %s", key, lang)
        return key
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError):
        # A placeholder the caller did not fill: a bug the catalog tests should catch, but
        # the user still gets the sentence rather than a crash.
        logger.error("message %s in %s lacks a value for one of its placeholders", key, lang)
        return template


def has(lang: str, key: str) -> bool:
    """Tell whether ``key`` exists in ``lang``'s catalog."""
    return key in catalog(lang)
