"""The day's due list: the morning push, ``/due``, and the one-tap buttons on every item.

Owns the push job, the ``/due`` command, the *contacted* button (logs a contact, then a
short conversation asks for the next follow-up date), *snooze 3 days*, and *show all*.
The *talk track* and *maturity case* buttons open other features through
:mod:`bot.links`. What is due, and how the list reads, is decided in :mod:`bot.due`.

The push goes out once per agent and local date, however many runs, restarts or bot
processes share the database: a run first records the push (``pushes`` is unique per
agent and date) and only the run whose record went in sends it. The job runs every
:data:`CHECK_SECONDS_ENV` seconds (default 60) and once shortly after start-up, so a push
missed while the bot was down goes out the same day when it comes back.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Final

import httpx
from telegram import InlineKeyboardMarkup, Message, Update
from telegram.error import Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot import flows
from bot.callbacks import CallbackError, Codec
from bot.config import Settings
from bot.context import BotContext, Buttons, keyboard
from bot.due import SNOOZE_DAYS, DueItem, DueList, layout, short_date
from bot.flows import END, Answer, Flow, Turn
from bot.i18n import t
from bot.links import OPEN_CASE, SCRIPT_FOR_CLIENT
from bot.parsing import ParseError, format_date, parse_date
from storage import due as store
from storage.clients import get_client, log_interaction
from storage.models import Agent

logger = logging.getLogger(__name__)

# Callback data of this module's buttons.
CONTACTED = Codec("dc", client_id=int)
SNOOZE = Codec("dz", kind=str, item_id=int)
SHOW_ALL = Codec("da")
_KIND_CODES: Final = {"maturity": "m", "followup": "f", "referral": "r", "stale": "s"}
_KINDS_BY_CODE: Final = {code: kind for kind, code in _KIND_CODES.items()}

PUSH_JOB: Final = "morning-push"
DEFAULT_CHECK_SECONDS: Final = 60
# APScheduler skips a run that starts more than its grace time late (1 s by default); a
# busy event loop must never silently drop a morning, so late runs still go.
MISFIRE_GRACE_SECONDS: Final = 6 * 3600
START_DELAY_SECONDS: Final = 5
# Telegram allows about 30 messages a second per bot; pushes keep below that so that
# replies to agents typing at the same time still get through.
PUSH_RATE_PER_SECOND: Final = 25
PUSH_WORKERS: Final = 8
# Agents whose lists are prepared with one set of queries.
PREPARE_BATCH: Final = 200
# A second tap on "contacted" within this time is the same contact, not a new one.
SAME_CONTACT: Final = timedelta(minutes=2)
_NAME_IN_BUTTON: Final = 10
_LOCK: Final = "due.push_lock"

# A send that failed with these underlying errors never left this machine, so sending again
# cannot produce a duplicate.
_NEVER_SENT: Final = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_RELEASE: Final = "release"


# --- rendering ----------------------------------------------------------------------------


def _item_buttons(number: int, item: DueItem, lang: str) -> list[tuple[str, str]]:
    """Return the one-tap buttons of one numbered item."""
    name = item.name[:_NAME_IN_BUTTON]
    snooze = (
        t(lang, "due.btn_snooze", n=number),
        SNOOZE.build(kind=_KIND_CODES[item.section], item_id=item.item_id),
    )
    if item.client_id is None:
        # A policy not linked to a client yet: its case is where the contact is worked.
        case = (
            t(lang, "due.btn_case", n=number, name=name),
            OPEN_CASE.build(policy_id=item.item_id),
        )
        return [case, snooze]
    return [
        (t(lang, "due.btn_done", n=number, name=name), CONTACTED.build(client_id=item.client_id)),
        snooze,
        (t(lang, "due.btn_script", n=number), SCRIPT_FOR_CLIENT.build(client_id=item.client_id)),
    ]


def messages(
    due: DueList, lang: str, *, show_all: bool = False, greeting: str | None = None
) -> list[tuple[str, Buttons]]:
    """Return the list as (text, buttons) messages; the last one offers "show all" when
    the list was cut to its most urgent items."""
    parts = layout(due, lang, show_all=show_all)
    out: list[tuple[str, Buttons]] = []
    for index, part in enumerate(parts):
        rows = [_item_buttons(number, item, lang) for number, item in part.items]
        last = index == len(parts) - 1
        if last and not show_all and len(due.most_urgent()) < len(due.items):
            rows.append([(t(lang, "due.btn_all", total=len(due.items)), SHOW_ALL.build())])
        text = f"{greeting}\n{part.text}" if greeting and index == 0 else part.text
        out.append((text, rows))
    return out


# --- /due and the buttons -----------------------------------------------------------------


async def due_command(update: Update, context: BotContext) -> None:
    """Show the day's due list, the most urgent items first when it is long."""
    agent = context.require_agent()
    async with context.db.session() as session:
        due = await store.due_list(session, agent, context.today())

    for text, buttons in messages(due, context.lang):
        await context.say(text, buttons)


