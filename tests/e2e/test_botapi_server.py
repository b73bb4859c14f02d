"""Tests of the fake Bot API server itself, driven by python-telegram-bot's own client.

If PTB parses every answer and raises the right exception for every refusal, the bot
under test meets the same behaviour it would meet at Telegram. The last tests run a
minimal PTB bot as a process through the ``bot_process`` fixture, to check polling,
SIGKILL, restart and SIGTERM end to end.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    MessageEntity,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from telegram.constants import ChatAction, ParseMode
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.request import HTTPXRequest

from .botapi import FakeBotApi

if TYPE_CHECKING:
    from .conftest import BotProcess

AGENT = 1001
OTHER_AGENT = 1002
GROUP = -100500


def keyboard(*buttons: tuple[str, str]) -> InlineKeyboardMarkup:
    """Builds a one-row inline keyboard from (label, callback data) pairs."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data) for label, data in buttons]]
    )


def refused(reason: str) -> pytest.RaisesExc[BadRequest]:
    """Expects a BadRequest carrying ``reason`` (PTB changes the case of Telegram's text)."""
    return pytest.raises(BadRequest, match=f"(?i){re.escape(reason)}")


def png(width: int, height: int) -> bytes:
    """Builds the header of a PNG image, enough for its size to be read."""
    return (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
        + width.to_bytes(4, "big")
        + height.to_bytes(4, "big")
        + b"\x08\x02\x00\x00\x00"
    )


@pytest.fixture
async def bot(botapi: FakeBotApi) -> AsyncIterator[Bot]:
    """Returns a PTB client pointed at the fake server."""
    async with Bot(
        botapi.token, base_url=botapi.base_url, base_file_url=botapi.base_file_url
    ) as client:
        yield client


@pytest.fixture
def agent(botapi: FakeBotApi) -> int:
    """Returns a user who has started the bot."""
    botapi.add_user(AGENT, first_name="王经理", language_code="zh-hans")
    return AGENT


# ---------------------------------------------------------------------- identity and tokens


async def test_get_me_reports_the_bot_named_by_the_token(bot: Bot) -> None:
    me = await bot.get_me()

    assert (me.id, me.is_bot, me.username) == (123456, True, "test_bot")


async def test_wrong_token_is_refused_as_invalid(botapi: FakeBotApi) -> None:
    stranger = Bot("654321:WRONG-token", base_url=botapi.base_url)

    with pytest.raises(InvalidToken):
        await stranger.initialize()


async def test_unknown_method_answers_404_and_is_recorded(botapi: FakeBotApi, bot: Bot) -> None:
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("sendTelepathy", api_kwargs={"chat_id": AGENT})

    call = botapi.sent()[-1]
    assert (call.method, call.status, call.chat_id) == ("sendTelepathy", 404, AGENT)


async def test_method_names_match_without_regard_to_case(botapi: FakeBotApi) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"{botapi.base_url}{botapi.token}/GETME")

    assert answer.json()["result"]["username"] == "test_bot"


# ---------------------------------------------------------------------- updates


async def test_updates_below_the_offset_are_confirmed_and_dropped(
    botapi: FakeBotApi, bot: Bot
) -> None:
    first = botapi.send_text(AGENT, "one")
    second = botapi.send_text(AGENT, "two")

    delivered = await bot.get_updates()
    assert [update.update_id for update in delivered] == [first, second]

    assert await bot.get_updates(offset=second + 1) == ()
    assert botapi.pending_updates() == []


async def test_unconfirmed_updates_are_delivered_again(botapi: FakeBotApi, bot: Bot) -> None:
    update_id = botapi.send_text(AGENT, "hello")

    await bot.get_updates()
    again = await bot.get_updates()

    assert [update.update_id for update in again] == [update_id]


async def test_negative_offset_keeps_only_the_latest_updates(botapi: FakeBotApi, bot: Bot) -> None:
    botapi.send_text(AGENT, "old")
    latest = botapi.send_text(AGENT, "new")

    delivered = await bot.get_updates(offset=-1)

    assert [update.update_id for update in delivered] == [latest]
    assert [update["update_id"] for update in botapi.pending_updates()] == [latest]


async def test_limit_caps_the_number_of_updates(botapi: FakeBotApi, bot: Bot) -> None:
    for text in ("a", "b", "c"):
        botapi.send_text(AGENT, text)

    delivered = await bot.get_updates(limit=2)

    assert [update.message.text for update in delivered] == ["a", "b"]


