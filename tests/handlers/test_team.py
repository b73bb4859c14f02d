"""Teams through the real Application: making managers, /team figures kept within a team,
and escalations acknowledged and answered."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.handlers.team import PROMOTE, REPLY_LIMIT
from bot.links import ESCALATION, OPEN_CASE
from storage.db import Database
from storage.models import Agent, Client, MaturityCase, Policy
from tests.harness import ADMIN_ID, Harness, TgUser

ADMIN = TgUser(ADMIN_ID, "Admin", username="boss")
MANAGER = TgUser(7001, "张经理", username="zhangjl")
OTHER_MANAGER = TgUser(7002, "赵经理", username="zhaojl")
MEMBER = TgUser(7003, "李雷", username="lilei")
MEMBER_EN = TgUser(7004, "Han", "en", username="hanmei")
OUTSIDER = TgUser(7005, "外组", username="waizu")
SHANGHAI = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 12, 3)


async def _teams(harness: Harness) -> dict[str, Agent]:
    """Two managers: 张经理 leads 李雷 (zh) and Han (en); 赵经理 leads 外组."""
    manager = await harness.make_agent(MANAGER, name="张经理", role="manager", username="zhangjl")
    other = await harness.make_agent(
        OTHER_MANAGER, name="赵经理", role="manager", username="zhaojl"
    )
    member = await harness.make_agent(MEMBER, name="李雷", manager_id=manager.id, username="lilei")
    member_en = await harness.make_agent(
        MEMBER_EN, lang="en", name="Han", manager_id=manager.id, username="hanmei"
    )
    outsider = await harness.make_agent(OUTSIDER, name="外组", manager_id=other.id)
    return {
        "manager": manager,
        "other": other,
        "member": member,
        "member_en": member_en,
        "outsider": outsider,
    }


async def _workload(db: Database, agent_id: int, *, scale: int = 1) -> dict[str, int]:
    """Seed 李雷's known workload; returns the ids of the escalated cases.

    Follow-ups: 2 today, 1 overdue, 1 tomorrow. Policies: one maturing in 3 days (counts as
    due), one in 20 days (outside the 7-day window), one in 2 days whose case is closed, one
    in 5 days already renewed. Cases: one open escalation, one acknowledged, one renewed
    this month, one renewed last month.
    """
    ids: dict[str, int] = {}
    async with db.session() as session:

        def client(name: str, **fields: object) -> Client:
            row = Client(
                agent_id=agent_id, name=name, phone="13812345678", address="幸福路 8 号", **fields
            )
            session.add(row)
            return row

        for n in range(2 * scale):
            client(f"今天{n}", next_followup=TODAY)
        client("逾期", next_followup=TODAY - timedelta(days=4))
        client("明天", next_followup=TODAY + timedelta(days=1))
        holder = client("持有人")
        await session.flush()

        def policy(number: str, days: int, status: str = "active") -> Policy:
            row = Policy(
                agent_id=agent_id,
                client_id=holder.id,
                policy_number=number,
                holder_name="持有人",
                maturity_date=TODAY + timedelta(days=days),
                status=status,
            )
            session.add(row)
            return row

        soon, later, closed, renewed = (
            policy("S-1", 3),
            policy("L-1", 20),
            policy("C-1", 2),
            policy("R-1", 5, "renewed"),
        )
        extra = [policy(f"E-{n}", 30) for n in range(3)]
        await session.flush()
        now = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)
        cases = [
            MaturityCase(agent_id=agent_id, policy_id=soon.id, escalated_at=now),
            MaturityCase(
                agent_id=agent_id,
                policy_id=later.id,
                escalated_at=now,
                escalation_acknowledged_at=now,
            ),
            MaturityCase(
                agent_id=agent_id, policy_id=closed.id, closed_at=now, renewal_result="paid_out"
            ),
            MaturityCase(
                agent_id=agent_id,
                policy_id=renewed.id,
                renewal_result="renewed",
                updated_at=datetime(2026, 12, 2, 12, tzinfo=SHANGHAI),
            ),
            MaturityCase(
                agent_id=agent_id,
                policy_id=extra[0].id,
                renewal_result="renewed",
                updated_at=datetime(2026, 11, 28, 12, tzinfo=SHANGHAI),
            ),
        ]
        session.add_all(cases)
        await session.flush()
        ids["open"], ids["acknowledged"] = cases[0].id, cases[1].id
        ids["soon_policy"] = soon.id
    return ids


# --- making managers --------------------------------------------------------------------


async def test_admin_promotes_by_username_and_the_new_manager_is_told(harness: Harness) -> None:
    await harness.make_agent(ADMIN, role="admin", name="管理员")
    await harness.make_agent(MEMBER, name="李雷", username="lilei")

    await harness.send(ADMIN, "/team promote @LiLei")

    assert (await harness.stored_agent(MEMBER)).role == "manager"
    assert harness.last_text(ADMIN).startswith("已把 李雷 设为团队经理。")
    assert harness.last_text(MEMBER).startswith("你已被管理员设为团队经理。")


async def test_admin_promotes_by_telegram_id_and_demotes_again(harness: Harness) -> None:
    await harness.make_agent(ADMIN, role="admin", name="管理员")
    await harness.make_agent(MEMBER_EN, lang="en", name="Han")

    await harness.send(ADMIN, f"/team promote {MEMBER_EN.id}")
    assert (await harness.stored_agent(MEMBER_EN)).role == "manager"
    assert harness.last_text(MEMBER_EN).startswith("An admin has made you a team manager.")

    await harness.send(ADMIN, f"/team demote {MEMBER_EN.id}")
    assert (await harness.stored_agent(MEMBER_EN)).role == "agent"
    assert harness.last_text(ADMIN).startswith("已撤销 Han 的团队经理身份。")
    assert harness.last_text(MEMBER_EN).startswith("An admin has ended your team-manager role")


async def test_bad_team_commands_each_get_one_sentence_with_an_example(harness: Harness) -> None:
    await harness.make_agent(ADMIN, role="admin", name="管理员")
    await harness.make_agent(MANAGER, name="张经理", role="manager")

    cases = {
        "/team promote": "请写明是哪位同事，例如：/team promote @wangfang",
        "/team crown @x": "看不懂“crown”。请这样写：/team promote @wangfang",
        "/team promote @nobody": "找不到“@nobody”。",
        "/team promote @boss": "管理员 是管理员，不需要任命或撤销。",
        f"/team promote {MANAGER.id}": "张经理 已经是团队经理了。",
        "/team demote @ghost extra": "请写明是哪位同事",
    }
    for command, expected in cases.items():
        await harness.send(ADMIN, command)
        assert harness.last_text(ADMIN).startswith(expected), command


async def test_only_an_admin_can_change_roles(harness: Harness) -> None:
    await harness.make_agent(MANAGER, name="张经理", role="manager")
    await harness.make_agent(MEMBER, name="李雷", username="lilei")

    await harness.send(MANAGER, "/team promote @lilei")

    assert harness.last_text(MANAGER) == "只有管理员能任命或撤销团队经理。"
    assert (await harness.stored_agent(MEMBER)).role == "agent"


async def test_admin_team_lists_managers_and_promotes_with_a_button(harness: Harness) -> None:
    await harness.make_agent(ADMIN, role="admin", name="管理员")
    await _teams(harness)
    await harness.make_agent(TgUser(7010), name="新人甲")

    await harness.send(ADMIN, "/team")
    text = harness.last_text(ADMIN)
    assert "· 张经理：组员 2 人" in text and "· 赵经理：组员 1 人" in text
    assert "设为团队经理：新人甲" in harness.buttons(ADMIN)

    await harness.press(ADMIN, "设为团队经理：新人甲")
    assert (await harness.stored_agent(TgUser(7010))).role == "manager"


async def test_a_forged_promote_button_from_a_plain_agent_changes_nothing(
    harness: Harness,
) -> None:
    await harness.make_agent(MEMBER, name="李雷")
    target = await harness.make_agent(TgUser(7010), name="新人甲")

    await harness.press_data(MEMBER, PROMOTE.build(agent_id=target.id))

    answer = harness.request.sent(method="answerCallbackQuery")[-1]
    assert answer.params["text"] == "这个按钮已经失效了。请重新发送 /team。"
    assert (await harness.stored_agent(TgUser(7010))).role == "agent"


# --- /team figures ------------------------------------------------------------------------


async def test_manager_sees_each_members_counts_and_never_another_team(harness: Harness) -> None:
    agents = await _teams(harness)
    await _workload(harness.db, agents["member"].id)
    await _workload(harness.db, agents["outsider"].id, scale=5)

    await harness.send(MANAGER, "/team")

    lines = harness.last_text(MANAGER).split("\n")
    assert lines[0] == "👥 你的团队（2 人）· 2026年12月3日"
    li = lines.index("李雷")
    assert lines[li + 1] == (
        "今日待办 3（今天跟进 2，7 天内满期 1）· 逾期跟进 1 · 待处理上报 1 · 本月转保 1"
    )
    han = lines.index("Han")
    assert lines[han + 1] == (
        "今日待办 0（今天跟进 0，7 天内满期 0）· 逾期跟进 0 · 待处理上报 0 · 本月转保 0"
    )
    assert lines[-1] == "合计：今日待办 3 · 逾期跟进 1 · 待处理上报 1 · 本月转保 1"
    text = "\n".join(lines)
    assert "外组" not in text
    # Counts only: no client's name, phone or address.
    for secret in ("今天0", "持有人", "13812345678", "138****5678", "幸福路"):
        assert secret not in text


async def test_other_manager_sees_only_their_own_member(harness: Harness) -> None:
    agents = await _teams(harness)
    await _workload(harness.db, agents["member"].id)
    await _workload(harness.db, agents["outsider"].id, scale=5)

    await harness.send(OTHER_MANAGER, "/team")

    text = harness.last_text(OTHER_MANAGER)
    assert "（1 人）" in text and "外组" in text
    assert "李雷" not in text and "Han" not in text
    assert "今日待办 11（今天跟进 10，7 天内满期 1）" in text


async def test_plain_agent_and_empty_team_get_a_way_forward(harness: Harness) -> None:
    await harness.make_agent(MEMBER, name="李雷")
    await harness.make_agent(MANAGER, name="张经理", role="manager")

    await harness.send(MEMBER, "/team")
    await harness.send(MANAGER, "/team")

    assert harness.last_text(MEMBER).startswith("/team 是给团队经理和管理员用的。")
    assert harness.last_text(MANAGER).startswith("你的团队还没有成员。发 /invite")


async def test_a_managers_invitation_puts_the_newcomer_in_the_team(harness: Harness) -> None:
    await harness.make_agent(MANAGER, name="张经理", role="manager")
    await harness.send(MANAGER, "/invite")
    token = harness.last_text(MANAGER).split("start=")[1].split()[0]

    newcomer = TgUser(7020, "新人", username="xinren")
    await harness.send(newcomer, f"/start {token}")
    await harness.press(newcomer, "中文")
    await harness.send(newcomer, "小新")
    await harness.send(MANAGER, "/team")

    assert "👥 你的团队（1 人）" in harness.last_text(MANAGER)
    assert "\n小新\n" in harness.last_text(MANAGER)


async def test_team_figures_in_english_for_an_english_manager(harness: Harness) -> None:
    manager = await harness.make_agent(
        TgUser(7030, "Boss", "en"), lang="en", name="Boss", role="manager"
    )
    member = await harness.make_agent(MEMBER, name="李雷", manager_id=manager.id)
    await _workload(harness.db, member.id)

    await harness.send(TgUser(7030), "/team")

    assert "Due today 3 (2 follow-ups today, 1 maturing within 7 days)" in harness.last_text(
        TgUser(7030)
    )


# --- escalations --------------------------------------------------------------------------


async def _escalation(harness: Harness, member: str = "member") -> dict[str, int]:
    """Set up both teams and seed ``member``'s workload; return the ids of what was seeded."""
    agents = await _teams(harness)
    return await _workload(harness.db, agents[member].id)


