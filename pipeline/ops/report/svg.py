"""The report's charts: SVG drawn as strings, plus the text formats the charts and the page share.

No plotting library and no script: the page must open offline years later. Every string from the lake
goes through ``esc`` where it is written, after any ``shorten``, so no entity is ever cut in half.
"""
from __future__ import annotations

import html
import math
from datetime import datetime, timezone
from typing import Optional, Sequence

from pipeline.ops.report.queries import (
    DAY,
    HOUR,
    OTHER,
    Cluster,
    DeadLetterCount,
    LagSection,
    TimeSeries,
)

# -------------------------------------------------------------------------------------- rendering

PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f")
OTHER_COLOUR = "#bab0ac"
STAGE_COLOURS = {"decode": "#e15759", "clean": "#f28e2b", "entities": "#b07aa1"}
CHART_WIDTH = 960


def esc(value: object) -> str:
    """HTML-escape text and attribute values (quotes included): everything from the lake goes through here."""
    return html.escape(str(value), quote=True)


def shorten(text: str, limit: int) -> str:
    """Cut long text with an ellipsis (before escaping, so no entity is ever cut in half)."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def colour_map(names: Sequence[str]) -> dict[str, str]:
    """A stable colour per name in the given order; ``other`` and names past the palette are grey."""
    colours = {name: PALETTE[i] for i, name in enumerate(n for n in names if n != OTHER) if i < len(PALETTE)}
    return {name: colours.get(name, OTHER_COLOUR) for name in names}


def format_duration(seconds: Optional[float]) -> str:
    """Compact human duration: ``850 ms``, ``42 s``, ``12 min``, ``3.5 h``, ``2.1 days``; negative keeps its sign."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "–"
    sign, s = ("-" if seconds < 0 else ""), abs(seconds)
    if s < 1:
        text = f"{s * 1000:.0f} ms"
    elif s < 60:
        text = f"{s:.0f} s" if s >= 10 else f"{s:.1f} s"
    elif s < HOUR:
        text = f"{s / 60:.0f} min" if s >= 600 else f"{s / 60:.1f} min"
    elif s < DAY:
        text = f"{s / HOUR:.1f} h"
    else:
        text = f"{s / DAY:.1f} days"
    return sign + text


def format_time(epoch_s: float, bucket_s: int = 1) -> str:
    """UTC time at the precision a bucket size calls for."""
    at = datetime.fromtimestamp(epoch_s, timezone.utc)
    if bucket_s >= DAY:
        return at.strftime("%Y-%m-%d")
    if bucket_s >= 60:
        return at.strftime("%Y-%m-%d %H:%M")
    return at.strftime("%Y-%m-%d %H:%M:%S")


def bucket_name(bucket_s: int) -> str:
    names = {1: "second", 10: "10 seconds", 60: "minute", 300: "5 minutes", 900: "15 minutes", HOUR: "hour",
             3 * HOUR: "3 hours", 6 * HOUR: "6 hours", 12 * HOUR: "12 hours", DAY: "day", 7 * DAY: "week"}
    return names.get(bucket_s) or format_duration(bucket_s)


def count_ticks(max_value: float) -> list[int]:
    """Whole-number axis ticks from 0 past ``max_value``, at most six, in steps of 1, 2 or 5 × 10^k."""
    step = max(1, int(nice_ceiling(max_value / 5))) if max_value > 0 else 1
    top = max(step, math.ceil(max_value / step) * step)
    return list(range(0, top + 1, step))


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 × 10^k at or above ``value`` (axis maxima)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return float(step * power)
    return 10.0 * power


def _time_ticks(starts: list[int], bucket_s: int, max_ticks: int = 8) -> list[tuple[int, str]]:
    """(index, label) of the buckets that carry an axis label: the date when it changes, else the time."""
    if not starts:
        return []
    every = max(1, math.ceil(len(starts) / max_ticks))
    ticks, last_day = [], None
    for i in range(0, len(starts), every):
        at = datetime.fromtimestamp(starts[i], timezone.utc)
        if bucket_s >= DAY:
            label = at.strftime("%b %d")
        else:
            clock = at.strftime("%H:%M" if bucket_s >= 60 else "%H:%M:%S")
            label = f"{at.strftime('%b %d')} {clock}" if at.date() != last_day else clock
        last_day = at.date()
        ticks.append((i, label))
    return ticks


