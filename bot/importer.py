"""Reading the bank's maturity policy table (满期保单明细表) from an uploaded file.

Owns turning the bytes of an ``.xlsx``/``.xls`` workbook or a ``.csv`` export into typed
:class:`PolicyRow` records, plus one :class:`RowProblem` per cell that could not be read.
It touches no database and no Telegram object: the maturity handler decides what to store
and what to tell the user.

The reader is forgiving about layout: headers may be Chinese or English, in any order,
below a title, among columns it does not know; dates and amounts may be typed the ways
``bot.parsing`` accepts or stored as real Excel dates and numbers. A file that is not such
a table at all raises :class:`ImportRefused` with the catalog key of the reason.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import math
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from itertools import islice
from pathlib import PurePath
from types import MappingProxyType
from typing import TypeVar

import python_calamine

from bot.i18n import t
from bot.parsing import MAX_MONEY, MAX_NAME_LENGTH, ParseError, parse_calendar_date, parse_money
from bot.parsing import parse_phone as _parse_phone

logger = logging.getLogger(__name__)

__all__ = [
    "MAX_FILE_BYTES",
    "ImportRefused",
    "PolicyRow",
    "RowProblem",
    "TableRead",
    "read_policy_table",
    "write_problem_report",
]

MAX_FILE_BYTES = 20 * 1024 * 1024
# A workbook is a zip archive; this caps what it may unpack to, so that a small file
# cannot expand into gigabytes of sheet XML.
MAX_UNPACKED_BYTES = 300 * 1024 * 1024
HEADER_SEARCH_ROWS = 20

_EXCEL_EXTENSIONS = frozenset({".xlsx", ".xlsm", ".xls"})
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Password-protected xlsx files are OLE containers holding an "EncryptionInfo" stream;
# directory entries name their streams in UTF-16LE.
_ENCRYPTION_STREAM = "EncryptionInfo".encode("utf-16-le")

Cell = object
Rows = Sequence[Sequence[Cell]]
_T = TypeVar("_T")


class ImportRefused(Exception):
    """A file that is not a readable maturity table; ``key`` names the reason in the catalog."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(key)
        self.key = key
        self.values: dict[str, object] = values

    def message(self, lang: str) -> str:
        """Render the reason in ``lang``, with what to send instead."""
        return t(lang, self.key, **self.values)


@dataclass(frozen=True, slots=True)
class PolicyRow:
    """One policy read from the table; ``row_number`` is the row as the spreadsheet shows it."""

    row_number: int
    bank: str | None
    policy_number: str
    product: str | None
    premium: Decimal | None
    sum_insured: Decimal | None
    effective_date: dt.date | None
    maturity_date: dt.date
    holder: str
    insured: str | None
    address: str | None
    home_phone: str | None
    mobile: str | None
    office_phone: str | None


@dataclass(frozen=True, slots=True)
class RowProblem:
    """Why one row was rejected: the cell's column header and the catalog key of the reason."""

    row_number: int
    column: str
    key: str
    values: Mapping[str, object] = field(default_factory=dict)

    def message(self, lang: str) -> str:
        """Render the reason in ``lang``."""
        return t(lang, self.key, **self.values)


@dataclass(slots=True)
class TableRead:
    """What a table yielded: accepted rows, problems of rejected rows, data rows seen."""

    rows: list[PolicyRow] = field(default_factory=list)
    rejected: list[RowProblem] = field(default_factory=list)
    rows_read: int = 0


# --- columns ------------------------------------------------------------------------------

_ROW_NO = "row_no"
_BANK = "bank"
_POLICY = "policy_number"
_PRODUCT = "product"
_PREMIUM = "premium"
_SUM_INSURED = "sum_insured"
_EFFECTIVE = "effective_date"
_MATURITY = "maturity_date"
_HOLDER = "holder"
_INSURED = "insured"
_ADDRESS = "address"
_HOME_PHONE = "home_phone"
_MOBILE = "mobile"
_OFFICE_PHONE = "office_phone"
# A column that only says "phone": its numbers go to mobile or home phone by their kind.
_ANY_PHONE = "any_phone"

_REQUIRED = (_POLICY, _HOLDER, _MATURITY)

