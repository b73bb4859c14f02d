"""Forgiving readers for what a client manager types, and the formatters that undo them.

Owns dates (``12月5日``, ``3天后``, ``下周一``, ``next monday``), money (``5万``, ``¥50,000``,
``五万``), Chinese phone numbers, pinyin search keys, name lists, small integers, times of
day and time zones. Every parser raises only :class:`ParseError`, whose catalog key (in
``bot/locales/<lang>/parsing.toml``) names a sentence that says what was wrong and shows an
example of what to type. Every formatter's output is accepted again by its parser.

Libraries do the heavy lifting where one exists: phonenumbers decides which phone numbers
are real, cn2an reads Chinese numerals, pypinyin spells names, zoneinfo knows the zones.
The date and money grammars are written here because no library reads the shorthand a
Chinese client manager types (``5w``, ``12月5号``, ``大后天``).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import unicodedata
import zoneinfo
from collections.abc import Mapping
from decimal import Decimal
from functools import cache
from types import MappingProxyType

import cn2an
import phonenumbers
from pypinyin import Style, lazy_pinyin

from bot.i18n import t

logger = logging.getLogger(__name__)

__all__ = [
    "MAX_MONEY",
    "MAX_NAME_LENGTH",
    "MAX_YEAR",
    "MIN_YEAR",
    "ParseError",
    "format_date",
    "format_money",
    "format_phone",
    "mask_phone",
    "parse_calendar_date",
    "parse_date",
    "parse_int_in_range",
    "parse_money",
    "parse_phone",
    "parse_time_of_day",
    "parse_timezone",
    "pinyin_keys",
    "split_names",
]

MIN_YEAR = 1900
MAX_YEAR = 2199
MAX_NAME_LENGTH = 40
# Far beyond any premium or sum insured; it keeps Decimal arithmetic exact and the
# formatted amount short enough for a chat message.
MAX_MONEY = Decimal(10) ** 12
_CENT = Decimal("0.01")
# How much of the user's own text an error message repeats back.
_ECHO_LIMIT = 30
# Relative dates further out than this are typos, not plans.
_MAX_OFFSET_DAYS = 36600


class ParseError(ValueError):
    """Text that could not be read; ``key`` names the catalog sentence that explains why."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(key)
        self.key = key
        self.values: dict[str, object] = values

    def message(self, lang: str) -> str:
        """Render the explanation in ``lang``, with an example of what to type."""
        return t(lang, self.key, **self.values)