def _svg_open(chart: str, width: int, height: int, title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="{esc(chart)}" '
            f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="{esc(title)}">'
            f"<title>{esc(title)}</title>")


def svg_stacked_bars(chart: str, series: TimeSeries, colours: dict[str, str], unit: str = "stories",
                     height: int = 240) -> str:
    """Stacked bars per time bucket, one colour per series; each segment says what it is on hover."""
    width, left, right, top, bottom = CHART_WIDTH, 44, 8, 10, 38
    n = len(series.starts)
    totals = [sum(s.values[i] for s in series.series) for i in range(n)]
    ticks = count_ticks(max(totals or [0]))
    y_max = ticks[-1]
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / max(n, 1)
    bar_w = max(step * 0.85, 1.0)
    out = [_svg_open(chart, width, height, f"{unit} per {bucket_name(series.bucket_s)}")]
    out.append(_y_grid([(t / y_max, str(t)) for t in ticks], left, top, plot_w, plot_h))
    for i, at in enumerate(series.starts):
        base = 0.0
        for s in series.series:
            value = s.values[i]
            if value <= 0:
                continue
            y0 = top + plot_h - (base + value) / y_max * plot_h
            h = value / y_max * plot_h
            label = f"{s.name}: {value:g} {unit}, {format_time(at, series.bucket_s)} UTC"
            out.append(f'<rect class="mark" x="{left + i * step:.2f}" y="{y0:.2f}" width="{bar_w:.2f}" '
                       f'height="{h:.2f}" fill="{colours.get(s.name, OTHER_COLOUR)}"><title>{esc(label)}</title></rect>')
            base += value
    out.append(_x_ticks(series.starts, series.bucket_s, left, step, top + plot_h))
    out.append("</svg>")
    return "".join(out)


def _y_grid(labels: Sequence[tuple[float, str]], left: float, top: float, plot_w: float, plot_h: float) -> str:
    """Horizontal grid lines at (fraction of the plot height, label) pairs."""
    parts = []
    for fraction, text in labels:
        y = top + plot_h - fraction * plot_h
        parts.append(f'<line class="grid" x1="{left}" x2="{left + plot_w}" y1="{y:.2f}" y2="{y:.2f}"/>'
                     f'<text class="axis" x="{left - 6}" y="{y + 4:.2f}" text-anchor="end">{esc(text)}</text>')
    return "".join(parts)


def _x_ticks(starts: list[int], bucket_s: int, left: float, step: float, baseline: float) -> str:
    parts = [f'<line class="baseline" x1="{left}" x2="{left + step * len(starts):.2f}" y1="{baseline:.2f}" y2="{baseline:.2f}"/>']
    for i, label in _time_ticks(starts, bucket_s):
        x = left + i * step
        parts.append(f'<line class="tick" x1="{x:.2f}" x2="{x:.2f}" y1="{baseline:.2f}" y2="{baseline + 4:.2f}"/>'
                     f'<text class="axis" x="{x:.2f}" y="{baseline + 17:.2f}">{esc(label)}</text>')
    return "".join(parts)


def svg_sparkline(chart: str, values: Sequence[float], title: str, width: int = 160, height: int = 28) -> str:
    """A tiny line of counts over time (zero at the bottom), with the last point marked."""
    out = [_svg_open(chart, width, height, title)]
    if values:
        top = max(values) or 1
        pad = 3
        step = (width - 2 * pad) / max(len(values) - 1, 1)
        points = [(pad + i * step, height - pad - v / top * (height - 2 * pad)) for i, v in enumerate(values)]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            out.append(f'<polyline class="mark spark" points="{path}"/>')
        x, y = points[-1]
        out.append(f'<circle class="mark spark-end" cx="{x:.1f}" cy="{y:.1f}" r="2"/>')
    out.append("</svg>")
    return "".join(out)


