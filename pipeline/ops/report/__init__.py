"""``newswire report``: one self-contained HTML page of charts about a lake, read through the DuckDB views.

The page must open anywhere, offline, years later (a mail attachment, an archived incident): CSS is
inline, charts are SVG drawn here, there is no script at all, and a Content-Security-Policy forbids
every fetch. Headlines, entity names, providers and error messages come from outside the company, so
every string from the lake is HTML-escaped where it is written (``esc``), after any shortening.

Queries (``collect_report``) and rendering (the ``svg_*`` and ``render_*`` functions, pure) are apart,
so the drawing is unit-tested without a lake.
"""
from __future__ import annotations

import html
import math
import os
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable, Optional, Sequence

import duckdb

from pipeline.io.lake.location import LakeLocation, is_object_store_uri
from pipeline.io.lake.query import connect

# ----------------------------------------------------------------------------------------- window

HOUR = 3600
DAY = 86400
# Bucket sizes a time axis may use, finest first.
BUCKET_STEPS_S = (1, 10, 60, 300, 900, HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 7 * DAY)
MAX_STORY_BARS = 14 * 24  # a fortnight still gets hourly bars
MAX_TREND_POINTS = 48
MAX_LAG_BUCKETS = 60
TOP_PROVIDERS = 8
TOP_ENTITIES_PER_LABEL = 8
TOP_CLUSTERS = 12
# spaCy's name labels in the order readers look for them; any other label follows alphabetically.
ENTITY_LABEL_ORDER = ("PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "EVENT", "PRODUCT", "WORK_OF_ART", "LAW",
                      "LANGUAGE", "SUBJECT")


def window_start(since: Optional[datetime], hours: Optional[float], days: Optional[float],
                 now: datetime) -> Optional[datetime]:
    """The report's lower time bound (UTC) from ``--since``/``--hours``/``--days``; None means the whole lake."""
    if since is not None:
        return since.replace(tzinfo=timezone.utc) if since.tzinfo is None else since.astimezone(timezone.utc)
    if hours is not None:
        return now - timedelta(hours=hours)
    if days is not None:
        return now - timedelta(days=days)
    return None