async def test_long_poll_wakes_as_soon_as_an_update_is_queued(
    botapi: FakeBotApi, bot: Bot
) -> None:
    polls = botapi.poll_count
    poll = asyncio.create_task(bot.get_updates(timeout=10, read_timeout=15))
    assert await asyncio.to_thread(botapi.wait_for_poll, polls)

    started = time.monotonic()
    botapi.send_text(AGENT, "wake up")
    delivered = await poll

    assert time.monotonic() - started < 2
    assert [update.message.text for update in delivered] == ["wake up"]


async def test_long_poll_returns_nothing_when_its_timeout_passes(bot: Bot) -> None:
    started = time.monotonic()

    delivered = await bot.get_updates(timeout=1, read_timeout=5)

    assert delivered == ()
    assert time.monotonic() - started >= 0.9


async def test_a_second_poller_terminates_the_first_with_conflict(
    botapi: FakeBotApi, bot: Bot
) -> None:
    polls = botapi.poll_count
    first = asyncio.create_task(bot.get_updates(timeout=10, read_timeout=15))
    assert await asyncio.to_thread(botapi.wait_for_poll, polls)

    async with Bot(botapi.token, base_url=botapi.base_url) as second:
        await second.get_updates()

    with pytest.raises(Conflict):
        await first


async def test_delete_webhook_can_drop_pending_updates(botapi: FakeBotApi, bot: Bot) -> None:
    botapi.send_text(AGENT, "stale")

    assert await bot.delete_webhook(drop_pending_updates=True)

    assert await bot.get_updates() == ()


async def test_allowed_updates_filters_out_other_kinds(
    botapi: FakeBotApi, bot: Bot, agent: int
) -> None:
    sent = await bot.send_message(agent, "pick", reply_markup=keyboard(("A", "a")))
    botapi.press(agent, sent.message_id, "a")
    botapi.send_text(agent, "typed")

    delivered = await bot.get_updates(allowed_updates=["message"])

    assert [update.message.text for update in delivered] == ["typed"]


async def test_command_text_carries_a_bot_command_entity(botapi: FakeBotApi, bot: Bot) -> None:
    botapi.send_text(AGENT, "/start invite-42", first_name="李四", language_code="en")

    (update,) = await bot.get_updates()

    assert update.message.text == "/start invite-42"
    assert update.message.entities == (MessageEntity(MessageEntity.BOT_COMMAND, 0, 6),)
    assert (update.effective_user.first_name, update.effective_user.language_code) == (
        "李四",
        "en",
    )
    assert update.effective_chat.type == "private"


async def test_plain_text_carries_no_entities(botapi: FakeBotApi, bot: Bot) -> None:
    botapi.send_text(AGENT, "张三 13800138000")

    (update,) = await bot.get_updates()

    assert update.message.entities == ()


async def test_shared_contact_arrives_as_a_contact_message(botapi: FakeBotApi, bot: Bot) -> None:
    botapi.send_contact(AGENT, "+8613800138000", "张三", contact_user_id=AGENT)

    (update,) = await bot.get_updates()

    contact = update.message.contact
    assert (contact.phone_number, contact.first_name, contact.user_id) == (
        "+8613800138000",
        "张三",
        AGENT,
    )


async def test_group_text_arrives_from_the_group_chat(botapi: FakeBotApi, bot: Bot) -> None:
    botapi.send_group_text(GROUP, AGENT, "/help@test_bot")

    (update,) = await bot.get_updates()

    assert (update.effective_chat.id, update.effective_chat.type) == (GROUP, "supergroup")
    assert update.effective_user.id == AGENT
    assert update.message.entities[0].length == len("/help@test_bot")


async def test_reply_to_a_bot_message_carries_that_message(
    botapi: FakeBotApi, bot: Bot, agent: int
) -> None:
    question = await bot.send_message(agent, "客户姓名？")
    botapi.send_text(agent, "张三", reply_to_message_id=question.message_id)

    (update,) = await bot.get_updates()

    assert update.message.reply_to_message.text == "客户姓名？"


# ---------------------------------------------------------------------- sending