async def show_all(update: Update, context: BotContext) -> None:
    """Send the whole due list, every item with its buttons."""
    query = update.callback_query
    assert query is not None
    agent = context.require_agent()
    await query.answer()
    async with context.db.session() as session:
        due = await store.due_list(session, agent, context.today())

    for text, buttons in messages(due, context.lang, show_all=True):
        await context.say(text, buttons)


async def contacted(update: Update, context: BotContext) -> None:
    """Log a contact with the item's client, then ask when to follow up next."""
    query = update.callback_query
    assert query is not None
    agent = context.require_agent()
    try:
        client_id = CONTACTED.parse(query.data)["client_id"]
    except CallbackError:
        await query.answer(context.t("due.gone"))
        return

    now, today = context.now(), context.today()
    async with context.db.session() as session:
        client = await get_client(session, agent.id, client_id)
        if client is None:
            await query.answer(context.t("due.gone"))
            return
        logged = client.last_contact_at is None or now - client.last_contact_at >= SAME_CONTACT
        if logged:
            await log_interaction(session, client, channel="phone", note=None, at=now)
        if client.next_followup is not None and client.next_followup <= today:
            # This follow-up is done; the conversation below asks for the next one.
            client.next_followup = None
        name = client.name

    await query.answer()
    await _drop_row(update)
    await flows.start(
        update,
        context,
        NextFollowUpFlow.name,
        data={"client_id": client_id, "name": name, "logged": logged},
        fresh=True,
    )


async def snooze_item(update: Update, context: BotContext) -> None:
    """Hide the item for three days."""
    query = update.callback_query
    assert query is not None
    agent = context.require_agent()
    try:
        pressed = SNOOZE.parse(query.data)
    except CallbackError:
        await query.answer(context.t("due.gone"))
        return
    kind = _KINDS_BY_CODE.get(pressed["kind"])

    async with context.db.session() as session:
        if kind is None or not await store.item_belongs_to(
            session, agent.id, kind, pressed["item_id"]
        ):
            await query.answer(context.t("due.gone"))
            return
        until = await store.snooze(
            session, agent.id, kind, pressed["item_id"], today=context.today(), days=SNOOZE_DAYS
        )

    await query.answer(context.t("due.snoozed", date=short_date(until, context.lang)))
    await _drop_row(update)


async def _drop_row(update: Update) -> None:
    """Remove the pressed item's buttons from its message: that item is dealt with."""
    query = update.callback_query
    message = query.message if query is not None else None
    if query is None or not isinstance(message, Message) or message.reply_markup is None:
        return
    rows = [
        row
        for row in message.reply_markup.inline_keyboard
        if not any(button.callback_data == query.data for button in row)
    ]
    try:
        await message.edit_reply_markup(InlineKeyboardMarkup(rows) if rows else None)
    except TelegramError:
        # Only cosmetic: the pressed button still answers correctly if it stays.
        logger.debug("could not remove a due item's buttons from message %s", message.message_id)


