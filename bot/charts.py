"""Charts as PNG bytes: panels of bars drawn on matplotlib's Agg canvas in a Chinese font.

Owns finding the CJK font and registering it with matplotlib's font manager, and drawing
a figure of bar panels. The font comes from the ``pylopdf-fonts-zh-cn`` wheel (Noto Sans
SC, a main dependency, so every install has it); a system Noto CJK or WenQuanYi font is the
fallback. Without any of them Chinese labels would come out as empty boxes, so that case
is logged as a warning.

Pure: labels and numbers in, PNG bytes out; nothing here knows Telegram or the database.
pyplot is never imported, so there is no global figure state and no GUI backend: each
call builds its own :class:`~matplotlib.figure.Figure` on an Agg canvas, which makes the
drawing safe to run in a worker thread.
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Final

from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.ticker import MaxNLocator

logger = logging.getLogger(__name__)

# matplotlib's bundled font: always present, and it covers Latin letters and digits.
LATIN_FAMILY: Final = "DejaVu Sans"

# Where Debian's fonts-noto-cjk and fonts-wqy-microhei put their files.
_SYSTEM_FONTS: Final = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansSC-Regular.otf"),
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
)

_COLUMNS: Final = 2
_PANEL_WIDTH: Final = 5.2
_PANEL_HEIGHT: Final = 3.6
_DPI: Final = 110


@dataclass(frozen=True)
class Series:
    """One named row of numbers, one number per label of its panel."""

    name: str
    values: tuple[int, ...]


@dataclass(frozen=True)
class Panel:
    """One bar chart of a figure: a title, category labels and one or more series."""

    title: str
    labels: tuple[str, ...]
    series: tuple[Series, ...]
    horizontal: bool = False


def _bundled_font() -> Path | None:
    """Return the Noto Sans SC file the font wheel ships, if the wheel is installed."""
    try:
        import pylopdf_fonts_zh_cn
    except ImportError:
        return None
    path = Path(pylopdf_fonts_zh_cn.sans_path())
    return path if path.is_file() else None


def find_cjk_font() -> Path | None:
    """Return the first available font file with Chinese glyphs, or None."""
    bundled = _bundled_font()
    if bundled is not None:
        return bundled
    return next((path for path in _SYSTEM_FONTS if path.is_file()), None)


@cache
def cjk_family() -> str | None:
    """Register the CJK font with matplotlib (once per process); return its family name."""
    path = find_cjk_font()
    if path is None:
        logger.warning("no CJK font found: Chinese chart labels will show as boxes")
        return None
    font_manager.fontManager.addfont(str(path))
    family = FontProperties(fname=str(path)).get_name()
    logger.info("chart font registered: %s", family)
    return family


def default_families() -> tuple[str, ...]:
    """Return the font families charts use: the CJK font first, Latin as the fallback."""
    family = cjk_family()
    return (family, LATIN_FAMILY) if family else (LATIN_FAMILY,)


def render_panels(
    title: str, panels: Sequence[Panel], *, families: Sequence[str] | None = None
) -> bytes:
    """Draw ``panels`` two to a row under ``title`` and return the figure as PNG bytes.

    ``families`` overrides the font families (the tests draw without the CJK font to
    prove that its absence shows).
    """
    if not panels:
        raise ValueError("a chart needs at least one panel")
    font = FontProperties(family=list(families or default_families()))
    rows = math.ceil(len(panels) / _COLUMNS)
    columns = min(_COLUMNS, len(panels))

    figure = Figure(
        figsize=(_PANEL_WIDTH * columns, _PANEL_HEIGHT * rows + 0.6), dpi=_DPI, layout="tight"
    )
    FigureCanvasAgg(figure)
    figure.suptitle(title, fontproperties=_sized(font, 15))
    for index, panel in enumerate(panels):
        axes = figure.add_subplot(rows, columns, index + 1)
        _draw_panel(axes, panel, font)

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _sized(font: FontProperties, size: float) -> FontProperties:
    """Return a copy of ``font`` at ``size`` points."""
    copy = font.copy()
    copy.set_size(size)
    return copy


def _draw_panel(axes: Axes, panel: Panel, font: FontProperties) -> None:
    """Draw one panel's bars, grouped side by side when it has several series."""
    count = len(panel.series)
    width = 0.8 / max(count, 1)
    positions = list(range(len(panel.labels)))
    small, normal = _sized(font, 8), _sized(font, 9)

    for number, series in enumerate(panel.series):
        if len(series.values) != len(panel.labels):
            raise ValueError(
                f"series {series.name!r} has {len(series.values)} values "
                f"for {len(panel.labels)} labels"
            )
        offset = (number - (count - 1) / 2) * width
        places = [position + offset for position in positions]
        if panel.horizontal:
            bars = axes.barh(places, series.values, height=width, label=series.name)
        else:
            bars = axes.bar(places, series.values, width=width, label=series.name)
        # Zero bars get no number: a row of "0" labels reads as clutter, not information.
        labels = [str(value) if value else "" for value in series.values]
        axes.bar_label(bars, labels=labels, padding=2, fontproperties=small)

    axes.set_title(panel.title, fontproperties=_sized(font, 11))
    value_axis = axes.xaxis if panel.horizontal else axes.yaxis
    value_axis.set_major_locator(MaxNLocator(integer=True))
    if panel.horizontal:
        axes.set_yticks(positions, list(panel.labels))
        axes.invert_yaxis()  # the first label on top, as it is read
        axes.margins(x=0.15)
    else:
        axes.set_xticks(positions, list(panel.labels))
        axes.margins(y=0.15)
    for label in axes.get_xticklabels() + axes.get_yticklabels():
        label.set_fontproperties(normal)
    if count > 1:
        axes.legend(prop=small)
    axes.spines[["top", "right"]].set_visible(False)