def _echo(text: str) -> str:
    """Shorten the user's text for quoting it back in an error message."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= _ECHO_LIMIT else flat[: _ECHO_LIMIT - 1] + "…"


def _normalise(text: str) -> str:
    """Fold full-width characters, case and runs of spaces so one grammar fits all."""
    # NFKC maps full-width digits, colons, slashes and the ￥ sign to their ASCII forms.
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


# --- Chinese numerals --------------------------------------------------------------------

_CN_DIGITS = "零〇一二两三四五六七八九"
_CN_NUMERAL_RUN = re.compile(f"[{_CN_DIGITS}十百千廿卅]+")
_CN_DIGIT_VALUE = MappingProxyType(
    {ch: str(i) for i, ch in enumerate("〇一二三四五六七八九")} | {"零": "0", "两": "2"}
)


def _arabic_numerals(text: str) -> str:
    """Rewrite runs of Chinese numerals (``十二``, ``二〇二六``) as Arabic digits."""

    def convert(match: re.Match[str]) -> str:
        run = match.group(0)
        if all(ch in _CN_DIGIT_VALUE for ch in run) and len(run) > 1:
            # A run without 十/百/千 is read digit by digit, as years are written: 二〇二六.
            return "".join(_CN_DIGIT_VALUE[ch] for ch in run)
        value = _cn2an(run, "normal")
        return run if value is None else str(int(value))

    return _CN_NUMERAL_RUN.sub(convert, text)


def _cn2an(text: str, mode: str) -> int | float | None:
    """Read Chinese numerals with cn2an, or return None when it cannot."""
    try:
        value = cn2an.cn2an(text, mode)
    except Exception:
        # cn2an reports malformed numerals with ValueError, KeyError or IndexError
        # depending on where its checks trip; all of them mean "not a numeral".
        return None
    return value if isinstance(value, int | float) else None


# --- dates --------------------------------------------------------------------------------

_MONTHS = MappingProxyType(
    {
        name: number
        for number, names in enumerate(
            (
                ("jan", "january"),
                ("feb", "february"),
                ("mar", "march"),
                ("apr", "april"),
                ("may",),
                ("jun", "june"),
                ("jul", "july"),
                ("aug", "august"),
                ("sep", "sept", "september"),
                ("oct", "october"),
                ("nov", "november"),
                ("dec", "december"),
            ),
            start=1,
        )
        for name in names
    }
)
_WEEKDAYS_EN = MappingProxyType(
    {
        name: number
        for number, names in enumerate(
            (
                ("mon", "monday"),
                ("tue", "tues", "tuesday"),
                ("wed", "wednesday"),
                ("thu", "thur", "thurs", "thursday"),
                ("fri", "friday"),
                ("sat", "saturday"),
                ("sun", "sunday"),
            )
        )
        for name in names
    }
)
_WEEKDAYS_ZH = MappingProxyType(
    {ch: i for i, ch in enumerate("一二三四五六")}
    | {"日": 6, "天": 6, "7": 6}
    | {str(i + 1): i for i in range(6)}
)
_RELATIVE_DAYS = MappingProxyType(
    {
        "今天": 0,
        "今日": 0,
        "明天": 1,
        "明日": 1,
        "后天": 2,
        "大后天": 3,
        "昨天": -1,
        "昨日": -1,
        "前天": -2,
        "today": 0,
        "tomorrow": 1,
        "day after tomorrow": 2,
        "the day after tomorrow": 2,
        "yesterday": -1,
    }
)

_FULL_NUMERIC = re.compile(r"([0-9]{4})[-/.]([0-9]{1,2})[-/.]([0-9]{1,2})")
_FULL_CHINESE = re.compile(r"([0-9]{4})年([0-9]{1,2})月([0-9]{1,2})[日号]?")
_FULL_COMPACT = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})")
_FULL_DAY_MONTH_EN = re.compile(r"([0-9]{1,2})(?:st|nd|rd|th)? ?([a-z]+)\.?,? ?([0-9]{4})")
_FULL_MONTH_DAY_EN = re.compile(r"([a-z]+)\.? ?([0-9]{1,2})(?:st|nd|rd|th)?,? ?([0-9]{4})")
_SHORT_NUMERIC = re.compile(r"([0-9]{1,2})[-/.]([0-9]{1,2})")
_DAY_OF_MONTH = re.compile(r"([0-9]{1,2})[日号]")
_SHORT_CHINESE = re.compile(r"([0-9]{1,2})月([0-9]{1,2})[日号]?")
_SHORT_DAY_MONTH_EN = re.compile(r"([0-9]{1,2})(?:st|nd|rd|th)? ?([a-z]+)\.?")
_SHORT_MONTH_DAY_EN = re.compile(r"([a-z]+)\.? ?([0-9]{1,2})(?:st|nd|rd|th)?")
_AHEAD_ZH = re.compile(
    r"([0-9]{1,6})(天|日|周|个星期|星期|礼拜|个礼拜)(后|以后|之后|前|以前|之前)"
)
_AHEAD_EN = re.compile(r"in ([0-9]{1,6}) (days?|weeks?)")
_AFTER_EN = re.compile(r"([0-9]{1,6}) (days?|weeks?) (later|from now|ago)")
_WEEKDAY_ZH = re.compile(r"(下个?|这个?|本)?(?:周|星期|礼拜)([一二三四五六日天1-7])")
_WEEKDAY_EN = re.compile(r"(next |this )?([a-z]+)")


def parse_calendar_date(text: str) -> dt.date:
    """Read a date that names its year (``2026-12-05``, ``2026年12月5日``, ``20261205``)."""
    found = _calendar_date(_normalise(text), text)
    if found is None:
        raise ParseError("parsing.bad_date", text=_echo(text))
    return found


def _calendar_date(norm: str, original: str) -> dt.date | None:
    """Return the date ``norm`` spells with a year, or None if it spells none."""
    compact = _arabic_numerals(norm.replace(" ", ""))
    for pattern in (_FULL_NUMERIC, _FULL_CHINESE, _FULL_COMPACT):
        match = pattern.fullmatch(compact)
        if match:
            year, month, day = (int(part) for part in match.groups())
            return _checked_date(year, month, day, original)
    match = _FULL_DAY_MONTH_EN.fullmatch(norm)
    if match and match.group(2) in _MONTHS:
        day, year = int(match.group(1)), int(match.group(3))
        return _checked_date(year, _MONTHS[match.group(2)], day, original)
    match = _FULL_MONTH_DAY_EN.fullmatch(norm)
    if match and match.group(1) in _MONTHS:
        day, year = int(match.group(2)), int(match.group(3))
        return _checked_date(year, _MONTHS[match.group(1)], day, original)
    return None


def _checked_date(year: int, month: int, day: int, original: str) -> dt.date:
    """Build a date, turning an impossible one (2026-02-30) into a ParseError."""
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ParseError(
            "parsing.date_out_of_range", text=_echo(original), low=MIN_YEAR, high=MAX_YEAR
        )
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise ParseError("parsing.no_such_date", text=_echo(original)) from None


def parse_date(text: str, today: dt.date) -> dt.date:
    """Read a date typed in any usual Chinese or English way, relative to ``today``."""
    norm = _normalise(text)
    compact = _arabic_numerals(norm.replace(" ", ""))

    try:
        found = _calendar_date(norm, text)
        if found is None:
            found = _relative_date(norm, compact, today, text)
        if found is None:
            found = _date_without_year(norm, compact, today, text)
    except OverflowError:
        # Only reachable with a ``today`` at the very end of the calendar.
        found = dt.date.max
    if found is None:
        raise ParseError("parsing.bad_date", text=_echo(text))

    if not MIN_YEAR <= found.year <= MAX_YEAR:
        raise ParseError(
            "parsing.date_out_of_range", text=_echo(text), low=MIN_YEAR, high=MAX_YEAR
        )
    return found


def _offset(today: dt.date, days: int, original: str) -> dt.date:
    """Move ``days`` from ``today``, refusing jumps too far to be meant."""
    if abs(days) > _MAX_OFFSET_DAYS:
        raise ParseError(
            "parsing.date_out_of_range", text=_echo(original), low=MIN_YEAR, high=MAX_YEAR
        )
    return today + dt.timedelta(days=days)


def _relative_date(norm: str, compact: str, today: dt.date, original: str) -> dt.date | None:
    """Read words relative to today: 明天, 3天后, 下周一, in 3 days, next monday."""
    for key in (norm, compact):
        if key in _RELATIVE_DAYS:
            return _offset(today, _RELATIVE_DAYS[key], original)

    match = _AHEAD_ZH.fullmatch(compact)
    if match:
        unit = 1 if match.group(2) in ("天", "日") else 7
        sign = -1 if match.group(3).endswith("前") else 1
        return _offset(today, sign * unit * int(match.group(1)), original)
    match = _AHEAD_EN.fullmatch(norm) or _AFTER_EN.fullmatch(norm)
    if match:
        unit = 7 if match.group(2).startswith("week") else 1
        sign = -1 if match.group(0).endswith("ago") else 1
        return _offset(today, sign * unit * int(match.group(1)), original)

    # The weekday is read before Chinese numerals are converted: 周一 is Monday, not "周1".
    match = _WEEKDAY_ZH.fullmatch(norm.replace(" ", ""))
    if match:
        return _weekday(today, _WEEKDAYS_ZH[match.group(2)], match.group(1))
    match = _WEEKDAY_EN.fullmatch(norm)
    if match and match.group(2) in _WEEKDAYS_EN:
        which = {"next ": "下", "this ": "本"}.get(match.group(1) or "")
        return _weekday(today, _WEEKDAYS_EN[match.group(2)], which)
    return None


def _weekday(today: dt.date, weekday: int, which: str | None) -> dt.date:
    """Find a weekday: in next week (下周), in this week (本周) or the next one after today."""
    monday = today - dt.timedelta(days=today.weekday())
    if which and which.startswith("下"):
        return monday + dt.timedelta(days=7 + weekday)
    if which:
        return monday + dt.timedelta(days=weekday)
    # A bare weekday means the coming one; on that very weekday it means a week later.
    return today + dt.timedelta(days=(weekday - today.weekday()) % 7 or 7)


def _date_without_year(norm: str, compact: str, today: dt.date, original: str) -> dt.date | None:
    """Read a month and day (12-5, 12月5日, Dec 5) as their next date on or after today."""
    match = _DAY_OF_MONTH.fullmatch(compact)
    if match:
        return _next_day_of_month(today, int(match.group(1)), original)

    month = day = None
    match = _SHORT_NUMERIC.fullmatch(compact) or _SHORT_CHINESE.fullmatch(compact)
    if match:
        month, day = int(match.group(1)), int(match.group(2))
    match_en = _SHORT_DAY_MONTH_EN.fullmatch(norm)
    if match_en and match_en.group(2) in _MONTHS:
        month, day = _MONTHS[match_en.group(2)], int(match_en.group(1))
    match_en = _SHORT_MONTH_DAY_EN.fullmatch(norm)
    if match_en and match_en.group(1) in _MONTHS:
        month, day = _MONTHS[match_en.group(1)], int(match_en.group(2))
    if month is None or day is None:
        return None

    # Eight years always include a leap year, so 2月29日 finds its next occurrence too.
    for year in range(today.year, today.year + 9):
        try:
            candidate = dt.date(year, month, day)
        except ValueError:
            continue
        if candidate >= today:
            return candidate
    raise ParseError("parsing.no_such_date", text=_echo(original))


def _next_day_of_month(today: dt.date, day: int, original: str) -> dt.date:
    """Find the next date on or after today that falls on the ``day``-th of a month."""
    year, month = today.year, today.month
    # Two months in a row always include one with days 1..30, a year one with day 31.
    for _ in range(13):
        try:
            candidate = dt.date(year, month, day)
        except ValueError:
            candidate = None
        if candidate is not None and candidate >= today:
            return candidate
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    raise ParseError("parsing.no_such_date", text=_echo(original))


def format_date(d: dt.date, lang: str) -> str:
    """Write a date the way ``lang`` reads it: ``2026年12月5日`` or ``2026-12-05``."""
    if lang == "en":
        return d.isoformat()
    return f"{d.year}年{d.month}月{d.day}日"


# --- money --------------------------------------------------------------------------------

_MONEY_PREFIXES = ("人民币", "rmb", "cny", "¥")
_MONEY_SUFFIXES = ("元整", "块钱", "元", "块", "圆", "yuan", "rmb", "cny")
_MONEY_UNITS = MappingProxyType(
    {
        "亿": Decimal(10) ** 8,
        "万": Decimal(10) ** 4,
        "w": Decimal(10) ** 4,
        "千": Decimal(1000),
        "k": Decimal(1000),
        "百": Decimal(100),
    }
)
_ARABIC_AMOUNT = re.compile(r"([0-9]{1,30}(?:\.[0-9]{1,30})?)(亿|万|w|千|k|百)?")
_CHINESE_AMOUNT = re.compile(f"[0-9.点{_CN_DIGITS}十百千万亿廿卅]+")
_CHINESE_SCALED = re.compile(f"([{_CN_DIGITS}十百千廿卅点]+)(亿|万)")


def parse_money(text: str) -> Decimal:
    """Read an amount in yuan (``5万``, ``50,000``, ``¥5.5万元``, ``五万``, ``3k``)."""
    norm = _normalise(text).replace(" ", "").replace(",", "")
    for prefix in _MONEY_PREFIXES:
        norm = norm.removeprefix(prefix)
    if norm.startswith(("-", "负")):
        raise ParseError("parsing.money_not_positive", text=_echo(text))
    for suffix in _MONEY_SUFFIXES:
        if norm.endswith(suffix):
            norm = norm.removesuffix(suffix)
            break

    amount = _read_amount(norm)
    if amount is None:
        raise ParseError("parsing.bad_money", text=_echo(text))
    if amount <= 0:
        raise ParseError("parsing.money_not_positive", text=_echo(text))
    if amount >= MAX_MONEY:
        raise ParseError("parsing.money_too_large", text=_echo(text))
    if amount != amount.quantize(_CENT):
        raise ParseError("parsing.money_cents", text=_echo(text))
    return amount.quantize(_CENT)


def _read_amount(norm: str) -> Decimal | None:
    """Turn the bare number left after signs and units are stripped into a Decimal."""
    match = _ARABIC_AMOUNT.fullmatch(norm)
    if match:
        return Decimal(match.group(1)) * _MONEY_UNITS.get(match.group(2) or "", Decimal(1))
    if not norm or not _CHINESE_AMOUNT.fullmatch(norm):
        return None

    # cn2an reads 五万五千 but not 一点五万, so a decimal before 万/亿 is scaled here.
    match = _CHINESE_SCALED.fullmatch(norm)
    if match and "点" in match.group(1):
        number = _cn2an_decimal(match.group(1))
        return None if number is None else number * _MONEY_UNITS[match.group(2)]
    return _cn2an_decimal(norm)


def _cn2an_decimal(text: str) -> Decimal | None:
    """Read Chinese (or mixed) numerals with cn2an, or None if it cannot."""
    value = _cn2an(text, "smart")
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return None
    # cn2an returns floats for decimals; str() gives the short form that was typed.
    return Decimal(str(value))


def format_money(amount: Decimal, lang: str) -> str:
    """Write an amount as ``¥50,000``, with cents only when there are some: ``¥50,000.50``."""
    # The yen/yuan sign and digit grouping read the same in Chinese and English.
    cents = amount.quantize(_CENT)
    if cents == cents.to_integral_value():
        return f"¥{int(cents):,}"
    return f"¥{cents:,.2f}"


# --- phones -------------------------------------------------------------------------------

_PHONE_CHARACTERS = re.compile(r"[0-9+\-() .]{3,40}")
_MOBILE = re.compile(r"1[0-9]{10}")
_LANDLINE = re.compile(r"(0[0-9]{2,3})-([0-9]{7,8})")


def parse_phone(text: str) -> str:
    """Read a Chinese mobile (``13812345678``) or landline (``010-12345678``) number."""
    norm = unicodedata.normalize("NFKC", text).strip()
    # phonenumbers skips letters and words it does not know; anything but digits and
    # the usual separators is refused here so that "1381234567x" is not taken as a number.
    if not _PHONE_CHARACTERS.fullmatch(norm):
        raise ParseError("parsing.bad_phone", text=_echo(text))
    try:
        number = phonenumbers.parse(norm, "CN")
    except phonenumbers.NumberParseException:
        raise ParseError("parsing.bad_phone", text=_echo(text)) from None
    if number.country_code != 86 or not phonenumbers.is_valid_number(number):
        raise ParseError("parsing.bad_phone", text=_echo(text))

    national = phonenumbers.national_significant_number(number)
    kind = phonenumbers.number_type(number)
    if kind == phonenumbers.PhoneNumberType.MOBILE and _MOBILE.fullmatch(national):
        return national
    area = phonenumbers.length_of_geographical_area_code(number)
    if kind == phonenumbers.PhoneNumberType.FIXED_LINE and area:
        return f"0{national[:area]}-{national[area:]}"
    # Toll-free, 400 service lines and the like are not a client's own phone.
    raise ParseError("parsing.bad_phone", text=_echo(text))


def mask_phone(phone: str) -> str:
    """Hide the middle of a phone number: ``138****5678``, ``010-****5678``."""
    area, dash, number = phone.rpartition("-")
    if dash:
        return f"{area}-{_mask_digits(number, keep_front=0)}"
    return _mask_digits(phone, keep_front=3)


def _mask_digits(digits: str, keep_front: int) -> str:
    """Keep the last four characters (and ``keep_front`` first ones), star the rest."""
    if len(digits) <= 4:
        return "****"
    if len(digits) - 4 - keep_front < 1:
        keep_front = 0
    return digits[:keep_front] + "*" * (len(digits) - 4 - keep_front) + digits[-4:]


def format_phone(phone: str) -> str:
    """Write a phone number in readable groups: ``138 1234 5678``, ``010-1234 5678``."""
    try:
        normal = parse_phone(phone)
    except ParseError:
        # Showing what is stored beats failing: the user can still read and correct it.
        return phone
    if _MOBILE.fullmatch(normal):
        return f"{normal[:3]} {normal[3:7]} {normal[7:]}"
    match = _LANDLINE.fullmatch(normal)
    if match is None:
        return normal
    area, number = match.groups()
    return f"{area}-{number[:-4]} {number[-4:]}"


# --- names --------------------------------------------------------------------------------

_NAME_SEPARATORS = re.compile(r"[\n\r、，,;；]+")
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# Spaces separate names when a Chinese character sits on either side: "张三 李四" is two
# people, "John Smith" is one.
_SPACE_BETWEEN_CHINESE = re.compile(f"(?<=[{_HAN}])\\s+|\\s+(?=[{_HAN}])")
_WORD = re.compile(r"[^\W_]+")


def split_names(text: str) -> list[str]:
    """Split a message into the names it lists, trimmed and without repeats."""
    names: list[str] = []
    seen: set[str] = set()
    for chunk in _NAME_SEPARATORS.split(text):
        for piece in _SPACE_BETWEEN_CHINESE.split(chunk.strip()):
            name = " ".join(piece.split())
            if not name or name.casefold() in seen:
                continue
            if len(name) > MAX_NAME_LENGTH:
                raise ParseError("parsing.name_too_long", text=_echo(name), limit=MAX_NAME_LENGTH)
            seen.add(name.casefold())
            names.append(name)

    if not names:
        raise ParseError("parsing.no_names")
    return names


def pinyin_keys(name: str) -> tuple[str, str]:
    """Give a name's search keys: full pinyin and initials, lower case (张三 → zhangsan, zs)."""
    # Polyphonic characters take pypinyin's default reading (单 reads "dan", not the
    # surname "shan"); a search by initials still finds most people, and guessing the
    # surname reading from context is beyond a search key.
    words: list[str] = []
    for part in lazy_pinyin(name, style=Style.NORMAL):
        words.extend(_WORD.findall(part.lower()))
    return "".join(words), "".join(word[0] for word in words)