def parse_since(text: str) -> datetime:
    """``2026-11-24``, ``2026-11-24T06:00`` or with an offset; a time without offset is UTC."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def pick_bucket(span_s: float, max_buckets: int, smallest_s: int = 1) -> int:
    """The finest bucket (from ``BUCKET_STEPS_S``, at least ``smallest_s``) that keeps the axis under ``max_buckets``."""
    for step in BUCKET_STEPS_S:
        if step >= smallest_s and span_s / step < max_buckets:
            return step
    return BUCKET_STEPS_S[-1]


def bucket_starts(first_s: float, last_s: float, bucket_s: int) -> list[int]:
    """Every bucket start (epoch seconds, aligned to UTC multiples of ``bucket_s``) from first to last."""
    start = int(math.floor(first_s / bucket_s)) * bucket_s
    end = int(math.floor(last_s / bucket_s)) * bucket_s
    return list(range(start, end + bucket_s, bucket_s))


# ------------------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Series:
    """One named row of values along a time axis."""

    name: str
    values: list[float]


@dataclass(frozen=True)
class TimeSeries:
    bucket_s: int
    starts: list[int]
    series: list[Series]

    @property
    def empty(self) -> bool:
        return not self.starts or not any(any(s.values) for s in self.series)


@dataclass(frozen=True)
class EntityTrend:
    label: str
    canonical: str
    stories: int
    mentions: int
    trend: list[int]


@dataclass(frozen=True)
class EntitySection:
    bucket_s: int
    starts: list[int]
    by_label: dict[str, list[EntityTrend]]


@dataclass(frozen=True)
class ClusterCopy:
    story_id: str
    provider: str
    delay_s: float


@dataclass(frozen=True)
class Cluster:
    cluster_id: str
    headline: str
    provider: str
    members: int
    copies: list[ClusterCopy]


@dataclass(frozen=True)
class DeadLetterCount:
    error_code: str
    stage: str
    messages: int
    last_received_s: float
    latest_error: str


@dataclass(frozen=True)
class LagBucket:
    start: int
    versions: int
    p50_s: float
    p90_s: float
    max_s: float


@dataclass(frozen=True)
class LagSummary:
    name: str
    versions: int
    p50_s: Optional[float]
    p90_s: Optional[float]
    p99_s: Optional[float]
    max_s: Optional[float]


# Histogram bins of ingest lag: (label, upper bound in seconds, exclusive); the first bin is negative lags.
LAG_BINS: tuple[tuple[str, float], ...] = (
    ("created later", 0), ("< 10 s", 10), ("10 s – 1 min", 60), ("1 – 10 min", 600), ("10 min – 1 h", HOUR),
    ("1 – 6 h", 6 * HOUR), ("6 – 24 h", DAY), ("1 – 7 days", 7 * DAY), ("> 7 days", math.inf),
)


@dataclass(frozen=True)
class LagSection:
    bucket_s: int
    starts: list[int]
    buckets: list[LagBucket]
    histogram: list[tuple[str, int]]
    summaries: list[LagSummary]

    @property
    def empty(self) -> bool:
        return not self.buckets


@dataclass(frozen=True)
class ReportData:
    lake: str
    generated_at: datetime
    since: Optional[datetime]
    stories: TimeSeries
    entities: EntitySection
    clusters: list[Cluster]
    dead_letters: list[DeadLetterCount]
    lag: LagSection
    provider_order: list[str] = field(default_factory=list)


NO_PROVIDER = "(no provider)"
OTHER = "other"


def _axis(first_s: Optional[float], last_s: Optional[float], since_s: Optional[float], now_s: float,
          max_buckets: int, smallest_s: int) -> tuple[int, list[int]]:
    """Bucket size and starts of a time axis: the data's range, stretched to the window and to now when windowed."""
    if first_s is None or last_s is None:
        return smallest_s, []
    if since_s is not None:
        first_s, last_s = since_s, max(last_s, now_s)
    bucket_s = pick_bucket(last_s - first_s, max_buckets, smallest_s)
    return bucket_s, bucket_starts(first_s, last_s, bucket_s)


