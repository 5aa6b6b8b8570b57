"""The report's HTML page: one self-contained string with inline CSS and the SVG charts, no script.

A Content-Security-Policy refuses every fetch, so the page works as a mail attachment or in an
archive; every cell and label from the lake is escaped here unless it is ``Markup`` this package drew.
"""
from __future__ import annotations

from typing import Iterable, Sequence

from pipeline.ops.report.queries import OTHER, ReportData
from pipeline.ops.report.svg import (
    OTHER_COLOUR,
    STAGE_COLOURS,
    bucket_name,
    colour_map,
    esc,
    format_duration,
    format_time,
    shorten,
    svg_dead_letter_bars,
    svg_delay_strips,
    svg_histogram,
    svg_lag_over_time,
    svg_sparkline,
    svg_stacked_bars,
)

class Markup(str):
    """HTML this package made itself (a chart), put into a table as it is; every other cell is escaped."""


def html_table(columns: Sequence[str], rows: Iterable[Sequence[object]], numeric: Sequence[int] = ()) -> str:
    """A table whose cells are escaped text (or ``Markup``); columns listed in ``numeric`` are right-aligned."""

    def cell(tag: str, index: int, value: object) -> str:
        align = ' class="num"' if index in numeric else ""
        return f"<{tag}{align}>{value if isinstance(value, Markup) else esc(value)}</{tag}>"

    head = "".join(cell("th", i, c) for i, c in enumerate(columns))
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def no_data(section: str, message: str) -> str:
    """The placeholder of an empty section: a sentence, never an error or an empty frame."""
    return f'<p class="no-data" data-empty="{esc(section)}">{esc(message)}</p>'


def legend(colours: dict[str, str]) -> str:
    items = "".join(f'<li><span class="swatch" style="background:{c}"></span>{esc(name)}</li>' for name, c in colours.items())
    return f'<ul class="legend">{items}</ul>'