# --- small numbers, times of day, time zones ------------------------------------------------

_INTEGER = re.compile(r"[+-]?[0-9]{1,18}")


def parse_int_in_range(text: str, low: int, high: int) -> int:
    """Read a whole number (``7``, ``七``) and check that it lies in ``low..high``."""
    norm = _arabic_numerals(_normalise(text).replace(" ", "").replace(",", ""))
    if not _INTEGER.fullmatch(norm):
        raise ParseError("parsing.bad_int", text=_echo(text), low=low, high=high)
    value = int(norm)
    if not low <= value <= high:
        raise ParseError("parsing.int_out_of_range", text=_echo(text), low=low, high=high)
    return value


_DAY_PARTS_AFTERNOON = ("下午", "晚上", "傍晚", "夜里", "晚")
_DAY_PARTS_MORNING = ("上午", "早上", "早晨", "清晨", "凌晨", "早")
_CLOCK = re.compile(r"([0-9]{1,2})[:.]([0-9]{2})")
# Chinese numerals are already digits here, so 一刻 arrives as 1刻.
_CHINESE_CLOCK = re.compile(r"([0-9]{1,2})[点時时](半|1刻|3刻|整|([0-9]{1,2})分?)?")
_NAMED_MINUTES = MappingProxyType({"半": 30, "1刻": 15, "3刻": 45, "整": 0, "": 0})
_ENGLISH_CLOCK = re.compile(r"([0-9]{1,2})(?::([0-9]{2}))?(am|pm|a\.m\.|p\.m\.)")


