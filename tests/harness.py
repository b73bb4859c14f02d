"""Driving the real Application in process: real Update objects in, recorded API calls out.

``Harness`` wraps an application built by :func:`bot.app.build_application` on top of
:class:`bot.offline.OfflineRequest`. A test sends text, presses buttons, shares contacts and
sends documents as a Telegram user would, then reads what the bot sent and what it stored.
The module functions below seed and read the database and write the spreadsheet files the
importer reads; the tests of the storage layer use them too.
"""

from __future__ import annotations

import csv
import io
import itertools
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import openpyxl
from sqlalchemy import ColumnElement, func, inspect, select
from telegram import (
    CallbackQuery,
    Chat,
    Contact,
    Document,
    Message,
    MessageEntity,
    Update,
    User,
)

from bot.app import BotApplication, build_application
from bot.config import Settings
from bot.context import Clock
from bot.offline import BOT_ID, FAKE_TOKEN, ApiCall, OfflineRequest
from storage.clients import create_client
from storage.db import Database
from storage.models import Agent, Base

ADMIN_ID = 900001

# The columns of the bank's maturity policy detail table, in the order banks export them.
MATURITY_HEADER_ZH = (
    "序号",
    "代理银行",
    "保单号码",
    "险种",
    "保费",
    "保额",
    "生效日",
    "满期日",
    "投保人",
    "被保险人",
    "家庭住址",
    "家庭电话",
    "手机",
    "办公电话",
)
# The name bot.app gives the job that pauses silent conversations; tests run it by hand
# rather than wait for the scheduler.
IDLE_JOB = "pause-idle-conversations"

ModelT = TypeVar("ModelT", bound=Base)