async def test_sent_message_is_recorded_with_decoded_params(
    botapi: FakeBotApi, bot: Bot, agent: int
) -> None:
    message = await bot.send_message(agent, "123", reply_markup=keyboard(("确认", "ok:7")))

    call = botapi.sent(agent)[-1]
    assert call.params["chat_id"] == agent
    assert call.params["text"] == "123"
    assert call.params["reply_markup"] == {
        "inline_keyboard": [[{"text": "确认", "callback_data": "ok:7"}]]
    }
    assert message.reply_markup == keyboard(("确认", "ok:7"))
    assert botapi.messages(agent)[-1]["text"] == "123"


async def test_message_ids_increase_per_chat(botapi: FakeBotApi, bot: Bot, agent: int) -> None:
    botapi.add_user(OTHER_AGENT)
    botapi.send_text(agent, "hi")

    first = await bot.send_message(agent, "one")
    second = await bot.send_message(agent, "two")
    elsewhere = await bot.send_message(OTHER_AGENT, "one")

    assert (first.message_id, second.message_id, elsewhere.message_id) == (2, 3, 1)


async def test_message_to_a_chat_that_never_started_the_bot_is_refused(bot: Bot) -> None:
    with refused("chat not found"):
        await bot.send_message(999, "hello")


async def test_message_longer_than_telegram_allows_is_refused(bot: Bot, agent: int) -> None:
    await bot.send_message(agent, "字" * 4096)

    with refused("message is too long"):
        await bot.send_message(agent, "字" * 4097)


async def test_whitespace_only_message_is_refused_as_empty(bot: Bot, agent: int) -> None:
    with refused("message text is empty"):
        await bot.send_message(agent, " \n ")


async def test_callback_data_over_64_bytes_is_refused(bot: Bot, agent: int) -> None:
    with refused("BUTTON_DATA_INVALID"):
        await bot.send_message(agent, "x", reply_markup=keyboard(("按钮", "客" * 22)))


async def test_html_is_rendered_into_text_and_entities(
    botapi: FakeBotApi, bot: Bot, agent: int
) -> None:
    message = await bot.send_message(
        agent, "<b>张三</b> &amp; <a href='https://example.com'>链接</a>", parse_mode="HTML"
    )

    assert message.text == "张三 & 链接"
    assert [entity.type for entity in message.entities] == ["bold", "text_link"]
    assert message.entities[1].offset == 5
    assert botapi.sent(agent)[-1].text == "张三 & 链接"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("line<br>break", 'Unsupported start tag "br"'),
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b><i>x</b></i>", "Unmatched end tag"),
        ("Tom <tom@example.com>", "Unsupported start tag"),
    ],
)
async def test_broken_html_is_refused(bot: Bot, agent: int, text: str, reason: str) -> None:
    with refused(reason):
        await bot.send_message(agent, text, parse_mode=ParseMode.HTML)


async def test_markdown_v2_needs_reserved_characters_escaped(bot: Bot, agent: int) -> None:
    message = await bot.send_message(agent, r"*到期* 2026\-12\-03\.", parse_mode="MarkdownV2")
    assert message.text == "到期 2026-12-03."
    assert message.entities[0].type == "bold"

    with refused("Character '-' is reserved"):
        await bot.send_message(agent, "2026-12-03", parse_mode=ParseMode.MARKDOWN_V2)


async def test_legacy_markdown_refuses_an_unclosed_underscore(bot: Bot, agent: int) -> None:
    message = await bot.send_message(
        agent, "*张三* [资料](https://example.com)", parse_mode="Markdown"
    )
    assert message.text == "张三 资料"

    with refused("Can't find end of the entity"):
        await bot.send_message(agent, "user_name", parse_mode=ParseMode.MARKDOWN)


async def test_reply_keyboard_is_tracked_until_removed(
    botapi: FakeBotApi, bot: Bot, agent: int
) -> None:
    share = ReplyKeyboardMarkup([[KeyboardButton("分享手机号", request_contact=True)]])

    await bot.send_message(agent, "请分享", reply_markup=share)
    shown = botapi.reply_keyboard(agent)
    await bot.send_message(agent, "谢谢", reply_markup=ReplyKeyboardRemove())

    assert shown is not None
    assert shown["keyboard"][0][0]["request_contact"] is True
    assert botapi.reply_keyboard(agent) is None


async def test_chat_action_close_and_log_out_answer_true(bot: Bot, agent: int) -> None:
    assert await bot.send_chat_action(agent, ChatAction.TYPING)
    assert await bot.log_out()
    assert await bot.close()


