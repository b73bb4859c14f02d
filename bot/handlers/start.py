"""Getting in and getting started: access, onboarding, /start, /help, /language, /cancel, /invite.

Also the two guards every update passes first (private chats only; agents only) and the
error handler. Strangers are refused with one sentence and nothing about them is stored.
"""

from __future__ import annotations

import logging
import re
from typing import Final

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import commands, flows
from bot.callbacks import Codec
from bot.context import BotContext
from bot.flows import END, Answer, Flow, Turn
from bot.i18n import LANGUAGES, normalise_language
from storage import agents as agent_store
from storage.conversations import get_conversation
from storage.models import Agent

logger = logging.getLogger(__name__)

SET_LANGUAGE = Codec("lang", code=str)
CONFIRM_CANCEL = Codec("kx", choice=str)
_START_TOKEN: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_NAME_LIMIT: Final = 20


# --- guards (handler groups -2 and -1) -------------------------------------------------


async def private_only(update: Update, context: BotContext) -> None:
    """Stop every update from a group; say once per group that the bot works in private chat."""
    chat = update.effective_chat
    if chat is None or chat.type == ChatType.PRIVATE:
        return
    told: set[int] = context.bot_data.setdefault("groups_told", set())
    if update.effective_message is not None and chat.id not in told:
        told.add(chat.id)
        user = update.effective_user
        context.fallback_language = normalise_language(user.language_code if user else None)
        await context.bot.send_message(chat.id, context.t("core.private_only"))
    raise ApplicationHandlerStop


def _start_token(update: Update) -> str | None:
    message = update.effective_message
    text = message.text if message is not None and message.text else ""
    command, _, argument = text.partition(" ")
    if command.split("@")[0] != "/start":
        return None
    argument = argument.strip()
    return argument if _START_TOKEN.match(argument) else None


async def require_agent(update: Update, context: BotContext) -> None:
    """Attach the asking agent to the context, admitting admins and invitees; refuse others."""
    user = update.effective_user
    if user is None:
        raise ApplicationHandlerStop
    context.fallback_language = normalise_language(user.language_code)

    async with context.db.session() as session:
        agent = await agent_store.get_by_telegram_id(session, user.id)
        if agent is not None and not agent.active:
            agent.active = True  # they wrote to us, so they unblocked the bot
        if agent is None:
            role, manager_id, refusal = None, None, "core.stranger"
            if user.id in context.settings.admin_ids:
                role = agent_store.ROLE_ADMIN
            elif (token := _start_token(update)) is not None:
                invite = await agent_store.redeem_invite(session, token, now=context.now())
                if invite is not None:
                    role, manager_id = agent_store.ROLE_AGENT, invite.team_manager_id
                else:
                    refusal = "core.invite_invalid"
            if role is None:
                logger.info("refused an update from a user who is not an agent")
                await _refuse(update, context, refusal)
                raise ApplicationHandlerStop
            agent = await agent_store.create_agent(
                session,
                user.id,
                language=context.fallback_language,
                timezone=context.settings.default_timezone,
                role=role,
                manager_id=manager_id,
                username=user.username,
            )
            logger.info("admitted agent %s as %s", agent.id, role)
        elif user.id in context.settings.admin_ids and agent.role != agent_store.ROLE_ADMIN:
            agent.role = agent_store.ROLE_ADMIN
        if user.username != agent.username:
            agent.username = user.username
    context.agent = agent

    if not agent.onboarded and not (
        _is_onboarding_input(update) and await _onboarding_started(update, context, agent)
    ):
        telegram_name = (user.first_name or "")[:_NAME_LIMIT]
        command = _command_of(update)
        if command[1:] in commands.ORDER and command != "/start":
            # Otherwise the command seems ignored: the same question simply comes back.
            await context.say(context.t("onboarding.finish_first", command=command))
        await flows.start(
            update, context, OnboardingFlow.name, data={"telegram_name": telegram_name}
        )
        raise ApplicationHandlerStop


# Commands that work before onboarding is finished; any other sends the agent back to it.
_BEFORE_ONBOARDING: Final = frozenset({"/help", "/language", "/cancel"})


async def _onboarding_started(update: Update, context: BotContext, agent: Agent) -> bool:
    """Tell whether typed text has an onboarding question to answer.

    A new agent's first words may be "你好" rather than /start: with no question asked yet,
    the text starts onboarding instead of falling through to "I don't understand".
    """
    message = update.effective_message
    if update.callback_query is not None or message is None:
        return True
    if (message.text or "").startswith("/"):
        return True
    async with context.db.session() as session:
        conv = await get_conversation(session, agent.id, OnboardingFlow.name)
    return conv is not None


