"""Guided conversations whose every step is saved in the database before it is asked.

A :class:`Flow` is a named series of steps. For a step ``name`` the flow defines
``ask_name(turn)`` (send the prompt) and ``on_name(turn, answer)`` (read the reply and
return the next step, :data:`RETRY` or :data:`END`). The engine here stores the step,
the answers so far and the way back in the ``conversations`` table and commits *before*
the next prompt goes out, so a ``kill -9`` at any moment resumes at the step the agent
last saw, with every answer given so far.

Rules the engine keeps for every flow:
- one conversation is active per agent; starting another pauses it (its draft is kept);
- *back* (button or typed) undoes the last answer, restoring the answers as they were;
- bad input: ``on_*`` sends one sentence through :meth:`Turn.retry`, the step is asked again;
- an update Telegram delivers twice (after a crash) is applied once;
- after :data:`IDLE_MINUTES` of silence the conversation is paused with a note on how to
  resume; starting the same flow again resumes it.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar, Final

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import ApplicationHandlerStop

from bot.callbacks import CallbackError, Codec
from bot.context import BotContext, Buttons
from storage import conversations as store
from storage.models import Agent, Conversation

logger = logging.getLogger(__name__)

IDLE_MINUTES: Final = 30
MAX_HISTORY: Final = 60

# Step results beside the name of the next step.
RETRY: Final = "__retry__"
END: Final = "__end__"

# ``f:<flow>:<step>:<value>`` — the step is part of the data so that a button left on an
# older prompt cannot answer the current one.
FLOW_BUTTON = Codec("f", flow=str, step=str, value=str)
BACK_VALUE: Final = "__back"
BACK_WORDS: Final = frozenset({"back", "返回", "上一步", "<", "«"})
# What people type to answer a yes/no question ("是同一个人吗？") instead of pressing.
YES_WORDS: Final = frozenset({"是", "是的", "对", "对的", "yes", "y"})
NO_WORDS: Final = frozenset({"不是", "否", "不", "不对", "no", "n"})


def yes_or_no(text: str | None) -> bool | None:
    """Return True for a typed yes, False for a typed no, None for anything else."""
    word = (text or "").strip().strip("。.!！").casefold()
    if word in YES_WORDS:
        return True
    if word in NO_WORDS:
        return False
    return None


@dataclass
class Answer:
    """What the agent gave at a step: typed text, a pressed button, a contact or a file."""

    text: str | None = None
    choice: str | None = None
    contact_name: str | None = None
    contact_phone: str | None = None
    document: Any = None


@dataclass
class Turn:
    """One step's worth of work: the agent, the answers so far, and the messages to send."""

    context: BotContext
    agent: Agent
    flow: Flow
    session: AsyncSession
    data: dict[str, Any]
    step: str
    can_go_back: bool = False
    outbox: list[tuple[str, Buttons | None]] = field(default_factory=list)

    @classmethod
    def resuming(
        cls,
        context: BotContext,
        agent: Agent,
        flow: Flow,
        session: AsyncSession,
        conv: Conversation,
    ) -> Turn:
        """Return a turn at the saved conversation's step, on a copy of its answers."""
        return cls(
            context,
            agent,
            flow,
            session,
            copy.deepcopy(conv.data),
            conv.step,
            can_go_back=bool(conv.history),
        )

    @property
    def lang(self) -> str:
        """Return the agent's language."""
        return self.agent.language

    def t(self, key: str, /, **values: object) -> str:
        """Render a catalog message in the agent's language."""
        return self.context.t(key, **values)

    def button(self, label: str, value: str, *, step: str | None = None) -> tuple[str, str]:
        """Return a button that answers this flow's step (the current one by default)."""
        return label, FLOW_BUTTON.build(flow=self.flow.name, step=step or self.step, value=value)

    def send(self, text: str, buttons: Buttons | None = None) -> None:
        """Queue a message; it goes out once the step's answers are committed."""
        self.outbox.append((text, buttons))

    def ask(self, text: str, buttons: Buttons | None = None) -> None:
        """Queue a step's prompt, adding the *back* button when there is a step to go back to."""
        rows = [list(row) for row in buttons or ()]
        if self.can_go_back:
            rows.append([self.button(self.t("flows.back"), BACK_VALUE)])
        self.send(text, rows or None)

    def retry(self, key: str, /, **values: object) -> str:
        """Queue one sentence on what was wrong; the engine then asks the same step again."""
        self.send(self.t(key, **values))
        return RETRY

    async def flush(self) -> None:
        """Send the queued messages in order."""
        outbox, self.outbox = self.outbox, []
        for text, buttons in outbox:
            await self.context.say(text, buttons)


