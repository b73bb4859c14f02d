"""Tests for reading the bank's maturity policy table from xlsx, xls and csv files."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from decimal import Decimal

import pytest
import xlwt
from hypothesis import given, settings
from hypothesis import strategies as st
from msoffcrypto.format.ooxml import OOXMLFile

from bot import i18n, importer
from bot.importer import (
    ImportRefused,
    PolicyRow,
    RowProblem,
    TableRead,
    read_policy_table,
    write_problem_report,
)
from tests.harness import MATURITY_HEADER_ZH, csv_bytes, xlsx_bytes

ZH_HEADER = list(MATURITY_HEADER_ZH)
EN_HEADER = [
    "Mobile",
    "Policy holder",
    "Remarks",
    "Maturity Date",
    "Policy No.",
    "Sum insured",
    "Bank",
]


def _zh_row(number: int, **changes: object) -> list[object]:
    """Build one filled-in row under ZH_HEADER, with some cells replaced."""
    cells: dict[str, object] = {
        "序号": number,
        "代理银行": "工商银行城西支行",
        "保单号码": f"P2021{number:06d}",
        "险种": "鑫享年金",
        "保费": 50000,
        "保额": "5.5万",
        "生效日": dt.datetime(2021, 7, 25),
        "满期日": dt.date(2026, 7, 25),
        "投保人": "张三",
        "被保险人": "张小三",
        "家庭住址": "杭州市西湖区文三路 1 号",
        "家庭电话": "0571-88886666",
        "手机": 13812345678,
        "办公电话": "(010)12345678",
    }
    cells.update(changes)
    return [cells[name] for name in ZH_HEADER]


def _problems(read: TableRead) -> dict[int, list[tuple[str, str]]]:
    """Group a read's problems by row as (column, key) pairs."""
    grouped: dict[int, list[tuple[str, str]]] = {}
    for problem in read.rejected:
        grouped.setdefault(problem.row_number, []).append((problem.column, problem.key))
    return grouped


def _refusal(filename: str, content: bytes) -> str:
    """Return the catalog key with which a file is refused."""
    with pytest.raises(ImportRefused) as caught:
        read_policy_table(filename, content)
    assert i18n.has("zh", caught.value.key) and i18n.has("en", caught.value.key)
    return caught.value.key


# --- reading good tables ----------------------------------------------------------------------


def test_reads_every_column_of_a_chinese_xlsx() -> None:
    read = read_policy_table("满期保单明细表.xlsx", xlsx_bytes([ZH_HEADER, _zh_row(1)]))

    assert read.rejected == []
    assert read.rows_read == 1
    assert read.rows == [
        PolicyRow(
            row_number=2,
            bank="工商银行城西支行",
            policy_number="P2021000001",
            product="鑫享年金",
            premium=Decimal("50000.00"),
            sum_insured=Decimal("55000.00"),
            effective_date=dt.date(2021, 7, 25),
            maturity_date=dt.date(2026, 7, 25),
            holder="张三",
            insured="张小三",
            address="杭州市西湖区文三路 1 号",
            home_phone="0571-88886666",
            mobile="13812345678",
            office_phone="010-12345678",
        )
    ]


def test_reads_english_headers_in_any_order_and_ignores_extra_columns() -> None:
    rows = [
        EN_HEADER,
        ["+86 139 0000 1111", "Li Si", "VIP", "2027-01-31", "A-778", "120,000", "BOC"],
    ]

    read = read_policy_table("export.csv", csv_bytes(rows))

    (policy,) = read.rows
    assert policy.policy_number == "A-778"
    assert policy.holder == "Li Si"
    assert policy.maturity_date == dt.date(2027, 1, 31)
    assert policy.mobile == "13900001111"
    assert policy.sum_insured == Decimal("120000")
    assert policy.bank == "BOC"
    assert policy.premium is None and policy.insured is None and policy.home_phone is None


@pytest.mark.parametrize(
    "header",
    [
        ["保单号", "投保人", "满期日期"],
        ["Policy Number", "Holder", "Maturity"],
        [" 保单 号码 ", "投保人：", "满期日（年月日）"],
        ["POLICY_NO", "policy-holder", "MATURITY DATE"],
    ],
)
def test_recognises_header_variants_regardless_of_case_spaces_and_punctuation(
    header: list[str],
) -> None:
    read = read_policy_table("t.csv", csv_bytes([header, ["P1", "王五", "2026-08-01"]]))

    assert [row.policy_number for row in read.rows] == ["P1"]