def _log_x(seconds: float, max_s: float, left: float, plot_w: float) -> float:
    """Delays from 1 s to ``max_s`` on a log scale; anything at or under a second sits at the left edge."""
    span = math.log10(max(max_s, 10.0))
    return left + math.log10(max(seconds, 1.0)) / span * plot_w


DURATION_TICKS = ((1, "≤ 1 s"), (10, "10 s"), (60, "1 min"), (600, "10 min"), (HOUR, "1 h"), (6 * HOUR, "6 h"),
                  (DAY, "1 day"), (7 * DAY, "1 week"), (30 * DAY, "30 days"), (365 * DAY, "1 year"))


def svg_delay_strips(chart: str, clusters: Sequence[Cluster], colours: dict[str, str]) -> str:
    """One row per cluster, one dot per republication at its delay after the original (log scale), coloured by outlet."""
    width, label_w, right, row_h, top, bottom = CHART_WIDTH, 330, 16, 26, 8, 30
    height = top + row_h * len(clusters) + bottom
    left, plot_w = label_w, width - label_w - right
    max_s = max([c.delay_s for cl in clusters for c in cl.copies] + [60.0])
    out = [_svg_open(chart, width, height, "republication delay per copy")]
    baseline = top + row_h * len(clusters)
    for seconds, text in DURATION_TICKS:
        if seconds <= max(max_s, 10.0) * 1.0001:
            x = _log_x(seconds, max_s, left, plot_w)
            out.append(f'<line class="grid" x1="{x:.2f}" x2="{x:.2f}" y1="{top}" y2="{baseline}"/>'
                       f'<text class="axis" x="{x:.2f}" y="{baseline + 16}">{esc(text)}</text>')
    for row, cluster in enumerate(clusters):
        y = top + row * row_h + row_h / 2
        name = f"{cluster.members}× {shorten(cluster.headline or cluster.cluster_id, 44)}"
        out.append(f'<text class="row-label" x="{label_w - 10}" y="{y + 4:.2f}" text-anchor="end">{esc(name)}'
                   f"<title>{esc(cluster.headline)} ({esc(cluster.provider)}, {esc(cluster.cluster_id)})</title></text>")
        out.append(f'<line class="strip" x1="{left}" x2="{left + plot_w}" y1="{y:.2f}" y2="{y:.2f}"/>')
        for k, copy in enumerate(cluster.copies):
            x = _log_x(max(copy.delay_s, 0.0), max_s, left, plot_w)
            jitter = ((k % 3) - 1) * 4
            label = f"{copy.provider}: +{format_duration(copy.delay_s)} ({copy.story_id})"
            out.append(f'<circle class="mark" cx="{x:.2f}" cy="{y + jitter:.2f}" r="5" '
                       f'fill="{colours.get(copy.provider, OTHER_COLOUR)}"><title>{esc(label)}</title></circle>')
    out.append("</svg>")
    return "".join(out)


def svg_dead_letter_bars(chart: str, counts: Sequence[DeadLetterCount]) -> str:
    """A horizontal bar per error code, split by the stage that refused the message."""
    by_code: dict[str, dict[str, int]] = {}
    for c in counts:
        by_code.setdefault(c.error_code, {})[c.stage] = by_code.get(c.error_code, {}).get(c.stage, 0) + c.messages
    codes = sorted(by_code, key=lambda code: (-sum(by_code[code].values()), code))
    width, label_w, right, row_h, top, bottom = CHART_WIDTH, 180, 60, 24, 6, 8
    height = top + row_h * len(codes) + bottom
    plot_w = width - label_w - right
    x_max = max([sum(v.values()) for v in by_code.values()] + [1])
    out = [_svg_open(chart, width, height, "dead letters by error code and stage")]
    for row, code in enumerate(codes):
        y = top + row * row_h
        out.append(f'<text class="row-label" x="{label_w - 8}" y="{y + 16}" text-anchor="end">{esc(shorten(code, 28))}</text>')
        x = float(label_w)
        for stage in sorted(by_code[code], key=lambda s: (list(STAGE_COLOURS).index(s) if s in STAGE_COLOURS else 99, s)):
            n = by_code[code][stage]
            w = n / x_max * plot_w
            out.append(f'<rect class="mark" x="{x:.2f}" y="{y + 4}" width="{max(w, 1):.2f}" height="{row_h - 8}" '
                       f'fill="{STAGE_COLOURS.get(stage, OTHER_COLOUR)}"><title>{esc(f"{code} at {stage}: {n}")}</title></rect>')
            x += w
        out.append(f'<text class="value" x="{x + 6:.2f}" y="{y + 16}">{sum(by_code[code].values())}</text>')
    out.append("</svg>")
    return "".join(out)


