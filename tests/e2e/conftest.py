"""Fixtures for end-to-end tests: the fake Bot API server and the bot as a real process.

``botapi`` is a running :class:`~tests.e2e.botapi.FakeBotApi`. ``bot_process`` starts
``python -m bot run`` against it and returns a :class:`BotProcess` handle that can
kill the bot with SIGKILL, stop it with SIGTERM and start it again on the same
database. Each test gets its own database: an SQLite file in the test's temporary
folder, or, when ``DATABASE_URL`` names a PostgreSQL server, a fresh database on
that server, dropped after the test.

When a test fails, its report carries the bot's log and the Bot API calls it made.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .botapi import DEFAULT_TOKEN, FakeBotApi

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BOT_COMMAND = (sys.executable, "-m", "bot", "run")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
REPORTED_LOG_LINES = 300

_PROCESSES = pytest.StashKey[list["BotProcess"]]()
_BOTAPI = pytest.StashKey[FakeBotApi]()


class BotProcess:
    """The bot running as a child process, with its output captured to a file."""

    def __init__(
        self,
        argv: Iterable[str],
        env: Mapping[str, str],
        cwd: Path,
        log_path: Path,
        botapi: FakeBotApi,
    ) -> None:
        self.argv = list(argv)
        self.env = dict(env)
        self.cwd = cwd
        self.log_path = log_path
        self._botapi = botapi
        self._process: subprocess.Popen[bytes] | None = None
        self._starts = 0

    @property
    def running(self) -> bool:
        """Tells whether the process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def returncode(self) -> int | None:
        """Returns the exit code of the last run, None while it runs."""
        return None if self._process is None else self._process.poll()

    @property
    def pid(self) -> int:
        """Returns the process id of the current run."""
        if self._process is None:
            raise RuntimeError("the bot process has not been started")
        return self._process.pid

    def start(self, timeout: float = START_TIMEOUT) -> BotProcess:
        """Starts the process and waits until it has asked the server for updates."""
        if self.running:
            raise RuntimeError("the bot process is already running")
        self._starts += 1
        polls = self._botapi.poll_count
        with self.log_path.open("ab") as log:
            log.write(f"----- start #{self._starts}: {' '.join(self.argv)}\n".encode())
            log.flush()
            # The child keeps its own copy of the descriptor; ours closes with the block.
            self._process = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_until_polling(polls, timeout)

        return self

    def _wait_until_polling(self, polls: int, timeout: float) -> None:
        waited = 0.0
        while not self._botapi.wait_for_poll(polls, timeout=0.2):
            waited += 0.2
            if not self.running:
                raise AssertionError(
                    f"the bot exited with code {self.returncode} before polling:\n"
                    f"{self.output_tail()}"
                )
            if waited >= timeout:
                self._halt()
                raise AssertionError(
                    f"the bot did not call getUpdates within {timeout:g} s:\n{self.output_tail()}"
                )

    def kill9(self) -> None:
        """Kills the process with SIGKILL, as a crash or power cut would, and reaps it."""
        if self._process is None:
            return
        if self.running:
            self._process.send_signal(signal.SIGKILL)
        self._process.wait()

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """Sends SIGTERM, waits for a clean exit and returns the exit code."""
        if self._process is None:
            raise RuntimeError("the bot process has not been started")
        if self.running:
            self._process.send_signal(signal.SIGTERM)
        try:
            return self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._halt()
            raise AssertionError(
                f"the bot did not exit within {timeout:g} s of SIGTERM:\n{self.output_tail()}"
            ) from None

    def restart(self, timeout: float = START_TIMEOUT) -> BotProcess:
        """Stops the process if it runs, then starts it again with the same environment."""
        if self.running:
            self.stop()
        return self.start(timeout)

    def output(self) -> str:
        """Returns everything the process wrote to stdout and stderr, across restarts."""
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def output_tail(self, lines: int = REPORTED_LOG_LINES) -> str:
        """Returns the last lines of the output."""
        return "\n".join(self.output().splitlines()[-lines:])

    def close(self) -> None:
        """Stops the process however it takes; used at teardown."""
        if self._process is None or not self.running:
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            logger.warning("bot process %s ignored SIGTERM; killing it", self._process.pid)
            self._halt()

    def _halt(self) -> None:
        if self._process is not None and self.running:
            self._process.kill()
            self._process.wait()