async def test_json_and_query_string_requests_are_understood(
    botapi: FakeBotApi, agent: int
) -> None:
    url = f"{botapi.base_url}{botapi.token}"
    async with httpx.AsyncClient() as client:
        by_json = await client.post(f"{url}/sendMessage", json={"chat_id": agent, "text": "42"})
        by_query = await client.get(f"{url}/sendMessage", params={"chat_id": agent, "text": "hi"})

    assert by_json.json()["result"]["text"] == "42"
    assert by_query.json()["result"]["text"] == "hi"
    assert [call.params["text"] for call in botapi.sent(agent)] == ["42", "hi"]


# ---------------------------------------------------------------------- edits and buttons


async def test_edit_replaces_text_and_keyboard(botapi: FakeBotApi, bot: Bot, agent: int) -> None:
    sent = await bot.send_message(agent, "第一步", reply_markup=keyboard(("下一步", "next")))

    edited = await bot.edit_message_text("第二步", chat_id=agent, message_id=sent.message_id)

    assert edited.text == "第二步"
    assert edited.reply_markup is None
    assert edited.edit_date is not None
    assert botapi.messages(agent)[-1]["text"] == "第二步"


async def test_edit_that_changes_nothing_is_refused(bot: Bot, agent: int) -> None:
    sent = await bot.send_message(agent, "same", reply_markup=keyboard(("A", "a")))

    with refused("message is not modified"):
        await bot.edit_message_text(
            "same", chat_id=agent, message_id=sent.message_id, reply_markup=keyboard(("A", "a"))
        )


async def test_edit_of_a_missing_message_is_refused(bot: Bot, agent: int) -> None:
    with refused("message to edit not found"):
        await bot.edit_message_text("x", chat_id=agent, message_id=77)


async def test_edit_of_the_users_own_message_is_refused(
    botapi: FakeBotApi, bot: Bot, agent: int
) -> None:
    botapi.send_text(agent, "mine")

    with refused("message can't be edited"):
        await bot.edit_message_text("yours", chat_id=agent, message_id=1)


async def test_edit_reply_markup_swaps_the_keyboard(
    botapi: FakeBotApi, bot: Bot, agent: int
) -> None:
    sent = await bot.send_message(agent, "选择", reply_markup=keyboard(("A", "a")))

    await bot.edit_message_reply_markup(
        chat_id=agent, message_id=sent.message_id, reply_markup=keyboard(("B", "b"))
    )

    assert botapi.messages(agent)[-1]["reply_markup"]["inline_keyboard"][0][0]["text"] == "B"
    with refused("message is not modified"):
        await bot.edit_message_reply_markup(
            chat_id=agent, message_id=sent.message_id, reply_markup=keyboard(("B", "b"))
        )


async def test_deleted_message_leaves_the_chat(botapi: FakeBotApi, bot: Bot, agent: int) -> None:
    sent = await bot.send_message(agent, "临时")

    assert await bot.delete_message(agent, sent.message_id)

    assert botapi.messages(agent) == []
    with refused("message to delete not found"):
        await bot.delete_message(agent, sent.message_id)


async def test_press_delivers_a_callback_query_on_the_current_message(
    botapi: FakeBotApi, bot: Bot, agent: int
) -> None:
    sent = await bot.send_message(agent, "旧", reply_markup=keyboard(("A", "a:1")))
    await bot.edit_message_text(
        "新", chat_id=agent, message_id=sent.message_id, reply_markup=keyboard(("A", "a:1"))
    )

    botapi.press(agent, sent.message_id, "a:1")
    (update,) = await bot.get_updates()

    query = update.callback_query
    assert (query.data, query.from_user.id) == ("a:1", agent)
    assert (query.message.message_id, query.message.text) == (sent.message_id, "新")


async def test_callback_query_can_be_answered_once(
    botapi: FakeBotApi, bot: Bot, agent: int
) -> None:
    sent = await bot.send_message(agent, "选择", reply_markup=keyboard(("A", "a")))
    botapi.press(agent, sent.message_id, "a")
    (update,) = await bot.get_updates()
    assert botapi.unanswered_callbacks() == [update.callback_query.id]

    assert await update.callback_query.answer("好的")

    assert botapi.unanswered_callbacks() == []
    with refused("query ID is invalid"):
        await update.callback_query.answer()


