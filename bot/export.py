"""The agent's whole book as one Excel workbook (.xlsx), headers in the agent's language.

Owns the layout of the export. Sheets, in order:

1. policies, in the bank's client-archive layout (保单号, 投保人, 联系电话, 险种, 保险金额,
   保险期间, 客户经理, 投保日期, 备注) followed by the columns the maturity-table importer
   needs to read the sheet back unchanged (满期日, 生效日, 代理银行, 保费, 被保险人) — it is
   the first sheet because the importer reads the first sheet that carries a table;
2. clients, every field and all three grades;
3. logged contacts;
4. referrals, one row per referred client;
5. maturity cases, the work recorded on each maturing policy.

Pure apart from reading catalog texts: rows in, bytes out. Text cells are always stored
as text, so a name typed as ``=HYPERLINK(…)`` never becomes a formula when opened.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Final
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from bot import i18n
from storage.choices import GRADE_AXES
from storage.models import Client
from storage.stats import ExportBook

logger = logging.getLogger(__name__)

Cell = str | int | Decimal | date | datetime | None

DATE_FORMAT: Final = "yyyy-mm-dd"
TIME_FORMAT: Final = "yyyy-mm-dd hh:mm"
MONEY_FORMAT: Final = "#,##0.00"
_MAX_WIDTH: Final = 40

# Column keys of each sheet; the header of column ``k`` is ``stats.export.<sheet>.<k>``.
POLICY_COLUMNS: Final = (
    "policy_number",
    "holder",
    "phone",
    "product",
    "sum_insured",
    "term",
    "manager",
    "purchase_date",
    "remarks",
    # Beyond the archive layout: what the importer reads back (it does not read 投保日期,
    # so the effective date is repeated under a header it knows).
    "maturity_date",
    "effective_date",
    "bank",
    "premium",
    "insured",
)
CLIENT_COLUMNS: Final = (
    "id",
    "name",
    "honorific",
    "phone",
    "phone2",
    "address",
    "region",
    "trait",
    "source",
    "source_detail",
    "warm_category",
    "grade_timing",
    "grade_willingness",
    "grade_depth",
    "referred_by",
    "referred_by_id",
    "relation",
    "referral_scope",
    "referral_permission",
    "referral_approach",
    "referral_channel",
    "last_contact",
    "next_followup",
    "notes",
    "added",
)
INTERACTION_COLUMNS: Final = ("at", "client", "client_id", "channel", "note")
REFERRAL_COLUMNS: Final = (
    "referrer",
    "referrer_id",
    "referred",
    "referred_id",
    "relation",
    "scope",
    "permission",
    "approach",
    "channel",
    "added",
    "grades",
    "bought",
)
CASE_COLUMNS: Final = (
    "policy_number",
    "holder",
    "maturity_date",
    "stage",
    "appointment",
    "appointment_date",
    "retry_date",
    "outcome",
    "renewal",
    "new_policy_number",
    "note",
    "escalated",
    "acknowledged",
    "closed",
)


def build_workbook(book: ExportBook, *, lang: str, agent_name: str, zone: str) -> bytes:
    """Write the agent's book as an .xlsx file and return its bytes."""
    writer = _Writer(lang, ZoneInfo(zone))
    names = book.client_names()
    workbook = Workbook()
    first = workbook.active
    assert first is not None
    workbook.remove(first)

    writer.sheet(workbook, "policies", POLICY_COLUMNS, _policy_rows(writer, book, agent_name))
    writer.sheet(workbook, "clients", CLIENT_COLUMNS, _client_rows(writer, book, names))
    writer.sheet(
        workbook, "interactions", INTERACTION_COLUMNS, _interaction_rows(writer, book, names)
    )
    writer.sheet(workbook, "referrals", REFERRAL_COLUMNS, _referral_rows(writer, book, names))
    writer.sheet(workbook, "cases", CASE_COLUMNS, _case_rows(writer, book))

    buffer = io.BytesIO()
    workbook.save(buffer)
    logger.info(
        "export written: %d clients, %d policies, %d contacts",
        len(book.clients),
        len(book.policies),
        len(book.interactions),
    )
    return buffer.getvalue()


class _Writer:
    """Turns values into cells: labels in the agent's language, times in their zone."""

    def __init__(self, lang: str, zone: ZoneInfo) -> None:
        self.lang = lang
        self.zone = zone

    def t(self, key: str, /, **values: object) -> str:
        """Render a catalog message in the export's language."""
        return i18n.t(self.lang, key, **values)

    def label(self, group: str, code: object) -> str | None:
        """Return the label of a vocabulary code, or the code itself if it has none."""
        if code is None or code == "":
            return None
        key = f"choices.{group}.{code}"
        return self.t(key) if i18n.has(self.lang, key) else str(code)

    def local(self, moment: datetime | None) -> datetime | None:
        """Return ``moment`` as a wall-clock time in the agent's zone (Excel has no zones)."""
        if moment is None:
            return None
        return moment.astimezone(self.zone).replace(tzinfo=None, microsecond=0)

    def yes_no(self, value: bool) -> str:
        """Return yes or no in the export's language."""
        return self.t("stats.export.yes" if value else "stats.export.no")

    def sheet(
        self,
        workbook: Workbook,
        name: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Cell]],
    ) -> Worksheet:
        """Add a sheet with a bold, frozen header row and columns sized to their contents."""
        sheet = workbook.create_sheet(self.t(f"stats.export.sheet.{name}"))
        headers = [self.t(f"stats.export.{name}.{column}") for column in columns]
        sheet.append(headers)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        sheet.freeze_panes = "A2"

        widths = [_width(header) for header in headers]
        for row_number, row in enumerate(rows, start=2):
            for column_number, value in enumerate(row, start=1):
                _write(sheet, row_number, column_number, value)
                widths[column_number - 1] = max(widths[column_number - 1], _width(value))
        for column_number, width in enumerate(widths, start=1):
            letter = get_column_letter(column_number)
            sheet.column_dimensions[letter].width = min(width + 2, _MAX_WIDTH)
        return sheet