# Header spellings after _header_key(): lower case, without spaces or punctuation.
_HEADER_ALIASES = MappingProxyType(
    {
        alias: column
        for column, aliases in {
            _ROW_NO: ("序号", "no", "seq", "行号"),
            _BANK: ("代理银行", "银行", "bank", "agentbank", "代理行"),
            _POLICY: (
                "保单号码",
                "保单号",
                "保险单号",
                "保险单号码",
                "policyno",
                "policynumber",
                "policy",
            ),
            _PRODUCT: ("险种", "险种名称", "产品", "产品名称", "product", "productname", "plan"),
            _PREMIUM: ("保费", "保险费", "期缴保费", "年缴保费", "premium"),
            _SUM_INSURED: (
                "保额",
                "保险金额",
                "基本保额",
                "suminsured",
                "sumassured",
                "coverage",
            ),
            _EFFECTIVE: (
                "生效日",
                "生效日期",
                "起保日",
                "起保日期",
                "effectivedate",
                "effective",
                "startdate",
            ),
            _MATURITY: (
                "满期日",
                "满期日期",
                "到期日",
                "到期日期",
                "maturitydate",
                "maturity",
                "expirydate",
            ),
            _HOLDER: ("投保人", "投保人姓名", "policyholder", "holder", "applicant"),
            _INSURED: ("被保险人", "被保人", "被保险人姓名", "insured", "insuredperson"),
            _ADDRESS: (
                "家庭住址",
                "地址",
                "住址",
                "家庭地址",
                "联系地址",
                "address",
                "homeaddress",
            ),
            _HOME_PHONE: ("家庭电话", "住宅电话", "家庭电话号码", "homephone", "hometel"),
            _MOBILE: (
                "手机",
                "手机号",
                "手机号码",
                "移动电话",
                "mobile",
                "mobilephone",
                "mobileno",
                "cellphone",
                "cell",
            ),
            _OFFICE_PHONE: (
                "办公电话",
                "单位电话",
                "officephone",
                "worktel",
                "workphone",
                "officetel",
            ),
            _ANY_PHONE: ("电话", "联系电话", "电话号码", "phone", "tel", "telephone"),
        }.items()
        for alias in aliases
    }
)
# Longest sensible value per text column; anything longer is a pasting accident.
_TEXT_LIMITS = MappingProxyType(
    {
        _POLICY: 50,
        _HOLDER: MAX_NAME_LENGTH,
        _INSURED: MAX_NAME_LENGTH,
        _BANK: 100,
        _PRODUCT: 100,
        _ADDRESS: 200,
    }
)
# Cells that bank exports use to mean "nothing here".
_BLANK_TOKENS = frozenset(
    {"", "-", "--", "—", "/", "无", "暂无", "空", "null", "none", "n/a", "na"}
)
# Rows that sum up the table rather than describe a policy.
_TOTAL_TOKENS = frozenset({"合计", "总计", "小计", "total", "subtotal"})
_BRACKETED = re.compile(r"\([^)]*\)|\[[^\]]*\]|【[^】]*】")
_SCIENTIFIC = re.compile(r"[0-9](?:\.[0-9]+)?e\+?[0-9]+", re.IGNORECASE)
_TRAILING_TIME = re.compile(r"[ t][0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?$")
_PHONE_SEPARATORS = re.compile(r"[/,，;；、|]")
# Excel counts days from 1899-12-30 (its 1900 leap-year bug folded in).
_EXCEL_EPOCH = dt.date(1899, 12, 30)
_EXCEL_SERIAL_RANGE = range(
    (dt.date(1900, 3, 1) - _EXCEL_EPOCH).days, (dt.date(2200, 1, 1) - _EXCEL_EPOCH).days
)


def _header_key(cell: Cell) -> str:
    """Reduce a header cell to lower-case letters and digits for matching."""
    text = unicodedata.normalize("NFKC", str(cell)).lower()
    # Units and notes in brackets do not change a column's meaning: 保费（元）is 保费.
    text = _BRACKETED.sub("", text)
    return "".join(ch for ch in text if ch.isalnum())


# --- entry points -------------------------------------------------------------------------