class NextFollowUpFlow(Flow):
    """After a contact from the due list: when to follow up with the client next."""

    name = "due_next"
    first_step = "date"
    command = "due"

    _CHOICES: Final = ("3", "7", "14", "30")

    async def begin(self, turn: Turn, argument: str) -> str:
        """Confirm the logged contact before asking for the next date."""
        key = "due.contact_logged" if turn.data.pop("logged", False) else "due.contact_already"
        turn.send(turn.t(key, name=turn.data["name"]))
        return self.first_step

    async def ask_date(self, turn: Turn) -> None:
        """Ask for the next follow-up date, offering the usual intervals."""
        choices = [turn.button(turn.t(f"due.next_{days}"), days) for days in self._CHOICES]
        none = turn.button(turn.t("due.next_none"), "none")
        turn.ask(
            turn.t("due.ask_next", name=turn.data["name"]),
            [choices[:2], choices[2:], [none]],
        )

    async def on_date(self, turn: Turn, answer: Answer) -> str:
        """Store the next follow-up date (or none) on the client."""
        today = turn.context.today()
        day: date | None
        if answer.choice == "none":
            day = None
        elif answer.choice in self._CHOICES:
            day = today + timedelta(days=int(answer.choice))
        else:
            try:
                day = parse_date(answer.text or "", today)
            except ParseError as error:
                return turn.retry(error.key, **error.values)
            if day < today:
                return turn.retry("due.next_in_past", date=format_date(day, turn.lang))

        client = await get_client(turn.session, turn.agent.id, int(turn.data["client_id"]))
        if client is None:
            turn.send(turn.t("due.gone"))
            return END
        client.next_followup = day
        if day is None:
            turn.send(turn.t("due.next_cleared", name=client.name))
        else:
            turn.send(turn.t("due.next_set", name=client.name, date=format_date(day, turn.lang)))

        return END


# --- the morning push ---------------------------------------------------------------------


class _Pacer:
    """Spaces the sends of one run evenly, at most ``rate`` a second over all workers."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.next_slot = 0.0

    async def wait(self) -> None:
        """Wait for this send's slot."""
        now = asyncio.get_running_loop().time()
        slot = max(now, self.next_slot)
        self.next_slot = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


@dataclass
class _PushRun:
    """The state one run of the push job shares between its workers."""

    pacer: _Pacer
    outcomes: Counter[str] = field(default_factory=Counter)
    # Set when Telegram cannot be reached or keeps refusing for flooding: the remaining
    # agents are left unclaimed for the next run.
    halted: bool = False


async def push_job(context: BotContext) -> None:
    """Send the morning push to every agent whose push time has come and who has none yet."""
    lock: asyncio.Lock = context.bot_data[_LOCK]
    if lock.locked():
        return  # the previous run is still sending, and it reaches everyone waiting
    async with lock:
        await send_pushes(context)


async def send_pushes(context: BotContext) -> Counter[str]:
    """Push to every waiting agent, a few at a time; return how each push ended."""
    async with context.db.session() as session:
        waiting = await store.agents_awaiting_push(session, context.now())
    run = _PushRun(_Pacer(PUSH_RATE_PER_SECOND))

    for batch in batches(waiting):
        if run.halted:
            break
        # Lists are prepared a batch at a time, just before they are sent, so that they
        # are fresh and the database answers once for many agents.
        async with context.db.session() as session:
            lists = await store.due_lists(session, batch)
        pending = ((agent, day, lists[agent.id]) for agent, day in batch)
        workers = min(PUSH_WORKERS, len(batch))
        await asyncio.gather(*(_worker(context, run, pending) for _ in range(workers)))

    if waiting:
        logger.info("morning push for %d agents: %s", len(waiting), dict(run.outcomes))
    return run.outcomes


def batches(waiting: list[tuple[Agent, date]]) -> Iterator[list[tuple[Agent, date]]]:
    """Group agents with the same date and rules, in batches of :data:`PREPARE_BATCH`."""
    groups: dict[object, list[tuple[Agent, date]]] = {}
    for pair in waiting:
        groups.setdefault(store.batch_key(pair), []).append(pair)
    for group in groups.values():
        for start in range(0, len(group), PREPARE_BATCH):
            yield group[start : start + PREPARE_BATCH]