def parse_time_of_day(text: str) -> dt.time:
    """Read a clock time: ``8:30``, ``20:05``, ``8点半``, ``下午3点``, ``8pm``."""
    norm = _arabic_numerals(_normalise(text).replace(" ", ""))
    day_part = ""
    for part in (*_DAY_PARTS_AFTERNOON, *_DAY_PARTS_MORNING, "中午"):
        if norm.startswith(part):
            day_part, norm = part, norm.removeprefix(part)
            break

    hour = minute = None
    if match := _CLOCK.fullmatch(norm):
        hour, minute = int(match.group(1)), int(match.group(2))
    elif match := _CHINESE_CLOCK.fullmatch(norm):
        hour = int(match.group(1))
        tail = match.group(2) or ""
        minute = _NAMED_MINUTES[tail] if tail in _NAMED_MINUTES else int(match.group(3))
    elif match := _ENGLISH_CLOCK.fullmatch(norm):
        hour, minute = int(match.group(1)), int(match.group(2) or 0)
        if not 1 <= hour <= 12:
            raise ParseError("parsing.bad_time", text=_echo(text))
        day_part = "下午" if match.group(3).startswith("p") else "凌晨"
    if hour is None or minute is None:
        raise ParseError("parsing.bad_time", text=_echo(text))

    afternoon = day_part in _DAY_PARTS_AFTERNOON or (day_part == "中午" and hour < 6)
    if afternoon and hour < 12:
        hour += 12
    elif day_part == "凌晨" and hour == 12:
        # 凌晨12点 and 12am are midnight; 上午12点 is left as noon, how it is meant.
        hour = 0
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise ParseError("parsing.bad_time", text=_echo(text))
    return dt.time(hour, minute)