def _log_y(seconds: float, max_s: float, top: float, plot_h: float) -> float:
    span = math.log10(max(max_s, 10.0))
    return top + plot_h - math.log10(max(seconds, 1.0)) / span * plot_h


def svg_lag_over_time(chart: str, lag: LagSection, height: int = 240) -> str:
    """Per ingest-time bucket: a bar from the median to the 90th percentile lag and a dot at the maximum (log scale)."""
    width, left, right, top, bottom = CHART_WIDTH, 64, 8, 10, 38
    plot_w, plot_h = width - left - right, height - top - bottom
    max_s = max([b.max_s for b in lag.buckets] + [60.0])
    starts = lag.starts
    step = plot_w / max(len(starts), 1)
    index = {at: i for i, at in enumerate(starts)}
    labels = [(math.log10(s) / math.log10(max(max_s, 10.0)), t) for s, t in DURATION_TICKS if s <= max_s * 1.0001]
    out = [_svg_open(chart, width, height, f"ingest lag per {bucket_name(lag.bucket_s)}")]
    out.append(_y_grid(labels, left, top, plot_w, plot_h))
    for b in lag.buckets:
        i = index.get(b.start)
        if i is None:
            continue
        x = left + i * step
        y50, y90 = _log_y(b.p50_s, max_s, top, plot_h), _log_y(b.p90_s, max_s, top, plot_h)
        text = (f"{format_time(b.start, lag.bucket_s)} UTC: {b.versions} versions, median {format_duration(b.p50_s)}, "
                f"p90 {format_duration(b.p90_s)}, max {format_duration(b.max_s)}")
        out.append(f'<rect class="mark" x="{x + step * 0.1:.2f}" y="{min(y90, y50 - 2):.2f}" width="{max(step * 0.8, 1):.2f}" '
                   f'height="{max(y50 - y90, 2):.2f}" fill="#4e79a7"><title>{esc(text)}</title></rect>')
        out.append(f'<circle class="mark" cx="{x + step / 2:.2f}" cy="{_log_y(b.max_s, max_s, top, plot_h):.2f}" r="3" '
                   f'fill="#e15759"><title>{esc(text)}</title></circle>')
    out.append(_x_ticks(list(starts), lag.bucket_s, left, step, top + plot_h))
    out.append("</svg>")
    return "".join(out)


def svg_histogram(chart: str, bins: Sequence[tuple[str, int]], height: int = 200) -> str:
    """Vertical bars of counts per named bin."""
    width, left, right, top, bottom = CHART_WIDTH, 44, 8, 10, 38
    plot_w, plot_h = width - left - right, height - top - bottom
    ticks = count_ticks(max([n for _l, n in bins] + [0]))
    y_max = ticks[-1]
    step = plot_w / max(len(bins), 1)
    out = [_svg_open(chart, width, height, "distribution of ingest lag")]
    out.append(_y_grid([(t / y_max, str(t)) for t in ticks], left, top, plot_w, plot_h))
    for i, (label, n) in enumerate(bins):
        x = left + i * step
        if n > 0:
            h = n / y_max * plot_h
            out.append(f'<rect class="mark" x="{x + step * 0.15:.2f}" y="{top + plot_h - h:.2f}" width="{step * 0.7:.2f}" '
                       f'height="{h:.2f}" fill="#76b7b2"><title>{esc(f"{label}: {n} versions")}</title></rect>')
        out.append(f'<text class="axis" x="{x + step / 2:.2f}" y="{top + plot_h + 17}">{esc(label)}</text>')
    out.append(f'<line class="baseline" x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" y2="{top + plot_h}"/>')
    out.append("</svg>")
    return "".join(out)