def _write(sheet: Worksheet, row: int, column: int, value: Cell) -> None:
    """Write one value with the number format its type needs."""
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
    cell = sheet.cell(row=row, column=column, value=value)
    if isinstance(value, str):
        # openpyxl turns any text starting with "=" into a formula; this keeps it text.
        cell.data_type = "s"
    elif isinstance(value, datetime):
        cell.number_format = TIME_FORMAT
    elif isinstance(value, date):
        cell.number_format = DATE_FORMAT
    elif isinstance(value, Decimal):
        cell.number_format = MONEY_FORMAT


def _width(value: object) -> int:
    """Estimate a value's display width; CJK characters take two columns."""
    if value is None:
        return 0
    if isinstance(value, datetime):
        return 16
    if isinstance(value, date):
        return 10
    text = str(value)
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


# --- rows of each sheet --------------------------------------------------------------------


def _policy_rows(writer: _Writer, book: ExportBook, agent_name: str) -> Iterable[list[Cell]]:
    """Yield one archive-layout row per policy."""
    clients = {client.id: client for client in book.clients}
    for policy, maturity_case in book.policies:
        holder = clients.get(policy.client_id) if policy.client_id is not None else None
        yield [
            policy.policy_number,
            policy.holder_name or (holder.name if holder else None),
            (holder.phone or holder.phone2) if holder else None,
            policy.product,
            policy.sum_insured,
            policy.term or _term(writer, policy.effective_date, policy.maturity_date),
            agent_name,
            policy.effective_date,
            maturity_case.note if maturity_case is not None else None,
            policy.maturity_date,
            policy.effective_date,
            policy.bank,
            policy.premium,
            policy.insured_name,
        ]


def _term(writer: _Writer, start: date | None, end: date | None) -> str | None:
    """Describe a policy's term from its dates when no term was recorded."""
    if start is None or end is None:
        return None
    return writer.t("stats.export.term_range", start=start.isoformat(), end=end.isoformat())


def _client_rows(writer: _Writer, book: ExportBook, names: dict[int, str]) -> Iterable[list[Cell]]:
    """Yield one row per client with every stored field."""
    for client in book.clients:
        yield [
            client.id,
            client.name,
            client.honorific,
            client.phone,
            client.phone2,
            client.address,
            writer.label("region", client.region),
            writer.label("trait", client.trait),
            writer.label("source", client.source),
            client.source_detail,
            writer.label("warm", client.warm_category),
            *(writer.label(f"grade.{axis}", _grade(client, axis)) for axis in GRADE_AXES),
            names.get(client.referred_by_id) if client.referred_by_id else None,
            client.referred_by_id,
            client.relation,
            writer.label("scope", client.referral_scope),
            writer.label("permission", client.referral_permission),
            writer.label("approach", client.referral_approach),
            writer.label("channel", client.referral_channel),
            writer.local(client.last_contact_at),
            client.next_followup,
            client.notes,
            writer.local(client.created_at),
        ]


def _grade(client: Client, axis: str) -> str | None:
    """Return the client's grade on ``axis``."""
    grade: str | None = getattr(client, f"grade_{axis}")
    return grade


def _interaction_rows(
    writer: _Writer, book: ExportBook, names: dict[int, str]
) -> Iterable[list[Cell]]:
    """Yield one row per logged contact, oldest first."""
    for interaction in book.interactions:
        yield [
            writer.local(interaction.at),
            names.get(interaction.client_id),
            interaction.client_id,
            writer.label("channel", interaction.channel),
            interaction.note,
        ]


def _referral_rows(
    writer: _Writer, book: ExportBook, names: dict[int, str]
) -> Iterable[list[Cell]]:
    """Yield one row per referred client, grouped by who referred them."""
    buyers = book.buyers()
    referred = [client for client in book.clients if client.referred_by_id is not None]
    referred.sort(key=lambda c: (names.get(c.referred_by_id or 0, ""), c.id))
    for client in referred:
        grades = "/".join(_grade(client, axis) or "–" for axis in GRADE_AXES)
        yield [
            names.get(client.referred_by_id or 0),
            client.referred_by_id,
            client.name,
            client.id,
            client.relation,
            writer.label("scope", client.referral_scope),
            writer.label("permission", client.referral_permission),
            writer.label("approach", client.referral_approach),
            writer.label("channel", client.referral_channel),
            writer.local(client.created_at),
            grades,
            writer.yes_no(client.id in buyers),
        ]


def _case_rows(writer: _Writer, book: ExportBook) -> Iterable[list[Cell]]:
    """Yield one row per maturity case."""
    cases = [(policy, case) for policy, case in book.policies if case is not None]
    for policy, maturity_case in cases:
        yield [
            policy.policy_number,
            policy.holder_name,
            policy.maturity_date,
            writer.label("stage", maturity_case.stage),
            writer.label("appointment", maturity_case.appointment_result),
            maturity_case.appointment_date,
            maturity_case.retry_date,
            maturity_case.outcome,
            writer.label("renewal", maturity_case.renewal_result),
            maturity_case.new_policy_number,
            maturity_case.note,
            writer.local(maturity_case.escalated_at),
            writer.local(maturity_case.escalation_acknowledged_at),
            writer.local(maturity_case.closed_at),
        ]
