"""Chart drawing: PNG output, and Chinese labels drawn as real glyphs rather than boxes."""

from __future__ import annotations

import io
import warnings

import pytest
from matplotlib import font_manager
from PIL import Image, ImageChops

from bot import charts
from bot.charts import Panel, Series, render_panels

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _panels(title: str) -> list[Panel]:
    return [
        Panel(
            title,
            ("缘故市场", "转介绍", "银行渠道"),
            (Series("客户", (3, 2, 1)),),
            horizontal=True,
        ),
        Panel("等级", ("A", "B"), (Series("促成时机", (1, 2)), Series("投保意愿", (2, 0)))),
    ]


def _render(title: str, families: tuple[str, ...] | None) -> tuple[Image.Image, list[str]]:
    """Render a two-panel chart; return the image and any glyph-missing warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        png = render_panels("客户资源统计", _panels(title), families=families)
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    return Image.open(io.BytesIO(png)).convert("RGB"), missing


def test_cjk_font_is_found_and_registered_with_matplotlib() -> None:
    path = charts.find_cjk_font()
    family = charts.cjk_family()

    assert path is not None and path.is_file()
    assert family is not None
    registered = {entry.name for entry in font_manager.fontManager.ttflist}
    assert family in registered
    assert charts.default_families() == (family, charts.LATIN_FAMILY)


def test_chinese_labels_render_without_missing_glyphs() -> None:
    image, missing = _render("客户来源", None)

    assert missing == []
    assert image.width > 500 and image.height > 300


def test_the_glyph_check_notices_when_the_cjk_font_is_absent() -> None:
    _, missing = _render("客户来源", (charts.LATIN_FAMILY,))

    assert missing, "rendering without the CJK font should report missing glyphs"


def test_different_chinese_titles_draw_different_pixels_with_the_cjk_font() -> None:
    # Without a CJK font every ideograph is the same empty box, so two titles of the same
    # length come out pixel-identical; with the font they differ. This fails if boxes appear.
    with_font = [_render(title, None)[0] for title in ("客户来源", "等级分布")]
    without_font = [
        _render(title, (charts.LATIN_FAMILY,))[0] for title in ("客户来源", "等级分布")
    ]

    assert ImageChops.difference(*with_font).getbbox() is not None
    assert ImageChops.difference(*without_font).getbbox() is None


def test_render_returns_png_bytes_with_one_row_per_two_panels() -> None:
    three = render_panels("标题", [*_panels("一"), _panels("二")[0]])
    two = render_panels("标题", _panels("一"))

    assert three.startswith(PNG_SIGNATURE) and two.startswith(PNG_SIGNATURE)
    assert Image.open(io.BytesIO(three)).height > Image.open(io.BytesIO(two)).height


def test_render_refuses_a_series_that_does_not_fit_its_labels() -> None:
    bad = Panel("坏数据", ("A", "B", "C"), (Series("客户", (1, 2)),))

    with pytest.raises(ValueError, match="2 values for 3 labels"):
        render_panels("标题", [bad])


def test_render_refuses_a_chart_without_panels() -> None:
    with pytest.raises(ValueError, match="at least one panel"):
        render_panels("标题", [])