async def test_press_button_finds_the_data_by_label(
    botapi: FakeBotApi, bot: Bot, agent: int
) -> None:
    sent = await bot.send_message(
        agent, "选择", reply_markup=keyboard(("转介绍", "ref:1"), ("缘故", "warm:1"))
    )

    botapi.press_button(agent, sent.message_id, "缘故")
    (update,) = await bot.get_updates()

    assert update.callback_query.data == "warm:1"
    with pytest.raises(LookupError, match="转介绍"):
        botapi.press_button(agent, sent.message_id, "不存在")


def test_press_on_a_message_the_bot_never_sent_is_a_test_error(botapi: FakeBotApi) -> None:
    botapi.send_text(AGENT, "mine")

    with pytest.raises(LookupError, match="no message 1 from the bot"):
        botapi.press(AGENT, 1, "x")


# ---------------------------------------------------------------------- commands


async def test_commands_are_kept_per_language(botapi: FakeBotApi, bot: Bot) -> None:
    await bot.set_my_commands([BotCommand("start", "开始")])
    await bot.set_my_commands([BotCommand("start", "Start")], language_code="en")

    english = await bot.get_my_commands(language_code="en")

    assert [(command.command, command.description) for command in english] == [("start", "Start")]
    assert botapi.commands() == [{"command": "start", "description": "开始"}]
    assert await bot.delete_my_commands()
    assert await bot.get_my_commands() == ()


async def test_command_with_capital_letters_is_refused(bot: Bot) -> None:
    with refused("BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand("Start", "开始")])


# ---------------------------------------------------------------------- files


async def test_sent_document_can_be_fetched_back(botapi: FakeBotApi, bot: Bot, agent: int) -> None:
    content = "姓名,电话\n张三,13800138000\n".encode()

    message = await bot.send_document(agent, content, filename="客户导出.csv", caption="导出")
    downloaded = await (await bot.get_file(message.document.file_id)).download_as_bytearray()

    assert (message.document.file_name, message.caption) == ("客户导出.csv", "导出")
    assert bytes(downloaded) == content
    upload = botapi.sent(agent)[-1].files["document"]
    assert (upload.filename, upload.content) == ("客户导出.csv", content)


async def test_document_from_the_user_can_be_downloaded(botapi: FakeBotApi, bot: Bot) -> None:
    workbook = b"PK\x03\x04 not really a workbook"
    botapi.send_document(AGENT, "到期清单.xlsx", workbook, caption="本月")

    (update,) = await bot.get_updates()
    document = update.message.document
    downloaded = await (await bot.get_file(document.file_id)).download_as_bytearray()

    assert document.file_name == "到期清单.xlsx"
    assert document.mime_type.endswith("spreadsheetml.sheet")
    assert bytes(downloaded) == workbook


async def test_unknown_file_id_is_refused(bot: Bot) -> None:
    with refused("invalid file_id"):
        await bot.get_file("FILE999999")


async def test_download_of_an_unknown_path_answers_404(botapi: FakeBotApi) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"{botapi.base_file_url}{botapi.token}/documents/none.csv")

    assert answer.status_code == 404


async def test_sent_photo_reports_the_image_size(bot: Bot, agent: int) -> None:
    message = await bot.send_photo(agent, png(640, 480), caption="<b>图表</b>", parse_mode="HTML")

    assert (message.photo[-1].width, message.photo[-1].height) == (640, 480)
    assert message.caption == "图表"


async def test_photo_that_is_no_image_is_refused(bot: Bot, agent: int) -> None:
    with refused("IMAGE_PROCESS_FAILED"):
        await bot.send_photo(agent, b"not an image")


async def test_caption_longer_than_telegram_allows_is_refused(bot: Bot, agent: int) -> None:
    with refused("caption is too long"):
        await bot.send_document(agent, b"x", filename="a.txt", caption="字" * 1025)


# ---------------------------------------------------------------------- faults


