"""The bot's commands in menu order; each has a one-line description per language.

Descriptions live in the ``commands`` catalog. ``/help`` and the Telegram command menu
list only commands whose handler the application actually registered.
"""

from __future__ import annotations

from collections.abc import Iterable

from telegram import BotCommand
from telegram.ext import Application, CommandHandler

from bot import i18n

ORDER = (
    "due",
    "refer",
    "warm",
    "add",
    "find",
    "list",
    "client",
    "log",
    "script",
    "maturity",
    "import",
    "manager",
    "stats",
    "export",
    "team",
    "settings",
    "language",
    "invite",
    "help",
    "cancel",
    "start",
    "forget_me",
)

# Shown in /help but kept out of the pop-up menu, which should stay short and daily.
NOT_IN_MENU = frozenset({"start", "forget_me", "invite"})


def registered(application: Application) -> list[str]:
    """Return the registered commands, in menu order (unknown extras last, sorted)."""
    names: set[str] = set()
    for handlers in application.handlers.values():
        for handler in handlers:
            if isinstance(handler, CommandHandler):
                names.update(handler.commands)
    known = [name for name in ORDER if name in names]
    return known + sorted(names - set(ORDER))


def help_text(lang: str, names: Iterable[str]) -> str:
    """Return the /help text: one line per command, in ``lang``."""
    lines = [i18n.t(lang, "core.help_header"), ""]
    lines += [f"/{name} — {i18n.t(lang, f'commands.{name}')}" for name in names]
    return "\n".join(lines)


def menu(lang: str, names: Iterable[str]) -> list[BotCommand]:
    """Return the command menu for ``lang``."""
    return [
        BotCommand(name, i18n.t(lang, f"commands.{name}"))
        for name in names
        if name not in NOT_IN_MENU
    ]
