"""Unit tests for pipeline.ops.report's pure parts: windows, time axes, number formats, SVG charts and the page."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser

import pytest

from pipeline.ops.report import (
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
    colour_map,
    count_ticks,
    esc,
    format_duration,
    label_sort_key,
    parse_since,
    pick_bucket,
    render_report,
    shorten,
    svg_dead_letter_bars,
    svg_delay_strips,
    svg_histogram,
    svg_lag_over_time,
    svg_sparkline,
    svg_stacked_bars,
    window_start,
)

SVG = "{http://www.w3.org/2000/svg}"
NOW = datetime(2026, 11, 25, 16, 0, tzinfo=timezone.utc)
T0 = int(datetime(2026, 11, 24, tzinfo=timezone.utc).timestamp())
EVIL = "<script>alert('x')</script> & \"quoted\" onmouseover=\"steal()\""


def marks(svg: str) -> list[ET.Element]:
    """The data marks of one chart; parsing as XML also proves the SVG is well formed."""
    root = ET.fromstring(svg)
    return [el for el in root.iter() if "mark" in (el.get("class") or "").split()]


def sample_report(text: str = "Quake hits coast") -> ReportData:
    """A report whose every string from the lake is ``text`` (or contains it)."""
    starts = [T0 + i * HOUR for i in range(4)]
    return ReportData(
        lake=f"/data/{text}",
        generated_at=NOW,
        since=None,
        stories=TimeSeries(HOUR, starts, [Series(text, [1, 0, 2, 1]), Series("AFP", [0, 3, 0, 1])]),
        entities=EntitySection(HOUR, starts, {
            "PERSON": [EntityTrend("PERSON", text, 3, 5, [1, 0, 2, 0])],
            text: [EntityTrend(text, "Kyiv", 1, 1, [0, 0, 1, 0])],
        }),
        clusters=[Cluster(text, text, text, 3, [ClusterCopy(text, text, 0.0), ClusterCopy("b", "AFP", 5400.0)])],
        dead_letters=[DeadLetterCount(text, "decode", 4, T0 + 60, text), DeadLetterCount("invalid_json", text, 1, T0, "x")],
        lag=LagSection(
            HOUR, starts, [LagBucket(starts[0], 3, 12.0, 40.0, 90.0), LagBucket(starts[2], 1, 7200.0, 7200.0, 7200.0)],
            [(label, i % 3) for i, (label, _upper) in enumerate(LAG_BINS)],
            [LagSummary("wire → lake", 4, 12.0, 60.0, 88.0, 7200.0)],
        ),
        provider_order=[text, "AFP"],
    )


def empty_report() -> ReportData:
    return ReportData(
        lake="/data/lake", generated_at=NOW, since=NOW - timedelta(hours=24),
        stories=TimeSeries(HOUR, [], []), entities=EntitySection(HOUR, [], {}), clusters=[], dead_letters=[],
        lag=LagSection(1, [], [], [], [LagSummary("wire → lake", 0, None, None, None, None)]),
    )


class Elements(HTMLParser):
    """Every start tag and attribute of a page, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def elements(page: str) -> list[tuple[str, dict]]:
    parser = Elements()
    parser.feed(page)
    return parser.tags


# -- window and time axes -------------------------------------------------------------------------


def test_window_start_from_since_hours_days_or_whole_lake():
    since = datetime(2026, 11, 20, 6, 0)
    assert window_start(since, None, None, NOW) == since.replace(tzinfo=timezone.utc)
    assert window_start(None, 6, None, NOW) == NOW - timedelta(hours=6)
    assert window_start(None, None, 2.5, NOW) == NOW - timedelta(days=2.5)
    assert window_start(None, None, None, NOW) is None


def test_parse_since_accepts_dates_times_and_offsets_as_utc():
    assert parse_since("2026-11-24") == datetime(2026, 11, 24, tzinfo=timezone.utc)
    assert parse_since("2026-11-24T06:30Z") == datetime(2026, 11, 24, 6, 30, tzinfo=timezone.utc)
    assert parse_since("2026-11-24T08:30+02:00") == datetime(2026, 11, 24, 6, 30, tzinfo=timezone.utc)
    with pytest.raises(ValueError):
        parse_since("yesterday")