async def test_acknowledging_an_escalation_records_it_and_tells_the_member(
    harness: Harness,
) -> None:
    ids = await _escalation(harness)

    await harness.press_data(MANAGER, ESCALATION.build(case_id=ids["open"], action="ack"))

    case = await harness.row(MaturityCase, ids["open"])
    assert case.escalation_acknowledged_at == harness.clock.now()
    assert harness.last_text(MANAGER).startswith("已确认收到，并已告诉 李雷。")
    told = harness.request.sent(chat_id=MEMBER.id)[-1]
    assert told.text == "你的经理 张经理 已看到你上报的满期案件：投保人 持有人，保单 S-1。"
    assert told.buttons == [("打开这个案件", OPEN_CASE.build(policy_id=ids["soon_policy"]))]
    edited = harness.request.sent(method="editMessageReplyMarkup")[-1]
    assert [label for label, _ in edited.buttons] == ["💬 回复"]

    before = len(harness.request.sent(chat_id=MEMBER.id))
    await harness.press_data(MANAGER, ESCALATION.build(case_id=ids["open"], action="ack"))
    assert (
        harness.request.sent(method="answerCallbackQuery")[-1].params["text"]
        == "这个上报之前已经确认过了。"
    )
    assert len(harness.request.sent(chat_id=MEMBER.id)) == before


