"""The Excel export: sheets and headers per language, safe text cells, and the round trip
of the policies sheet through the maturity-table importer and the policy import."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal

from openpyxl import load_workbook
from sqlalchemy import func, select

from bot.export import CLIENT_COLUMNS, POLICY_COLUMNS, build_workbook
from bot.importer import read_policy_table
from storage.db import Database
from storage.models import Agent, Client, Interaction, MaturityCase, Policy
from storage.policies import import_policies
from storage.stats import ExportBook, export_book

ADDED = datetime(2026, 11, 2, 2, 30, tzinfo=UTC)


def _book() -> ExportBook:
    """Return a small book: a holder with two policies, a referrer and a referred client."""
    holder = Client(
        id=1,
        agent_id=7,
        name="吴磊",
        phone="13812345678",
        address="城关镇 1 号",
        region="township",
        source="maturity",
        grade_timing="A",
        created_at=ADDED,
    )
    referrer = Client(
        id=2, agent_id=7, name="张伟", source="warm", warm_category=5, created_at=ADDED
    )
    referred = Client(
        id=3,
        agent_id=7,
        name='=HYPERLINK("http://x")',
        source="referral",
        referred_by_id=2,
        relation="同事",
        referral_scope="A",
        referral_permission="use_name",
        referral_approach="introduce",
        referral_channel="wechat",
        grade_willingness="B",
        created_at=ADDED,
        last_contact_at=datetime(2026, 12, 1, 1, 0, tzinfo=UTC),
    )
    first = Policy(
        id=10,
        agent_id=7,
        client_id=1,
        bank="工商银行",
        policy_number="880012345678",
        product="鑫享年金",
        premium=Decimal("10000.00"),
        sum_insured=Decimal("52000.50"),
        effective_date=date(2021, 12, 20),
        maturity_date=date(2026, 12, 20),
        holder_name="吴磊",
        insured_name="吴小磊",
    )
    second = Policy(
        id=11,
        agent_id=7,
        client_id=1,
        policy_number="P-0002",
        product="两全保险",
        sum_insured=Decimal("8000.00"),
        maturity_date=date(2027, 3, 1),
        holder_name="吴磊",
        term="5年",
    )
    case = MaturityCase(
        id=20, agent_id=7, policy_id=10, stage="visit", outcome="B", note="客户想再比较一下"
    )
    contact = Interaction(
        id=30,
        agent_id=7,
        client_id=3,
        at=datetime(2026, 12, 1, 1, 0, tzinfo=UTC),
        channel="wechat",
        note="加了微信",
    )
    return ExportBook(
        clients=[holder, referrer, referred],
        policies=[(first, case), (second, None)],
        interactions=[contact],
    )


def _sheets(content: bytes) -> dict[str, list[list[object]]]:
    workbook = load_workbook(io.BytesIO(content))
    return {
        sheet.title: [[cell.value for cell in row] for row in sheet.iter_rows()]
        for sheet in workbook.worksheets
    }


def test_workbook_has_five_sheets_with_chinese_headers_in_archive_order() -> None:
    sheets = _sheets(build_workbook(_book(), lang="zh", agent_name="王芳", zone="Asia/Shanghai"))

    assert list(sheets) == ["保单档案", "客户", "联系记录", "转介绍", "满期跟进"]
    assert sheets["保单档案"][0][:9] == [
        "保单号",
        "投保人",
        "联系电话",
        "险种",
        "保险金额",
        "保险期间",
        "客户经理",
        "投保日期",
        "备注",
    ]
    assert len(sheets["保单档案"][0]) == len(POLICY_COLUMNS)
    assert len(sheets["客户"][0]) == len(CLIENT_COLUMNS)


def test_policy_rows_carry_phone_term_manager_and_case_note() -> None:
    sheets = _sheets(build_workbook(_book(), lang="zh", agent_name="王芳", zone="Asia/Shanghai"))
    first, second = sheets["保单档案"][1:]

    assert first[:9] == [
        "880012345678",
        "吴磊",
        "13812345678",
        "鑫享年金",
        52000.5,
        "2021-12-20 至 2026-12-20",
        "王芳",
        datetime(2021, 12, 20),
        "客户想再比较一下",
    ]
    assert second[5] == "5年" and second[8] is None


def test_clients_sheet_has_every_field_with_labels_and_local_times() -> None:
    sheets = _sheets(build_workbook(_book(), lang="zh", agent_name="王芳", zone="Asia/Shanghai"))
    header, holder, referrer, referred = sheets["客户"]
    row = dict(zip(header, referred, strict=True))

    assert dict(zip(header, holder, strict=True))["区域"] == "乡镇"
    assert dict(zip(header, holder, strict=True))["促成时机"] == "A：1个月内可促成"
    assert dict(zip(header, referrer, strict=True))["缘故类别"] == "工作上认识的人"
    assert row["介绍人"] == "张伟" and row["介绍人编号"] == 2
    assert row["介绍人许可"] == "同意提他的名字"
    assert row["首次联系渠道"] == "微信/QQ"
    assert row["最近联系"] == datetime(2026, 12, 1, 9, 0)  # 01:00 UTC is 09:00 in Shanghai


def test_text_that_looks_like_a_formula_stays_text() -> None:
    workbook = load_workbook(
        io.BytesIO(build_workbook(_book(), lang="zh", agent_name="王芳", zone="Asia/Shanghai"))
    )
    cell = workbook["客户"]["B4"]

    assert cell.value == '=HYPERLINK("http://x")'
    assert cell.data_type == "s"


def test_referrals_and_contacts_sheets_list_each_row() -> None:
    sheets = _sheets(build_workbook(_book(), lang="en", agent_name="Fang", zone="Asia/Shanghai"))

    assert list(sheets) == ["Policies", "Clients", "Contacts", "Referrals", "Maturity cases"]
    referral = dict(zip(sheets["Referrals"][0], sheets["Referrals"][1], strict=True))
    assert referral["Referrer"] == "张伟"
    assert referral["Grades (timing/willingness/depth)"] == "–/B/–"
    assert referral["Bought"] == "no"
    contact = dict(zip(sheets["Contacts"][0], sheets["Contacts"][1], strict=True))
    assert contact["Channel"] == "WeChat/QQ" or contact["Channel"] == "WeChat / QQ"
    assert contact["What happened"] == "加了微信"
    case = dict(zip(sheets["Maturity cases"][0], sheets["Maturity cases"][1], strict=True))
    assert case["Outcome"] == "B" and case["Policy No."] == "880012345678"


def test_policies_sheet_reads_back_through_the_importer_in_both_languages() -> None:
    for lang in ("zh", "en"):
        content = build_workbook(_book(), lang=lang, agent_name="王芳", zone="Asia/Shanghai")

        table = read_policy_table("export.xlsx", content)

        assert table.rejected == [] and table.rows_read == 2
        first, second = table.rows
        assert (first.policy_number, first.holder, first.mobile) == (
            "880012345678",
            "吴磊",
            "13812345678",
        )
        assert (first.bank, first.product, first.insured) == ("工商银行", "鑫享年金", "吴小磊")
        assert (first.premium, first.sum_insured) == (Decimal("10000.00"), Decimal("52000.50"))
        assert (first.effective_date, first.maturity_date) == (
            date(2021, 12, 20),
            date(2026, 12, 20),
        )
        assert (second.policy_number, second.maturity_date) == ("P-0002", date(2027, 3, 1))


async def _seed_book(db: Database) -> int:
    async with db.session() as session:
        agent = Agent(telegram_id=5101, name="王芳", onboarded=True)
        other = Agent(telegram_id=5102, name="李雷", onboarded=True)
        session.add_all([agent, other])
        await session.flush()
        holder = Client(agent_id=agent.id, name="吴磊", phone="13812345678", source="maturity")
        landline = Client(agent_id=agent.id, name="陈静", phone="010-62345678", source="maturity")
        stranger = Client(agent_id=other.id, name="外人", phone="13900000000")
        session.add_all([holder, landline, stranger])
        await session.flush()
        session.add_all(
            [
                Policy(
                    agent_id=agent.id,
                    client_id=holder.id,
                    policy_number="880012345678",
                    holder_name="吴磊",
                    bank="工商银行",
                    premium=Decimal("10000"),
                    sum_insured=Decimal("52000.5"),
                    effective_date=date(2021, 12, 20),
                    maturity_date=date(2026, 12, 20),
                ),
                Policy(
                    agent_id=agent.id,
                    client_id=landline.id,
                    policy_number="P-0002",
                    holder_name="陈静",
                    maturity_date=date(2027, 3, 1),
                ),
                Policy(
                    agent_id=other.id,
                    client_id=stranger.id,
                    policy_number="X-1",
                    holder_name="外人",
                    maturity_date=date(2027, 1, 1),
                ),
            ]
        )
        return agent.id


async def _snapshot(db: Database, agent_id: int) -> list[tuple[object, ...]]:
    async with db.session() as session:
        policies = await session.execute(
            select(
                Policy.policy_number,
                Policy.client_id,
                Policy.bank,
                Policy.premium,
                Policy.sum_insured,
                Policy.effective_date,
                Policy.maturity_date,
                Policy.holder_name,
                Policy.insured_name,
            )
            .where(Policy.agent_id == agent_id)
            .order_by(Policy.policy_number)
        )
        clients = await session.execute(
            select(Client.id, Client.name, Client.phone, Client.phone2, Client.address)
            .where(Client.agent_id == agent_id)
            .order_by(Client.id)
        )
        return [tuple(row) for row in policies] + [tuple(row) for row in clients]


async def test_reimporting_the_export_changes_nothing_in_the_book(db: Database) -> None:
    agent_id = await _seed_book(db)
    before = await _snapshot(db, agent_id)
    async with db.session() as session:
        book = await export_book(session, agent_id)
    content = build_workbook(book, lang="zh", agent_name="王芳", zone="Asia/Shanghai")

    table = read_policy_table("客户资料.xlsx", content)
    async with db.session() as session:
        counts = await import_policies(session, agent_id, table.rows)

    assert (counts.added, counts.updated, counts.unchanged, counts.clients_added) == (0, 0, 2, 0)
    assert await _snapshot(db, agent_id) == before


async def test_export_book_reads_only_the_agents_own_rows(db: Database) -> None:
    agent_id = await _seed_book(db)

    async with db.session() as session:
        book = await export_book(session, agent_id)
        everyone = await session.scalar(select(func.count()).select_from(Policy))

    assert everyone == 3
    assert [p.policy_number for p, _ in book.policies] == ["880012345678", "P-0002"]
    assert {c.name for c in book.clients} == {"吴磊", "陈静"}
