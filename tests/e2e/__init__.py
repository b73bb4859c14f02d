"""End-to-end tests: the bot runs as a real process against a fake Telegram Bot API server."""