def _command_of(update: Update) -> str:
    """Return the command a message starts with (``/add``), or an empty string."""
    message = update.effective_message
    text = message.text if message is not None and message.text else ""
    return text.split()[0].split("@")[0] if text.startswith("/") else ""


def _is_onboarding_input(update: Update) -> bool:
    """Tell whether the update answers onboarding, or is a command allowed before it ends."""
    if update.callback_query is not None:
        data = update.callback_query.data
        return flows.FLOW_BUTTON.matches(data) or SET_LANGUAGE.matches(data)
    message = update.effective_message
    text = message.text if message is not None and message.text else ""
    return not text.startswith("/") or text.split()[0].split("@")[0] in _BEFORE_ONBOARDING


async def _refuse(update: Update, context: BotContext, key: str) -> None:
    if update.callback_query is not None:
        await update.callback_query.answer(context.t(key), show_alert=True)
    elif update.effective_chat is not None:
        await context.bot.send_message(update.effective_chat.id, context.t(key))


_TYPED_LANGUAGES: Final = {
    "中文": "zh",
    "chinese": "zh",
    "zh": "zh",
    "汉语": "zh",
    "english": "en",
    "en": "en",
    "英文": "en",
    "英语": "en",
}


# --- onboarding --------------------------------------------------------------------------


class OnboardingFlow(Flow):
    """First contact: confirm the language, ask the name to sign with, then show the tour."""

    name = "onboard"
    first_step = "language"
    command = "start"

    async def ask_language(self, turn: Turn) -> None:
        """Ask to confirm the language guessed from Telegram."""
        turn.ask(
            turn.t("onboarding.ask_language"),
            [[turn.button(turn.t(f"core.lang_name_{code}"), code) for code in LANGUAGES]],
        )

    async def on_language(self, turn: Turn, answer: Answer) -> str:
        """Store the chosen language; typed text is read as a language name."""
        typed = (answer.text or "").strip().lower()
        choice = answer.choice if answer.choice in LANGUAGES else _TYPED_LANGUAGES.get(typed)
        if choice is None:
            return turn.retry("onboarding.bad_language")
        turn.agent.language = choice
        await turn.session.merge(turn.agent)
        return "name"

    async def ask_name(self, turn: Turn) -> None:
        """Ask the name that signs talk tracks, offering the Telegram first name."""
        first = turn.data.get("telegram_name")
        buttons = [[turn.button(turn.t("onboarding.use_telegram_name", name=first), "tg")]]
        turn.ask(turn.t("onboarding.ask_name"), buttons if first else None)

    async def on_name(self, turn: Turn, answer: Answer) -> str:
        """Store the agent's name and finish with the welcome tour."""
        name = turn.data.get("telegram_name") if answer.choice == "tg" else answer.text
        name = (name or "").strip()
        if not (0 < len(name) <= _NAME_LIMIT) or not any(ch.isalnum() for ch in name):
            return turn.retry("onboarding.bad_name")
        turn.agent.name = name
        turn.agent.onboarded = True
        await turn.session.merge(turn.agent)
        turn.send(turn.t("core.ready", name=name))
        return END

    async def begin(self, turn: Turn, argument: str) -> str:
        """Introduce the bot before the first question."""
        turn.send(turn.t("core.welcome"))
        return self.first_step


# --- commands ----------------------------------------------------------------------------


async def start_command(update: Update, context: BotContext) -> None:
    """Greet an agent who is already set up (new agents are sent to onboarding first)."""
    agent = context.require_agent()
    await context.say(context.t("core.welcome_back", name=agent.name or ""))


async def help_command(update: Update, context: BotContext) -> None:
    """List every command with one line each."""
    await context.say(commands.help_text(context.lang, commands.registered(context.application)))


async def language_command(update: Update, context: BotContext) -> None:
    """Offer the languages as buttons."""
    buttons = [
        [
            (context.t(f"core.lang_name_{code}"), SET_LANGUAGE.build(code=code))
            for code in LANGUAGES
        ]
    ]
    await context.say(context.t("core.choose_language"), buttons)


async def set_language(update: Update, context: BotContext) -> None:
    """Switch the agent's language to the pressed one."""
    query = update.callback_query
    assert query is not None
    code = SET_LANGUAGE.parse(query.data)["code"]
    await query.answer()
    if code not in LANGUAGES:
        return
    agent = context.require_agent()
    async with context.db.session() as session:
        agent.language = code
        await session.merge(agent)
    await context.say(context.t("core.language_set"))
    # A conversation in progress goes on in the new language, from its current question.
    await flows.reask(context)