async def test_another_teams_manager_cannot_touch_the_escalation(harness: Harness) -> None:
    ids = await _escalation(harness)

    for data in (
        ESCALATION.build(case_id=ids["open"], action="ack"),
        ESCALATION.build(case_id=ids["open"], action="reply"),
        ESCALATION.build(case_id=ids["open"], action="delete"),
        "te:not:valid:data",
    ):
        await harness.press_data(OTHER_MANAGER, data)
        answer = harness.request.sent(method="answerCallbackQuery")[-1]
        assert answer.params["text"].startswith("这个上报已经无法处理"), data

    assert (await harness.row(MaturityCase, ids["open"])).escalation_acknowledged_at is None
    assert harness.texts(OTHER_MANAGER) == []
    assert harness.request.sent(chat_id=MEMBER.id) == []


async def test_a_reply_reaches_the_member_after_bad_input_is_asked_again(harness: Harness) -> None:
    ids = await _escalation(harness, "member_en")

    await harness.press_data(MANAGER, ESCALATION.build(case_id=ids["open"], action="reply"))
    assert harness.last_text(MANAGER).startswith(
        "请输入给 Han 的回复，关于投保人 持有人 的保单 S-1。"
    )

    await harness.send_document(MANAGER, "note.pdf", b"%PDF-1.4")
    assert harness.texts(MANAGER)[-2].startswith("请直接打字输入回复内容")
    await harness.send(MANAGER, "长" * (REPLY_LIMIT + 1))
    assert harness.texts(MANAGER)[-2].startswith(f"回复有 {REPLY_LIMIT + 1} 字，超过了")
    assert harness.request.sent(chat_id=MEMBER_EN.id) == []

    await harness.send(MANAGER, "明天上午我陪你一起去。")

    delivered = harness.request.sent(chat_id=MEMBER_EN.id)[-1]
    assert delivered.text == (
        "Your manager 张经理 replied about the maturity case you escalated "
        "(holder 持有人, policy S-1):\n\n明天上午我陪你一起去。"
    )
    assert delivered.buttons == [("Open the case", OPEN_CASE.build(policy_id=ids["soon_policy"]))]
    assert harness.last_text(MANAGER) == "回复已转给 Han。"
    assert (await harness.row(MaturityCase, ids["open"])).escalation_acknowledged_at is not None


