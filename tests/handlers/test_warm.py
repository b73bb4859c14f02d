"""/warm, the warm-market search over 13 categories, driven through the real Application."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.flows import FLOW_BUTTON
from bot.handlers.warm import WARM_GRADE
from bot.links import CLIENT_CARD
from storage import clients as client_store
from storage.models import Client, Conversation
from tests.harness import Harness, TgUser

AGENT = TgUser(5201)
AGENT_EN = TgUser(5202, "Tester", "en")
OTHER = TgUser(5203)


async def _warm(harness: Harness) -> dict[str, tuple[int | None, str | None]]:
    """Return the warm-market prospects as name → (category, phone)."""
    return {
        client.name: (client.warm_category, client.phone)
        for client in await harness.rows(Client)
        if client.source == "warm"
    }


async def test_warm_walks_all_13_categories_in_chinese_and_saves_each_name(
    harness: Harness,
) -> None:
    await harness.make_agent(AGENT)

    await harness.send(AGENT, "/warm")
    assert any("缘故市场大搜索：把你认识的人按 13 类" in text for text in harness.texts(AGENT))
    prompt = harness.last_text(AGENT)
    assert "第 1/13 类：亲戚家人" in prompt and "逢年过节" in prompt
    assert harness.buttons(AGENT) == ["这一类想不到，跳过 ➡", "💾 先到这里，保存"]

    await harness.send(AGENT, "😀")
    assert "不像一个名字" in harness.previous_text(AGENT)
    await harness.send(AGENT, "张" * 41)
    assert "名字太长了" in harness.previous_text(AGENT)
    await harness.send(AGENT, "张三、李四\n王五")
    assert "已记下：张三、李四、王五。" in harness.previous_text(AGENT)
    assert "这一类已写：张三、李四、王五" in harness.last_text(AGENT)
    await harness.share_contact(AGENT, "赵六", "+8613812345678")
    await harness.share_contact(AGENT, "长" * 50, "13900000000")
    assert "名字太长了" in harness.previous_text(AGENT)
    await harness.share_contact(AGENT, "Tom", "+1 202 555 0100")
    assert "Tom 的电话号码读不出来" in harness.texts(AGENT)[-3]
    assert "到目前一共写下 5 个名字" in harness.last_text(AGENT)
    await harness.press(AGENT, "这一类写完了")

    assert "第 2/13 类：同学和老师" in harness.last_text(AGENT)
    await harness.send(AGENT, "跳过")
    assert "第 3/13 类：邻居" in harness.last_text(AGENT)
    for number in range(3, 13):
        assert f"第 {number}/13 类" in harness.last_text(AGENT)
        if number == 5:
            await harness.send(AGENT, "周同事，吴领导")
            await harness.press(AGENT, "这一类写完了")
        else:
            await harness.press(AGENT, "跳过")
    assert "第 13/13 类：老客户身边的人" in harness.last_text(AGENT)
    await harness.send(AGENT, "郑邻居")
    await harness.press(AGENT, "这一类写完了")

    saved = harness.last_text(AGENT)
    assert "一共 8 位准客户" in saved
    assert "· 第 1 类 亲戚家人：5 位" in saved
    assert "· 第 5 类 工作上认识的人：2 位" in saved
    assert "· 第 13 类 老客户身边的人：1 位" in saved
    assert "/warm 14" not in saved and "接着写" not in saved
    assert await _warm(harness) == {
        "张三": (1, None),
        "李四": (1, None),
        "王五": (1, None),
        "赵六": (1, "13812345678"),
        "Tom": (1, None),
        "周同事": (5, None),
        "吴领导": (5, None),
        "郑邻居": (13, None),
    }
    assert await harness.first(Conversation) is None

    await harness.press(AGENT, "给新名字分级")
    assert "第 1/1 页" in harness.last_text(AGENT)
    shown = harness.request.sent(chat_id=AGENT.id)[-1].buttons
    zhang = next(c for c in await harness.rows(Client) if c.name == "张三")
    assert ("张三 · 未分级", CLIENT_CARD.build(client_id=zhang.id)) in shown
    assert len(shown) == 8


async def test_warm_in_english_starts_at_a_chosen_category_and_stops_early(
    harness: Harness,
) -> None:
    await harness.make_agent(AGENT_EN, lang="en")

    await harness.send(AGENT_EN, "/warm 12")
    assert "category 12/13: Classmates and teachers from further study" in harness.last_text(
        AGENT_EN
    )
    await harness.send(AGENT_EN, "Li Si; Wang Wu")
    assert "Noted: Li Si, Wang Wu." in harness.previous_text(AGENT_EN)
    await harness.send(AGENT_EN, "done")
    assert "category 13/13" in harness.last_text(AGENT_EN)
    await harness.press(AGENT_EN, "Nobody here")

    assert "Prospects added: 2." in harness.last_text(AGENT_EN)
    assert "· Category 12, Classmates and teachers from further study: 2" in harness.last_text(
        AGENT_EN
    )
    assert await _warm(harness) == {"Li Si": (12, None), "Wang Wu": (12, None)}

    await harness.send(AGENT_EN, "/warm 3")
    await harness.send(AGENT_EN, "Zhao Liu")
    await harness.press(AGENT_EN, "Stop here and save")
    assert "To carry on from category 4, send /warm 4." in harness.last_text(AGENT_EN)

    await harness.send(AGENT_EN, "/warm 6")
    await harness.send(AGENT_EN, "finish")
    assert "No names were written down this time" in harness.last_text(AGENT_EN)
    assert len(await _warm(harness)) == 3


async def test_a_bad_start_category_is_explained_and_nothing_starts(harness: Harness) -> None:
    await harness.make_agent(AGENT)
    await harness.send(AGENT, "/warm 14")
    assert harness.last_text(AGENT).startswith("“14”不是类别编号")
    await harness.send(AGENT, "/warm abc")
    assert "发 /warm 5 从第 5 类开始" in harness.last_text(AGENT)
    assert await harness.first(Conversation) is None


async def test_a_forged_or_unknown_button_value_asks_again(harness: Harness) -> None:
    await harness.make_agent(AGENT_EN, lang="en")
    await harness.send(AGENT_EN, "/warm")
    await harness.press_data(AGENT_EN, FLOW_BUTTON.build(flow="warm", step="cat1", value="zzz"))
    assert "Please type names" in harness.previous_text(AGENT_EN)
    conv = await harness.first(Conversation)
    assert conv is not None and conv.step == "cat1"


# --- back ----------------------------------------------------------------------------------


async def test_back_undoes_the_last_names_and_the_last_category_move(harness: Harness) -> None:
    await harness.make_agent(AGENT)
    await harness.send(AGENT, "/warm")
    await harness.send(AGENT, "张三")
    await harness.send(AGENT, "李四")
    await harness.press(AGENT, "上一步")
    assert "这一类已写：张三" in harness.last_text(AGENT) and "李四" not in harness.last_text(
        AGENT
    )

    await harness.press(AGENT, "这一类写完了")
    assert "第 2/13 类" in harness.last_text(AGENT)
    await harness.send(AGENT, "返回")
    assert "第 1/13 类" in harness.last_text(AGENT)
    await harness.press(AGENT, "这一类写完了")
    await harness.send(AGENT, "张三")
    assert "这次的名单里已经有“张三”" in harness.last_text(AGENT)
    await harness.press(AGENT, "上一步")
    assert "第 2/13 类" in harness.last_text(AGENT)
    await harness.press(AGENT, "先到这里")

    assert await _warm(harness) == {"张三": (1, None)}


# --- duplicates ----------------------------------------------------------------------------


async def test_names_already_in_the_book_or_on_the_list_are_flagged(harness: Harness) -> None:
    await harness.make_agent(AGENT)
    zhang = await harness.seed_client(AGENT, "张三", source="referral")
    await harness.seed_client(AGENT, "王五", phone="13812345678")

    await harness.send(AGENT, "/warm")
    await harness.send(AGENT, "张三、李四")
    assert "已记下：李四。" in harness.previous_text(AGENT)
    prompt = harness.last_text(AGENT)
    assert "“张三”可能已经在你的名单或档案里了" in prompt and "张三（转介绍）" in prompt
    buttons = harness.request.sent(chat_id=AGENT.id)[-1].buttons
    assert ("📇 打开 张三 的档案", CLIENT_CARD.build(client_id=zhang)) in buttons
    await harness.send(AGENT, "也许")
    assert "请点下面的按钮" in harness.previous_text(AGENT)
    await harness.press(AGENT, "是同一人")
    assert "张三 不重复添加" in harness.previous_text(AGENT)
    assert "第 1/13 类" in harness.last_text(AGENT)

    await harness.share_contact(AGENT, "小王", "13812345678")
    assert "王五（其他，138****5678）" in harness.last_text(AGENT)
    await harness.press(AGENT, "不是同一人")
    await harness.press(AGENT, "这一类写完了")
    await harness.send(AGENT, "李四")
    assert "这次的名单里已经有“李四”" in harness.last_text(AGENT)
    await harness.press(AGENT, "不是同一人")
    await harness.press(AGENT, "先到这里")

    warm = [
        (c.name, c.warm_category, c.phone)
        for c in await harness.rows(Client)
        if c.source == "warm"
    ]
    assert sorted(warm, key=str) == sorted(
        [("李四", 1, None), ("小王", 1, "13812345678"), ("李四", 2, None)], key=str
    )
    assert [c.name for c in await harness.rows(Client)].count("张三") == 1


async def test_a_duplicate_that_appears_before_saving_is_flagged_first(harness: Harness) -> None:
    await harness.make_agent(AGENT_EN, lang="en")
    await harness.send(AGENT_EN, "/warm")
    await harness.send(AGENT_EN, "Zhou Ba, Wu Jiu")
    await harness.seed_client(AGENT_EN, "Zhou Ba")  # added elsewhere meanwhile

    await harness.press(AGENT_EN, "Stop here and save")
    assert "Before saving" in harness.previous_text(AGENT_EN)
    assert '"Zhou Ba" may already be' in harness.last_text(AGENT_EN)
    await harness.press(AGENT_EN, "Same person")

    assert "Prospects added: 1." in harness.last_text(AGENT_EN)
    assert await _warm(harness) == {"Wu Jiu": (1, None)}
    assert [c.name for c in await harness.rows(Client)].count("Zhou Ba") == 1


# --- pausing, resuming, restarting -----------------------------------------------------


async def test_silence_pauses_warm_and_warm_resumes_at_the_category_with_the_count(
    harness: Harness,
) -> None:
    await harness.make_agent(AGENT)
    await harness.send(AGENT, "/warm")
    await harness.send(AGENT, "张三、李四")
    await harness.press(AGENT, "这一类写完了")
    await harness.let_idle(minutes=31)

    paused = harness.last_text(AGENT)
    assert "先停在第 2 类，已写下的 2 个名字都在草稿里" in paused and "/warm" in paused
    await harness.send(AGENT, "/warm")
    assert "接着你上次的进度继续" in harness.previous_text(AGENT)
    assert "第 2/13 类" in harness.last_text(AGENT)
    assert "到目前一共写下 2 个名字" in harness.last_text(AGENT)


async def test_warm_resumes_in_a_new_process_and_loses_nothing(harness: Harness) -> None:
    await harness.make_agent(AGENT)
    await harness.send(AGENT, "/warm 4")
    await harness.send(AGENT, "刘老板")
    await harness.press(AGENT, "这一类写完了")
    await harness.send(AGENT, "陈工")

    async with harness.second_process() as restarted:
        await restarted.send(AGENT, "/warm")
        assert "第 5/13 类" in restarted.last_text(AGENT)
        assert "这一类已写：陈工" in restarted.last_text(AGENT)
        assert "到目前一共写下 2 个名字" in restarted.last_text(AGENT)
        await restarted.press(AGENT, "先到这里")

    assert await _warm(harness) == {"刘老板": (4, None), "陈工": (5, None)}


# --- grading the new names -----------------------------------------------------------------


async def test_the_grading_list_pages_through_the_batch_and_only_the_batch(
    harness: Harness,
) -> None:
    await harness.make_agent(AGENT)
    await harness.seed_client(AGENT, "老朋友", source="warm", warm_category=1)
    await harness.seed_client(AGENT, "预先", source="warm")
    await harness.send(AGENT, "/warm")
    await harness.send(AGENT, "、".join(f"朋友{i:02d}" for i in range(1, 13)))
    await harness.press(AGENT, "先到这里")

    # Grade one new name so the list shows grades.
    new = next(c for c in await harness.rows(Client) if c.name == "朋友01")
    async with harness.db.session() as session:
        stored = await session.get(Client, new.id)
        assert stored is not None
        await client_store.set_grade(session, stored, "timing", "A", at=harness.clock.now())

    await harness.press(AGENT, "给新名字分级")
    assert "第 1/2 页" in harness.last_text(AGENT)
    labels = harness.buttons(AGENT)
    assert labels[0] == "朋友01 · A/–/–" and len(labels) == 11 and labels[-1] == "下一页 ➡"
    await harness.press(AGENT, "下一页")
    assert "第 2/2 页" in harness.last_text(AGENT)
    assert harness.buttons(AGENT) == ["朋友11 · 未分级", "朋友12 · 未分级", "⬅ 上一页"]
    shown = {label for call in harness.request.sent(chat_id=AGENT.id) for label, _ in call.buttons}
    assert "老朋友 · 未分级" not in shown and "预先 · 未分级" not in shown


async def test_forged_grading_buttons_show_nothing_of_anyone_else(harness: Harness) -> None:
    await harness.make_agent(OTHER)
    await harness.make_agent(AGENT)
    await harness.send(OTHER, "/warm")
    await harness.send(OTHER, "秘密名单")
    await harness.press(OTHER, "先到这里")
    other_stamp = int(harness.clock.now().replace(microsecond=0).timestamp())

    await harness.press_data(AGENT, WARM_GRADE.build(at=other_stamp, page=0))
    assert harness.last_text(AGENT) == "这一批名字已经找不到了，可能已被删除。"
    await harness.press_data(AGENT, "wg:abc:0")
    answered = harness.request.sent(method="answerCallbackQuery")[-1]
    assert answered.params.get("text") == "这个按钮已经过时了，请用最新消息里的按钮。"
    await harness.press_data(AGENT, WARM_GRADE.build(at=-5, page=-1))
    assert harness.last_text(AGENT) == "这一批名字已经找不到了，可能已被删除。"
    assert not any("秘密名单" in text for text in harness.texts(AGENT))


async def test_batch_stamps_use_the_bot_clock(harness: Harness) -> None:
    await harness.make_agent(AGENT)
    harness.clock.set(datetime(2027, 1, 2, 3, 4, 5, 678000, tzinfo=UTC))
    await harness.send(AGENT, "/warm")
    await harness.send(AGENT, "张三")
    await harness.press(AGENT, "先到这里")

    (client,) = await harness.rows(Client)
    assert client.created_at == datetime(2027, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert await harness.count(Conversation) == 0


async def test_cancel_with_names_listed_asks_first_and_keep_loses_nothing(
    harness: Harness,
) -> None:
    await harness.make_agent(AGENT_EN, lang="en")
    await harness.send(AGENT_EN, "/warm")
    await harness.send(AGENT_EN, "Zhang San, Li Si")

    await harness.send(AGENT_EN, "/cancel")
    assert "holds 2 names that are not saved yet" in harness.last_text(AGENT_EN)
    await harness.press(AGENT_EN, "Keep going")
    assert "still here" in harness.previous_text(AGENT_EN)
    conversation = await harness.first(Conversation)
    assert conversation is not None and len(conversation.data["names"]) == 2

    await harness.send(AGENT_EN, "/cancel")
    await harness.press(AGENT_EN, "Discard")
    assert harness.last_text(AGENT_EN) == "Cancelled; the draft is deleted."
    assert await harness.first(Conversation) is None
    assert await harness.rows(Client) == []