def test_pick_bucket_is_the_finest_step_under_the_limit():
    assert pick_bucket(3 * DAY, 14 * 24, HOUR) == HOUR
    assert pick_bucket(30 * DAY, 14 * 24, HOUR) == 3 * HOUR
    assert pick_bucket(400 * DAY, 14 * 24, HOUR) == 7 * DAY
    assert pick_bucket(8, 60, 1) == 1
    assert pick_bucket(10 * 60, 60, 1) == 60  # 10 s buckets would make exactly 60, one too many
    assert pick_bucket(10, 48, HOUR) == HOUR


def test_bucket_starts_are_aligned_to_utc_and_cover_both_ends():
    starts = bucket_starts(T0 + 1800, T0 + 3 * HOUR, HOUR)
    assert starts == [T0, T0 + HOUR, T0 + 2 * HOUR, T0 + 3 * HOUR]
    assert bucket_starts(T0 + 5, T0 + 5, DAY) == [T0]


def test_count_ticks_are_whole_numbers_reaching_the_maximum():
    assert count_ticks(0) == [0, 1]
    assert count_ticks(3) == [0, 1, 2, 3]
    assert count_ticks(7) == [0, 2, 4, 6, 8]
    for value in (1, 9, 49, 1234, 99_999):
        ticks = count_ticks(value)
        assert ticks[0] == 0 and ticks[-1] >= value and len(ticks) <= 7
        assert all(isinstance(t, int) for t in ticks)


def test_format_duration_is_compact_and_keeps_the_sign():
    assert format_duration(0.25) == "250 ms"
    assert format_duration(4.2) == "4.2 s"
    assert format_duration(42) == "42 s"
    assert format_duration(90) == "1.5 min"
    assert format_duration(5400) == "1.5 h"
    assert format_duration(3 * DAY) == "3.0 days"
    assert format_duration(-120) == "-2.0 min"
    assert format_duration(None) == "–"


def test_entity_labels_follow_the_reading_order_then_alphabetical():
    labels = ["WORK_OF_ART", "ZZZ", "GPE", "AAA", "PERSON", "ORG"]
    assert sorted(labels, key=label_sort_key) == ["PERSON", "ORG", "GPE", "WORK_OF_ART", "AAA", "ZZZ"]


def test_colour_map_is_stable_and_other_is_grey():
    colours = colour_map(["AP", "AFP", "other", "Reuters"])
    assert colours["AP"] != colours["AFP"] != colours["Reuters"]
    assert colours["other"] == "#bab0ac"
    assert colour_map(["AP", "AFP"])["AP"] == colours["AP"]


def test_shorten_cuts_before_escaping_so_no_entity_is_split():
    text = "&" * 50
    assert esc(shorten(text, 10)) == "&amp;" * 9 + "…"
    assert shorten("  a \n b  ", 10) == "a b"


# -- charts ---------------------------------------------------------------------------------------


def test_stacked_bars_draw_one_segment_per_nonzero_value_stacked_within_a_bucket():
    series = TimeSeries(HOUR, [T0, T0 + HOUR, T0 + 2 * HOUR], [Series("AP", [2, 0, 1]), Series("AFP", [1, 0, 0])])
    svg = svg_stacked_bars("stories-per-hour", series, {"AP": "#111111", "AFP": "#222222"})
    rects = marks(svg)
    assert len(rects) == 3
    first_bucket = [r for r in rects if float(r.get("x")) == float(rects[0].get("x"))]
    ap, afp = first_bucket
    assert ap.get("fill") == "#111111" and afp.get("fill") == "#222222"
    assert float(afp.get("y")) + float(afp.get("height")) == pytest.approx(float(ap.get("y")))  # AFP sits on AP
    assert float(ap.get("height")) == pytest.approx(2 * float(afp.get("height")))
    assert "AP: 2 stories" in ap.find(f"{SVG}title").text


def test_sparkline_has_a_point_per_bucket_and_marks_the_last():
    svg = svg_sparkline("entity-trend", [0, 3, 1, 2], "Kyiv")
    line, end = marks(svg)
    points = [tuple(map(float, p.split(","))) for p in line.get("points").split()]
    assert len(points) == 4
    assert points[1][1] < points[3][1] < points[2][1] < points[0][1]  # higher counts are higher up
    assert (float(end.get("cx")), float(end.get("cy"))) == points[-1]
    single = marks(svg_sparkline("entity-trend", [5], "one bucket"))
    assert [el.tag for el in single] == [f"{SVG}circle"]


