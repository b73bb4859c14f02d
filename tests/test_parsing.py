"""Tests for the forgiving input parsers and their formatters."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import i18n
from bot.parsing import (
    MAX_NAME_LENGTH,
    ParseError,
    format_date,
    format_money,
    format_phone,
    mask_phone,
    parse_calendar_date,
    parse_date,
    parse_int_in_range,
    parse_money,
    parse_phone,
    parse_time_of_day,
    parse_timezone,
    pinyin_keys,
    split_names,
)

# A Wednesday, chosen so that "this week", "next week" and "the coming day" all differ.
WEDNESDAY = dt.date(2026, 12, 9)

# Characters that parsers care about, so generated text reaches deep into each grammar.
_PARSER_TOKENS = [
    *"0123456789０１２-/.:：,，年月日号天后前周星期下这本个",
    *"一二三四五六七八九十百千万亿两〇零点半刻整",
    *"上午下晚凌晨中时分wWkK元¥￥+() ",
    "next ",
    "in ",
    " days",
    "monday",
    "dec",
    "utc",
    "2026",
    "13812345678",
    "010",
    "+86",
]
parser_text = st.one_of(
    st.text(max_size=40),
    st.lists(st.sampled_from(_PARSER_TOKENS), max_size=12).map("".join),
)
plausible_today = st.dates(dt.date(1950, 1, 1), dt.date(2150, 12, 31))


def _rendered(error: ParseError) -> list[str]:
    """Render a ParseError in both languages, checking its key exists in each."""
    return [error.message(lang) for lang in i18n.LANGUAGES if i18n.has(lang, error.key)]


# --- ParseError -----------------------------------------------------------------------------


def test_parse_error_is_a_value_error_with_a_key_and_values() -> None:
    with pytest.raises(ValueError) as caught:
        parse_date("nonsense", WEDNESDAY)

    assert isinstance(caught.value, ParseError)
    assert caught.value.key == "parsing.bad_date"
    assert caught.value.values == {"text": "nonsense"}


def test_parse_error_message_quotes_the_text_and_gives_an_example_in_each_language() -> None:
    error = ParseError("parsing.bad_date", text="32号")

    assert "32号" in error.message("zh") and "2026-12-05" in error.message("zh")
    assert "32号" in error.message("en") and "2026-12-05" in error.message("en")


def test_parse_error_message_shortens_a_long_pasted_text() -> None:
    with pytest.raises(ParseError) as caught:
        parse_money("x" * 500)

    assert len(caught.value.message("en")) < 200


@pytest.mark.parametrize(
    ("call", "key"),
    [
        (lambda: parse_date("", WEDNESDAY), "parsing.bad_date"),
        (lambda: parse_date("2026-02-30", WEDNESDAY), "parsing.no_such_date"),
        (lambda: parse_date("1066-10-14", WEDNESDAY), "parsing.date_out_of_range"),
        (lambda: parse_money("abc"), "parsing.bad_money"),
        (lambda: parse_money("-5"), "parsing.money_not_positive"),
        (lambda: parse_money("1.005"), "parsing.money_cents"),
        (lambda: parse_money("1" + "0" * 20), "parsing.money_too_large"),
        (lambda: parse_phone("12345"), "parsing.bad_phone"),
        (lambda: split_names(" , "), "parsing.no_names"),
        (lambda: split_names("张" * 41), "parsing.name_too_long"),
        (lambda: parse_int_in_range("x", 1, 5), "parsing.bad_int"),
        (lambda: parse_int_in_range("9", 1, 5), "parsing.int_out_of_range"),
        (lambda: parse_time_of_day("25:00"), "parsing.bad_time"),
        (lambda: parse_timezone("Mars/Olympus"), "parsing.bad_timezone"),
        (lambda: parse_timezone("UTC+5:30"), "parsing.timezone_whole_hours"),
    ],
)
def test_every_error_key_has_a_sentence_in_both_languages(call: object, key: str) -> None:
    with pytest.raises(ParseError) as caught:
        call()  # type: ignore[operator]

    assert caught.value.key == key
    messages = _rendered(caught.value)
    assert len(messages) == len(i18n.LANGUAGES)
    assert all("{" not in message for message in messages)


# --- dates ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-05", dt.date(2026, 12, 5)),
        ("2026/12/5", dt.date(2026, 12, 5)),
        ("2026.12.5", dt.date(2026, 12, 5)),
        ("2026年12月5日", dt.date(2026, 12, 5)),
        ("20261205", dt.date(2026, 12, 5)),
        ("２０２６－１２－０５", dt.date(2026, 12, 5)),
        (" 2026 年 12 月 5 日 ", dt.date(2026, 12, 5)),
        ("二〇二六年十二月五日", dt.date(2026, 12, 5)),
        ("5 Dec 2026", dt.date(2026, 12, 5)),
        ("December 5, 2026", dt.date(2026, 12, 5)),
        ("2024-07-25", dt.date(2024, 7, 25)),
    ],
)
def test_parse_date_reads_dates_with_a_year(text: str, expected: dt.date) -> None:
    assert parse_date(text, WEDNESDAY) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12-25", dt.date(2026, 12, 25)),
        ("12/25", dt.date(2026, 12, 25)),
        ("12月25日", dt.date(2026, 12, 25)),
        ("12月25号", dt.date(2026, 12, 25)),
        ("十二月二十五号", dt.date(2026, 12, 25)),
        ("dec 25", dt.date(2026, 12, 25)),
        ("12-9", dt.date(2026, 12, 9)),
        ("1-15", dt.date(2027, 1, 15)),
        ("25号", dt.date(2026, 12, 25)),
        ("5号", dt.date(2027, 1, 5)),
    ],
)
def test_parse_date_without_a_year_takes_the_next_occurrence(text: str, expected: dt.date) -> None:
    assert parse_date(text, WEDNESDAY) == expected


def test_parse_date_without_a_year_rolls_into_next_year_after_the_day_has_passed() -> None:
    assert parse_date("12-5", dt.date(2026, 12, 6)) == dt.date(2027, 12, 5)
    assert parse_date("12-5", dt.date(2026, 12, 5)) == dt.date(2026, 12, 5)


def test_parse_date_finds_the_next_29th_of_february() -> None:
    assert parse_date("2月29日", dt.date(2026, 3, 1)) == dt.date(2028, 2, 29)


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("今天", 0),
        ("明天", 1),
        ("后天", 2),
        ("大后天", 3),
        ("昨天", -1),
        ("3天后", 3),
        ("三天后", 3),
        ("10天以后", 10),
        ("两周后", 14),
        ("3天前", -3),
        ("today", 0),
        ("Tomorrow", 1),
        ("in 3 days", 3),
        ("in 1 week", 7),
        ("3 days later", 3),
    ],
)
def test_parse_date_reads_days_relative_to_today(text: str, days: int) -> None:
    assert parse_date(text, WEDNESDAY) == WEDNESDAY + dt.timedelta(days=days)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("下周一", dt.date(2026, 12, 14)),
        ("下周三", dt.date(2026, 12, 16)),
        ("下周日", dt.date(2026, 12, 20)),
        ("下星期一", dt.date(2026, 12, 14)),
        ("下个礼拜五", dt.date(2026, 12, 18)),
        ("周五", dt.date(2026, 12, 11)),
        ("星期天", dt.date(2026, 12, 13)),
        ("周一", dt.date(2026, 12, 14)),
        ("本周一", dt.date(2026, 12, 7)),
        ("next monday", dt.date(2026, 12, 14)),
        ("next friday", dt.date(2026, 12, 18)),
        ("friday", dt.date(2026, 12, 11)),
        ("Monday", dt.date(2026, 12, 14)),
    ],
)
def test_parse_date_reads_weekdays(text: str, expected: dt.date) -> None:
    assert parse_date(text, WEDNESDAY) == expected


def test_parse_date_bare_weekday_on_that_weekday_means_a_week_later() -> None:
    assert parse_date("周三", WEDNESDAY) == dt.date(2026, 12, 16)
    assert parse_date("wednesday", WEDNESDAY) == dt.date(2026, 12, 16)


@pytest.mark.parametrize("text", ["2026-02-30", "2026-13-01", "2025-02-29", "2月30日", "13-1"])
def test_parse_date_refuses_days_that_are_not_in_the_calendar(text: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_date(text, WEDNESDAY)

    assert caught.value.key == "parsing.no_such_date"


@pytest.mark.parametrize(
    "text", ["", "   ", "soon", "2026", "12", "周八", "下下周一", "in x days"]
)
def test_parse_date_refuses_text_that_names_no_date(text: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_date(text, WEDNESDAY)

    assert caught.value.key == "parsing.bad_date"


def test_parse_date_refuses_offsets_too_far_to_be_meant() -> None:
    with pytest.raises(ParseError) as caught:
        parse_date("in 999999 days", WEDNESDAY)

    assert caught.value.key == "parsing.date_out_of_range"


def test_parse_calendar_date_refuses_a_date_without_its_year() -> None:
    assert parse_calendar_date("2024/7/25") == dt.date(2024, 7, 25)
    with pytest.raises(ParseError):
        parse_calendar_date("7-25")
    with pytest.raises(ParseError):
        parse_calendar_date("明天")


def test_format_date_writes_chinese_and_iso_forms() -> None:
    assert format_date(dt.date(2026, 12, 5), "zh") == "2026年12月5日"
    assert format_date(dt.date(2026, 12, 5), "en") == "2026-12-05"


@given(st.dates(dt.date(1900, 1, 1), dt.date(2199, 12, 31)), st.sampled_from(["zh", "en"]))
def test_format_date_round_trips_through_parse_date(day: dt.date, lang: str) -> None:
    assert parse_date(format_date(day, lang), WEDNESDAY) == day


# --- money ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("50000", "50000"),
        ("50,000", "50000"),
        ("5万", "50000"),
        ("5w", "50000"),
        ("5W", "50000"),
        ("5.5万元", "55000"),
        ("¥50,000.00", "50000"),
        ("￥5万", "50000"),
        ("50000元", "50000"),
        ("五万", "50000"),
        ("五万五千", "55000"),
        ("一点五万", "15000"),
        ("1.2亿", "120000000"),
        ("3k", "3000"),
        ("5万5千", "55000"),
        ("人民币 5 万元整", "50000"),
        ("１２３４.５", "1234.5"),
        ("0.01", "0.01"),
    ],
)
def test_parse_money_reads_amounts(text: str, expected: str) -> None:
    assert parse_money(text) == Decimal(expected)


def test_parse_money_quantises_to_cents() -> None:
    assert parse_money("5万").as_tuple().exponent == -2
    assert str(parse_money("1.5")) == "1.50"


@pytest.mark.parametrize("text", ["-5", "负五万", "0", "0.00", "¥-100"])
def test_parse_money_refuses_amounts_that_are_not_positive(text: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_money(text)

    assert caught.value.key == "parsing.money_not_positive"


@pytest.mark.parametrize("text", ["", "  ", "abc", "1e5", "5万块万", "$500", "五万abc"])
def test_parse_money_refuses_text_that_is_no_amount(text: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_money(text)

    assert caught.value.key == "parsing.bad_money"


def test_parse_money_refuses_fractions_of_a_cent_but_allows_them_when_scaled() -> None:
    assert parse_money("1.234万") == Decimal("12340")
    with pytest.raises(ParseError) as caught:
        parse_money("12.345")

    assert caught.value.key == "parsing.money_cents"


def test_format_money_shows_cents_only_when_there_are_some() -> None:
    assert format_money(Decimal("50000"), "zh") == "¥50,000"
    assert format_money(Decimal("50000.50"), "en") == "¥50,000.50"
    assert format_money(Decimal("0.05"), "zh") == "¥0.05"


@given(
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal("999999999999.99"), places=2),
    st.sampled_from(["zh", "en"]),
)
def test_format_money_round_trips_through_parse_money(amount: Decimal, lang: str) -> None:
    assert parse_money(format_money(amount, lang)) == amount


# --- phones ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("13812345678", "13812345678"),
        ("138 1234 5678", "13812345678"),
        ("138-1234-5678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("+8613812345678", "13812345678"),
        ("0086-138-1234-5678", "13812345678"),
        ("(+86) 13812345678", "13812345678"),
        ("１３８１２３４５６７８", "13812345678"),
        ("010-12345678", "010-12345678"),
        ("0755 1234 5678", "0755-12345678"),
        ("(021)12345678", "021-12345678"),
        ("+86 10 12345678", "010-12345678"),
        ("+86 (0)21 1234 5678", "021-12345678"),
        ("0991-1234567", "0991-1234567"),
    ],
)
def test_parse_phone_normalises_mobiles_and_landlines(text: str, expected: str) -> None:
    assert parse_phone(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "12345",
        "1381234567",
        "138123456789",
        "1381234567x",
        "tel:13812345678",
        "010-1234567 转 8",
        "4008123456",
        "+1 415 555 2671",
        "+852 9123 4567",
    ],
)
def test_parse_phone_refuses_what_is_not_a_chinese_personal_number(text: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_phone(text)

    assert caught.value.key == "parsing.bad_phone"


def test_mask_phone_hides_the_middle_digits() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("010-12345678") == "010-****5678"
    assert mask_phone("0991-1234567") == "0991-***4567"
    assert mask_phone("123") == "****"


def test_format_phone_groups_digits_for_reading() -> None:
    assert format_phone("13812345678") == "138 1234 5678"
    assert format_phone("010-12345678") == "010-1234 5678"
    assert format_phone("0991-1234567") == "0991-123 4567"


def test_format_phone_shows_unreadable_text_unchanged() -> None:
    assert format_phone("call the office") == "call the office"


mobiles = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
landlines = st.builds(
    "{}-{}".format,
    st.sampled_from(["010", "021", "020", "0755", "0571", "028"]),
    st.from_regex(r"[2-8][0-9]{7}", fullmatch=True),
)


@given(st.one_of(mobiles, landlines))
def test_format_phone_round_trips_through_parse_phone(text: str) -> None:
    try:
        phone = parse_phone(text)
    except ParseError:
        return  # a number block phonenumbers knows to be unassigned
    assert parse_phone(format_phone(phone)) == phone
    assert parse_phone(phone) == phone
    masked = mask_phone(phone)
    assert masked.endswith(phone[-4:]) and len(masked) == len(phone)
    assert masked.count("*") >= 3


# --- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "keys"),
    [
        ("张三", ("zhangsan", "zs")),
        ("欧阳娜娜", ("ouyangnana", "oynn")),
        ("吕布", ("lvbu", "lb")),
        ("John Smith", ("johnsmith", "js")),
        ("张Tony", ("zhangtony", "zt")),
        ("", ("", "")),
    ],
)
def test_pinyin_keys_give_full_pinyin_and_initials(name: str, keys: tuple[str, str]) -> None:
    assert pinyin_keys(name) == keys


def test_pinyin_keys_take_the_default_reading_of_polyphonic_characters() -> None:
    # 单 as a surname is "shan", but the default reading "dan" is what the key holds.
    assert pinyin_keys("单田芳")[0] == "dantianfang"


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("张三", ["张三"]),
        ("张三、李四、王五", ["张三", "李四", "王五"]),
        ("张三\n李四\r\n王五", ["张三", "李四", "王五"]),
        ("张三，李四,王五;赵六；钱七", ["张三", "李四", "王五", "赵六", "钱七"]),
        ("张三 李四   王五", ["张三", "李四", "王五"]),
        ("张三\u3000李四", ["张三", "李四"]),
        ("John Smith, Mary  Jones", ["John Smith", "Mary Jones"]),
        ("张三 John Smith", ["张三", "John Smith"]),
        ("张三、、 李四 ,, ", ["张三", "李四"]),
        ("张三、李四、张三", ["张三", "李四"]),
        ("买买提·艾力", ["买买提·艾力"]),
    ],
)
def test_split_names_splits_on_separators_and_spaces_between_chinese_names(
    text: str, names: list[str]
) -> None:
    assert split_names(text) == names


def test_split_names_allows_a_name_of_the_maximum_length_only() -> None:
    assert split_names("a" * MAX_NAME_LENGTH) == ["a" * MAX_NAME_LENGTH]
    with pytest.raises(ParseError) as caught:
        split_names("张三、" + "b" * (MAX_NAME_LENGTH + 1))

    assert caught.value.values["limit"] == MAX_NAME_LENGTH


# --- small numbers, times, zones --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("3", 3), (" 7 ", 7), ("３", 3), ("十", 10), ("二十八", 28), ("+5", 5), ("1", 1), ("31", 31)],
)
def test_parse_int_in_range_reads_arabic_and_chinese_numbers(text: str, expected: int) -> None:
    assert parse_int_in_range(text, 1, 31) == expected


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("0", "int_out_of_range"),
        ("32", "int_out_of_range"),
        ("3.5", "bad_int"),
        ("", "bad_int"),
        ("9" * 40, "bad_int"),
    ],
)
def test_parse_int_in_range_refuses_other_numbers(text: str, key: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_int_in_range(text, 1, 31)

    assert caught.value.key == f"parsing.{key}"
    assert caught.value.values["low"] == 1 and caught.value.values["high"] == 31


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8:30", dt.time(8, 30)),
        ("08:30", dt.time(8, 30)),
        ("8：30", dt.time(8, 30)),
        ("20:05", dt.time(20, 5)),
        ("0:00", dt.time(0, 0)),
        ("8点半", dt.time(8, 30)),
        ("8点", dt.time(8, 0)),
        ("八点半", dt.time(8, 30)),
        ("8点15分", dt.time(8, 15)),
        ("8点一刻", dt.time(8, 15)),
        ("下午3点", dt.time(15, 0)),
        ("晚上8点半", dt.time(20, 30)),
        ("中午12点", dt.time(12, 0)),
        ("凌晨12点", dt.time(0, 0)),
        ("8am", dt.time(8, 0)),
        ("8:30 pm", dt.time(20, 30)),
        ("12am", dt.time(0, 0)),
        ("12pm", dt.time(12, 0)),
    ],
)
def test_parse_time_of_day_reads_clock_times(text: str, expected: dt.time) -> None:
    assert parse_time_of_day(text) == expected


@pytest.mark.parametrize("text", ["24:00", "8:60", "25点", "13pm", "morning", "", "8"])
def test_parse_time_of_day_refuses_impossible_or_unclear_times(text: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_time_of_day(text)

    assert caught.value.key == "parsing.bad_time"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Asia/Shanghai", "Asia/Shanghai"),
        ("asia/shanghai", "Asia/Shanghai"),
        ("America/New York", "America/New_York"),
        ("Shanghai", "Asia/Shanghai"),
        ("北京时间", "Asia/Shanghai"),
        ("UTC+8", "Etc/GMT-8"),
        ("GMT+8", "Etc/GMT-8"),
        ("utc + 08:00", "Etc/GMT-8"),
        ("UTC-5", "Etc/GMT+5"),
        ("UTC", "UTC"),
        ("GMT+0", "UTC"),
    ],
)
def test_parse_timezone_reads_names_and_whole_hour_offsets(text: str, expected: str) -> None:
    assert parse_timezone(text) == expected


@pytest.mark.parametrize("text", ["", "Mars/Olympus", "UTC+15", "UTC-13", "东八区吧"])
def test_parse_timezone_refuses_unknown_zones(text: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_timezone(text)

    assert caught.value.key == "parsing.bad_timezone"


# --- properties -----------------------------------------------------------------------------


@settings(max_examples=300)
@given(parser_text, plausible_today)
def test_no_text_makes_a_parser_raise_anything_but_parse_error(text: str, today: dt.date) -> None:
    parsers = (
        lambda: parse_date(text, today),
        lambda: parse_calendar_date(text),
        lambda: parse_money(text),
        lambda: parse_phone(text),
        lambda: split_names(text),
        lambda: parse_int_in_range(text, -10, 10),
        lambda: parse_time_of_day(text),
        lambda: parse_timezone(text),
    )
    for parser in parsers:
        try:
            parser()
        except ParseError as error:
            assert i18n.has("zh", error.key) and i18n.has("en", error.key)
    # The formatters and key builders take stored text and never raise at all.
    pinyin_keys(text)
    mask_phone(text)
    format_phone(text)


@settings(max_examples=300)
@given(parser_text, plausible_today, st.sampled_from(["zh", "en"]))
def test_accepted_dates_round_trip_through_format_date(
    text: str, today: dt.date, lang: str
) -> None:
    try:
        day = parse_date(text, today)
    except ParseError:
        return
    assert parse_date(format_date(day, lang), today) == day


@settings(max_examples=300)
@given(parser_text, st.sampled_from(["zh", "en"]))
def test_accepted_amounts_round_trip_through_format_money(text: str, lang: str) -> None:
    try:
        amount = parse_money(text)
    except ParseError:
        return
    assert amount > 0
    assert parse_money(format_money(amount, lang)) == amount


@settings(max_examples=300)
@given(parser_text)
def test_accepted_phones_round_trip_through_format_phone(text: str) -> None:
    try:
        phone = parse_phone(text)
    except ParseError:
        return
    assert parse_phone(format_phone(phone)) == phone
