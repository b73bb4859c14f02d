"""/log through the real Application: client, channel, what happened, next follow-up."""

from __future__ import annotations

from datetime import date

from bot import links
from bot.flows import FLOW_BUTTON
from storage import clients as store
from storage.models import Client, Interaction
from tests.harness import Harness, TgUser

ZH = TgUser(4201, "芳", "zh-hans")
EN = TgUser(4202, "Amy", "en")


async def test_log_in_chinese_walks_every_step_with_bad_input(harness: Harness) -> None:
    await harness.make_agent(ZH)
    await harness.seed_client(ZH, "张三")
    feng = await harness.seed_client(ZH, "张三丰")
    await harness.send(ZH, "/log")
    assert "和哪位客户联系了" in harness.last_text(ZH)

    await harness.send(ZH, "赵")
    harness.assert_retried(ZH, "名册里没有和“赵”相符的客户", "和哪位客户联系了")
    await harness.send(ZH, "zs")
    assert "有好几位" in harness.last_text(ZH)
    await harness.send(ZH, "无名氏")
    harness.assert_retried(ZH, "名册里没有和“无名氏”相符的客户", "有好几位")
    await harness.press(ZH, "张三丰")
    assert "和 张三丰 是怎么联系的" in harness.last_text(ZH)

    await harness.send(ZH, "飞鸽传书")
    harness.assert_retried(ZH, "请点下面的按钮选择联系方式", "是怎么联系的")
    await harness.send(ZH, "电话")
    assert "这次聊了什么" in harness.last_text(ZH)

    await harness.send(ZH, " ")
    harness.assert_retried(ZH, "联系内容是空的", "这次聊了什么")
    await harness.send(ZH, "说" * 1001)
    harness.assert_retried(ZH, "最多 1000 个字", "这次聊了什么")
    await harness.send(ZH, "约好周末见面谈计划书")
    assert "下次什么时候跟进" in harness.last_text(ZH)

    await harness.send(ZH, "改天吧")
    harness.assert_retried(ZH, "没看懂这个日期“改天吧”", "下次什么时候跟进")
    await harness.send(ZH, "2026-11-30")
    harness.assert_retried(ZH, "已经过去了", "下次什么时候跟进")
    await harness.send(ZH, "3天后")

    assert "已记下和 张三丰 的这次联系" in harness.last_text(ZH)
    assert "下次跟进：2026年12月6日" in harness.last_text(ZH)
    [item] = await harness.rows(Interaction)
    assert (item.client_id, item.channel, item.note) == (feng, "phone", "约好周末见面谈计划书")
    client = await harness.row(Client, feng)
    assert client.last_contact_at == harness.clock.now()
    assert client.next_followup == date(2026, 12, 6)


async def test_log_from_the_card_button_in_english_with_quick_date(harness: Harness) -> None:
    await harness.make_agent(EN, lang="en")
    client_id = await harness.seed_client(EN, "Li Si")
    await harness.press_data(EN, links.LOG_CONTACT.build(client_id=client_id))
    assert "How did you reach Li Si?" in harness.last_text(EN)

    await harness.send(EN, "pigeon")
    harness.assert_retried(EN, "Please choose how you made contact", "How did you reach")
    await harness.send(EN, "wechat/qq")
    await harness.send(EN, " ")
    harness.assert_retried(EN, "The note is empty.", "What was said")
    await harness.send(EN, "y" * 1001)
    harness.assert_retried(EN, "1001 characters, at most 1000", "What was said")
    await harness.send(EN, "Sent the brochure")
    await harness.send(EN, "someday")
    harness.assert_retried(EN, "I couldn't read the date", "When should you follow up?")
    await harness.press(EN, "In a week")

    assert "Next follow-up: 2026-12-10." in harness.last_text(EN)
    assert harness.buttons(EN) == ["Open Li Si's card"]
    [item] = await harness.rows(Interaction)
    assert (item.channel, item.note) == ("wechat", "Sent the brochure")


