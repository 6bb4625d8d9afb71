"""Server-side SVG charts for the leaderboard page: pure functions from numbers to SVG text.

No JavaScript and no CDN: the page works offline and the charts print. Model names come from
operators and imported battle files, so every piece of text goes through :func:`_text`; the
numbers are formatted here, never taken from input as strings. The charts' own words are in the
page's language (``gettext``), and escaped like the rest. Each chart is an
``<svg role="img">`` labelled by its own ``<title>`` and ``<desc>``; the page puts the numbers
next to it as a table for screen readers and for anyone who would rather read.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from django.utils.translation import gettext as _

CHAR_WIDTH = 7.0  # average width of one character at the charts' 12px font, for laying out labels
LABEL_MAX_CHARS = 28
ROW_HEIGHT = 22
CELL = 42

LOW = (192, 57, 43)  # a low win rate: red
MIDDLE = (244, 244, 246)  # an even match: near white
HIGH = (36, 84, 214)  # a high win rate or many battles: the page's accent blue
MISSING = "#c9ccd3"


@dataclass(frozen=True)
class Interval:
    """One model's rating and 95% interval, on the Elo scale.

    A bound is None when it was not computed, or when it is unbounded (−∞ or +∞: the model never
    won, or never lost, in enough bootstrap replicates); an unbounded side is drawn to the edge of
    the plot with an arrowhead.
    """

    label: str
    rating: float
    lower: float | None
    upper: float | None
    lower_unbounded: bool = False
    upper_unbounded: bool = False

    def ends(self, low: float, high: float) -> tuple[float, float] | None:
        """The segment to draw within ``[low, high]``: an unbounded side runs to that edge; None if none."""
        start = self.lower if self.lower is not None else (low if self.lower_unbounded else None)
        end = self.upper if self.upper is not None else (high if self.upper_unbounded else None)
        return None if start is None or end is None else (start, end)


def _text(value: str) -> str:
    return escape(value, quote=True)


def _short(label: str) -> str:
    return label if len(label) <= LABEL_MAX_CHARS else label[: LABEL_MAX_CHARS - 1] + "…"


def _num(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _open(chart_id: str, width: float, height: float, title: str, description: str) -> str:
    ident = _text(chart_id)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" id="{ident}" '
        f'aria-labelledby="{ident}-title {ident}-desc" width="{_num(width)}" height="{_num(height)}" '
        f'viewBox="0 0 {_num(width)} {_num(height)}" font-size="12">'
        f'<title id="{ident}-title">{_text(title)}</title><desc id="{ident}-desc">{_text(description)}</desc>'
    )


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (steps of 1, 2 or 5 times a power of ten) covering ``[low, high]``."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low] if math.isfinite(low) else []
    raw = (high - low) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def interval_domain(intervals: Sequence[Interval]) -> tuple[float, float]:
    """The rating range every interval fits in, padded a little and never empty."""
    values = [v for i in intervals for v in (i.lower, i.rating, i.upper) if v is not None and math.isfinite(v)]
    if not values:
        return (900.0, 1100.0)
    low, high = min(values), max(values)
    pad = max((high - low) * 0.05, 10.0)
    return (low - pad, high + pad)


def interval_plot(intervals: Sequence[Interval], *, chart_id: str, title: str, description: str) -> str:
    """One row per model: its 95% interval as a segment and its rating as a dot, on a shared rating axis."""
    left = 16 + CHAR_WIDTH * max([len(_short(i.label)) for i in intervals] + [5])
    plot_width, top = 520.0, 12.0
    height = top + ROW_HEIGHT * max(len(intervals), 1) + 52
    low, high = interval_domain(intervals)

    def x(value: float) -> float:
        return left + (value - low) / (high - low) * plot_width

    bottom = height - 52
    parts = [_open(chart_id, left + plot_width + 16, height, title, description)]
    for tick in nice_ticks(low, high):
        parts.append(f'<line class="grid" x1="{_num(x(tick))}" x2="{_num(x(tick))}" y1="{_num(top)}" '
                     f'y2="{_num(bottom)}" stroke="currentColor" stroke-opacity="0.15"/>'
                     f'<text x="{_num(x(tick))}" y="{_num(bottom + 16)}" text-anchor="middle" '
                     f'fill="currentColor">{_num(tick)}</text>')
    parts.append(f'<line x1="{_num(left)}" x2="{_num(left + plot_width)}" y1="{_num(bottom)}" y2="{_num(bottom)}" '
                 f'stroke="currentColor"/>')
    for row, item in enumerate(intervals):
        y = top + ROW_HEIGHT * row + ROW_HEIGHT / 2
        parts.append(f'<g class="interval"><text x="{_num(left - 8)}" y="{_num(y + 4)}" text-anchor="end" '
                     f'fill="currentColor"><title>{_text(item.label)}</title>{_text(_short(item.label))}</text>')
        ends = item.ends(low, high)
        if ends is not None:
            parts.append(f'<line x1="{_num(x(ends[0]))}" x2="{_num(x(ends[1]))}" y1="{_num(y)}" y2="{_num(y)}" '
                         f'stroke="#2454d6" stroke-width="3" stroke-linecap="round"/>')
            parts.extend(_arrows(item, x(ends[0]), x(ends[1]), y, 5.0))
        parts.append(f'<circle cx="{_num(x(item.rating))}" cy="{_num(y)}" r="4.5" fill="currentColor"/></g>')
    # xgettext:no-python-format
    x_axis, y_axis = _text(_("Rating (Elo scale): dot = estimate, bar = 95% interval")), _text(_("Model"))
    parts.append(f'<text x="{_num(left + plot_width / 2)}" y="{_num(height - 10)}" text-anchor="middle" '
                 f'fill="currentColor" font-weight="600">{x_axis}</text>')
    parts.append(f'<text transform="translate(12 {_num(top + (bottom - top) / 2)}) rotate(-90)" text-anchor="middle" '
                 f'fill="currentColor" font-weight="600">{y_axis}</text></svg>')
    return "".join(parts)


def interval_bar(item: Interval, *, domain: tuple[float, float], width: float = 120, height: float = 14) -> str:
    """A small decorative interval bar for a table cell; the cell's numbers say the same for screen readers."""
    low, high = domain
    span = high - low if high > low else 1.0

    def x(value: float) -> float:
        return 2 + (value - low) / span * (width - 4)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="interval-bar" aria-hidden="true" focusable="false" '
             f'width="{_num(width)}" height="{_num(height)}" viewBox="0 0 {_num(width)} {_num(height)}">'
             f'<line x1="0" x2="{_num(width)}" y1="{_num(height / 2)}" y2="{_num(height / 2)}" stroke="currentColor" '
             f'stroke-opacity="0.2"/>']
    ends = item.ends(low, high)
    if ends is not None:
        parts.append(f'<line x1="{_num(x(ends[0]))}" x2="{_num(x(ends[1]))}" y1="{_num(height / 2)}" '
                     f'y2="{_num(height / 2)}" stroke="#2454d6" stroke-width="4" stroke-linecap="round"/>')
        parts.extend(_arrows(item, x(ends[0]), x(ends[1]), height / 2, 4.0))
    parts.append(f'<circle cx="{_num(x(item.rating))}" cy="{_num(height / 2)}" r="3.5" fill="currentColor"/></svg>')
    return "".join(parts)


