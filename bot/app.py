"""The application factory: one place that builds the bot, its handlers and its jobs.

Handler groups run in order and a handler may stop the ones after it:

- ``-2`` private chats only (groups get one sentence, then nothing);
- ``-1`` access: attaches the agent, admits admins and invitees, refuses strangers, and
  sends agents who are not set up yet into onboarding;
- ``0``  commands and feature buttons;
- ``1``  the active guided conversation takes typed text, contacts, files and its buttons;
- ``5``  feature fallbacks for messages no conversation claimed (a shared contact starts
  /add, a document starts an import);
- ``9``  anything left gets a hint to send /help.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from telegram import Update
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest

from bot import commands, flows
from bot.config import Settings
from bot.context import BotContext, Clock
from bot.handlers import FEATURES, start
from bot.i18n import LANGUAGES
from storage.db import Database
from storage.migrate import upgrade_async

logger = logging.getLogger(__name__)

BotApplication = Application[Any, BotContext, Any, Any, Any, Any]


def build_application(
    settings: Settings,
    *,
    request: BaseRequest | None = None,
    clock: Clock | None = None,
    migrate: bool = True,
) -> BotApplication:
    """Build the Application: handlers of every feature, jobs, and start-up/shut-down hooks.

    ``request`` replaces the network (the console and tests pass an offline one); ``clock``
    replaces the time source; ``migrate`` upgrades the database on start.
    """
    builder: ApplicationBuilder[Any, BotContext, Any, Any, Any, Any] = (
        ApplicationBuilder()
        .token(settings.bot_token or "0:offline")
        .context_types(ContextTypes(context=BotContext))
        .rate_limiter(AIORateLimiter(max_retries=3))
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
    )
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    if settings.bot_api_base_url:
        builder = builder.base_url(settings.bot_api_base_url)
        builder = builder.base_file_url(settings.bot_api_file_url or "")
    application: BotApplication = builder.build()

    application.bot_data.update(
        settings=settings, clock=clock or Clock(), flows={}, migrate=migrate
    )
    for feature in FEATURES:
        feature.register(application)

    # The active conversation sees every message and its own buttons before fallbacks do.
    application.add_handler(
        MessageHandler(~filters.COMMAND & ~filters.StatusUpdate.ALL, flows.route), group=1
    )
    application.add_handler(
        CallbackQueryHandler(flows.route, pattern=flows.FLOW_BUTTON.pattern), group=1
    )
    start.register_fallbacks(application)
    if application.job_queue is not None:
        application.job_queue.run_repeating(
            flows.pause_idle,
            interval=timedelta(minutes=1),
            first=timedelta(seconds=30),
            name="pause-idle-conversations",
            job_kwargs={"misfire_grace_time": 300},
        )
    return application


async def _post_init(application: BotApplication) -> None:
    """Open the database (upgrading it first) and publish the command menu."""
    settings: Settings = application.bot_data["settings"]
    if application.bot_data.get("migrate", True):
        await upgrade_async(settings.database_url)
    application.bot_data["db"] = Database(settings.database_url)

    names = commands.registered(application)
    await application.bot.set_my_commands(commands.menu(LANGUAGES[0], names))
    for lang in LANGUAGES:
        await application.bot.set_my_commands(commands.menu(lang, names), language_code=lang)
    logger.info("bot ready with %d commands", len(names))


async def _post_shutdown(application: BotApplication) -> None:
    """Close the database."""
    db: Database | None = application.bot_data.get("db")
    if db is not None:
        await db.close()


ALL_UPDATES = Update.ALL_TYPES
