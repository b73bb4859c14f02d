"""/stats, referral trees and /export through the real Application, on a seeded book whose
every figure is known in advance."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from PIL import Image
from sqlalchemy import select

from bot import charts
from bot.handlers.stats import EXPORT, REFERRAL_TREE, chart_panels, referral_tree_text
from storage.db import Database
from storage.models import Agent, Client, Interaction, MaturityCase, Policy
from storage.stats import book_stats, period_starts, referral_tree
from tests.harness import Harness, TgUser

AGENT = TgUser(6001, "王芳")
AGENT_EN = TgUser(6002, "Fang", "en")
COLLEAGUE = TgUser(6003, "李雷")
SHANGHAI = ZoneInfo("Asia/Shanghai")
LONG_AGO = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)


def _sh(year: int, month: int, day: int, hour: int = 12) -> datetime:
    """Return a Shanghai wall-clock time as an aware datetime."""
    return datetime(year, month, day, hour, tzinfo=SHANGHAI)


@dataclass
class Seeded:
    agent_id: int
    ids: dict[str, int]


async def _seed(db: Database, telegram_id: int) -> Seeded:
    """Seed the book described in the module's tests; the clock stands at Thu 2026-12-03.

    Sources: warm 4 (category 1 ×2, category 5 ×1, unrecorded ×1), referral 4, bank, maturity,
    cold and other 1 each: 12 clients. Created this week (from Mon 11-30): 李娜, 王强, 刘洋;
    this month (from 12-01): 王强, 刘洋. Contacts: 11-20, 11-30, 12-01, 12-03 → 3 this week,
    2 this month. Referrers: 张伟 referred 刘洋 (timing A), 陈静 (bought), 杨光 (grade D);
    李娜 referred 赵敏 (willingness A). Cases: renewed/A and paid out/C updated this month,
    pending/B updated last month, no result/B updated this month.
    """
    async with db.session() as session:
        agent = await session.scalar(select(Agent).where(Agent.telegram_id == telegram_id))
        assert agent is not None

        def client(
            name: str, source: str, created: datetime = LONG_AGO, **fields: object
        ) -> Client:
            row = Client(agent_id=agent.id, name=name, source=source, created_at=created, **fields)
            session.add(row)
            return row

        zhang = client(
            "张伟",
            "warm",
            warm_category=1,
            grade_timing="A",
            grade_willingness="B",
            grade_depth="C",
        )
        li = client("李娜", "warm", _sh(2026, 11, 30, 10), warm_category=1, grade_timing="B")
        client("王强", "warm", _sh(2026, 12, 2), warm_category=5)
        client("冯雪", "warm")
        await session.flush()
        liu = client(
            "刘洋", "referral", _sh(2026, 12, 1), referred_by_id=zhang.id, grade_timing="A"
        )
        chen = client("陈静", "referral", referred_by_id=zhang.id)
        client("杨光", "referral", referred_by_id=zhang.id, grade_timing="D")
        client("赵敏", "referral", referred_by_id=li.id, grade_willingness="A")
        client("周杰", "bank", grade_depth="A")
        wu = client("吴磊", "maturity")
        client("孙丽", "cold")
        client("郑浩", "other")
        await session.flush()

        for moment in (
            _sh(2026, 11, 20),
            _sh(2026, 11, 30),
            _sh(2026, 12, 1),
            _sh(2026, 12, 3, 8),
        ):
            session.add(
                Interaction(agent_id=agent.id, client_id=liu.id, at=moment, channel="phone")
            )

        policies = [
            Policy(
                agent_id=agent.id,
                client_id=wu.id,
                policy_number=f"W-{n}",
                holder_name="吴磊",
                maturity_date=date(2026, 12, 20),
            )
            for n in range(3)
        ]
        policies.append(
            Policy(
                agent_id=agent.id,
                client_id=chen.id,
                policy_number="C-1",
                holder_name="陈静",
                maturity_date=date(2027, 1, 5),
            )
        )
        session.add_all(policies)
        await session.flush()
        for policy, renewal, outcome, updated in (
            (policies[0], "renewed", "A", _sh(2026, 12, 2)),
            (policies[1], "paid_out", "C", _sh(2026, 12, 1, 1)),
            (policies[2], "pending", "B", _sh(2026, 11, 25)),
            (policies[3], None, "B", _sh(2026, 12, 3, 8)),
        ):
            session.add(
                MaturityCase(
                    agent_id=agent.id,
                    policy_id=policy.id,
                    renewal_result=renewal,
                    outcome=outcome,
                    updated_at=updated,
                )
            )
        return Seeded(agent.id, {"张伟": zhang.id, "李娜": li.id, "刘洋": liu.id})


@pytest.fixture
async def seeded(harness: Harness) -> Seeded:
    """Store 王芳 as an agent with the book that ``_seed`` describes."""
    await harness.make_agent(AGENT)
    return await _seed(harness.db, AGENT.id)


async def _seed_colleague(db: Database, referrer_id: int) -> None:
    """A colleague's busy book, with one client forged to point at the agent's referrer."""
    async with db.session() as session:
        other = await session.scalar(select(Agent).where(Agent.telegram_id == COLLEAGUE.id))
        assert other is not None
        rows = [
            Client(
                agent_id=other.id,
                name=f"同事客户{n}",
                source="referral",
                created_at=_sh(2026, 12, 2),
                referred_by_id=referrer_id,
                grade_timing="A",
            )
            for n in range(5)
        ]
        session.add_all(rows)
        await session.flush()
        session.add(
            Interaction(
                agent_id=other.id, client_id=rows[0].id, at=_sh(2026, 12, 2), channel="visit"
            )
        )
        policy = Policy(
            agent_id=other.id,
            client_id=rows[0].id,
            policy_number="O-1",
            holder_name="同事客户0",
            maturity_date=date(2026, 12, 9),
        )
        session.add(policy)
        await session.flush()
        session.add(
            MaturityCase(
                agent_id=other.id,
                policy_id=policy.id,
                renewal_result="renewed",
                outcome="A",
                updated_at=_sh(2026, 12, 2),
            )
        )


EXPECTED_ZH = [
    "📊 客户资源统计 · 2026年12月3日",
    "共 12 位客户，其中转介绍来的 4 位，转介绍占比 33%。",
    "",
    "按来源",
    "· 缘故市场：4（亲戚家人 2、工作上认识的人 1、未分类 1）",
    "· 转介绍：4",
    "· 银行渠道：1",
    "· 满期客户：1",
    "· 陌生市场：1",
    "· 其他：1",
    "",
    "按等级（A / B / C / D，另有未评级）",
    "· 促成时机：2 / 1 / 0 / 1，未评级 8",
    "· 投保意愿：1 / 1 / 0 / 0，未评级 10",
    "· 拜访程度：1 / 0 / 1 / 0，未评级 10",
    "",
    "新增客户：本周 3 位，本月 2 位",
    "记录的联系：本周 3 次，本月 2 次",
    "",
    "转介绍最多的客户",
    "1. 张伟：介绍了 3 位，其中 2 位已到 A 级或已投保",
    "2. 李娜：介绍了 1 位，其中 1 位已到 A 级或已投保",
    "",
    "本月满期结果（本月有进展的案件）",
    "· 已转保 1、已领取满期金 1、待定 0",
    "· 评级：A 1、B 1、C 1",
]


async def test_stats_shows_every_figure_of_the_seeded_book(
    harness: Harness, seeded: Seeded
) -> None:
    await harness.make_agent(COLLEAGUE, name="李雷")
    await _seed_colleague(harness.db, seeded.ids["张伟"])

    await harness.send(AGENT, "/stats")

    texts = [c for c in harness.request.sent(chat_id=AGENT.id) if c.method == "sendMessage"]
    assert texts[0].text.split("\n") == EXPECTED_ZH
    assert "同事客户" not in texts[0].text


@pytest.mark.usefixtures("seeded")
async def test_stats_sends_one_png_chart_with_the_agents_title(harness: Harness) -> None:
    await harness.send(AGENT, "/stats")

    photos = harness.request.sent(chat_id=AGENT.id, method="sendPhoto")
    assert len(photos) == 1
    _, content = photos[0].files["photo"]
    image = Image.open(io.BytesIO(content))
    assert image.format == "PNG" and image.width > 800
    assert photos[0].text == "王芳 的客户资源 · 2026年12月3日"


async def test_stats_figures_and_chart_panels_match_the_seeded_book(
    harness: Harness, seeded: Seeded
) -> None:
    periods = period_starts(date(2026, 12, 3), "Asia/Shanghai")

    async with harness.db.session() as session:
        figures = await book_stats(session, seeded.agent_id, periods)

    assert figures.total == 12 and round(figures.referral_share or 0, 3) == 0.333
    assert figures.by_warm_category == {1: 2, 5: 1, None: 1}
    assert [(r.name, r.referred, r.reached) for r in figures.top_referrers] == [
        ("张伟", 3, 2),
        ("李娜", 1, 1),
    ]
    assert figures.renewal_results == {"renewed": 1, "paid_out": 1, "pending": 0}
    assert figures.outcomes == {"A": 1, "B": 1, "C": 1}
    panels = {panel.title: panel for panel in chart_panels("zh", figures)}
    assert panels["客户来源（转介绍占 33%）"].series[0].values == (4, 4, 1, 1, 1, 1)
    assert panels["缘故市场按类别"].labels == ("亲戚家人", "工作上认识的人", "未分类")
    grades = panels["等级分布"]
    assert [s.values for s in grades.series] == [
        (2, 1, 0, 1, 8),
        (1, 1, 0, 0, 10),
        (1, 0, 1, 0, 10),
    ]
    assert panels["新增与联系"].series[0].values == (3, 2)
    assert panels["新增与联系"].series[1].values == (3, 2)


async def test_stats_in_english(harness: Harness) -> None:
    await harness.make_agent(AGENT_EN, lang="en", name="Fang")
    await _seed(harness.db, AGENT_EN.id)

    await harness.send(AGENT_EN, "/stats")

    sent = harness.request.sent(chat_id=AGENT_EN.id, method="sendMessage")
    text = sent[0].text
    assert "12 clients in all; 4 came by referral, a referral share of 33%." in text
    assert "· Warm market: 4 (Family and relatives 2, People from work 1, No category 1)" in text
    assert "New clients: 3 this week, 2 this month" in text
    assert "1. 张伟: referred 3, of whom 2 reached grade A or bought" in text
    assert "· Outcome: A 1, B 1, C 1" in text
    photo = harness.request.sent(chat_id=AGENT_EN.id, method="sendPhoto")[0]
    assert photo.text == "Fang's client book · 2026-12-03"


async def test_stats_on_an_empty_book_says_how_to_start_and_draws_nothing(
    harness: Harness,
) -> None:
    await harness.make_agent(AGENT)

    await harness.send(AGENT, "/stats")

    assert "客户簿还是空的" in harness.last_text(AGENT)
    assert harness.request.sent(chat_id=AGENT.id, method="sendPhoto") == []


@pytest.mark.usefixtures("seeded")
async def test_top_referrer_button_shows_their_referral_tree(harness: Harness) -> None:
    await harness.send(AGENT, "/stats")

    await harness.press(AGENT, "张伟 的转介绍关系")

    assert harness.last_text(AGENT).split("\n") == [
        "🌳 张伟 的转介绍关系",
        "张伟 介绍了 3 位：",
        "· 刘洋",
        "· 陈静",
        "· 杨光",
    ]
    assert "打开 张伟 的档案" in harness.buttons(AGENT)[0]


async def test_a_forged_tree_button_for_a_colleagues_client_reveals_nothing(
    harness: Harness,
) -> None:
    await harness.make_agent(AGENT)
    await harness.make_agent(COLLEAGUE, name="李雷")
    seeded = await _seed(harness.db, COLLEAGUE.id)
    before = len(harness.texts(AGENT))

    await harness.press_data(AGENT, REFERRAL_TREE.build(client_id=seeded.ids["张伟"]))
    await harness.press_data(AGENT, "xt:not-a-number")

    answers = harness.request.sent(method="answerCallbackQuery")
    assert [a.params.get("text") for a in answers[-2:]] == [
        "这个按钮已经失效了。请重新发送 /stats。"
    ] * 2
    assert len(harness.texts(AGENT)) == before


async def test_referral_tree_goes_two_levels_up_and_down_and_survives_a_loop(db: Database) -> None:
    async with db.session() as session:
        agent = Agent(telegram_id=6101, name="王芳")
        session.add(agent)
        await session.flush()
        names = ["祖先", "赵一", "钱二", "孙三", "李四", "周五", "吴六", "郑七"]
        rows = {name: Client(agent_id=agent.id, name=name) for name in names}
        session.add_all(rows.values())
        await session.flush()
        for child, parent in (
            ("赵一", "祖先"),
            ("钱二", "赵一"),
            ("孙三", "钱二"),
            ("李四", "孙三"),
            ("周五", "李四"),
            ("吴六", "孙三"),
            ("郑七", "周五"),
        ):
            rows[child].referred_by_id = rows[parent].id
        # A loop typed by mistake: 祖先 "referred by" 郑七, far below.
        rows["祖先"].referred_by_id = rows["郑七"].id
        await session.flush()

        tree = await referral_tree(session, agent.id, rows["孙三"].id)
        looped = await referral_tree(session, agent.id, rows["郑七"].id, depth=10)

    assert tree is not None and looped is not None
    assert [n.name for n in tree.referrers] == ["钱二", "赵一"]
    children = [(c.name, [g.name for g in c.children]) for c in tree.root.children]
    assert children == [("李四", ["周五"]), ("吴六", [])]
    assert referral_tree_text("zh", tree).split("\n")[:2] == [
        "🌳 孙三 的转介绍关系",
        "介绍链：赵一 → 钱二 → 孙三",
    ]
    assert "· 李四，又介绍了：周五" in referral_tree_text("zh", tree)
    # Every ancestor once; the walk stops where the loop comes back, and 祖先, already shown
    # above as an ancestor, is not listed again below.
    assert [n.name for n in looped.referrers] == ["周五", "李四", "孙三", "钱二", "赵一", "祖先"]
    assert looped.root.children == ()


async def test_referral_tree_of_a_colleagues_client_is_none(db: Database) -> None:
    async with db.session() as session:
        mine, theirs = Agent(telegram_id=6201), Agent(telegram_id=6202)
        session.add_all([mine, theirs])
        await session.flush()
        client = Client(agent_id=theirs.id, name="别人的客户")
        session.add(client)
        await session.flush()

        assert await referral_tree(session, mine.id, client.id) is None


async def test_export_sends_a_workbook_of_only_the_agents_data(
    harness: Harness, seeded: Seeded
) -> None:
    await harness.make_agent(COLLEAGUE, name="李雷")
    await _seed_colleague(harness.db, seeded.ids["张伟"])

    await harness.send(AGENT, "/export")

    documents = harness.request.sent(chat_id=AGENT.id, method="sendDocument")
    assert len(documents) == 1
    filename, content = documents[0].files["document"]
    assert filename == "客户资料-2026-12-03.xlsx"
    assert "12 位客户、4 张保单、4 次联系记录" in documents[0].text
    workbook = load_workbook(io.BytesIO(content))
    assert workbook.sheetnames == ["保单档案", "客户", "联系记录", "转介绍", "满期跟进"]
    every_cell = " ".join(
        str(cell.value)
        for sheet in workbook.worksheets
        for row in sheet.iter_rows()
        for cell in row
    )
    assert "同事客户" not in every_cell and "O-1" not in every_cell
    assert workbook["客户"].max_row == 13 and workbook["转介绍"].max_row == 5


@pytest.mark.usefixtures("seeded")
async def test_export_button_under_stats_sends_the_workbook(harness: Harness) -> None:
    await harness.send(AGENT, "/stats")

    await harness.press_data(AGENT, EXPORT.build())

    assert len(harness.request.sent(chat_id=AGENT.id, method="sendDocument")) == 1


async def test_export_of_an_empty_book_says_there_is_nothing_yet(harness: Harness) -> None:
    await harness.make_agent(AGENT_EN, lang="en", name="Fang")

    await harness.send(AGENT_EN, "/export")

    assert harness.last_text(AGENT_EN).startswith("There is nothing to export yet.")
    assert harness.request.sent(chat_id=AGENT_EN.id, method="sendDocument") == []


@pytest.mark.usefixtures("seeded")
async def test_export_that_telegram_refuses_tells_the_agent_their_data_is_safe(
    harness: Harness,
) -> None:
    harness.request.fail_next(
        "sendDocument", status=400, description="Bad Request: file is too big"
    )

    await harness.send(AGENT, "/export")

    assert "没有发送成功，数据都还在" in harness.last_text(AGENT)


async def test_sending_the_export_back_through_import_changes_nothing(
    harness: Harness, seeded: Seeded
) -> None:
    await harness.send(AGENT, "/export")
    filename, content = harness.request.sent(chat_id=AGENT.id, method="sendDocument")[0].files[
        "document"
    ]

    async def snapshot() -> list[tuple[object, ...]]:
        async with harness.db.session() as session:
            policies = await session.execute(
                select(
                    Policy.policy_number,
                    Policy.client_id,
                    Policy.maturity_date,
                    Policy.holder_name,
                    Policy.sum_insured,
                )
                .where(Policy.agent_id == seeded.agent_id)
                .order_by(Policy.policy_number)
            )
            clients = await session.execute(
                select(Client.id, Client.name, Client.phone, Client.source)
                .where(Client.agent_id == seeded.agent_id)
                .order_by(Client.id)
            )
            return [tuple(r) for r in policies] + [tuple(r) for r in clients]

    before = await snapshot()
    await harness.send_document(AGENT, filename, content)

    assert await snapshot() == before
    summary = harness.last_text(AGENT)
    assert "新增 0" in summary and "更新 0" in summary and "未变 4" in summary


async def test_a_small_book_without_referrals_or_cases_still_gets_text_and_chart(
    harness: Harness,
) -> None:
    agent = await harness.make_agent(AGENT)
    async with harness.db.session() as session:
        session.add(Client(agent_id=agent.id, name="孙丽", source="cold", created_at=LONG_AGO))

    await harness.send(AGENT, "/stats")

    text = harness.request.sent(chat_id=AGENT.id, method="sendMessage")[0].text
    assert "共 1 位客户，其中转介绍来的 0 位，转介绍占比 0%。" in text
    assert "还没有客户介绍过别人。" in text
    assert "· 已转保 0、已领取满期金 0、待定 0" in text
    assert len(harness.request.sent(chat_id=AGENT.id, method="sendPhoto")) == 1


@pytest.mark.usefixtures("seeded")
async def test_a_chart_that_fails_to_draw_leaves_the_figures_and_says_so(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> bytes:
        raise RuntimeError("no drawing today")

    monkeypatch.setattr(charts, "render_panels", broken)
    await harness.send(AGENT, "/stats")

    texts = harness.texts(AGENT)
    assert texts[0].split("\n")[:2] == EXPECTED_ZH[:2]
    assert texts[-1].startswith("图表这次没画出来，上面的数字不受影响。")
    assert harness.request.sent(chat_id=AGENT.id, method="sendPhoto") == []