class FakeClock(Clock):
    """A clock that stands still until the test moves it."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    def set(self, moment: datetime) -> None:
        self.current = moment

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


@dataclass(frozen=True)
class TgUser:
    """A Telegram user the test plays."""

    id: int
    first_name: str = "测试"
    language_code: str = "zh-hans"
    username: str | None = None

    def telegram(self) -> User:
        return User(
            self.id,
            self.first_name,
            False,
            language_code=self.language_code,
            username=self.username,
        )


class Harness:
    """The real Application, fed with Updates and answering through an offline request."""

    def __init__(self, application: BotApplication, request: OfflineRequest, clock: FakeClock):
        self.app = application
        self.request = request
        self.clock = clock
        # Ids only grow, across harnesses on the same database too, as Telegram's do.
        self._ids = itertools.count(time.time_ns() // 1000)

    @property
    def db(self) -> Database:
        db: Database = self.app.bot_data["db"]
        return db

    def next_id(self) -> int:
        """Return a fresh update/message id, larger than every one used before."""
        return next(self._ids)

    # --- sending as a user -------------------------------------------------------------

    async def _process(self, update: Update) -> list[ApiCall]:
        before = len(self.request.calls)
        await self.app.process_update(update)
        return self.request.calls[before:]

    def _message(self, user: TgUser, chat: Chat | None = None, **fields: Any) -> Message:
        chat = chat or Chat(user.id, Chat.PRIVATE)
        message = Message(
            next(self._ids), self.clock.now(), chat, from_user=user.telegram(), **fields
        )
        message.set_bot(self.app.bot)
        return message

    async def send(self, user: TgUser, text: str, *, chat: Chat | None = None) -> list[ApiCall]:
        """Send ``text`` as ``user`` (commands get their entity, as Telegram adds it)."""
        entities = []
        if text.startswith("/"):
            entities = [MessageEntity(MessageEntity.BOT_COMMAND, 0, len(text.split()[0]))]
        message = self._message(user, chat, text=text, entities=entities)
        return await self._process(Update(next(self._ids), message=message))

    async def share_contact(self, user: TgUser, name: str, phone: str) -> list[ApiCall]:
        """Share a phone contact as ``user``."""
        message = self._message(user, contact=Contact(phone, name))
        return await self._process(Update(next(self._ids), message=message))

    async def send_document(
        self, user: TgUser, filename: str, content: bytes, *, caption: str | None = None
    ) -> list[ApiCall]:
        """Send a file as ``user``; the bot can download it through getFile."""
        file_id = self.request.add_file(content)
        document = Document(file_id, file_id, file_name=filename, file_size=len(content))
        message = self._message(user, document=document, caption=caption)
        return await self._process(Update(next(self._ids), message=message))

    async def press_data(
        self, user: TgUser, data: str, *, message_id: int = 1, text: str = ""
    ) -> list[ApiCall]:
        """Press a button with exactly this callback data (also for forged data)."""
        original = Message(
            message_id,
            self.clock.now(),
            Chat(user.id, Chat.PRIVATE),
            from_user=User(BOT_ID, "bot", True),
            text=text,
        )
        original.set_bot(self.app.bot)
        query = CallbackQuery(
            str(next(self._ids)), user.telegram(), "instance", message=original, data=data
        )
        query.set_bot(self.app.bot)
        return await self._process(Update(next(self._ids), callback_query=query))

    async def press(self, user: TgUser, label: str) -> list[ApiCall]:
        """Press the button whose label contains ``label`` on the latest message that has it."""
        for call in reversed(self.request.sent(chat_id=user.id)):
            for button_label, data in call.buttons:
                if label in button_label:
                    return await self.press_data(user, data, message_id=call.message_id or 1)
        raise AssertionError(f"no button labelled {label!r}; last buttons: {self.buttons(user)}")

    # --- reading what the bot sent -----------------------------------------------------

    def texts(self, user: TgUser) -> list[str]:
        """Return every text the bot sent to ``user``, oldest first."""
        return [c.text for c in self.request.sent(chat_id=user.id) if c.text]

    def last_text(self, user: TgUser) -> str:
        """Return the latest text the bot sent to ``user``."""
        texts = self.texts(user)
        assert texts, f"the bot sent nothing to {user.id}"
        return texts[-1]

    def buttons(self, user: TgUser) -> list[str]:
        """Return the labels of the latest message to ``user`` that has buttons."""
        for call in reversed(self.request.sent(chat_id=user.id)):
            if call.buttons and call.method != "editMessageReplyMarkup":
                return [label for label, _ in call.buttons]
        return []

    def previous_text(self, user: TgUser) -> str:
        """Return the text the bot sent to ``user`` just before the latest one."""
        texts = self.texts(user)
        assert len(texts) >= 2, f"the bot sent {len(texts)} text(s) to {user.id}"
        return texts[-2]

    def assert_retried(self, user: TgUser, error: str, prompt: str) -> None:
        """Assert the bot named the problem, then asked the same step again."""
        texts = self.texts(user)
        assert error in texts[-2], texts[-2]
        assert prompt in texts[-1], texts[-1]

    # --- reading what the bot stored -------------------------------------------------

    async def rows(
        self, model: type[ModelT], *where: ColumnElement[bool], order_by: Any = None
    ) -> list[ModelT]:
        """Return the stored rows of ``model`` matching ``where``, oldest first."""
        return await fetch_rows(self.db, model, *where, order_by=order_by)

    async def first(self, model: type[ModelT], *where: ColumnElement[bool]) -> ModelT | None:
        """Return the oldest stored row of ``model`` matching ``where``, if any."""
        found = await fetch_rows(self.db, model, *where)
        return found[0] if found else None

    async def count(self, model: type[Base], *where: ColumnElement[bool]) -> int:
        """Return how many rows of ``model`` match ``where``."""
        return await count_rows(self.db, model, *where)

    async def get(self, model: type[ModelT], row_id: int | None) -> ModelT | None:
        """Return the row of ``model`` with this id, or None when there is none."""
        async with self.db.session() as session:
            return await session.get(model, row_id)

    async def row(self, model: type[ModelT], row_id: int | None) -> ModelT:
        """Return the row of ``model`` with this id, which must exist."""
        found = await self.get(model, row_id)
        assert found is not None, f"no {model.__name__} with id {row_id}"
        return found

    async def find_agent(self, user: TgUser) -> Agent | None:
        """Return the stored agent of ``user``, or None when they have none."""
        return await self.first(Agent, Agent.telegram_id == user.id)

    async def stored_agent(self, user: TgUser) -> Agent:
        """Return the stored agent of ``user``, which must exist."""
        agent = await self.find_agent(user)
        assert agent is not None, f"user {user.id} has no agent"
        return agent

    async def agent_id(self, user: TgUser) -> int:
        """Return the id of the stored agent of ``user``."""
        return (await self.stored_agent(user)).id

    # --- setting up ------------------------------------------------------------------

    async def make_agent(
        self, user: TgUser, *, lang: str = "zh", name: str = "王芳", **fields: Any
    ) -> Agent:
        """Store an onboarded agent for ``user`` directly, skipping the onboarding chat."""
        async with self.db.session() as session:
            agent = Agent(
                telegram_id=user.id,
                language=lang,
                name=name,
                onboarded=True,
                timezone=fields.pop("timezone", "Asia/Shanghai"),
                **fields,
            )
            session.add(agent)
        return agent

    async def seed_client(self, owner: TgUser | Agent, name: str, **fields: Any) -> int:
        """Store a client in the book of ``owner`` (a user or their agent); return its id."""
        agent_id = owner.id if isinstance(owner, Agent) else await self.agent_id(owner)
        return await add_client(self.db, agent_id, name, **fields)

    # --- running jobs and second processes -------------------------------------------

    async def run_job(self, name: str) -> None:
        """Run the scheduled job called ``name`` once, now."""
        assert self.app.job_queue is not None
        await self.app.job_queue.get_jobs_by_name(name)[0].run(self.app)

    async def let_idle(self, minutes: float = 31) -> None:
        """Let ``minutes`` (just past the 30-minute limit) pass, then run the idle-pause job."""
        self.clock.advance(minutes=minutes)
        await self.run_job(IDLE_JOB)

    @asynccontextmanager
    async def second_process(self) -> AsyncIterator[Harness]:
        """Start another application on the same database and clock, as after a restart."""
        settings: Settings = self.app.bot_data["settings"]
        other = await start_harness(settings.database_url, clock=self.clock, settings=settings)
        try:
            yield other
        finally:
            await stop_harness(other)


def default_settings(database_url: str) -> Settings:
    """Return the settings the tests run with (one admin, the given database)."""
    return Settings(
        bot_token=FAKE_TOKEN, database_url=database_url, admin_ids=frozenset({ADMIN_ID})
    )


async def start_harness(
    database_url: str, *, clock: FakeClock | None = None, settings: Settings | None = None
) -> Harness:
    """Build, initialise and start-up the application on an already migrated database."""
    request = OfflineRequest()
    clock = clock or FakeClock(datetime(2026, 12, 3, 1, 0, tzinfo=UTC))
    settings = settings or default_settings(database_url)
    settings = replace(settings, database_url=database_url)
    application = build_application(settings, request=request, clock=clock, migrate=False)
    await application.initialize()
    await application.post_init(application)  # type: ignore[misc]
    return Harness(application, request, clock)


async def stop_harness(harness: Harness) -> None:
    """Shut the application down and close its database."""
    await harness.app.post_shutdown(harness.app)  # type: ignore[misc]
    await harness.app.shutdown()


def local_date(clock: FakeClock, zone: str = "Asia/Shanghai") -> date:
    """Return the clock's date in ``zone``."""
    from zoneinfo import ZoneInfo

    return clock.now().astimezone(ZoneInfo(zone)).date()


