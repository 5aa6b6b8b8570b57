"""The report's queries: what the page shows, read from the lake's DuckDB views into plain data.

Kept apart from the drawing so the charts are unit-tested on hand-made data, without a lake. Every
time axis is aligned to UTC buckets here, so the charts only place what they are given.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Iterable, Optional

import duckdb

from pipeline.io.lake.location import LakeLocation
from pipeline.io.lake.query import connect

# -------------------------------------------------------------------------------------- time axes

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

