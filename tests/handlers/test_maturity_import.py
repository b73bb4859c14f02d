"""/import through the real Application: files in, a summary and stored policies out."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

from msoffcrypto.format.ooxml import OOXMLFile
from telegram import Chat, Document, Message, Update

from bot import i18n
from storage.models import Client, Policy
from tests.harness import Harness, TgUser, csv_bytes, xlsx_bytes

AGENT = TgUser(3001)
AGENT_EN = TgUser(3002, "Ann", "en")

ZH_HEADER = ["序号", "代理银行", "保单号码", "保费", "保额", "生效日", "满期日", "投保人"]
ZH_HEADER += ["被保险人", "家庭住址", "家庭电话", "手机", "办公电话"]
EN_HEADER = ["Mobile", "Policy holder", "Remarks", "Maturity date", "Policy No.", "Sum insured"]
EN_HEADER += ["Bank", "Address"]


def _zh_row(number: int, **changes: object) -> list[object]:
    cells: dict[str, object] = {
        "序号": number,
        "代理银行": "工商银行",
        "保单号码": f"P2021{number:06d}",
        "保费": 10000,
        "保额": 50000,
        "生效日": dt.datetime(2021, 12, 10),
        "满期日": dt.datetime(2026, 12, 10),
        "投保人": f"客户{number}",
        "被保险人": f"客户{number}",
        "家庭住址": "浙江省淳安县千岛湖镇",
        "家庭电话": None,
        "手机": f"139{number:08d}",
        "办公电话": None,
    }
    cells.update(changes)
    return [cells[name] for name in ZH_HEADER]


async def _policies(harness: Harness) -> list[Policy]:
    """Return the stored policies in policy-number order."""
    return await harness.rows(Policy, order_by=Policy.policy_number)


async def test_import_command_then_xlsx_with_title_row_and_excel_dates(harness: Harness) -> None:
    await harness.make_agent(AGENT)
    table = xlsx_bytes([["XX银行满期保单明细表"], [], ZH_HEADER, _zh_row(1), _zh_row(2)])

    await harness.send(AGENT, "/import")
    assert "满期保单明细表" in harness.last_text(AGENT)
    await harness.send_document(AGENT, "满期保单明细表.xlsx", table)

    summary = harness.last_text(AGENT)
    assert "读取 2 行，新增 2，更新 0，未变 0，拒绝 0" in summary
    assert "2 位投保人" in summary
    stored = await _policies(harness)
    assert [p.maturity_date for p in stored] == [dt.date(2026, 12, 10)] * 2
    assert stored[0].effective_date == dt.date(2021, 12, 10)
    assert stored[0].sum_insured == Decimal(50000) and stored[0].bank == "工商银行"
    client = await harness.get(Client, stored[0].client_id)
    assert client is not None
    assert (client.name, client.source, client.region) == ("客户1", "maturity", "township")
    assert client.address == "浙江省淳安县千岛湖镇"


async def test_reimporting_the_same_file_changes_nothing(harness: Harness) -> None:
    await harness.make_agent(AGENT)
    table = xlsx_bytes([ZH_HEADER, *[_zh_row(n) for n in range(1, 6)]])
    await harness.send_document(AGENT, "t.xlsx", table)
    before = [(p.id, p.updated_at) for p in await _policies(harness)]

    await harness.send_document(AGENT, "t.xlsx", table)

    assert "新增 0，更新 0，未变 5，拒绝 0" in harness.last_text(AGENT)
    assert [(p.id, p.updated_at) for p in await _policies(harness)] == before
    assert await harness.count(Client) == 5


async def test_a_changed_row_counts_as_updated(harness: Harness) -> None:
    await harness.make_agent(AGENT)
    await harness.send_document(AGENT, "t.xlsx", xlsx_bytes([ZH_HEADER, _zh_row(1), _zh_row(2)]))

    changed = xlsx_bytes([ZH_HEADER, _zh_row(1, 保额=60000), _zh_row(2), _zh_row(3)])
    await harness.send_document(AGENT, "t.xlsx", changed)

    assert "新增 1，更新 1，未变 1，拒绝 0" in harness.last_text(AGENT)
    assert (await _policies(harness))[0].sum_insured == Decimal(60000)


async def test_english_headers_in_a_csv_for_an_english_agent(harness: Harness) -> None:
    await harness.make_agent(AGENT_EN, lang="en", name="Ann")
    rows = [
        EN_HEADER,
        ["13912345678", "Zhang San", "VIP", "2026-12-20", "EN-001", "¥50,000", "ICBC", "Anhui"],
        ["", "Li Si", "", "20261225", "EN-002", "3万", "ABC", "某某县城关路"],
    ]

    await harness.send_document(AGENT_EN, "maturity.csv", csv_bytes(rows))

    summary = harness.last_text(AGENT_EN)
    assert "2 rows read, 2 added, 0 updated, 0 unchanged, 0 rejected" in summary
    assert "Send /maturity" in summary
    stored = await _policies(harness)
    assert [(p.policy_number, p.maturity_date, p.sum_insured) for p in stored] == [
        ("EN-001", dt.date(2026, 12, 20), Decimal(50000)),
        ("EN-002", dt.date(2026, 12, 25), Decimal(30000)),
    ]


async def test_a_gbk_csv_is_read(harness: Harness) -> None:
    await harness.make_agent(AGENT)
    rows: list[list[object]] = [
        list(ZH_HEADER),
        _zh_row(1, 满期日="2026年12月20日", 投保人="欧阳娜娜"),
    ]

    await harness.send_document(AGENT, "明细.csv", csv_bytes(rows, "gbk"))

    assert "新增 1" in harness.last_text(AGENT)
    stored = await _policies(harness)
    assert stored[0].holder_name == "欧阳娜娜"
    assert stored[0].maturity_date == dt.date(2026, 12, 20)


async def test_bad_rows_are_listed_in_the_message_and_good_rows_imported(harness: Harness) -> None:
    await harness.make_agent(AGENT)
    table = xlsx_bytes(
        [ZH_HEADER, _zh_row(1), _zh_row(2, 满期日="13/45"), _zh_row(3, 投保人=None), _zh_row(4)]
    )

    await harness.send_document(AGENT, "t.xlsx", table)

    summary = harness.last_text(AGENT)
    assert "读取 4 行，新增 2，更新 0，未变 0，拒绝 2" in summary
    assert "第 3 行 · 满期日：" in summary and "13/45" in summary
    assert "第 4 行 · 投保人：" in summary
    assert harness.request.sent(chat_id=AGENT.id, method="sendDocument") == []
    assert len(await _policies(harness)) == 2


async def test_many_bad_rows_come_as_an_attached_report(harness: Harness) -> None:
    await harness.make_agent(AGENT_EN, lang="en", name="Ann")
    bad = [_zh_row(n, 满期日="someday") for n in range(1, 25)]

    await harness.send_document(AGENT_EN, "t.xlsx", xlsx_bytes([ZH_HEADER, _zh_row(99), *bad]))

    assert "24 problems" in harness.texts(AGENT_EN)[-2]
    assert "Row 3 ·" not in harness.texts(AGENT_EN)[-2]
    (sent,) = harness.request.sent(chat_id=AGENT_EN.id, method="sendDocument")
    filename, content = next(iter(sent.files.values()))
    report = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert filename == "import-problems.csv"
    assert report[0] == ["Row", "Column", "Problem"]
    assert len(report) == 25 and report[1][:2] == ["3", "满期日"]
    assert len(await _policies(harness)) == 1


async def test_a_document_that_is_not_a_table_gets_one_sentence(harness: Harness) -> None:
    await harness.make_agent(AGENT)

    await harness.send_document(AGENT, "photo.pdf", b"%PDF-1.4 not a table")
    assert "不认识这种文件" in harness.last_text(AGENT)

    await harness.send_document(AGENT, "notes.csv", "买菜,做饭\n洗碗,睡觉\n".encode())
    assert "没有找到表头" in harness.last_text(AGENT)

    await harness.send_document(AGENT, "fake.xlsx", b"this is no workbook at all")
    assert "打不开" in harness.last_text(AGENT)
    assert await _policies(harness) == []


async def test_a_file_over_20_mb_is_refused_without_downloading_it(harness: Harness) -> None:
    await harness.make_agent(AGENT)
    file_id = harness.request.add_file(b"x")
    document = Document(file_id, file_id, file_name="big.xlsx", file_size=21 * 1024 * 1024)
    chat = Chat(AGENT.id, Chat.PRIVATE)
    message = Message(1, harness.clock.now(), chat, from_user=AGENT.telegram(), document=document)
    message.set_bot(harness.app.bot)
    await harness.app.process_update(Update(5555, message=message))

    assert "文件太大了" in harness.last_text(AGENT)
    assert harness.request.sent(method="getFile") == []


async def test_import_waits_for_a_file_and_asks_again_for_text(harness: Harness) -> None:
    await harness.make_agent(AGENT)
    await harness.send(AGENT, "/import")

    await harness.send(AGENT, "好的")
    assert "这一步要的是文件" in harness.texts(AGENT)[-2]

    await harness.send_document(AGENT, "t.xlsx", xlsx_bytes([ZH_HEADER, _zh_row(1)]))
    assert "新增 1" in harness.last_text(AGENT)
    await harness.send(AGENT, "你好")
    assert "没有对应的操作" in harness.last_text(AGENT)  # the import conversation has ended


async def test_a_failed_download_asks_to_send_again(harness: Harness) -> None:
    await harness.make_agent(AGENT)
    harness.request.fail_next("getFile", status=400, description="Bad Request: file is too big")

    await harness.send_document(AGENT, "t.xlsx", xlsx_bytes([ZH_HEADER, _zh_row(1)]))

    assert "没能从 Telegram 取到" in harness.last_text(AGENT)
    assert await _policies(harness) == []


async def test_an_existing_client_is_matched_by_phone_not_duplicated(harness: Harness) -> None:
    agent = await harness.make_agent(AGENT)
    async with harness.db.session() as session:
        session.add(Client(agent_id=agent.id, name="老客户", phone="13900000001"))

    await harness.send_document(AGENT, "t.xlsx", xlsx_bytes([ZH_HEADER, _zh_row(1)]))

    assert await harness.count(Client) == 1
    assert "位投保人" not in harness.last_text(AGENT)


async def test_a_password_protected_workbook_gets_one_sentence(harness: Harness) -> None:
    await harness.make_agent(AGENT_EN, lang="en", name="Ann")
    encrypted = io.BytesIO()
    OOXMLFile(io.BytesIO(xlsx_bytes([ZH_HEADER, _zh_row(1)]))).encrypt("secret", encrypted)

    await harness.send_document(AGENT_EN, "locked.xlsx", encrypted.getvalue())

    assert harness.last_text(AGENT_EN) == i18n.t("en", "importer.encrypted")
    assert await _policies(harness) == []