# --- the database, without an application -----------------------------------------------


async def add_client(db: Database, agent_id: int, name: str, **fields: Any) -> int:
    """Store a client through the client book (so pinyin keys are set); return its id."""
    async with db.session() as session:
        client = await create_client(session, agent_id, name=name, **fields)
        return client.id


async def fetch_rows(
    db: Database, model: type[ModelT], *where: ColumnElement[bool], order_by: Any = None
) -> list[ModelT]:
    """Return the rows of ``model`` matching ``where``, by ``order_by`` or else by id."""
    order = [order_by] if order_by is not None else list(inspect(model).primary_key)
    async with db.session() as session:
        return list(await session.scalars(select(model).where(*where).order_by(*order)))


async def count_rows(db: Database, model: type[Base], *where: ColumnElement[bool]) -> int:
    """Return how many rows of ``model`` match ``where``."""
    async with db.session() as session:
        total = await session.scalar(select(func.count()).select_from(model).where(*where))
    return int(total or 0)


# --- spreadsheet files, as a bank would send them -----------------------------------------


def xlsx_bytes(*sheets: Sequence[Sequence[object]]) -> bytes:
    """Write rows into a workbook, one sheet per argument, and return its bytes."""
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for index, rows in enumerate(sheets):
        sheet = workbook.create_sheet(f"Sheet{index + 1}")
        for row in rows:
            sheet.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def csv_bytes(
    rows: Sequence[Sequence[object]], encoding: str = "utf-8", delimiter: str = ","
) -> bytes:
    """Write rows as CSV text in the given encoding and return its bytes."""
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    return buffer.getvalue().encode(encoding)