class _TestDatabase:
    """One database per test, made on first use: SQLite by default, PostgreSQL on request."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._url: str | None = None
        self._postgres: tuple[str, str] | None = None

    def url(self) -> str:
        """Returns the test's database URL, creating the database the first time."""
        if self._url is None:
            configured = os.environ.get("DATABASE_URL", "")
            if configured.startswith("postgres"):
                self._url = self._create_postgres(configured)
            else:
                self._url = f"sqlite+aiosqlite:///{self._folder / 'bot.db'}"
        return self._url

    def _create_postgres(self, configured: str) -> str:
        from sqlalchemy.engine import make_url

        server = make_url(configured)
        name = f"e2e_{uuid.uuid4().hex[:16]}"
        _run_postgres(configured, f'CREATE DATABASE "{name}"')
        self._postgres = (configured, name)
        return server.set(drivername="postgresql+asyncpg", database=name).render_as_string(
            hide_password=False
        )

    def drop(self) -> None:
        """Drops the PostgreSQL database, if one was made; SQLite goes with tmp_path."""
        if self._postgres is not None:
            configured, name = self._postgres
            _run_postgres(configured, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            self._postgres = None


def _run_postgres(url: str, statement: str) -> None:
    """Runs one statement on the server's maintenance database, outside any event loop."""
    import asyncpg
    from sqlalchemy.engine import make_url

    server = make_url(url)

    async def execute() -> None:
        connection = await asyncpg.connect(
            host=server.host,
            port=server.port,
            user=server.username,
            password=server.password,
            database=server.database,
        )
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    # A thread of its own keeps asyncio.run away from the test's running event loop.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(lambda: asyncio.run(execute())).result()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attaches the bot's output and the Bot API calls to the report of a failed test."""
    report = yield
    if report.failed:
        for process in item.stash.get(_PROCESSES, []):
            report.sections.append(
                (f"bot output ({process.log_path.name}, last lines)", process.output_tail())
            )
        botapi = item.stash.get(_BOTAPI, None)
        if botapi is not None:
            calls = "\n".join(call.summary() for call in botapi.sent()[-60:])
            report.sections.append(("Bot API calls (last 60)", calls or "(none)"))
    return report


@pytest.fixture
def botapi(request: pytest.FixtureRequest) -> Iterator[FakeBotApi]:
    """Returns a running fake Bot API server, stopped after the test."""
    with FakeBotApi(token=DEFAULT_TOKEN) as api:
        request.node.stash[_BOTAPI] = api
        yield api


@pytest.fixture
def bot_process(
    botapi: FakeBotApi, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., BotProcess]]:
    """Returns a factory that starts the bot as a process against ``botapi``.

    ``bot_process(admin_ids=[1])`` runs ``python -m bot run``; ``argv=`` runs another
    command with the same environment, ``env=`` adds variables. Every process of one
    test shares that test's database.
    """
    database = _TestDatabase(tmp_path)
    processes: list[BotProcess] = []
    request.node.stash[_PROCESSES] = processes

    def start(
        admin_ids: Iterable[int] = (),
        *,
        argv: Iterable[str] = BOT_COMMAND,
        env: Mapping[str, str] | None = None,
        timeout: float = START_TIMEOUT,
    ) -> BotProcess:
        full_env = dict(os.environ)
        full_env.update(
            {
                "BOT_TOKEN": botapi.token,
                "BOT_API_BASE_URL": botapi.base_url,
                "DATABASE_URL": database.url(),
                "ADMIN_IDS": ",".join(str(admin) for admin in admin_ids),
                "LOG_LEVEL": "DEBUG",
                "PYTHONPATH": os.pathsep.join(
                    filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])
                ),
                "PYTHONUNBUFFERED": "1",
            }
        )
        full_env.update(env or {})
        log_path = tmp_path / f"bot-{len(processes) + 1}.log"
        # The process runs in the test's folder, so anything it writes there is cleaned up.
        process = BotProcess(argv, full_env, tmp_path, log_path, botapi)
        processes.append(process)

        return process.start(timeout)

    yield start

    for process in processes:
        process.close()
    database.drop()