async def _worker(
    context: BotContext, run: _PushRun, pending: Iterator[tuple[Agent, date, DueList]]
) -> None:
    """Take waiting agents one by one until none is left or the run is halted."""
    for agent, day, due in pending:
        if run.halted:
            return
        try:
            outcome = await _push_one(context, run, agent, day, due)
        except Exception:
            # One agent's failure (a bad row, a database hiccup) must not stop the others.
            logger.exception("morning push for agent %s failed", agent.id)
            outcome = "error"
        run.outcomes[outcome] += 1


async def _push_one(
    context: BotContext, run: _PushRun, agent: Agent, day: date, due: DueList
) -> str:
    """Claim, send and record one agent's push; return how it ended."""
    sending = not due.is_empty or agent.push_when_empty
    greeting = t(agent.language, "due.greeting", name=agent.name or "")
    parts = messages(due, agent.language, greeting=greeting) if sending else []

    async with context.db.session() as session:
        push_id = await store.claim_push(
            session,
            agent.id,
            day,
            status="sending" if sending else "empty",
            items=len(due.items),
            now=context.now(),
        )
    if push_id is None:
        return "taken"
    if not sending:
        return "empty"

    status = await _deliver(context, run, agent, parts)
    async with context.db.session() as session:
        if status == _RELEASE:
            await store.release_push(session, push_id)
        else:
            await store.finish_push(session, push_id, status, now=context.now())
        if status == "blocked":
            await store.mark_inactive(session, agent.id)
    return status


async def _deliver(
    context: BotContext, run: _PushRun, agent: Agent, parts: Sequence[tuple[str, Buttons]]
) -> str:
    """Send the push's messages; return the push status (or release when nothing left)."""
    delivered = 0
    try:
        for text, buttons in parts:
            await run.pacer.wait()
            markup = keyboard(buttons) if buttons else None
            await context.bot.send_message(agent.telegram_id, text, reply_markup=markup)
            delivered += 1
    except Forbidden:
        logger.info("agent %s blocked the bot; no more pushes until they write again", agent.id)
        return "blocked"
    except RetryAfter:
        # The rate limiter already waited and retried; Telegram still says slow down.
        logger.warning("Telegram kept asking to slow down; the push run stops for now")
        run.halted = True
        return "partial" if delivered else _RELEASE
    except (TimedOut, NetworkError) as error:
        if not delivered and isinstance(error.__cause__, _NEVER_SENT):
            logger.warning("Telegram cannot be reached (%s); the push run stops for now", error)
            run.halted = True
            return _RELEASE
        # The request may have reached Telegram: sending again could show it twice.
        logger.warning("push to agent %s may not have arrived: %s", agent.id, error)
        return "uncertain"
    except TelegramError as error:
        logger.warning("Telegram refused the push to agent %s: %s", agent.id, error)
        return "partial" if delivered else "failed"
    return "sent"


# --- registration -------------------------------------------------------------------------


def register(application: Application) -> None:
    """Add /due, the item buttons, the next-date conversation and the push job."""
    application.add_handler(CommandHandler("due", due_command))
    application.add_handler(CallbackQueryHandler(contacted, pattern=CONTACTED.pattern))
    application.add_handler(CallbackQueryHandler(snooze_item, pattern=SNOOZE.pattern))
    application.add_handler(CallbackQueryHandler(show_all, pattern=SHOW_ALL.pattern))
    application.bot_data["flows"][NextFollowUpFlow.name] = NextFollowUpFlow()
    application.bot_data[_LOCK] = asyncio.Lock()

    if application.job_queue is not None:
        settings: Settings = application.bot_data["settings"]
        interval = settings.push_check_seconds
        application.job_queue.run_repeating(
            push_job,
            interval=interval,
            first=min(START_DELAY_SECONDS, interval),
            name=PUSH_JOB,
            # coalesce: after a stall, one catch-up run instead of a burst of them; a second
            # instance may start while a long run sends, and returns at once (see push_job).
            job_kwargs={
                "misfire_grace_time": MISFIRE_GRACE_SECONDS,
                "coalesce": True,
                "max_instances": 2,
            },
        )