async def test_logging_without_a_new_date_marks_the_due_follow_up_done(harness: Harness) -> None:
    await harness.make_agent(ZH)
    client_id = await harness.seed_client(ZH, "李四", next_followup=date(2026, 12, 1))
    await harness.send(ZH, "/log 李四")
    assert "和 李四 是怎么联系的" in harness.last_text(ZH)
    assert "现在定的是" not in harness.last_text(ZH)
    await harness.press(ZH, "拜访")
    await harness.send(ZH, "上门送了分红通知")
    assert "现在定的是：2026年12月1日" in harness.last_text(ZH)
    await harness.press(ZH, "先不定")

    assert "原定 2026年12月1日 的跟进算是完成了" in harness.last_text(ZH)
    client = await harness.row(Client, client_id)
    assert client.next_followup is None


async def test_logging_without_a_date_keeps_a_future_follow_up(harness: Harness) -> None:
    await harness.make_agent(EN, lang="en")
    client_id = await harness.seed_client(EN, "Li Si", next_followup=date(2026, 12, 20))
    await harness.send(EN, "/log li")
    await harness.press(EN, "SMS")
    await harness.send(EN, "Happy birthday text")
    await harness.press(EN, "Not now")
    client = await harness.row(Client, client_id)
    assert client.next_followup == date(2026, 12, 20)


async def test_log_with_an_unknown_name_says_so_and_asks_whom(harness: Harness) -> None:
    await harness.make_agent(ZH)
    await harness.send(ZH, "/log 王五")
    harness.assert_retried(ZH, "名册里没有和“王五”相符的客户", "和哪位客户联系了")


async def test_a_later_contact_never_moves_last_contact_back(harness: Harness) -> None:
    await harness.make_agent(ZH)
    client_id = await harness.seed_client(ZH, "李四")
    for note in ("第一次", "第二次"):
        await harness.send(ZH, "/log 李四")
        await harness.press(ZH, "短信")
        await harness.send(ZH, note)
        await harness.press(ZH, "先不定")
        harness.clock.advance(days=1)
    client = await harness.row(Client, client_id)
    items = await harness.rows(Interaction)
    assert [i.note for i in items] == ["第一次", "第二次"]
    assert client.last_contact_at == items[-1].at


async def test_log_for_a_client_deleted_meanwhile_ends_cleanly(harness: Harness) -> None:
    await harness.make_agent(ZH)
    client_id = await harness.seed_client(ZH, "李四")
    await harness.send(ZH, "/log 李四")
    await harness.press(ZH, "电话")
    await harness.send(ZH, "聊了一会")
    agent_id = await harness.agent_id(ZH)
    async with harness.db.session() as session:
        await store.delete_client(session, agent_id, client_id)
    await harness.press(ZH, "明天")
    assert "已经不在名册里了" in harness.last_text(ZH)
    assert await harness.rows(Interaction) == []


async def test_forged_flow_buttons_are_asked_again_not_obeyed(harness: Harness) -> None:
    await harness.make_agent(ZH)
    client_id = await harness.seed_client(ZH, "李四")
    await harness.send(ZH, "/log 李四")
    await harness.press_data(ZH, FLOW_BUTTON.build(flow="log", step="channel", value="pigeon"))
    harness.assert_retried(ZH, "请点下面的按钮选择联系方式", "是怎么联系的")
    await harness.press(ZH, "电话")
    await harness.send(ZH, "聊了")
    await harness.press_data(ZH, FLOW_BUTTON.build(flow="log", step="followup", value="+99999999"))
    harness.assert_retried(ZH, "没看懂这个日期", "下次什么时候跟进")
    await harness.press(ZH, "1个月后")
    client = await harness.row(Client, client_id)
    assert client.next_followup == date(2027, 1, 2)


async def test_log_in_english_asks_whom_and_rejects_unknown_names(harness: Harness) -> None:
    await harness.make_agent(EN, lang="en")
    await harness.seed_client(EN, "Li Si")
    await harness.seed_client(EN, "Li Sihai")
    await harness.send(EN, "/log")
    assert "Whom did you contact?" in harness.last_text(EN)
    await harness.send(EN, "nobody")
    harness.assert_retried(EN, 'No client in your book matches "nobody"', "Whom did you")
    await harness.send(EN, "lis")
    assert 'Several clients match "lis"' in harness.last_text(EN)
    await harness.press(EN, "Li Sihai")
    assert "How did you reach Li Sihai?" in harness.last_text(EN)
