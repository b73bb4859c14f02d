"""Webhook mode, against the bot as a real process: the secret token header is enforced."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from .botapi import FakeBotApi

ROOT = Path(__file__).resolve().parents[2]
ADMIN = 8201
SECRET = "webhook-secret-0123456789"
WAIT = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def webhook_bot(botapi: FakeBotApi, tmp_path: Path) -> Iterator[int]:
    """Run ``python -m bot`` in webhook mode; return the local port it listens on."""
    port = _free_port()
    env = {
        **os.environ,
        "BOT_TOKEN": botapi.token,
        "BOT_API_BASE_URL": botapi.base_url,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/webhook.db",
        "ADMIN_IDS": str(ADMIN),
        "WEBHOOK_URL": "https://bot.example.invalid/telegram",
        "WEBHOOK_SECRET": SECRET,
        "WEBHOOK_LISTEN": "127.0.0.1",
        "WEBHOOK_PORT": str(port),
    }
    log = (tmp_path / "bot.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        botapi.wait_for(lambda call: call.method == "setWebhook", WAIT)
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _post(port: int, update: dict[str, object], secret: str | None) -> int:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/telegram", json.dumps(update).encode(), headers
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_webhook_registers_the_secret_and_refuses_requests_without_it(
    botapi: FakeBotApi, webhook_bot: int
) -> None:
    registered = botapi.wait_for(lambda call: call.method == "setWebhook", WAIT)
    assert registered.params.get("secret_token") == SECRET
    assert registered.params.get("url") == "https://bot.example.invalid/telegram"

    botapi.send_text(ADMIN, "/start")
    update = botapi.pending_updates()[-1]

    assert _post(webhook_bot, update, None) == 403
    assert _post(webhook_bot, update, "wrong-secret-0123456789") == 403
    assert not any(call.method == "sendMessage" for call in botapi.sent(ADMIN))

    assert _post(webhook_bot, update, SECRET) == 200
    botapi.wait_for_text(ADMIN, "先确认一下语言", WAIT)