def _arrows(item: Interval, start: float, end: float, y: float, size: float) -> list[str]:
    """Arrowheads on the unbounded ends of an interval's segment: it goes on beyond the plot."""
    heads = []
    for unbounded, tip, back in ((item.lower_unbounded, start, start + size), (item.upper_unbounded, end, end - size)):
        if unbounded:
            heads.append(f'<polygon class="unbounded" points="{_num(tip)},{_num(y)} {_num(back)},{_num(y - size)} '
                         f'{_num(back)},{_num(y + size)}" fill="#2454d6"/>')
    return heads


def _mix(start: tuple[int, int, int], end: tuple[int, int, int], t: float) -> tuple[int, int, int]:
    t = min(max(t, 0.0), 1.0)
    r, g, b = (round(s + (e - s) * t) for s, e in zip(start, end, strict=True))
    return (r, g, b)


def rate_colour(value: float) -> tuple[int, int, int]:
    """Red below an even match, white at 0.5, blue above."""
    return _mix(MIDDLE, HIGH, (value - 0.5) * 2) if value >= 0.5 else _mix(MIDDLE, LOW, (0.5 - value) * 2)


def count_colour(value: float, largest: float) -> tuple[int, int, int]:
    """White for none, blue for the most; square-root scale so that small counts still show."""
    return _mix(MIDDLE, HIGH, math.sqrt(value / largest) if largest > 0 else 0.0)


