"""``/settings``: when the morning push comes and what the due list counts as due.

Owns the settings summary with one button per setting, the one-question conversation
that changes a setting (push time, time zone, the two maturity windows, the B and C stale
thresholds, the new-referral reminder), and the switch for pushes on days with nothing
due. The values live on the agent record; :mod:`bot.due` reads them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import time
from typing import Final

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot import flows
from bot.callbacks import CallbackError, Codec
from bot.context import BotContext, Buttons, keyboard
from bot.due import local_zone, push_is_due
from bot.flows import END, Answer, Flow, Turn
from bot.i18n import t
from bot.parsing import ParseError, parse_int_in_range, parse_time_of_day, parse_timezone
from storage import due as due_store
from storage.models import Agent

logger = logging.getLogger(__name__)

# Open one setting for change ("empty" switches the empty-day push on or off at once).
OPEN_SETTING = Codec("gs", field=str)


@dataclass(frozen=True)
class _Days:
    """A setting counted in whole days: its agent column, its range, its quick choices."""

    column: str
    low: int
    high: int
    choices: tuple[int, ...]


DAY_SETTINGS: Final = {
    "soon": _Days("maturity_soon_days", 1, 90, (3, 7, 14)),
    "window": _Days("maturity_window_days", 1, 365, (30, 60, 90)),
    "b": _Days("stale_b_days", 1, 365, (7, 14, 21)),
    "c": _Days("stale_c_days", 1, 365, (30, 45, 60)),
    "referral": _Days("referral_contact_days", 1, 30, (1, 2, 3)),
}
FIELDS: Final = ("time", "tz", *DAY_SETTINGS)
EMPTY_SWITCH: Final = "empty"
# Quick choices; a flow button value may not contain ':', and the time parser reads 8.30.
TIME_CHOICES: Final = ("07.30", "08.00", "08.30", "09.00")
ZONE_CHOICES: Final = ("Asia/Shanghai", "Asia/Hong_Kong", "Asia/Singapore", "Europe/London")


def _clock(value: time) -> str:
    return value.strftime("%H:%M")


def zone_label(name: str) -> str:
    """Write a time zone the way people type it: ``Etc/GMT-8`` (POSIX signs) is ``UTC+8``."""
    if name.startswith("Etc/GMT") and name[7:8] in ("+", "-"):
        sign = "-" if name[7] == "+" else "+"
        return f"UTC{sign}{name[8:]}"
    return name


def summary(agent: Agent, lang: str) -> tuple[str, Buttons]:
    """Return the settings summary and its buttons."""
    text = t(
        lang,
        "settings.summary",
        time=_clock(agent.push_time),
        zone=zone_label(agent.timezone),
        soon=agent.maturity_soon_days,
        window=agent.maturity_window_days,
        referral=agent.referral_contact_days,
        b=agent.stale_b_days,
        c=agent.stale_c_days,
        empty=t(lang, "settings.empty_on" if agent.push_when_empty else "settings.empty_off"),
    )

    def button(field: str) -> tuple[str, str]:
        return t(lang, f"settings.btn_{field}"), OPEN_SETTING.build(field=field)

    switch = "settings.btn_empty_on" if agent.push_when_empty else "settings.btn_empty_off"
    buttons = [
        [button("time"), button("tz")],
        [button("soon"), button("window")],
        [button("b"), button("c")],
        [button("referral"), (t(lang, switch), OPEN_SETTING.build(field=EMPTY_SWITCH))],
    ]
    return text, buttons


async def settings_command(update: Update, context: BotContext) -> None:
    """Show the agent's settings with a button for each."""
    agent = context.require_agent()
    text, buttons = summary(agent, context.lang)
    await context.say(text, buttons)


async def open_setting(update: Update, context: BotContext) -> None:
    """Ask for a new value of the pressed setting, or flip the empty-day switch."""
    query = update.callback_query
    assert query is not None
    agent = context.require_agent()
    try:
        field = OPEN_SETTING.parse(query.data)["field"]
    except CallbackError:
        field = None
    if field not in (*FIELDS, EMPTY_SWITCH):
        await query.answer(context.t("settings.stale_button"))
        return

    if field == EMPTY_SWITCH:
        async with context.db.session() as session:
            agent.push_when_empty = not agent.push_when_empty
            await session.merge(agent)
        key = "settings.empty_now_on" if agent.push_when_empty else "settings.empty_now_off"
        await query.answer(context.t(key))
        await _refresh(update, context, agent)
        return

    await query.answer()
    await flows.start(update, context, SettingFlow.name, data={"field": field}, fresh=True)


