"""Running against Telegram: long polling by default, a webhook when WEBHOOK_URL is set."""

from __future__ import annotations

import logging

from bot.app import ALL_UPDATES, build_application
from bot.config import Settings

logger = logging.getLogger(__name__)


def run(settings: Settings) -> int:
    """Run the bot until it is stopped; return the exit code."""
    application = build_application(settings)
    if settings.webhook_url:
        logger.info("serving the webhook on %s:%s", settings.webhook_listen, settings.webhook_port)
        path = settings.webhook_url.split("://", 1)[1].partition("/")[2]
        application.run_webhook(
            listen=settings.webhook_listen,
            port=settings.webhook_port,
            url_path=path,
            webhook_url=settings.webhook_url,
            # Telegram sends this secret in a header; PTB rejects requests without it.
            secret_token=settings.webhook_secret,
            allowed_updates=ALL_UPDATES,
        )
    else:
        logger.info("polling Telegram for updates")
        application.run_polling(allowed_updates=ALL_UPDATES)
    return 0