# Longer answers are not a date with a time; they are not cut up and tried piece by piece.
_DATE_AND_TIME_LIMIT = 40


def parse_date_and_time(text: str, today: dt.date) -> tuple[dt.date, dt.time | None]:
    """Read a date, optionally followed by a clock time: ``后天下午3点``, ``12月8日 15:00``."""
    try:
        return parse_date(text, today), None
    except ParseError as error:
        if len(text) > _DATE_AND_TIME_LIMIT:
            raise
        not_a_date = error

    typed = text.strip()
    # The longest date that leaves a clock time behind wins; a cut never splits a number.
    for cut in range(len(typed) - 1, 0, -1):
        head, tail = typed[:cut], typed[cut:]
        if head[-1].isdigit() and tail[0].isdigit():
            continue
        try:
            when = parse_time_of_day(tail)
            day = parse_date(head, today)
        except ParseError:
            continue
        return day, when
    raise not_a_date


# Common ways of naming a zone by place, in Chinese; everything else goes through the
# IANA names themselves.
_ZONE_ALIASES = MappingProxyType(
    {
        "北京": "Asia/Shanghai",
        "北京时间": "Asia/Shanghai",
        "中国": "Asia/Shanghai",
        "上海": "Asia/Shanghai",
        "香港": "Asia/Hong_Kong",
        "澳门": "Asia/Macau",
        "台北": "Asia/Taipei",
        "新加坡": "Asia/Singapore",
        "东京": "Asia/Tokyo",
        "伦敦": "Europe/London",
        "纽约": "America/New_York",
        "utc": "UTC",
        "gmt": "UTC",
        "z": "UTC",
    }
)
_OFFSET = re.compile(r"(?:utc|gmt)?([+-])([0-9]{1,2})(?::?([0-9]{2}))?")