async def cancel_command(update: Update, context: BotContext) -> None:
    """End whatever guided conversation is open; ask first when its draft holds unsaved names."""
    pending = await flows.unsaved(context)
    if pending is not None and pending[1] > 0:
        flow, count = pending
        command = context.flows[flow].command
        buttons = [
            [
                (context.t("core.cancel_drop"), CONFIRM_CANCEL.build(choice="drop")),
                (context.t("core.cancel_keep"), CONFIRM_CANCEL.build(choice="keep")),
            ]
        ]
        await context.say(context.t("core.cancel_confirm", count=count, command=command), buttons)
        return
    cancelled = await flows.cancel(context)
    await context.say(context.t("core.cancelled" if cancelled else "core.nothing_to_cancel"))


async def confirm_cancel(update: Update, context: BotContext) -> None:
    """Discard the draft after all, or keep it, as the agent pressed."""
    query = update.callback_query
    assert query is not None
    await query.answer()
    choice = CONFIRM_CANCEL.parse(query.data)["choice"]
    if choice == "drop":
        cancelled = await flows.cancel(context)
        await context.say(context.t("core.cancelled" if cancelled else "core.nothing_to_cancel"))
    else:
        await context.say(context.t("core.cancel_kept"))
        # The question now sits above the /cancel exchange; ask it again where it is seen.
        await flows.reask(context)


async def invite_command(update: Update, context: BotContext) -> None:
    """Give an admin or manager a single-use deep link that lets one new agent in."""
    agent = context.require_agent()
    if agent.role not in (agent_store.ROLE_ADMIN, agent_store.ROLE_MANAGER):
        await context.say(context.t("core.no_permission"))
        return
    days = context.settings.invite_days
    async with context.db.session() as session:
        token = await agent_store.create_invite(session, agent, now=context.now(), days=days)
    link = f"https://t.me/{context.bot.username}?start={token}"
    await context.say(context.t("core.invite_link", link=link, days=days))


async def unknown_text(update: Update, context: BotContext) -> None:
    """Answer a message that no conversation or command claimed."""
    await context.say(context.t("core.unknown_text"))


async def unknown_command(update: Update, context: BotContext) -> None:
    """Answer a command the bot does not have."""
    message = update.effective_message
    command = (message.text or "").split()[0] if message is not None else "/"
    await context.say(context.t("core.unknown_command", command=command))


async def error_handler(update: object, context: BotContext) -> None:
    """Log the failure with what caused it (ids only, never contents) and tell the user."""
    kind, user_id = "none", None
    if isinstance(update, Update):
        kind = "callback" if update.callback_query else "message" if update.message else "other"
        user_id = update.effective_user.id if update.effective_user else None
    logger.error(
        "update %s (%s from user %s) failed",
        getattr(update, "update_id", None),
        kind,
        user_id,
        exc_info=context.error,
    )
    if isinstance(update, Update) and update.effective_chat is not None:
        try:
            await context.bot.send_message(update.effective_chat.id, context.t("core.error"))
        except Exception:
            logger.warning("could not tell user %s about the failure", user_id)


def register_fallbacks(application: Application) -> None:
    """Add the last-resort answers; call after every feature registered its commands."""
    known = "|".join(re.escape(name) for name in commands.registered(application))
    unknown = filters.COMMAND & ~filters.Regex(rf"^/({known})(@\w+)?(\s|$)")
    application.add_handler(MessageHandler(unknown, unknown_command), group=9)
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, unknown_text), group=9)


def register(application: Application) -> None:
    """Add this module's guards, commands and flow to the application."""
    application.add_handler(TypeHandler(Update, private_only), group=-2)
    application.add_handler(TypeHandler(Update, require_agent), group=-1)
    application.bot_data["flows"][OnboardingFlow.name] = OnboardingFlow()
    application.add_handler(CommandHandler("start", start_command))
    application.add_handler(CommandHandler("help", help_command))
    application.add_handler(CommandHandler("language", language_command))
    application.add_handler(CommandHandler("cancel", cancel_command))
    application.add_handler(CommandHandler("invite", invite_command))
    application.add_handler(CallbackQueryHandler(set_language, pattern=SET_LANGUAGE.pattern))
    application.add_handler(CallbackQueryHandler(confirm_cancel, pattern=CONFIRM_CANCEL.pattern))
    application.add_error_handler(error_handler)
