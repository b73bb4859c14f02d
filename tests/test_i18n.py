"""The message catalogs: both languages complete, every vocabulary labelled."""

from __future__ import annotations

import re
import string

from bot import commands, i18n
from storage.choices import LABELLED, WARM_CATEGORIES

_FIELDS = string.Formatter()


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in _FIELDS.parse(template) if name}


def test_every_key_exists_in_every_language() -> None:
    keys = {lang: set(i18n.catalog(lang)) for lang in i18n.LANGUAGES}

    for lang, own in keys.items():
        for other, theirs in keys.items():
            missing = sorted(theirs - own)
            assert not missing, f"{lang} lacks keys that {other} has: {missing[:10]}"


def test_translations_take_the_same_placeholders() -> None:
    zh, en = i18n.catalog("zh"), i18n.catalog("en")

    differing = [k for k in zh if _placeholders(zh[k]) != _placeholders(en.get(k, ""))]
    assert not differing, f"placeholders differ between zh and en: {differing[:10]}"


def test_english_texts_carry_no_untranslated_chinese() -> None:
    # Language names and the Chinese column headers of the bank's tables may stay Chinese.
    allowed = re.compile(r"中文|[\u4e00-\u9fff]+(?=[）)]|/)")
    offenders = [
        key
        for key, text in i18n.catalog("en").items()
        if re.search(r"[\u4e00-\u9fff]", allowed.sub("", text))
    ]
    assert len(offenders) <= 5, f"English texts with Chinese in them: {offenders}"


def test_every_vocabulary_code_has_a_label() -> None:
    for lang in i18n.LANGUAGES:
        for group, codes in LABELLED.items():
            for code in codes:
                assert i18n.has(lang, f"choices.{group}.{code}"), (lang, group, code)
        for number in WARM_CATEGORIES:
            assert i18n.has(lang, f"choices.warm.{number}")


def test_every_command_has_a_description_under_telegrams_limit() -> None:
    for lang in i18n.LANGUAGES:
        for name in commands.ORDER:
            description = i18n.t(lang, f"commands.{name}")
            assert 3 <= len(description) <= 256, (lang, name)


def test_missing_key_renders_the_key_instead_of_crashing() -> None:
    assert i18n.t("zh", "nowhere.nothing") == "nowhere.nothing"


def test_telegram_language_codes_map_to_supported_languages() -> None:
    assert i18n.normalise_language("en-US") == "en"
    assert i18n.normalise_language("zh-hans") == "zh"
    assert i18n.normalise_language(None) == "zh"
    assert i18n.normalise_language("de") == "zh"