async def test_a_reply_to_a_member_who_blocked_the_bot_says_it_was_not_delivered(
    harness: Harness,
) -> None:
    ids = await _escalation(harness)
    await harness.press_data(MANAGER, ESCALATION.build(case_id=ids["open"], action="reply"))

    harness.request.fail_next(
        "sendMessage", status=403, description="Forbidden: bot was blocked by the user"
    )
    await harness.send(MANAGER, "请回电。")

    assert harness.last_text(MANAGER).startswith("没能把回复送到 李雷")


async def test_a_reply_left_idle_is_paused_and_resumed_by_team(harness: Harness) -> None:
    ids = await _escalation(harness)
    await harness.press_data(MANAGER, ESCALATION.build(case_id=ids["open"], action="reply"))

    await harness.let_idle(minutes=31)
    assert (
        harness.last_text(MANAGER)
        == "给同事的回复 30 分钟没有动静，先放下了。发 /team 就能接着写。"
    )

    await harness.send(MANAGER, "/team")
    assert harness.last_text(MANAGER).startswith("请输入给 李雷 的回复")
    await harness.send(MANAGER, "好的，我来处理。")
    assert harness.request.sent(chat_id=MEMBER.id)[-1].text.endswith("好的，我来处理。")


async def test_a_member_who_left_the_team_cannot_be_replied_to(harness: Harness) -> None:
    ids = await _escalation(harness)
    await harness.press_data(MANAGER, ESCALATION.build(case_id=ids["open"], action="reply"))
    member_id = await harness.agent_id(MEMBER)
    other_manager = await harness.agent_id(OTHER_MANAGER)
    async with harness.db.session() as session:
        member = await session.get(Agent, member_id)
        assert member is not None
        member.manager_id = other_manager

    await harness.send(MANAGER, "还在吗？")

    assert harness.last_text(MANAGER).startswith("这个上报已经无法处理")
    assert harness.request.sent(chat_id=MEMBER.id) == []