def parse_timezone(text: str) -> str:
    """Read a time zone as an IANA name: ``Asia/Shanghai``, ``UTC+8`` (→ ``Etc/GMT-8``)."""
    norm = _normalise(text)
    compact = norm.replace(" ", "")
    if compact in _ZONE_ALIASES:
        return _ZONE_ALIASES[compact]

    match = _OFFSET.fullmatch(compact)
    if match:
        sign, hours, minutes = match.group(1), int(match.group(2)), int(match.group(3) or 0)
        if minutes:
            raise ParseError("parsing.timezone_whole_hours", text=_echo(text))
        if hours == 0:
            return "UTC"
        # The Etc zones count the other way round: UTC+8 is Etc/GMT-8 (POSIX sign rule).
        name = f"Etc/GMT{'-' if sign == '+' else '+'}{hours}"
        if name.lower() in _known_zones():
            return name
        raise ParseError("parsing.bad_timezone", text=_echo(text))

    zone = _known_zones().get(norm.replace(" ", "_"))
    if zone is None:
        raise ParseError("parsing.bad_timezone", text=_echo(text))
    return zone


@cache
def _known_zones() -> Mapping[str, str]:
    """Map lower-cased zone names, and city names that are unique, to IANA names."""
    zones = sorted(zoneinfo.available_timezones())
    by_city: dict[str, list[str]] = {}
    for zone in zones:
        by_city.setdefault(zone.rsplit("/", 1)[-1].lower(), []).append(zone)
    known = {city: names[0] for city, names in by_city.items() if len(names) == 1}
    known.update({zone.lower(): zone for zone in zones})
    return MappingProxyType(known)