# ------------------------------------------------------------------------------------------- page

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#1d2330;background:#fff;margin:0}
main{max-width:1000px;margin:0 auto;padding:24px 20px 48px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:36px 0 4px;border-bottom:1px solid #e3e6eb;padding-bottom:4px}
h3{font-size:14px;margin:18px 0 6px;letter-spacing:.04em}
.meta,.note{color:#5b6475;margin:2px 0 10px}.meta code{font-size:13px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:16px 0}
.card{border:1px solid #e3e6eb;border-radius:6px;padding:8px 14px;min-width:120px}
.card b{display:block;font-size:22px}.card span{color:#5b6475;font-size:12px}
svg.chart{display:block;max-width:100%;height:auto;font-size:11px}
svg .axis{fill:#5b6475;text-anchor:middle}svg .row-label{fill:#1d2330;font-size:12px}svg .value{fill:#5b6475}
svg .grid{stroke:#eceef2}svg .baseline,svg .tick{stroke:#9aa1ad}svg .strip{stroke:#d5d9e0}
svg .spark{fill:none;stroke:#4e79a7;stroke-width:1.5}svg .spark-end{fill:#4e79a7}
.legend{list-style:none;padding:0;margin:6px 0;display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12px}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px;vertical-align:-1px}
.labels{display:grid;grid-template-columns:repeat(auto-fill,minmax(460px,1fr));gap:4px 28px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:3px 6px;border-bottom:1px solid #eef0f3;vertical-align:middle}
th{color:#5b6475;font-weight:600}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
td svg{display:block}
.no-data{border:1px dashed #c9ced6;border-radius:6px;padding:18px;color:#5b6475;text-align:center;background:#fafbfc}
"""

# No script, no external anything: styles inline only, every fetch (images, fonts, frames, connections) refused.
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def _cards(data: ReportData) -> str:
    stories = sum(sum(s.values) for s in data.stories.series)
    wire_lake = data.lag.summaries[0] if data.lag.summaries else None
    items = [
        (f"{stories:,.0f}", "current stories"),
        (f"{len(data.provider_order):,}", "providers"),
        (f"{len(data.clusters):,}", "largest clusters shown"),
        (f"{sum(d.messages for d in data.dead_letters):,}", "dead letters"),
        (f"{wire_lake.versions if wire_lake else 0:,}", "versions ingested"),
        (format_duration(wire_lake.p50_s if wire_lake else None), "median ingest lag"),
    ]
    return '<div class="cards">' + "".join(f'<div class="card"><b>{esc(v)}</b><span>{esc(k)}</span></div>' for v, k in items) + "</div>"


def render_stories_section(data: ReportData, colours: dict[str, str]) -> str:
    series = data.stories
    head = ('<h2 id="stories">Stories by provider</h2><p class="note">Current stories (the <code>stories</code> view) '
            f"per {esc(bucket_name(series.bucket_s))} of publication (first created, else version created, else ingest "
            "time), UTC.</p>")
    if series.empty:
        return head + no_data("stories", "No stories in this window.")
    shown = {s.name: colours.get(s.name, OTHER_COLOUR) for s in series.series}
    return head + legend(shown) + svg_stacked_bars("stories-per-hour", series, colours)


def render_entities_section(data: ReportData) -> str:
    section = data.entities
    head = ('<h2 id="entities">Top entities</h2><p class="note">Per label, the names in the most current stories, '
            f"with stories per {esc(bucket_name(section.bucket_s))} since "
            f"{esc(format_time(section.starts[0], section.bucket_s)) if section.starts else '–'} UTC.</p>")
    if not section.by_label:
        return head + no_data("entities", "No named entities in this window.")
    blocks = []
    for label, trends in section.by_label.items():
        rows = [
            (shorten(t.canonical, 40), t.stories, t.mentions,
             Markup(svg_sparkline("entity-trend", t.trend, f"{t.canonical}: stories per {bucket_name(section.bucket_s)}")))
            for t in trends
        ]
        table = html_table(("name", "stories", "mentions", "trend"), rows, numeric=(1, 2))
        blocks.append(f'<div class="label-block"><h3>{esc(label)}</h3>{table}</div>')
    return head + f'<div class="labels">{"".join(blocks)}</div>'


def render_clusters_section(data: ReportData, colours: dict[str, str]) -> str:
    head = ('<h2 id="clusters">Syndication</h2><p class="note">The largest syndication clusters (the '
            "<code>clusters</code> view) with a member in this window: each dot is a republication, placed at its "
            "delay after the original (log scale), coloured by outlet.</p>")
    if not data.clusters:
        return head + no_data("clusters", "No story was republished in this window.")
    outlets = sorted({c.provider for cl in data.clusters for c in cl.copies},
                     key=lambda p: (data.provider_order.index(p) if p in data.provider_order else 1 << 30, p))
    rows = [
        (shorten(c.headline, 70), c.provider, c.members,
         format_duration(min((x.delay_s for x in c.copies), default=None)),
         format_duration(max((x.delay_s for x in c.copies), default=None)))
        for c in data.clusters
    ]
    table = html_table(("headline", "original", "members", "first copy", "last copy"), rows, numeric=(2, 3, 4))
    return (head + legend({o: colours.get(o, OTHER_COLOUR) for o in outlets})
            + svg_delay_strips("republication-delays", data.clusters, colours) + table)


def render_dead_letters_section(data: ReportData) -> str:
    head = ('<h2 id="dead-letters">Dead letters</h2><p class="note">Messages that could not become a story, by '
            "error code and the stage that refused them (received in this window).</p>")
    if not data.dead_letters:
        return head + no_data("dead-letters", "No dead letters in this window.")
    stages = sorted({d.stage for d in data.dead_letters})
    rows = [(d.error_code, d.stage, d.messages, format_time(d.last_received_s), shorten(d.latest_error, 120))
            for d in data.dead_letters]
    table = html_table(("error code", "stage", "messages", "last received (UTC)", "latest error"), rows, numeric=(2,))
    return (head + legend({s: STAGE_COLOURS.get(s, OTHER_COLOUR) for s in stages})
            + svg_dead_letter_bars("dead-letters", data.dead_letters) + table)


def render_lag_section(data: ReportData) -> str:
    lag = data.lag
    head = ('<h2 id="lag">Ingest lag</h2><p class="note">Time from a version\'s creation at the wire service '
            "(version created, else first created) to its landing in the lake, for the versions ingested in this "
            "window. Split below into the time before Kafka and the job's own time after it.</p>")
    if lag.empty:
        return head + no_data("lag", "No story versions were ingested in this window.")
    early = lag.histogram[0][1] if lag.histogram else 0
    note = (f'<p class="note">{early} version(s) were created after they were ingested (future-dated, or clocks '
            "apart); the chart puts them at the bottom, the histogram in its first bar.</p>") if early else ""
    rows = [(s.name, f"{s.versions:,}", *(format_duration(v) for v in (s.p50_s, s.p90_s, s.p99_s, s.max_s)))
            for s in lag.summaries]
    table = html_table(("lag", "versions", "median", "p90", "p99", "max"), rows, numeric=(1, 2, 3, 4, 5))
    over_time = (f"<h3>per {esc(bucket_name(lag.bucket_s))} of ingest (UTC): median to p90 (bar), maximum (dot)</h3>"
                 + svg_lag_over_time("ingest-lag", lag))
    return head + table + over_time + "<h3>distribution</h3>" + note + svg_histogram("ingest-lag-histogram", lag.histogram)


def render_report(data: ReportData) -> str:
    """The whole page: one HTML string with inline CSS and SVG, no script and nothing to fetch."""
    outlets = [p for cl in data.clusters for p in (cl.provider, *(c.provider for c in cl.copies))]
    colours = colour_map(list(dict.fromkeys([*data.provider_order, *outlets, OTHER])))
    window = f"since {format_time(data.since.timestamp())} UTC" if data.since else "the whole lake"
    return "".join([
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f'<meta http-equiv="Content-Security-Policy" content="{esc(CONTENT_SECURITY_POLICY)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>newswire report: {esc(window)}</title><style>{CSS}</style></head><body><main>",
        f"<h1>newswire report</h1><p class=\"meta\">Lake <code>{esc(data.lake)}</code> · {esc(window)} · "
        f"generated {esc(format_time(data.generated_at.timestamp()))} UTC</p>",
        _cards(data),
        render_stories_section(data, colours),
        render_entities_section(data),
        render_clusters_section(data, colours),
        render_dead_letters_section(data),
        render_lag_section(data),
        "</main></body></html>\n",
    ])