def test_finds_the_header_below_title_rows_and_keeps_spreadsheet_row_numbers() -> None:
    sheet = [
        ["2026年7月满期保单明细表"],
        ["导出日期：2026-06-01", None, "机构：城西支行"],
        [],
        ZH_HEADER,
        _zh_row(1),
        _zh_row(2),
    ]

    read = read_policy_table("t.xlsx", xlsx_bytes(sheet))

    assert [row.row_number for row in read.rows] == [5, 6]


def test_reads_the_first_sheet_that_holds_the_table() -> None:
    cover = [["说明"], ["本表由系统导出，请勿修改表头。"]]

    read = read_policy_table("t.xlsx", xlsx_bytes(cover, [ZH_HEADER, _zh_row(1)]))

    assert len(read.rows) == 1


def test_refuses_a_header_below_the_first_twenty_rows() -> None:
    sheet: list[list[object]] = [[f"备注 {i}"] for i in range(20)]
    sheet += [ZH_HEADER, _zh_row(1)]

    assert _refusal("t.xlsx", xlsx_bytes(sheet)) == "importer.no_header"


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8", "utf-8-sig"])
def test_reads_csv_in_chinese_and_unicode_encodings(encoding: str) -> None:
    rows = [ZH_HEADER, [str(cell) for cell in _zh_row(7, 满期日="2026/9/1", 生效日="")]]

    read = read_policy_table("t.csv", csv_bytes(rows, encoding))

    (policy,) = read.rows
    assert policy.holder == "张三"
    assert policy.address == "杭州市西湖区文三路 1 号"
    assert policy.maturity_date == dt.date(2026, 9, 1)


def test_reads_tab_separated_csv() -> None:
    rows = [["保单号码", "投保人", "满期日"], ["P9", "赵六", "2026-10-10"]]

    read = read_policy_table("t.csv", csv_bytes(rows, delimiter="\t"))

    assert [row.holder for row in read.rows] == ["赵六"]


def test_reads_an_old_xls_workbook() -> None:
    workbook = xlwt.Workbook()
    sheet = workbook.add_sheet("满期")
    date_style = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    for column, title in enumerate(["保单号码", "投保人", "满期日", "手机"]):
        sheet.write(0, column, title)
    sheet.write(1, 0, "P1")
    sheet.write(1, 1, "张三")
    sheet.write(1, 2, dt.date(2026, 12, 5), date_style)
    sheet.write(1, 3, 13812345678)
    buffer = io.BytesIO()
    workbook.save(buffer)

    read = read_policy_table("old.XLS", buffer.getvalue())

    (policy,) = read.rows
    assert policy.maturity_date == dt.date(2026, 12, 5)
    assert policy.mobile == "13812345678"


# --- dates, amounts, phones, numbers ------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (dt.date(2024, 7, 25), dt.date(2024, 7, 25)),
        (dt.datetime(2024, 7, 25, 0, 0), dt.date(2024, 7, 25)),
        (20240725, dt.date(2024, 7, 25)),
        (20240725.0, dt.date(2024, 7, 25)),
        ("20240725", dt.date(2024, 7, 25)),
        (45498, dt.date(2024, 7, 25)),
        ("2024-07-25", dt.date(2024, 7, 25)),
        ("2024/7/25", dt.date(2024, 7, 25)),
        ("2024.7.25", dt.date(2024, 7, 25)),
        ("2024年7月25日", dt.date(2024, 7, 25)),
        ("2024-07-25 00:00:00", dt.date(2024, 7, 25)),
        ("2024-07-25T10:30", dt.date(2024, 7, 25)),
        ("25 Jul 2024", dt.date(2024, 7, 25)),
    ],
)
def test_reads_maturity_dates_in_every_form(cell: object, expected: dt.date) -> None:
    read = read_policy_table("t.xlsx", xlsx_bytes([ZH_HEADER, _zh_row(1, 满期日=cell)]))

    assert [row.maturity_date for row in read.rows] == [expected]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (50000, Decimal("50000")),
        (50000.5, Decimal("50000.50")),
        (0.1 + 0.2, Decimal("0.30")),
        ("5万", Decimal("50000")),
        ("¥50,000.00", Decimal("50000")),
        ("五万元", Decimal("50000")),
        (0, None),
        ("0.00", None),
        (None, None),
        ("--", None),
    ],
)
def test_reads_amounts_from_numbers_and_text(cell: object, expected: Decimal | None) -> None:
    read = read_policy_table("t.xlsx", xlsx_bytes([ZH_HEADER, _zh_row(1, 保费=cell)]))

    assert [row.premium for row in read.rows] == [expected]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (13812345678, "13812345678"),
        (13812345678.0, "13812345678"),
        ("138-1234-5678", "13812345678"),
        ("13812345678/13987654321", "13812345678"),
        ("138****5678", None),
        ("无", None),
        (None, None),
    ],
)
def test_reads_mobiles_and_treats_masked_numbers_as_empty(
    cell: object, expected: str | None
) -> None:
    read = read_policy_table("t.xlsx", xlsx_bytes([ZH_HEADER, _zh_row(1, 手机=cell)]))

    assert [row.mobile for row in read.rows] == [expected]