async def test_fail_next_with_429_raises_retry_after_once(
    botapi: FakeBotApi, bot: Bot, agent: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PTB warns about its integer retry_after unless told to use timedelta.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    botapi.fail_next("sendMessage", status=429, retry_after=3)

    with pytest.raises(RetryAfter) as raised:
        await bot.send_message(agent, "推送")
    await bot.send_message(agent, "推送")

    assert raised.value.retry_after.total_seconds() == 3
    assert [call.status for call in botapi.sent(agent)] == [429, 200]
    assert [message["text"] for message in botapi.messages(agent)] == ["推送"]


async def test_fail_next_with_403_raises_forbidden(
    botapi: FakeBotApi, bot: Bot, agent: int
) -> None:
    botapi.fail_next(
        "sendMessage", status=403, description="Forbidden: bot was blocked by the user"
    )

    with pytest.raises(Forbidden, match="blocked by the user"):
        await bot.send_message(agent, "推送")


async def test_fail_next_can_target_one_chat(botapi: FakeBotApi, bot: Bot, agent: int) -> None:
    botapi.add_user(OTHER_AGENT)
    botapi.fail_next("sendMessage", status=502, chat_id=OTHER_AGENT)

    await bot.send_message(agent, "A 的推送")
    with pytest.raises(NetworkError):
        await bot.send_message(OTHER_AGENT, "B 的推送")


async def test_blocked_user_refuses_every_message_until_unblocked(
    botapi: FakeBotApi, bot: Bot, agent: int
) -> None:
    botapi.block(agent)

    for _ in range(2):
        with pytest.raises(Forbidden):
            await bot.send_message(agent, "推送")
    botapi.unblock(agent)

    assert (await bot.send_message(agent, "推送")).text == "推送"


async def test_delayed_call_times_out_in_the_client_but_still_lands(
    botapi: FakeBotApi, agent: int
) -> None:
    botapi.delay_next("sendMessage", 1.5)
    impatient = HTTPXRequest(read_timeout=0.3)

    async with Bot(botapi.token, base_url=botapi.base_url, request=impatient) as client:
        with pytest.raises(TimedOut):
            await client.send_message(agent, "慢")

    call = await asyncio.to_thread(botapi.wait_for_text, agent, "慢", 5.0)
    assert call.ok


def test_wait_for_lists_what_was_seen_when_nothing_matches(botapi: FakeBotApi) -> None:
    with pytest.raises(AssertionError, match=r"no matching Bot API call within 0\.2 s"):
        botapi.wait_for(lambda call: call.method == "sendMessage", timeout=0.2)


async def test_wait_for_text_ignores_calls_before_the_mark(
    botapi: FakeBotApi, bot: Bot, agent: int
) -> None:
    await bot.send_message(agent, "欢迎")
    mark = botapi.mark()

    with pytest.raises(AssertionError, match="never showed '欢迎'"):
        await asyncio.to_thread(botapi.wait_for_text, agent, "欢迎", 0.2, since=mark)


async def test_server_comes_back_with_its_state_after_a_stop(
    botapi: FakeBotApi, bot: Bot, agent: int
) -> None:
    await bot.send_message(agent, "before")
    botapi.stop()

    with pytest.raises(NetworkError):
        await bot.send_message(agent, "during")
    botapi.start()

    assert (await bot.send_message(agent, "after")).message_id == 2


# ---------------------------------------------------------------------- the bot as a process

ECHO_BOT = """
import os

from telegram.ext import ApplicationBuilder, MessageHandler, filters


async def echo(update, context):
    await update.message.reply_text("echo: " + update.message.text)


application = (
    ApplicationBuilder()
    .token(os.environ["BOT_TOKEN"])
    .base_url(os.environ["BOT_API_BASE_URL"])
    .build()
)
application.add_handler(MessageHandler(filters.TEXT, echo))
application.run_polling()
"""


@pytest.fixture
def echo_bot(tmp_path: Path, bot_process: Callable[..., BotProcess]) -> BotProcess:
    """Returns a minimal PTB polling bot, started as a process against the fake server."""
    script = tmp_path / "echo_bot.py"
    script.write_text(ECHO_BOT, encoding="utf-8")
    return bot_process(argv=[sys.executable, str(script)])


def test_process_answers_messages_through_the_fake_server(
    botapi: FakeBotApi, echo_bot: BotProcess
) -> None:
    botapi.send_text(AGENT, "你好")

    botapi.wait_for_text(AGENT, "echo: 你好")

    assert echo_bot.running


def test_update_sent_while_the_process_is_down_is_answered_after_restart(
    botapi: FakeBotApi, echo_bot: BotProcess
) -> None:
    echo_bot.kill9()
    assert echo_bot.returncode == -9

    botapi.send_text(AGENT, "还在吗")
    echo_bot.restart()

    botapi.wait_for_text(AGENT, "echo: 还在吗", timeout=20)


def test_process_exits_cleanly_on_sigterm(echo_bot: BotProcess) -> None:
    assert echo_bot.stop() == 0
    assert "----- start #1" in echo_bot.output()
