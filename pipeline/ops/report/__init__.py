"""``newswire report``: one self-contained HTML page of charts about a lake, read through the DuckDB views.

The page must open anywhere, offline, years later (a mail attachment, an archived incident): CSS is
inline, charts are SVG drawn here, there is no script at all, and a Content-Security-Policy forbids
every fetch. Headlines, entity names, providers and error messages come from outside the company, so
every string from the lake is HTML-escaped where it is written (``esc``), after any shortening.

Queries and rendering are apart, so the drawing is unit-tested without a lake:

- :mod:`~pipeline.ops.report.queries`: the DuckDB queries (``collect_report``) and the data they return;
- :mod:`~pipeline.ops.report.svg`: the charts (``svg_*``, pure) and the number and time formats;
- :mod:`~pipeline.ops.report.page`: the HTML page around them (``render_report``, pure);
- :mod:`~pipeline.ops.report.command`: the command itself (options, lake, the file written atomically).
"""
from __future__ import annotations

from pipeline.ops.report.command import (
    ReportArgumentError,
    parse_since,
    report_command,
    window_start,
    write_report,
)
from pipeline.ops.report.page import render_report
from pipeline.ops.report.queries import (
    DAY,
    HOUR,
    LAG_BINS,
    Cluster,
    ClusterCopy,
    DeadLetterCount,
    EntitySection,
    EntityTrend,
    LagBucket,
    LagSection,
    LagSummary,
    ReportData,
    Series,
    TimeSeries,
    bucket_starts,
    collect_report,
    label_sort_key,
    pick_bucket,
)
from pipeline.ops.report.svg import (
    PALETTE,
    colour_map,
    count_ticks,
    esc,
    format_duration,
    shorten,
    svg_dead_letter_bars,
    svg_delay_strips,
    svg_histogram,
    svg_lag_over_time,
    svg_sparkline,
    svg_stacked_bars,
)

__all__ = [
    "DAY",
    "HOUR",
    "LAG_BINS",
    "PALETTE",
    "Cluster",
    "ClusterCopy",
    "DeadLetterCount",
    "EntitySection",
    "EntityTrend",
    "LagBucket",
    "LagSection",
    "LagSummary",
    "ReportArgumentError",
    "ReportData",
    "Series",
    "TimeSeries",
    "bucket_starts",
    "collect_report",
    "colour_map",
    "count_ticks",
    "esc",
    "format_duration",
    "label_sort_key",
    "parse_since",
    "pick_bucket",
    "render_report",
    "report_command",
    "shorten",
    "svg_dead_letter_bars",
    "svg_delay_strips",
    "svg_histogram",
    "svg_lag_over_time",
    "svg_sparkline",
    "svg_stacked_bars",
    "window_start",
    "write_report",
]