def read_policy_table(filename: str, content: bytes) -> TableRead:
    """Read a maturity policy table from an uploaded file's name and bytes."""
    extension = PurePath(filename).suffix.lower()
    if extension not in _EXCEL_EXTENSIONS and extension != ".csv":
        raise ImportRefused("importer.unknown_type", extension=extension or filename[:20])
    if len(content) > MAX_FILE_BYTES:
        raise ImportRefused("importer.too_large", limit_mb=MAX_FILE_BYTES // (1024 * 1024))
    if not content.strip():
        raise ImportRefused("importer.empty")

    sheets = _csv_sheets(content) if extension == ".csv" else _workbook_sheets(content)
    for name, rows in sheets:
        header_at = _find_header(rows)
        if header_at is not None:
            logger.debug("header found in sheet %r at row %d", name, header_at + 1)
            return _read_rows(rows, header_at)
    raise ImportRefused("importer.no_header")


def write_problem_report(problems: Iterable[RowProblem], lang: str) -> bytes:
    """Write problems as a CSV (UTF-8 with BOM, so Excel opens it) of row, column, reason."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        [
            t(lang, "importer.report_row"),
            t(lang, "importer.report_column"),
            t(lang, "importer.report_problem"),
        ]
    )
    for problem in problems:
        writer.writerow(
            [problem.row_number, _inert(problem.column), _inert(problem.message(lang))]
        )
    return buffer.getvalue().encode("utf-8-sig")


def _inert(text: str) -> str:
    """Keep a spreadsheet from running a cell as a formula (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# --- opening files ------------------------------------------------------------------------


def _csv_sheets(content: bytes) -> Iterator[tuple[str, Rows]]:
    """Decode a CSV export and yield its rows, split by the delimiter that fits."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ImportRefused("importer.bad_encoding")
    if "\x00" in text:
        # Text files have no NUL characters; this is a binary file named .csv.
        raise ImportRefused("importer.corrupt")

    # Banks export with commas, but tab- and semicolon-separated files turn up too; the
    # delimiter whose first rows hold a recognisable header wins.
    try:
        for delimiter in (",", "\t", ";"):
            head = list(
                islice(csv.reader(io.StringIO(text), delimiter=delimiter), HEADER_SEARCH_ROWS)
            )
            if _find_header(head) is not None:
                yield "csv", list(csv.reader(io.StringIO(text), delimiter=delimiter))
                return
    except csv.Error:
        # Raised for a field beyond csv's size limit: not a table a person typed.
        raise ImportRefused("importer.corrupt") from None


def _workbook_sheets(content: bytes) -> Iterator[tuple[str, Rows]]:
    """Open a workbook with python-calamine and yield each worksheet's cells."""
    if content.startswith(_OLE_MAGIC) and _ENCRYPTION_STREAM in content:
        raise ImportRefused("importer.encrypted")
    if content.startswith(_ZIP_MAGIC):
        _check_unpacked_size(content)
    elif not content.startswith(_OLE_MAGIC):
        raise ImportRefused("importer.corrupt")

    try:
        workbook = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(content))
    except python_calamine.PasswordError:
        raise ImportRefused("importer.encrypted") from None
    except Exception as error:
        # calamine raises its own error types and, for malformed parts, plain ValueError
        # or OSError; whichever it is, the workbook cannot be read.
        logger.info("workbook rejected by calamine: %s", type(error).__name__)
        if "password" in str(error).lower():
            raise ImportRefused("importer.encrypted") from None
        raise ImportRefused("importer.corrupt") from None

    with workbook:
        for index, name in enumerate(workbook.sheet_names):
            try:
                sheet = workbook.get_sheet_by_index(index)
                # skip_empty_area=False keeps blank leading rows, so list positions are
                # the row numbers the user sees in Excel.
                rows: Rows = sheet.to_python(skip_empty_area=False)
            except Exception as error:
                # A chart sheet or a damaged one; the table may still be on another sheet.
                logger.info("sheet %d unreadable: %s", index, type(error).__name__)
                continue
            yield name, rows


def _check_unpacked_size(content: bytes) -> None:
    """Refuse a workbook whose zip members would unpack to more than the limit."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        raise ImportRefused("importer.corrupt") from None
    if unpacked > MAX_UNPACKED_BYTES:
        raise ImportRefused("importer.too_large", limit_mb=MAX_FILE_BYTES // (1024 * 1024))


# --- reading rows -------------------------------------------------------------------------


def _find_header(rows: Rows) -> int | None:
    """Return the index of the first of the top rows that names the required columns."""
    for index, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        columns = {_HEADER_ALIASES.get(_header_key(cell)) for cell in row}
        if all(required in columns for required in _REQUIRED):
            return index
    return None


def _column_map(header: Sequence[Cell]) -> dict[str, tuple[int, str]]:
    """Map each known column to its position and its header as written in the file."""
    columns: dict[str, tuple[int, str]] = {}
    for position, cell in enumerate(header):
        column = _HEADER_ALIASES.get(_header_key(cell))
        # The first of two columns with the same meaning wins; later ones are extras.
        if column is not None and column not in columns:
            columns[column] = (position, " ".join(str(cell).split()))
    return columns


def _read_rows(rows: Rows, header_at: int) -> TableRead:
    """Turn every data row below the header into a PolicyRow or its problems."""
    columns = _column_map(rows[header_at])
    result = TableRead()
    first_row_of: dict[str, int] = {}

    for index in range(header_at + 1, len(rows)):
        row_number = index + 1
        reader = _RowReader(rows[index], row_number, columns)
        if reader.carries_no_policy():
            # Blank rows, totals and a header repeated on every printed page are not
            # counted as read or rejected.
            continue
        result.rows_read += 1

        policy = reader.policy_row()
        number = reader.policy_number
        if number is not None and number in first_row_of:
            # Later copies are refused even when the first copy was itself rejected, so
            # that fixing the file never leaves two rows competing for one policy.
            reader.problem(
                _POLICY, "importer.duplicate_policy", value=number, first_row=first_row_of[number]
            )
            policy = None
        elif number is not None:
            first_row_of[number] = row_number
        if policy is None:
            result.rejected.extend(reader.problems)
        else:
            result.rows.append(policy)

    logger.info(
        "policy table read: %d rows, %d accepted, %d problems",
        result.rows_read,
        len(result.rows),
        len(result.rejected),
    )
    return result


class _CellError(Exception):
    """A cell that cannot be read; carries the catalog key and its values."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


class _RowReader:
    """Reads one row's cells by column, collecting a problem per unreadable cell."""

    def __init__(
        self, row: Sequence[Cell], row_number: int, columns: Mapping[str, tuple[int, str]]
    ) -> None:
        self.row = row
        self.row_number = row_number
        self.columns = columns
        self.problems: list[RowProblem] = []
        self.policy_number: str | None = None
        self._failed: set[str] = set()

    def carries_no_policy(self) -> bool:
        """Tell whether the row is blank, a totals line or the header repeated."""
        cells = [cell for cell in self.row if _plain(cell) is not None]
        if not cells:
            return True
        short_texts = [_header_key(c) for c in cells if isinstance(c, str) and len(c) <= 20]
        if any(text in _TOTAL_TOKENS for text in short_texts):
            return True
        return _HEADER_ALIASES.get(_header_key(self.cell(_POLICY))) == _POLICY

    def problem(self, column: str, key: str, /, **values: object) -> None:
        """Record a problem against ``column`` of this row."""
        header = self.columns[column][1] if column in self.columns else column
        self.problems.append(RowProblem(self.row_number, header, key, values))
        self._failed.add(column)

    def cell(self, column: str) -> Cell:
        """Return the raw cell under ``column``, or None if the column or cell is missing."""
        if column not in self.columns:
            return None
        position = self.columns[column][0]
        return self.row[position] if position < len(self.row) else None

    def read(self, column: str, convert: Callable[[Cell], _T | None]) -> _T | None:
        """Convert one cell, turning a failure into a problem and None."""
        try:
            return convert(self.cell(column))
        except _CellError as error:
            self.problem(column, error.key, **error.values)
            return None

    def text(self, column: str) -> str | None:
        """Read a text cell, refusing values longer than the column allows."""
        value = self.read(column, _cell_text)
        limit = _TEXT_LIMITS.get(column)
        if value is not None and limit is not None and len(value) > limit:
            self.problem(column, "importer.too_long", value=_echo(value), limit=limit)
            return None
        return value

    def required(self, column: str, value: object | None) -> None:
        """Record a missing value, unless the cell already has a problem of its own."""
        if value is None and column not in self._failed:
            header = self.columns[column][1]
            self.problem(column, "importer.missing_value", header=header)

    def policy_row(self) -> PolicyRow | None:
        """Build the PolicyRow, or None when any cell had a problem."""
        policy_number = self.read(_POLICY, _cell_policy_number)
        if policy_number is not None and len(policy_number) > _TEXT_LIMITS[_POLICY]:
            limit = _TEXT_LIMITS[_POLICY]
            self.problem(_POLICY, "importer.too_long", value=_echo(policy_number), limit=limit)
            policy_number = None
        self.policy_number = policy_number
        holder = self.text(_HOLDER)
        maturity = self.read(_MATURITY, _cell_date)
        self.required(_POLICY, policy_number)
        self.required(_HOLDER, holder)
        self.required(_MATURITY, maturity)

        home, mobile, office, shared = (
            self.read(column, _cell_phone)
            for column in (_HOME_PHONE, _MOBILE, _OFFICE_PHONE, _ANY_PHONE)
        )
        # A lone "phone" column fills the mobile or the home slot, whichever its number is.
        if shared is not None and "-" in shared:
            home = home or shared
        elif shared is not None:
            mobile = mobile or shared

        bank = self.text(_BANK)
        product = self.text(_PRODUCT)
        premium = self.read(_PREMIUM, _cell_amount)
        sum_insured = self.read(_SUM_INSURED, _cell_amount)
        effective = self.read(_EFFECTIVE, _cell_date)
        insured = self.text(_INSURED)
        address = self.text(_ADDRESS)

        if self.problems or policy_number is None or holder is None or maturity is None:
            return None
        return PolicyRow(
            row_number=self.row_number,
            bank=bank,
            policy_number=policy_number,
            product=product,
            premium=premium,
            sum_insured=sum_insured,
            effective_date=effective,
            maturity_date=maturity,
            holder=holder,
            insured=insured,
            address=address,
            home_phone=home,
            mobile=mobile,
            office_phone=office,
        )


# --- cell converters ----------------------------------------------------------------------


def _echo(value: object) -> str:
    """Shorten a cell's content for quoting it in a problem sentence."""
    text = " ".join(str(value).split())
    return text if len(text) <= 40 else text[:39] + "…"


def _plain(cell: Cell) -> str | None:
    """Give a cell's content as trimmed text, or None when it is blank or a placeholder."""
    if cell is None:
        return None
    if isinstance(cell, float) and cell.is_integer():
        # Excel stores every number as a float: 880012345678.0 is the number 880012345678.
        text = str(int(cell))
    else:
        text = " ".join(str(cell).split())
    return None if text.lower() in _BLANK_TOKENS else text


def _cell_text(cell: Cell) -> str | None:
    """Read a text cell (names, bank, product, address)."""
    if isinstance(cell, dt.date):
        return cell.isoformat()
    return _plain(cell)


def _cell_policy_number(cell: Cell) -> str | None:
    """Read a policy number, refusing one that Excel has turned into 8.8E+11."""
    text = _plain(cell)
    if text is None:
        return None
    if (isinstance(cell, float) and not cell.is_integer()) or _SCIENTIFIC.fullmatch(text):
        raise _CellError("importer.policy_number_mangled", value=_echo(text))
    return text


def _cell_date(cell: Cell) -> dt.date | None:
    """Read a date cell: a real Excel date, a typed date with a year, or 20240725."""
    if isinstance(cell, dt.datetime):
        return cell.date()
    if isinstance(cell, dt.date):
        return cell
    if isinstance(cell, int | float) and not isinstance(cell, bool):
        return _number_date(cell)
    text = _plain(cell)
    if text is None:
        return None
    if isinstance(cell, str) and text.isdigit() and len(text) <= 9:
        return _number_date(int(text))
    try:
        return parse_calendar_date(_TRAILING_TIME.sub("", text.lower()))
    except ParseError:
        raise _CellError("importer.bad_date", value=_echo(text)) from None


def _number_date(number: float) -> dt.date:
    """Read 20240725 as a date, or an Excel day count from an unformatted date cell."""
    if not math.isfinite(number) or not float(number).is_integer():
        raise _CellError("importer.bad_date", value=_echo(number))
    whole = int(number)
    if 10_000_000 <= whole <= 99_999_999:
        try:
            return parse_calendar_date(str(whole))
        except ParseError:
            raise _CellError("importer.bad_date", value=whole) from None
    if whole in _EXCEL_SERIAL_RANGE:
        return _EXCEL_EPOCH + dt.timedelta(days=whole)
    raise _CellError("importer.bad_date", value=whole)


def _cell_amount(cell: Cell) -> Decimal | None:
    """Read an amount: a number cell or text such as 5万 or ¥50,000."""
    # bool is an int to Python, but a TRUE cell is no amount; it falls through to text.
    if isinstance(cell, int | float) and not isinstance(cell, bool):
        if not math.isfinite(cell) or cell < 0 or cell >= MAX_MONEY:
            raise _CellError("importer.bad_amount", value=_echo(cell))
        # Zero is how bank exports leave an amount empty; it is not an amount of nothing.
        if cell == 0:
            return None
        # Number cells carry float noise (0.1 + 0.2); Excel shows them rounded to cents.
        return Decimal(repr(cell)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    text = _plain(cell)
    if text is None or text in ("0", "0.0", "0.00"):
        return None
    try:
        return parse_money(text)
    except ParseError:
        raise _CellError("importer.bad_amount", value=_echo(text)) from None


def _cell_phone(cell: Cell) -> str | None:
    """Read a phone cell; the first of several numbers counts, masked numbers are empty."""
    text = _plain(cell)
    if text is None or text == "0":
        return None
    if "*" in text:
        # Exports often mask the middle digits (138****5678): there is nothing to call.
        return None
    first = next((part for part in _PHONE_SEPARATORS.split(text) if part.strip()), "")
    try:
        return _parse_phone(first)
    except ParseError:
        raise _CellError("importer.bad_phone", value=_echo(text)) from None