StepAsk = Callable[[Turn], Awaitable[None]]
StepAnswer = Callable[[Turn, Answer], Awaitable[str]]


class Flow:
    """A guided conversation; subclasses define ``ask_<step>`` and ``on_<step>`` methods."""

    name: ClassVar[str]
    first_step: ClassVar[str]
    # The command that starts (and resumes) the flow, for the "how to resume" note.
    command: ClassVar[str]
    # Whether typed text that matches a button label counts as pressing it. That rebuilds
    # the step's prompt to read its buttons, so a flow whose prompt acts must opt out.
    answers_by_label: ClassVar[bool] = True

    async def begin(self, turn: Turn, argument: str) -> str:
        """Prepare a new conversation (``argument`` is text after the command); return its step."""
        return self.first_step

    def unsaved(self, data: dict[str, Any]) -> int:
        """Return how many typed entries (names …) the draft holds that are not saved yet.

        /cancel asks before discarding a draft for which this is above zero.
        """
        return 0

    async def on_idle(self, turn: Turn) -> None:
        """Queue what to say when the conversation is paused for silence."""
        turn.send(turn.t("flows.paused_idle", command=self.command))

    def asker(self, step: str) -> StepAsk:
        """Return the prompt method of ``step``."""
        method: StepAsk = getattr(self, f"ask_{step}")
        return method

    def answerer(self, step: str) -> StepAnswer:
        """Return the answer method of ``step``."""
        method: StepAnswer = getattr(self, f"on_{step}")
        return method


def _history_entry(step: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"step": step, "data": copy.deepcopy(data)}


async def _ask(context: BotContext, agent: Agent, flow: Flow, conv: Conversation) -> None:
    """Send the prompt of the conversation's current step (its state is already committed)."""
    async with context.db.session() as session:
        turn = Turn.resuming(context, agent, flow, session, conv)
        await flow.asker(conv.step)(turn)
    await turn.flush()


async def start(
    update: Update,
    context: BotContext,
    flow_name: str,
    argument: str = "",
    *,
    data: dict[str, Any] | None = None,
    fresh: bool = False,
) -> None:
    """Start the flow ``flow_name`` for the asking agent, or resume its kept draft.

    ``argument`` is the text typed after the command; ``data`` seeds a new draft's answers;
    ``fresh`` discards a kept draft instead of resuming it.
    """
    agent = context.require_agent()
    flow = context.flows[flow_name]
    notes: list[str] = []

    async with context.db.session() as session:
        for other in await store.active_conversations(session, agent.id):
            if other.flow != flow_name:
                other.active = False
                notes.append(
                    context.t("flows.paused_other", command=context.flows[other.flow].command)
                )
        conv = await store.get_conversation(session, agent.id, flow_name)
        if conv is not None and not fresh:
            if not conv.active:
                notes.append(context.t("flows.resumed", command=flow.command))
            if argument.strip():
                # Said out loud: what was typed after the command is not used by the draft.
                notes.append(
                    context.t(
                        "flows.argument_ignored", command=flow.command, text=argument.strip()[:30]
                    )
                )
            conv.active = True
            conv.updated_at = context.now()
            turn = None
        else:
            if conv is not None:
                await session.delete(conv)
                await session.flush()
            turn = Turn(context, agent, flow, session, dict(data or {}), flow.first_step)
            step = await flow.begin(turn, argument.strip())
            conv = Conversation(
                agent_id=agent.id,
                flow=flow_name,
                step=step,
                data=turn.data,
                history=[],
                active=True,
                updated_at=context.now(),
            )
            if step == END:
                conv = None
            else:
                session.add(conv)
        if update.update_id is not None and conv is not None:
            conv.last_update_id = update.update_id

    for note in notes:
        await context.say(note)
    if turn is not None:
        await turn.flush()
    if conv is not None:
        await _ask(context, agent, flow, conv)