def _rebucket(counts: Iterable[tuple[float, float]], starts: list[int], bucket_s: int) -> list[float]:
    """Sum (epoch second, value) pairs into the buckets of an axis."""
    values = [0.0] * len(starts)
    if not starts:
        return values
    for at, value in counts:
        index = int((at - starts[0]) // bucket_s)
        if 0 <= index < len(values):
            values[index] += value
    return values


def _stories_per_bucket(con: duckdb.DuckDBPyConnection, since_s: Optional[float], now_s: float) -> tuple[TimeSeries, list[str]]:
    rows = con.execute(
        "SELECT coalesce(provider, ?) AS provider, floor(published_s / 3600) * 3600 AS hour, count(*) AS stories "
        "FROM report_stories GROUP BY ALL",
        [NO_PROVIDER],
    ).fetchall()
    if not rows:
        return TimeSeries(HOUR, [], []), []
    totals: dict[str, int] = {}
    for provider, _hour, n in rows:
        totals[provider] = totals.get(provider, 0) + n
    order = sorted(totals, key=lambda p: (-totals[p], p))
    shown = order if len(order) <= TOP_PROVIDERS + 1 else order[:TOP_PROVIDERS]
    bounds = con.execute("SELECT min(published_s), max(published_s) FROM report_stories").fetchone()
    bucket_s, starts = _axis(bounds[0], bounds[1], since_s, now_s, MAX_STORY_BARS, HOUR)
    series = [Series(p, _rebucket(((h, n) for q, h, n in rows if q == p), starts, bucket_s)) for p in shown]
    rest = [(h, n) for q, h, n in rows if q not in shown]
    if rest:
        series.append(Series(OTHER, _rebucket(rest, starts, bucket_s)))
    return TimeSeries(bucket_s, starts, series), order


def _entities(con: duckdb.DuckDBPyConnection, since_s: Optional[float], now_s: float) -> EntitySection:
    rows = con.execute(
        """
        WITH mentions AS MATERIALIZED (
            SELECT s.story_id, s.published_s, e.label, e.canonical, e.count
            FROM report_stories AS s, unnest(s.entities) AS t(e)
        ), ranked AS (
            SELECT label, canonical, count(DISTINCT story_id) AS stories, sum(count) AS mentions,
                   row_number() OVER (PARTITION BY label
                                      ORDER BY count(DISTINCT story_id) DESC, sum(count) DESC, canonical) AS rank
            FROM mentions GROUP BY label, canonical
        )
        SELECT r.label, r.canonical, r.stories, r.mentions, floor(m.published_s / 3600) * 3600 AS hour,
               count(DISTINCT m.story_id) AS stories_in_hour
        FROM ranked AS r JOIN mentions AS m USING (label, canonical)
        WHERE r.rank <= ?
        GROUP BY ALL
        """,
        [TOP_ENTITIES_PER_LABEL],
    ).fetchall()
    if not rows:
        return EntitySection(HOUR, [], {})
    bounds = con.execute("SELECT min(published_s), max(published_s) FROM report_stories").fetchone()
    bucket_s, starts = _axis(bounds[0], bounds[1], since_s, now_s, MAX_TREND_POINTS, HOUR)
    per_entity: dict[tuple[str, str], tuple[int, int, list[tuple[float, float]]]] = {}
    for label, canonical, stories, mentions, hour, n in rows:
        entry = per_entity.setdefault((label, canonical), (int(stories), int(mentions or 0), []))
        entry[2].append((hour, n))
    by_label: dict[str, list[EntityTrend]] = {}
    for (label, canonical), (stories, mentions, counts) in per_entity.items():
        trend = [int(v) for v in _rebucket(counts, starts, bucket_s)]
        by_label.setdefault(label, []).append(EntityTrend(label, canonical, stories, mentions, trend))
    ordered: dict[str, list[EntityTrend]] = {}
    for label in sorted(by_label, key=label_sort_key):
        ordered[label] = sorted(by_label[label], key=lambda e: (-e.stories, -e.mentions, e.canonical))
    return EntitySection(bucket_s, starts, ordered)


def label_sort_key(label: str) -> tuple[int, str]:
    """PERSON, ORG, GPE, ... first (``ENTITY_LABEL_ORDER``), then any other label alphabetically."""
    return (ENTITY_LABEL_ORDER.index(label) if label in ENTITY_LABEL_ORDER else len(ENTITY_LABEL_ORDER), label)


def _clusters(con: duckdb.DuckDBPyConnection, since_s: Optional[float]) -> list[Cluster]:
    top = con.execute(
        """
        SELECT cluster_id, headline, provider, members, copies, republication_delays_s
        FROM clusters
        WHERE members > 1 AND (CAST(? AS DOUBLE) IS NULL OR epoch(last_seen) >= ?)
        ORDER BY members DESC, last_seen DESC, cluster_id
        LIMIT ?
        """,
        [since_s, since_s, TOP_CLUSTERS],
    ).fetchall()
    copy_ids = sorted({story_id for row in top for story_id in row[4]})
    providers = dict(
        con.execute(
            "SELECT story_id, arg_max(provider, version) FROM articles WHERE list_contains(?, story_id) GROUP BY story_id",
            [copy_ids],
        ).fetchall()
    ) if copy_ids else {}
    return [
        Cluster(
            cluster_id=cluster_id,
            headline=headline or "",
            provider=provider or NO_PROVIDER,
            members=int(members),
            copies=[ClusterCopy(s, providers.get(s) or NO_PROVIDER, float(d)) for s, d in zip(copies, delays)],
        )
        for cluster_id, headline, provider, members, copies, delays in top
    ]


def _dead_letters(con: duckdb.DuckDBPyConnection, since: Optional[datetime]) -> list[DeadLetterCount]:
    since_s = since.timestamp() if since else None
    rows = con.execute(
        """
        SELECT error_code, stage, count(*) AS messages, epoch(max(received_at)),
               arg_max(error, (received_at, topic, "partition", "offset"))  -- ties broken the same way every time
        FROM dead_letters
        WHERE CAST(? AS DOUBLE) IS NULL OR (date >= ? AND epoch(received_at) >= ?)
        GROUP BY ALL
        ORDER BY messages DESC, error_code, stage
        """,
        [since_s, since.date() if since else date.min, since_s],
    ).fetchall()
    return [DeadLetterCount(code, stage, int(n), float(last), error or "") for code, stage, n, last, error in rows]


def _lag_bin_case(column: str) -> str:
    """A SQL CASE giving the index in ``LAG_BINS`` of ``column`` (bounds are constants of this module)."""
    whens = " ".join(f"WHEN {column} < {upper!r} THEN {i}" for i, (_l, upper) in enumerate(LAG_BINS) if math.isfinite(upper))
    return f"CASE {whens} ELSE {len(LAG_BINS) - 1} END"


def _lag(con: duckdb.DuckDBPyConnection, since_s: Optional[float], now_s: float) -> LagSection:
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE report_lag AS
        SELECT epoch(ingested_at) AS ingested_s,
               epoch(ingested_at) - epoch(coalesce(version_created, first_created)) AS wire_lake_s,
               epoch(kafka_timestamp) - epoch(coalesce(version_created, first_created)) AS wire_kafka_s,
               epoch(ingested_at) - epoch(kafka_timestamp) AS kafka_lake_s
        FROM articles
        WHERE CAST(? AS DOUBLE) IS NULL OR epoch(ingested_at) >= ?
        """,
        [since_s, since_s],
    )
    summaries = []
    for name, column in (("wire → lake (version created → ingested)", "wire_lake_s"),
                         ("wire → Kafka (version created → Kafka timestamp)", "wire_kafka_s"),
                         ("Kafka → lake (Kafka timestamp → ingested)", "kafka_lake_s")):
        n, qs, top = con.execute(
            f"SELECT count({column}), quantile_cont({column}, [0.5, 0.9, 0.99]), max({column}) FROM report_lag"
        ).fetchone()
        qs = qs or [None, None, None]
        summaries.append(LagSummary(name, int(n), qs[0], qs[1], qs[2], top))
    bounds = con.execute("SELECT min(ingested_s), max(ingested_s) FROM report_lag WHERE wire_lake_s IS NOT NULL").fetchone()
    bucket_s, starts = _axis(bounds[0], bounds[1], since_s, now_s, MAX_LAG_BUCKETS, 1)
    if not starts:
        return LagSection(bucket_s, [], [], [], summaries)
    rows = con.execute(
        """
        SELECT floor(ingested_s / ?) * ? AS bucket, count(*), quantile_cont(wire_lake_s, [0.5, 0.9]), max(wire_lake_s)
        FROM report_lag WHERE wire_lake_s IS NOT NULL GROUP BY ALL ORDER BY bucket
        """,
        [bucket_s, bucket_s],
    ).fetchall()
    buckets = [LagBucket(int(b), int(n), qs[0], qs[1], top) for b, n, qs, top in rows]
    counts = dict(con.execute(
        f"SELECT {_lag_bin_case('wire_lake_s')} AS bin, count(*) FROM report_lag WHERE wire_lake_s IS NOT NULL GROUP BY ALL"
    ).fetchall())
    histogram = [(label, int(counts.get(i, 0))) for i, (label, _upper) in enumerate(LAG_BINS)]
    return LagSection(bucket_s, starts, buckets, histogram, summaries)


def collect_report(lake: LakeLocation, since: Optional[datetime], now: Optional[datetime] = None) -> ReportData:
    """Everything the page shows, queried from the lake's views for stories/versions/letters since ``since``."""
    now = now or datetime.now(timezone.utc)
    since_s, now_s = (since.timestamp() if since else None), now.timestamp()
    con = connect(lake)
    try:
        # The current stories of the window, once: the views behind them scan the whole lake.
        con.execute(
            """
            CREATE TEMP TABLE report_stories AS
            SELECT story_id, provider, epoch(coalesce(first_created, version_created, ingested_at)) AS published_s,
                   entities
            FROM stories
            WHERE CAST(? AS DOUBLE) IS NULL OR epoch(coalesce(first_created, version_created, ingested_at)) >= ?
            """,
            [since_s, since_s],
        )
        stories, provider_order = _stories_per_bucket(con, since_s, now_s)
        return ReportData(
            lake=str(lake),
            generated_at=now,
            since=since,
            stories=stories,
            entities=_entities(con, since_s, now_s),
            clusters=_clusters(con, since_s),
            dead_letters=_dead_letters(con, since),
            lag=_lag(con, since_s, now_s),
            provider_order=provider_order,
        )
    finally:
        con.close()


def write_report(lake: LakeLocation, out: Path, since: Optional[datetime], now: Optional[datetime] = None) -> ReportData:
    """Collect, render and write the page atomically (a page being served is never half-written)."""
    data = collect_report(lake, since, now)
    page = render_report(data)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(page)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return data


class ReportArgumentError(ValueError):
    """A report option that cannot be used (shown as a usage error)."""


def report_command(lake: LakeLocation, out: Path, since: Optional[str], hours: Optional[float], days: Optional[float]) -> int:
    """``newswire report``: check the options, write the page, say what it holds."""
    if not is_object_store_uri(lake) and not Path(lake).is_dir():  # a bucket is checked when it is read
        raise ReportArgumentError(f"no lake folder at {lake}")
    try:
        since_time = parse_since(since) if since else None
    except ValueError:
        raise ReportArgumentError(f"--since {since!r} is not an ISO date or time (e.g. 2026-11-24T06:00)") from None
    now = datetime.now(timezone.utc)
    data = write_report(lake, out, window_start(since_time, hours, days, now), now)
    stories = sum(sum(s.values) for s in data.stories.series)
    print(f"wrote {out}: {stories:.0f} stories, {len(data.clusters)} clusters, "
          f"{sum(d.messages for d in data.dead_letters)} dead letters")
    return 0


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


class Markup(str):
    """HTML this module made itself (a chart), put into a table as it is; every other cell is escaped."""


def html_table(columns: Sequence[str], rows: Iterable[Sequence[object]], numeric: Sequence[int] = ()) -> str:
    """A table whose cells are escaped text (or ``Markup``); columns listed in ``numeric`` are right-aligned."""

    def cell(tag: str, index: int, value: object) -> str:
        align = ' class="num"' if index in numeric else ""
        return f"<{tag}{align}>{value if isinstance(value, Markup) else esc(value)}</{tag}>"

    head = "".join(cell("th", i, c) for i, c in enumerate(columns))
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _svg_open(chart: str, width: int, height: int, title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="{esc(chart)}" '
            f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="{esc(title)}">'
            f"<title>{esc(title)}</title>")


def no_data(section: str, message: str) -> str:
    """The placeholder of an empty section: a sentence, never an error or an empty frame."""
    return f'<p class="no-data" data-empty="{esc(section)}">{esc(message)}</p>'


def legend(colours: dict[str, str]) -> str:
    items = "".join(f'<li><span class="swatch" style="background:{c}"></span>{esc(name)}</li>' for name, c in colours.items())
    return f'<ul class="legend">{items}</ul>'


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