def test_a_plain_phone_column_fills_mobile_or_home_phone_by_the_number_kind() -> None:
    rows = [
        ["保单号码", "投保人", "满期日", "联系电话"],
        ["P1", "甲", "2026-01-01", "13812345678"],
        ["P2", "乙", "2026-01-01", "010-12345678"],
    ]

    read = read_policy_table("t.csv", csv_bytes(rows))

    assert [(row.mobile, row.home_phone) for row in read.rows] == [
        ("13812345678", None),
        (None, "010-12345678"),
    ]


def test_keeps_every_digit_of_a_numeric_policy_number() -> None:
    read = read_policy_table("t.xlsx", xlsx_bytes([ZH_HEADER, _zh_row(1, 保单号码=880012345678)]))

    assert [row.policy_number for row in read.rows] == ["880012345678"]


# --- rejected rows ------------------------------------------------------------------------------


def test_rejects_bad_rows_with_one_problem_per_bad_cell_and_keeps_good_rows() -> None:
    sheet = [
        ZH_HEADER,
        _zh_row(1),
        _zh_row(2, 满期日="2026-02-30"),
        _zh_row(3, 手机="12345", 保费="很多"),
        _zh_row(4, 投保人=None),
        _zh_row(5, 保单号码=" "),
        _zh_row(6, 家庭电话="0571-8888"),
        _zh_row(7, 保单号码="P2021000001"),
        _zh_row(8, 保单号码="8.80012E+11"),
        _zh_row(9, 投保人="名" * 41),
        _zh_row(10, 生效日="去年"),
        _zh_row(11, 保额=-5),
    ]

    read = read_policy_table("t.xlsx", xlsx_bytes(sheet))

    assert [row.row_number for row in read.rows] == [2]
    assert read.rows_read == 11
    assert _problems(read) == {
        3: [("满期日", "importer.bad_date")],
        4: [("手机", "importer.bad_phone"), ("保费", "importer.bad_amount")],
        5: [("投保人", "importer.missing_value")],
        6: [("保单号码", "importer.missing_value")],
        7: [("家庭电话", "importer.bad_phone")],
        8: [("保单号码", "importer.duplicate_policy")],
        9: [("保单号码", "importer.policy_number_mangled")],
        10: [("投保人", "importer.too_long")],
        11: [("生效日", "importer.bad_date")],
        12: [("保额", "importer.bad_amount")],
    }
    for problem in read.rejected:
        for lang in i18n.LANGUAGES:
            assert i18n.has(lang, problem.key)
            assert "{" not in problem.message(lang)


def test_problem_values_name_the_first_copy_and_quote_the_bad_cell() -> None:
    sheet = [ZH_HEADER, _zh_row(1), _zh_row(2, 保单号码="P2021000001", 满期日="13/45")]

    read = read_policy_table("t.xlsx", xlsx_bytes(sheet))

    assert len(read.rejected) == 2
    duplicate = next(p for p in read.rejected if p.key == "importer.duplicate_policy")
    assert duplicate.values["first_row"] == 2
    assert "13/45" in next(p for p in read.rejected if p.key == "importer.bad_date").message("en")


def test_requires_a_maturity_date_in_every_row() -> None:
    read = read_policy_table("t.xlsx", xlsx_bytes([ZH_HEADER, _zh_row(1, 满期日=None)]))

    assert read.rows == []
    assert [(p.column, p.key) for p in read.rejected] == [("满期日", "importer.missing_value")]


def test_skips_blank_rows_totals_and_repeated_headers_without_counting_them() -> None:
    sheet = [
        ZH_HEADER,
        _zh_row(1),
        [None] * len(ZH_HEADER),
        ["", "  ", None],
        ZH_HEADER,
        _zh_row(2),
        ["合计", None, None, None, 100000],
    ]

    read = read_policy_table("t.xlsx", xlsx_bytes(sheet))

    assert [row.row_number for row in read.rows] == [2, 6]
    assert read.rows_read == 2
    assert read.rejected == []


def test_a_header_with_no_rows_reads_nothing() -> None:
    read = read_policy_table("t.csv", csv_bytes([ZH_HEADER]))

    assert (read.rows, read.rejected, read.rows_read) == ([], [], 0)