async def _refresh(update: Update, context: BotContext, agent: Agent) -> None:
    """Show the changed settings in place of the pressed summary (or anew if that fails)."""
    text, buttons = summary(agent, context.lang)
    query = update.callback_query
    if query is not None and query.message is not None:
        try:
            await query.edit_message_text(text, reply_markup=keyboard(buttons))
            return
        except TelegramError:
            logger.debug("could not edit the settings summary; sending it again")
    await context.say(text, buttons)


def _day_range(field: str, agent: Agent) -> tuple[int, int]:
    """Return the days a setting may take now: "soon" fits inside the window, and back."""
    days = DAY_SETTINGS[field]
    if field == "soon":
        return days.low, min(days.high, agent.maturity_window_days)
    if field == "window":
        return max(days.low, agent.maturity_soon_days), days.high
    return days.low, days.high


class SettingFlow(Flow):
    """Change one setting: ask for the value, check it, store it, show the summary."""

    name = "setting"
    first_step = "value"
    command = "settings"

    async def ask_value(self, turn: Turn) -> None:
        """Ask for the new value, showing the current one and the usual choices."""
        field = turn.data["field"]
        agent = turn.agent
        if field == "time":
            current = _clock(agent.push_time)
            values = [(value.replace(".", ":"), value) for value in TIME_CHOICES]
            prompt = turn.t("settings.ask_time", current=current, zone=zone_label(agent.timezone))
            rows = [[turn.button(label, value) for label, value in values]]
        elif field == "tz":
            prompt = turn.t("settings.ask_tz", current=zone_label(agent.timezone))
            buttons = [turn.button(zone, zone) for zone in ZONE_CHOICES]
            rows = [buttons[:2], buttons[2:]]
        else:
            days = DAY_SETTINGS[field]
            current = getattr(agent, days.column)
            low, high = _day_range(field, agent)
            prompt = turn.t(f"settings.ask_{field}", current=current, low=low, high=high)
            choices = [
                turn.button(turn.t("settings.days", n=n), str(n))
                for n in days.choices
                if low <= n <= high
            ]
            rows = [choices]
        turn.ask(prompt, rows)

    async def on_value(self, turn: Turn, answer: Answer) -> str:
        """Read, check and store the value, then show every setting again."""
        field = turn.data["field"]
        text = answer.choice or answer.text or ""
        agent = turn.agent
        try:
            if field == "time":
                agent.push_time = parse_time_of_day(text)
                shown = _clock(agent.push_time)
            elif field == "tz":
                agent.timezone = parse_timezone(text)
                shown = zone_label(agent.timezone)
            else:
                days = DAY_SETTINGS[field]
                value = parse_int_in_range(text, days.low, days.high)
                if field == "soon" and value > agent.maturity_window_days:
                    window = agent.maturity_window_days
                    return turn.retry("settings.soon_over_window", value=value, window=window)
                if field == "window" and value < agent.maturity_soon_days:
                    soon = agent.maturity_soon_days
                    return turn.retry("settings.window_under_soon", value=value, soon=soon)
                setattr(agent, days.column, value)
                shown = turn.t("settings.days", n=value)
        except ParseError as error:
            return turn.retry(error.key, **error.values)
        await turn.session.merge(agent)

        turn.send(turn.t("settings.saved", what=turn.t(f"settings.name_{field}"), value=shown))
        if field in ("time", "tz"):
            note = await _today_note(turn, agent)
            if note is not None:
                turn.send(note)
        turn.send(*summary(agent, turn.lang))

        return END


async def _today_note(turn: Turn, agent: Agent) -> str | None:
    """Say whether today's push is already out, or comes shortly after a time change."""
    reached, today = push_is_due(turn.context.now(), local_zone(agent.timezone), agent.push_time)
    pushed = await due_store.push_for(turn.session, agent.id, today)
    if pushed is not None:
        return turn.t("settings.today_done")
    if reached:
        return turn.t("settings.today_soon")
    return None


def register(application: Application) -> None:
    """Add /settings, its buttons and the conversation that changes a setting."""
    application.add_handler(CommandHandler("settings", settings_command))
    application.add_handler(CallbackQueryHandler(open_setting, pattern=OPEN_SETTING.pattern))
    application.bot_data["flows"][SettingFlow.name] = SettingFlow()