def _ink(rgb: tuple[int, int, int]) -> str:
    luminance = (0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]) / 255
    return "#111111" if luminance > 0.55 else "#ffffff"


def heatmap(labels: Sequence[str], values: Sequence[Sequence[float | None]], *, chart_id: str, title: str,
            description: str, kind: str) -> str:
    """A square matrix as coloured cells with the number in each; row model against column model.

    ``kind`` is ``"rate"`` (0–1, shown as a percentage, red–white–blue around 50%) or ``"count"``
    (whole numbers, white to blue). Missing values (the diagonal, pairs that never met) are grey with a dash.
    """
    if kind not in ("rate", "count"):
        raise ValueError("kind must be 'rate' or 'count'")
    n = len(labels)
    label_width = 12 + CHAR_WIDTH * max([len(_short(label)) for label in labels] + [5])
    left, top = label_width + 24, label_width * 0.72 + 30
    width, height = left + CELL * n + label_width * 0.72 + 12, top + CELL * n + 12  # room for the slanted labels
    largest = max((v for row in values for v in row if v is not None), default=0.0)
    parts = [_open(chart_id, width, height, title, description)]
    for i, label in enumerate(labels):
        cx, cy = left + CELL * i + CELL / 2, top + CELL * i + CELL / 2
        parts.append(f'<text x="{_num(left - 6)}" y="{_num(cy + 4)}" text-anchor="end" fill="currentColor">'
                     f'<title>{_text(label)}</title>{_text(_short(label))}</text>'
                     f'<text transform="translate({_num(cx + 4)} {_num(top - 6)}) rotate(-45)" fill="currentColor">'
                     f'<title>{_text(label)}</title>{_text(_short(label))}</text>')
    for i, row in enumerate(values):
        for j, value in enumerate(row):
            parts.append(_cell(left + CELL * j, top + CELL * i, value, kind, largest, labels[i], labels[j]))
    column_axis = _text(_("Opponent (column)") if kind == "rate" else _("Model (column)"))
    row_axis = _text(_("Model (row)"))
    parts.append(f'<text x="{_num(left + CELL * n / 2)}" y="14" text-anchor="middle" fill="currentColor" '
                 f'font-weight="600">{column_axis}</text>')
    parts.append(f'<text transform="translate(12 {_num(top + CELL * n / 2)}) rotate(-90)" text-anchor="middle" '
                 f'fill="currentColor" font-weight="600">{row_axis}</text></svg>')
    return "".join(parts)


def format_cell(value: float | None, kind: str) -> str:
    """How a heatmap cell's number is written, in the chart and in its table."""
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value * 100:.0f}%" if kind == "rate" else f"{value:.0f}"


def _cell(x: float, y: float, value: float | None, kind: str, largest: float, row: str, column: str) -> str:
    shown = format_cell(value, kind)
    if shown == "–" or value is None:
        fill, ink = MISSING, "#333333"
    else:
        rgb = rate_colour(value) if kind == "rate" else count_colour(value, largest)
        fill, ink = "#{:02x}{:02x}{:02x}".format(*rgb), _ink(rgb)
    values = {"row": row, "column": column, "shown": shown}
    if shown == "–":
        tip = _("%(row)s vs %(column)s: no battles") % values
    elif kind == "rate":
        tip = _("%(row)s vs %(column)s: %(shown)s won") % values
    else:
        tip = _("%(row)s vs %(column)s: %(shown)s battles") % values
    return (f'<g class="cell"><title>{_text(tip)}</title><rect x="{_num(x)}" y="{_num(y)}" width="{CELL - 2}" '
            f'height="{CELL - 2}" rx="3" fill="{fill}"/><text x="{_num(x + CELL / 2 - 1)}" y="{_num(y + CELL / 2 + 3)}" '
            f'text-anchor="middle" font-size="11" fill="{ink}">{shown}</text></g>')
