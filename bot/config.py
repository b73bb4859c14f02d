"""Settings read from the environment, checked once at start-up.

Every variable is documented in the README's configuration table. A missing or
malformed value raises :class:`ConfigError` whose message is one sentence naming
the variable and how to fix it; the entry point prints it and exits with code 2.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///data/bot.db"
_TOKEN_RE = re.compile(r"^\d+:[A-Za-z0-9_-]{5,}$")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(Exception):
    """A configuration value is missing or malformed; the message says which and how to fix it."""


@dataclass(frozen=True)
class Settings:
    """Everything the bot reads from its environment."""

    bot_token: str | None
    database_url: str = DEFAULT_DATABASE_URL
    bot_api_base_url: str | None = None
    admin_ids: frozenset[int] = frozenset()
    default_timezone: str = "Asia/Shanghai"
    log_level: str = "INFO"
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = 8443
    invite_days: int = 7
    push_check_seconds: int = 60

    @property
    def bot_api_file_url(self) -> str | None:
        """Return the file-download base that goes with a self-hosted Bot API server."""
        if not self.bot_api_base_url:
            return None
        base = self.bot_api_base_url.rstrip("/")
        head, _, tail = base.rpartition("/")
        return f"{head}/file/{tail}" if head else f"{base}/file"


def _int_list(name: str, raw: str) -> frozenset[int]:
    ids: set[int] = set()
    for part in raw.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if not part.lstrip("-").isdigit():
            raise ConfigError(
                f"{name} must be comma-separated Telegram user ids such as "
                f"'12345,67890', not {part!r}."
            )
        ids.add(int(part))
    return frozenset(ids)


def _positive_int(name: str, raw: str, default: int, highest: int = 10**6) -> int:
    if not raw.strip():
        return default
    if not raw.strip().isdigit() or not 0 < int(raw) <= highest:
        raise ConfigError(
            f"{name} must be a whole number from 1 to {highest}, such as {default}, not {raw!r}."
        )
    return int(raw)


def load_settings(env: Mapping[str, str] | None = None, *, need_token: bool = True) -> Settings:
    """Read and check the settings; raise ConfigError with one sentence on a bad value."""
    env = os.environ if env is None else env

    token = env.get("BOT_TOKEN", "").strip() or None
    if need_token and token is None:
        raise ConfigError(
            "BOT_TOKEN is not set: get a token from @BotFather and run "
            "'BOT_TOKEN=123456:ABC... python -m bot', or try 'python -m bot console' without one."
        )
    if token is not None and not _TOKEN_RE.match(token):
        raise ConfigError(
            "BOT_TOKEN does not look like a bot token (digits, a colon, then letters), "
            "copy it again from @BotFather."
        )

    database_url = env.get("DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL
    if not database_url.startswith(("sqlite", "postgresql")):
        raise ConfigError(
            "DATABASE_URL must be an SQLite or PostgreSQL URL such as "
            "'sqlite+aiosqlite:///data/bot.db' or 'postgresql+asyncpg://user:pw@host/db'."
        )
    database_url = _async_driver(database_url)

    base_url = env.get("BOT_API_BASE_URL", "").strip() or None
    if base_url is not None and not base_url.startswith(("http://", "https://")):
        raise ConfigError(
            "BOT_API_BASE_URL must start with http:// or https://, "
            "for example 'http://127.0.0.1:8081/bot'."
        )

    timezone = env.get("DEFAULT_TIMEZONE", "").strip() or "Asia/Shanghai"
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"DEFAULT_TIMEZONE {timezone!r} is not a known time zone; use a name such as "
            "'Asia/Shanghai'."
        ) from None

    log_level = (env.get("LOG_LEVEL", "").strip() or "INFO").upper()
    if log_level not in _LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}, not {log_level!r}.")

    webhook_url = env.get("WEBHOOK_URL", "").strip() or None
    webhook_secret = env.get("WEBHOOK_SECRET", "").strip() or None
    if webhook_url is not None:
        if not webhook_url.startswith("https://"):
            raise ConfigError(
                "WEBHOOK_URL must be a public https:// address such as "
                "'https://bot.example.com/telegram'."
            )
        if webhook_secret is None or not re.fullmatch(r"[A-Za-z0-9_-]{16,256}", webhook_secret):
            raise ConfigError(
                "WEBHOOK_SECRET must be set with WEBHOOK_URL: 16 to 256 letters, digits, "
                "'_' or '-', for example the output of 'openssl rand -hex 24'."
            )

    return Settings(
        bot_token=token,
        database_url=database_url,
        bot_api_base_url=base_url,
        admin_ids=_int_list("ADMIN_IDS", env.get("ADMIN_IDS", "")),
        default_timezone=timezone,
        log_level=log_level,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        webhook_listen=env.get("WEBHOOK_LISTEN", "").strip() or "0.0.0.0",
        webhook_port=_positive_int(
            "WEBHOOK_PORT", env.get("WEBHOOK_PORT", ""), 8443, highest=65535
        ),
        invite_days=_positive_int("INVITE_DAYS", env.get("INVITE_DAYS", ""), 7),
        push_check_seconds=_positive_int(
            "PUSH_CHECK_SECONDS", env.get("PUSH_CHECK_SECONDS", ""), 60, highest=3600
        ),
    )


def _async_driver(url: str) -> str:
    """Pick the async driver for a plain database URL, so either spelling works."""
    if url.startswith("sqlite:"):
        return "sqlite+aiosqlite:" + url.removeprefix("sqlite:")
    for plain in ("postgresql:", "postgresql+psycopg2:", "postgresql+psycopg:"):
        if url.startswith(plain):
            return "postgresql+asyncpg:" + url.removeprefix(plain)
    return url


def sqlite_path(url: str) -> Path | None:
    """Return the file behind an SQLite URL (None for memory or other databases)."""
    if not url.startswith("sqlite"):
        return None
    _, _, path = url.partition(":///")
    return Path(path) if path and path != ":memory:" else None


def configure_logging(level: str) -> None:
    """Set up logging for the process; httpx's per-request lines carry the token, so mute them."""
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # At DEBUG, PTB logs the Bot API URL, which contains the token.
    logging.getLogger("telegram.ext.ExtBot").setLevel(
        max(logging.INFO, logging.getLevelName(level))
    )
    logging.getLogger("telegram.Bot").setLevel(max(logging.INFO, logging.getLevelName(level)))
