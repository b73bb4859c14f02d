"""The entry point as a user meets it: missing settings, the console, the database command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(
    args: list[str], env: dict[str, str], stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("BOT_TOKEN", "DATABASE_URL")}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**clean, **env},
        timeout=120,
        check=False,
    )


def test_run_without_token_exits_2_with_one_sentence(tmp_path: Path) -> None:
    result = _run([], {"DATABASE_URL": f"sqlite:///{tmp_path}/bot.db"})

    assert result.returncode == 2
    assert result.stderr.startswith("error: BOT_TOKEN is not set")
    assert result.stderr.strip().count("\n") == 0
    assert "Traceback" not in result.stderr


def test_malformed_setting_exits_2_without_traceback(tmp_path: Path) -> None:
    result = _run(["console"], {"ADMIN_IDS": "me", "DATABASE_URL": f"sqlite:///{tmp_path}/b.db"})

    assert result.returncode == 2
    assert "ADMIN_IDS" in result.stderr and "Traceback" not in result.stderr


def test_console_shows_welcome_and_commands_then_exits(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/console.db"}

    result = _run(["console"], env, stdin="/start\n/help\n")

    assert result.returncode == 0, result.stderr
    assert "欢迎" in result.stdout
    assert "/help — 列出全部命令" in result.stdout
    assert "[1] 中文" in result.stdout


def test_console_presses_buttons_by_number_and_remembers_across_runs(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/console.db"}

    first = _run(["console"], env, stdin="/start\n2\n")
    second = _run(["console"], env, stdin="Mei\n")

    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert "What name should I sign" in first.stdout
    assert "All set, Mei!" in second.stdout


def test_db_upgrade_creates_the_database(tmp_path: Path) -> None:
    result = _run(["db", "upgrade"], {"DATABASE_URL": f"sqlite:///{tmp_path}/fresh.db"})

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "fresh.db").exists()
