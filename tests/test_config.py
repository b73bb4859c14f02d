"""Settings from the environment: defaults, and one clear sentence for each bad value."""

from __future__ import annotations

import pytest

from bot.config import DEFAULT_DATABASE_URL, ConfigError, load_settings

TOKEN = "123456:ABCdefGHIjkl"


def test_defaults_need_only_a_token() -> None:
    settings = load_settings({"BOT_TOKEN": TOKEN})

    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.default_timezone == "Asia/Shanghai"
    assert settings.admin_ids == frozenset()
    assert settings.webhook_url is None


def test_values_are_read_and_plain_urls_get_async_drivers() -> None:
    settings = load_settings(
        {
            "BOT_TOKEN": TOKEN,
            "DATABASE_URL": "postgresql://bot:pw@127.0.0.1/bot",
            "ADMIN_IDS": "12, 34;56",
            "BOT_API_BASE_URL": "http://127.0.0.1:8081/bot",
            "LOG_LEVEL": "debug",
            "DEFAULT_TIMEZONE": "Asia/Hong_Kong",
            "PUSH_CHECK_SECONDS": "2",
        }
    )

    assert settings.push_check_seconds == 2
    assert settings.database_url == "postgresql+asyncpg://bot:pw@127.0.0.1/bot"
    assert settings.admin_ids == frozenset({12, 34, 56})
    assert settings.bot_api_file_url == "http://127.0.0.1:8081/file/bot"
    assert settings.log_level == "DEBUG"
    assert settings.default_timezone == "Asia/Hong_Kong"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "BOT_TOKEN"),
        ({"BOT_TOKEN": "not-a-token"}, "BOT_TOKEN"),
        ({"BOT_TOKEN": TOKEN, "ADMIN_IDS": "12,abc"}, "ADMIN_IDS"),
        ({"BOT_TOKEN": TOKEN, "DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"BOT_TOKEN": TOKEN, "DEFAULT_TIMEZONE": "Mars/Base"}, "DEFAULT_TIMEZONE"),
        ({"BOT_TOKEN": TOKEN, "LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"BOT_TOKEN": TOKEN, "BOT_API_BASE_URL": "127.0.0.1:8081"}, "BOT_API_BASE_URL"),
        ({"BOT_TOKEN": TOKEN, "WEBHOOK_URL": "http://bot.example.com"}, "WEBHOOK_URL"),
        ({"BOT_TOKEN": TOKEN, "WEBHOOK_URL": "https://bot.example.com/hook"}, "WEBHOOK_SECRET"),
        ({"BOT_TOKEN": TOKEN, "INVITE_DAYS": "-1"}, "INVITE_DAYS"),
        ({"BOT_TOKEN": TOKEN, "PUSH_CHECK_SECONDS": "soon"}, "PUSH_CHECK_SECONDS"),
        ({"BOT_TOKEN": TOKEN, "PUSH_CHECK_SECONDS": "7200"}, "PUSH_CHECK_SECONDS"),
    ],
)
def test_a_bad_value_is_named_in_one_sentence(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(env)

    message = str(raised.value)
    assert message.startswith(named)
    assert message.count("\n") == 0


def test_token_is_optional_for_the_console() -> None:
    assert load_settings({}, need_token=False).bot_token is None