def test_delay_strips_put_copies_on_a_log_scale_coloured_by_outlet():
    cluster = Cluster("c1", "Quake", "AP", 4, [ClusterCopy("a", "AFP", 0.0), ClusterCopy("b", "Reuters", 60.0),
                                               ClusterCopy("c", "AFP", 3600.0)])
    svg = svg_delay_strips("republication-delays", [cluster], {"AFP": "#aaaaaa", "Reuters": "#bbbbbb"})
    dots = marks(svg)
    xs = [float(d.get("cx")) for d in dots]
    assert xs[0] < xs[1] < xs[2]
    assert xs[2] - xs[1] == pytest.approx(xs[1] - xs[0], rel=0.01)  # log scale: 1 s -> 1 min -> 1 h, equal steps
    assert [d.get("fill") for d in dots] == ["#aaaaaa", "#bbbbbb", "#aaaaaa"]
    assert "Reuters: +1.0 min (b)" in dots[1].find(f"{SVG}title").text


def test_dead_letter_bars_split_each_code_by_stage_and_order_by_total():
    counts = [DeadLetterCount("invalid_json", "decode", 2, T0, "e"), DeadLetterCount("internal_error", "entities", 3, T0, "e"),
              DeadLetterCount("internal_error", "clean", 1, T0, "e")]
    svg = svg_dead_letter_bars("dead-letters", counts)
    rects = marks(svg)
    assert len(rects) == 3
    labels = [t.text for t in ET.fromstring(svg).iter(f"{SVG}text") if t.get("class") == "row-label"]
    assert labels == ["internal_error", "invalid_json"]
    widths = [float(r.get("width")) for r in rects]
    assert widths[0] + widths[1] == pytest.approx(2 * widths[2])  # 4 messages against 2


def test_lag_chart_places_buckets_on_their_axis_slot_and_histogram_skips_empty_bins():
    lag = sample_report().lag
    svg = svg_lag_over_time("ingest-lag", lag)
    bars = [m for m in marks(svg) if m.tag == f"{SVG}rect"]
    assert len(bars) == 2 and float(bars[1].get("x")) > float(bars[0].get("x"))
    assert float(bars[1].get("y")) < float(bars[0].get("y"))  # two hours of lag is higher than 12 s
    bins = [("a", 0), ("b", 4), ("c", 2)]
    assert len(marks(svg_histogram("ingest-lag-histogram", bins))) == 2


# -- the page -------------------------------------------------------------------------------------


def test_page_escapes_every_string_from_the_lake():
    page = render_report(sample_report(EVIL))
    tags = elements(page)
    assert not [t for t, _ in tags if t in ("script", "img", "iframe", "object", "link")]
    assert not [a for _t, attrs in tags for a in attrs if a.startswith("on")]
    assert "<script" not in page.lower()
    assert page.count("&lt;script&gt;") >= 10  # lake path, providers, headline, entity, label, error, ...
    for chart in re.findall(r"<svg .*?</svg>", page, flags=re.S):
        ET.fromstring(chart)  # escaped text keeps every chart well-formed


def test_page_is_self_contained():
    page = render_report(sample_report())
    tags = elements(page)
    csp = [a["content"] for t, a in tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0]
    urls = set(re.findall(r"(?:https?:)?//[^\s\"'<>)]+", page))
    assert urls == {"http://www.w3.org/2000/svg"}  # the SVG namespace name, never fetched
    assert not [a for _t, attrs in tags for k, a in attrs.items() if k in ("src", "href")]
    charts = {a["data-chart"] for t, a in tags if t == "svg"}
    assert charts == {"stories-per-hour", "entity-trend", "republication-delays", "dead-letters", "ingest-lag",
                      "ingest-lag-histogram"}


def test_empty_sections_say_so_instead_of_drawing():
    page = render_report(empty_report())
    tags = elements(page)
    empty = {a["data-empty"] for t, a in tags if a.get("class") == "no-data"}
    assert empty == {"stories", "entities", "clusters", "dead-letters", "lag"}
    assert not [t for t, _ in tags if t == "svg"]
    assert "since 2026-11-24 16:00:00 UTC" in page