async def unsaved(context: BotContext) -> tuple[str, int] | None:
    """Return the active conversation's flow and how many unsaved entries its draft holds."""
    agent = context.require_agent()
    async with context.db.session() as session:
        conv = await store.active_conversation(session, agent.id)
    if conv is None or conv.flow not in context.flows:
        return None
    return conv.flow, context.flows[conv.flow].unsaved(conv.data)


async def reask(context: BotContext) -> bool:
    """Send the active conversation's current question again; tell whether there was one."""
    agent = context.require_agent()
    async with context.db.session() as session:
        conv = await store.active_conversation(session, agent.id)
    if conv is None or conv.flow not in context.flows:
        return False
    await _ask(context, agent, context.flows[conv.flow], conv)
    return True


async def cancel(context: BotContext) -> str | None:
    """Discard the agent's active conversation; return its flow name, if there was one."""
    agent = context.require_agent()
    async with context.db.session() as session:
        active = await store.active_conversations(session, agent.id)
        for conv in active:
            await session.delete(conv)
    return active[0].flow if active else None


def _answer_from(update: Update, context: BotContext) -> tuple[Answer, dict[str, Any] | None]:
    """Read the answer out of an update; for a button, also its decoded callback data."""
    if update.callback_query is not None:
        parsed = FLOW_BUTTON.parse(update.callback_query.data)
        return Answer(choice=parsed["value"]), parsed
    message = update.effective_message
    if message is None:
        return Answer(), None
    if message.contact is not None:
        contact = message.contact
        name = " ".join(p for p in (contact.first_name, contact.last_name) if p)
        return Answer(contact_name=name, contact_phone=contact.phone_number), None
    if message.document is not None:
        return Answer(document=message.document, text=message.caption), None
    return Answer(text=(message.text or "").strip()), None


async def route(update: Update, context: BotContext) -> None:
    """Hand a message or flow button to the agent's active conversation, if any."""
    agent = context.agent
    if agent is None:
        return
    query = update.callback_query
    try:
        answer, pressed = _answer_from(update, context)
    except CallbackError:
        if query is not None:
            await query.answer(context.t("flows.stale_button"))
        raise ApplicationHandlerStop from None

    async with context.db.session() as session:
        conv = await store.active_conversation(session, agent.id)
        if pressed is not None and (
            conv is None or pressed["flow"] != conv.flow or pressed["step"] != conv.step
        ):
            conv = None
            stale = True
        else:
            stale = False
        if conv is None:
            if query is not None:
                await query.answer(context.t("flows.stale_button") if stale else None)
                raise ApplicationHandlerStop
            return  # no conversation open: later handler groups deal with the message
        if conv.last_update_id is not None and update.update_id <= conv.last_update_id:
            logger.info("skipping update %s already applied to %s", update.update_id, conv.flow)
            raise ApplicationHandlerStop

        flow = context.flows[conv.flow]
        turn = Turn.resuming(context, agent, flow, session, conv)
        if answer.text and answer.choice is None:
            answer.choice = await _typed_button(context, agent, flow, conv, answer.text)
            if answer.choice is not None:
                answer.text = None
        going_back = answer.choice == BACK_VALUE or (
            answer.text is not None and answer.text.lower() in BACK_WORDS
        )
        if going_back and conv.history:
            entry = conv.history[-1]
            conv.history = conv.history[:-1]
            conv.step, conv.data = entry["step"], entry["data"]
            result = conv.step
        elif going_back:
            result = RETRY
        else:
            result = await flow.answerer(conv.step)(turn, answer)
            if result not in (RETRY, END):
                history = [*conv.history, _history_entry(conv.step, conv.data)]
                conv.history = history[-MAX_HISTORY:]
                conv.step = result
                conv.data = turn.data
        conv.last_update_id = update.update_id
        conv.updated_at = context.now()
        if result == END:
            await session.delete(conv)

    # Committed: now it is safe to speak.
    if query is not None:
        await query.answer()
        await _drop_keyboard(update)
    await turn.flush()
    if result != END:
        await _ask(context, agent, flow, conv)
    raise ApplicationHandlerStop