# --- refused files ------------------------------------------------------------------------------


def test_refuses_random_bytes_named_xlsx() -> None:
    assert _refusal("t.xlsx", bytes(range(256)) * 40) == "importer.corrupt"


def test_refuses_a_zip_that_is_not_a_workbook() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "not a workbook")

    assert _refusal("t.xlsx", buffer.getvalue()) == "importer.corrupt"


@pytest.mark.parametrize("filename", ["scan.pdf", "photo.jpg", "table", "notes.txt"])
def test_refuses_files_of_other_types(filename: str) -> None:
    assert _refusal(filename, b"%PDF-1.7 whatever") == "importer.unknown_type"


@pytest.mark.parametrize(
    ("filename", "content"), [("t.csv", b""), ("t.csv", b" \r\n"), ("t.xlsx", b"")]
)
def test_refuses_an_empty_file(filename: str, content: bytes) -> None:
    assert _refusal(filename, content) == "importer.empty"


def test_refuses_a_csv_without_a_recognisable_header() -> None:
    rows = [["姓名", "电话"], ["张三", "13812345678"]]

    assert _refusal("t.csv", csv_bytes(rows)) == "importer.no_header"


def test_refuses_a_header_that_lacks_a_required_column() -> None:
    rows = [["保单号码", "投保人", "生效日"], ["P1", "张三", "2020-01-01"]]

    assert _refusal("t.xlsx", xlsx_bytes(rows)) == "importer.no_header"


def test_refuses_a_csv_that_is_neither_unicode_nor_gb18030() -> None:
    assert _refusal("t.csv", b"\x81\x30\xff\xff" * 10) == "importer.bad_encoding"


def test_refuses_a_file_over_the_size_limit_before_reading_it() -> None:
    oversized = b"PK\x03\x04" + b"\0" * importer.MAX_FILE_BYTES

    assert _refusal("t.xlsx", oversized) == "importer.too_large"


def test_refuses_a_workbook_that_would_unpack_beyond_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    content = xlsx_bytes([ZH_HEADER, _zh_row(1)])
    monkeypatch.setattr(importer, "MAX_UNPACKED_BYTES", 1000)

    assert _refusal("t.xlsx", content) == "importer.too_large"


def test_refuses_a_password_protected_workbook() -> None:
    encrypted = io.BytesIO()
    OOXMLFile(io.BytesIO(xlsx_bytes([ZH_HEADER, _zh_row(1)]))).encrypt("secret", encrypted)

    assert _refusal("t.xlsx", encrypted.getvalue()) == "importer.encrypted"


def test_refuses_a_bare_ole_container_that_is_no_workbook() -> None:
    ole_header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 1024

    assert _refusal("t.xlsx", ole_header) == "importer.corrupt"


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=2000), st.sampled_from(["t.xlsx", "t.xls", "t.csv"]))
def test_no_bytes_make_the_reader_raise_anything_but_import_refused(
    content: bytes, filename: str
) -> None:
    try:
        read = read_policy_table(filename, content)
    except ImportRefused as refused:
        assert i18n.has("en", refused.key)
        return
    assert read.rows_read >= len(read.rows)


# --- problem report -----------------------------------------------------------------------------


def test_problem_report_is_a_csv_with_bom_and_one_line_per_problem() -> None:
    problems = [
        RowProblem(3, "满期日", "importer.bad_date", {"value": "2026-02-30"}),
        RowProblem(9, "手机", "importer.bad_phone", {"value": "12345"}),
    ]

    report = write_problem_report(problems, "zh")

    assert report.startswith(b"\xef\xbb\xbf")
    lines = list(csv.reader(io.StringIO(report.decode("utf-8-sig"))))
    assert lines[0] == ["行号", "列", "问题"]
    assert [line[:2] for line in lines[1:]] == [["3", "满期日"], ["9", "手机"]]
    assert lines[1][2] == problems[0].message("zh") and "2026-02-30" in lines[1][2]


def test_problem_report_headings_follow_the_language() -> None:
    report = write_problem_report([], "en").decode("utf-8-sig")

    assert report.splitlines() == ["Row,Column,Problem"]


def test_problem_report_defuses_cells_that_a_spreadsheet_would_run_as_formulas() -> None:
    problem = RowProblem(2, '=HYPERLINK("http://x")', "importer.bad_phone", {"value": "1"})

    lines = list(
        csv.reader(io.StringIO(write_problem_report([problem], "en").decode("utf-8-sig")))
    )

    assert lines[1][1].startswith("'=")
