"""/settings: the summary, changing each setting, and bad input, through the real Application."""

from __future__ import annotations

from datetime import date, time

from bot.handlers.due import PUSH_JOB
from bot.handlers.settings import OPEN_SETTING, zone_label
from storage.models import Push
from tests.harness import Harness, TgUser

AGENT = TgUser(5301, "王芳")


async def test_settings_shows_every_value_with_a_button_each(harness: Harness) -> None:
    await harness.make_agent(AGENT)

    await harness.send(AGENT, "/settings")

    text = harness.last_text(AGENT)
    assert "08:30（时区 Asia/Shanghai）" in text
    assert "7 天内算「近期」，提前 30 天列入清单" in text
    assert "存入 2 天还没联系" in text and "B 级 14 天、C 级 30 天" in text
    assert "没有待办的日子：不推送" in text
    assert len(harness.buttons(AGENT)) == 8


async def test_push_time_is_changed_and_bad_times_are_explained(harness: Harness) -> None:
    await harness.make_agent(AGENT, lang="en")
    await harness.send(AGENT, "/settings")
    await harness.press(AGENT, "Push time")
    assert "every day at 08:30" in harness.last_text(AGENT)

    await harness.send(AGENT, "quarter past never")
    assert "couldn't read the time" in harness.texts(AGENT)[-2]
    await harness.send(AGENT, "7:45")

    assert "Saved: push time is now 07:45." in harness.texts(AGENT)
    assert (await harness.stored_agent(AGENT)).push_time == time(7, 45)


async def test_push_time_buttons_work_and_today_is_explained(harness: Harness) -> None:
    await harness.make_agent(AGENT, push_time=time(10, 0))
    await harness.send(AGENT, "/settings")
    await harness.press(AGENT, "推送时间")

    await harness.press(AGENT, "08:30")  # 09:00 now: today's push has not gone out yet

    assert (await harness.stored_agent(AGENT)).push_time == time(8, 30)
    assert "按新设置马上就会发给你" in "\n".join(harness.texts(AGENT))


async def test_moving_the_push_time_after_todays_push_counts_from_tomorrow(
    harness: Harness,
) -> None:
    await harness.make_agent(AGENT, push_when_empty=True)
    await harness.run_job(PUSH_JOB)
    await harness.send(AGENT, "/settings")
    await harness.press(AGENT, "推送时间")

    await harness.send(AGENT, "早上7点")

    assert "今天的推送已经发过了" in "\n".join(harness.texts(AGENT))
    pushes = await harness.rows(Push)
    assert [push.local_date for push in pushes] == [date(2026, 12, 3)]


async def test_time_zone_accepts_offsets_and_shows_them_as_typed(harness: Harness) -> None:
    await harness.make_agent(AGENT)
    await harness.send(AGENT, "/settings")
    await harness.press(AGENT, "时区")

    await harness.send(AGENT, "火星")
    assert "时区" in harness.texts(AGENT)[-2] and "UTC+8" in harness.texts(AGENT)[-2]
    await harness.send(AGENT, "UTC+9")

    assert (await harness.stored_agent(AGENT)).timezone == "Etc/GMT-9"
    assert "时区 UTC+9" in harness.last_text(AGENT)


async def test_day_settings_are_checked_against_their_range(harness: Harness) -> None:
    await harness.make_agent(AGENT)
    for label, typed, column, expected in (
        ("B 级期限", "21", "stale_b_days", 21),
        ("C 级期限", "六十", "stale_c_days", 60),
        ("转介绍期限", "3", "referral_contact_days", 3),
        ("满期提前天数", "90", "maturity_window_days", 90),
        ("满期「近期」", "10", "maturity_soon_days", 10),
    ):
        await harness.send(AGENT, "/settings")
        await harness.press(AGENT, label)
        await harness.send(AGENT, "999")
        assert "不在" in harness.texts(AGENT)[-2], label
        await harness.send(AGENT, typed)
        assert getattr(await harness.stored_agent(AGENT), column) == expected, label


async def test_soon_window_cannot_exceed_the_whole_window(harness: Harness) -> None:
    await harness.make_agent(AGENT, maturity_window_days=20)
    await harness.send(AGENT, "/settings")
    await harness.press(AGENT, "满期「近期」")

    await harness.send(AGENT, "25")
    assert "不能比列入清单的 20 天还长" in harness.texts(AGENT)[-2]
    await harness.press(AGENT, "14 天")

    assert (await harness.stored_agent(AGENT)).maturity_soon_days == 14
    await harness.send(AGENT, "/settings")
    await harness.press(AGENT, "满期提前天数")
    await harness.send(AGENT, "10")
    assert "不能比「近期」的 14 天还短" in harness.texts(AGENT)[-2]


async def test_empty_day_switch_flips_and_shows_the_new_state(harness: Harness) -> None:
    await harness.make_agent(AGENT)
    await harness.send(AGENT, "/settings")

    await harness.press(AGENT, "空日推送：关")

    assert (await harness.stored_agent(AGENT)).push_when_empty is True
    edited = harness.request.sent(method="editMessageText")
    assert "没有待办的日子：也推送一条" in edited[-1].text
    await harness.press(AGENT, "空日推送：开")
    assert (await harness.stored_agent(AGENT)).push_when_empty is False


async def test_forged_setting_button_is_refused(harness: Harness) -> None:
    await harness.make_agent(AGENT)

    await harness.press_data(AGENT, OPEN_SETTING.build(field="telegram_id"))
    await harness.press_data(AGENT, "gs")

    answers = [c.params.get("text") for c in harness.request.sent(method="answerCallbackQuery")]
    assert answers == ["这个按钮已经失效了，请发 /settings 重新打开设置。"] * 2
    assert harness.texts(AGENT) == []


def test_zone_label_turns_posix_offsets_around() -> None:
    assert zone_label("Etc/GMT-8") == "UTC+8"
    assert zone_label("Etc/GMT+5") == "UTC-5"
    assert zone_label("Asia/Shanghai") == "Asia/Shanghai"
    assert zone_label("Etc/GMT") == "Etc/GMT"