def _label_key(label: str) -> str:
    """Reduce a button label to its words, so typed "跳过" matches "⏭ 跳过"."""
    return "".join(ch for ch in label.casefold() if ch.isalnum())


# What splits a label into parts a person may type alone: "微信/QQ", "没有了，下一步 ➡".
_LABEL_SEPARATORS: Final = re.compile(r"[^\w\s']+")


def _label_parts(label: str) -> set[str]:
    """Return the keys of a label's parts between punctuation, leaving out bare numbers.

    A bare number is left out because a typed number is a date, an amount or a count more
    often than the first word of a numbered button.
    """
    keys = {_label_key(part) for part in _LABEL_SEPARATORS.split(label)}
    return {key for key in keys if key and not key.isdigit()}


async def _typed_button(
    context: BotContext, agent: Agent, flow: Flow, conv: Conversation, text: str
) -> str | None:
    """Return the value of the current prompt's button whose label the agent typed, if any.

    People type what a button says ("跳过", "skip", "电话") as often as they press it. The
    prompt is rebuilt in a throw-away session to read its buttons; nothing is sent.
    """
    typed = _label_key(text)
    if not typed or not flow.answers_by_label:
        return None
    async with context.db.sessionmaker() as session:
        turn = Turn.resuming(context, agent, flow, session, conv)
        await flow.asker(conv.step)(turn)
        await session.rollback()
    prefix = f"{FLOW_BUTTON.prefix}:{flow.name}:{conv.step}:"
    labels = [
        (label, data.removeprefix(prefix))
        for _, buttons in turn.outbox
        for row in buttons or ()
        for label, data in row
        if data.startswith(prefix)
    ]
    for label, value in labels:
        if _label_key(label) == typed:
            return value
    # Typing one part of a label ("微信" for "微信/QQ") counts when no other button has it.
    partly = {value for label, value in labels if typed in _label_parts(label)}
    return partly.pop() if len(partly) == 1 else None


async def _drop_keyboard(update: Update) -> None:
    """Remove the buttons of an answered prompt so an old step cannot be pressed twice."""
    message = update.effective_message
    if message is None or message.reply_markup is None:
        return
    try:
        await message.edit_reply_markup(reply_markup=None)
    except Exception:
        logger.debug("could not remove the keyboard of message %s", message.message_id)


async def pause_idle(context: BotContext) -> None:
    """Pause conversations silent for :data:`IDLE_MINUTES`, telling each agent how to resume."""
    cutoff = context.now() - timedelta(minutes=IDLE_MINUTES)
    async with context.db.session() as session:
        idle = await store.idle_conversations(session, cutoff)
        for conv in idle:
            conv.active = False
    for conv in idle:
        flow = context.flows.get(conv.flow)
        if flow is None:
            continue
        async with context.db.session() as session:
            agent = await session.get(Agent, conv.agent_id)
            if agent is None or not agent.active:
                continue
            context.agent = agent
            turn = Turn(context, agent, flow, session, conv.data, conv.step)
            await flow.on_idle(turn)
        for text, buttons in turn.outbox:
            await context.say(text, buttons, chat_id=agent.telegram_id)
    context.agent = None
