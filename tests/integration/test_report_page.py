"""`newswire report` on a lake the real job made from the real broker, opened in headless Chromium.

The feed is the demo's (every input format, versions, a kill, syndicated copies, every kind of bad
message) plus stories whose headline, provider, entity tags and a dead letter's error carry markup,
so the page is checked both for what it draws and for what it must never execute or fetch.
"""
from __future__ import annotations

import base64
import json
import uuid
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from conftest import newswire
from tests.support.headless_chromium import Chromium, chromium_executable, decode_png

from pipeline.ops.demo import DEMO_MAX_MESSAGE_BYTES, sample_messages
from pipeline.ops.compose import ensure_topic, produce
from pipeline.ops.report import PALETTE, collect_report
from pipeline.io.lake.query import connect

HOSTILE = "<script>alert('report')</script>"
HOSTILE_PROVIDER = '<img src=x onerror="alert(1)">Wire'
HOSTILE_COPY_PROVIDER = "</svg><script>alert(2)</script>"
BODY = [
    "Heavy storms closed the ports of Rotterdam and Antwerp on Monday, the Dutch and Belgian authorities said, "
    "stranding dozens of container ships in the North Sea for a second day.",
    "Prime Minister Dick Schoof said the government would meet shipping companies in The Hague on Tuesday to "
    "discuss compensation for the delays, which the European Commission estimated at several million euros.",
    "Forecasters expect the winds to ease by Wednesday, when the first ships should be allowed to enter again.",
]
CHARTS = ("stories-per-hour", "entity-trend", "republication-delays", "dead-letters", "ingest-lag",
          "ingest-lag-histogram")


def hostile_story(uri: str, provider: str, created: str) -> bytes:
    return json.dumps({
        "uri": uri, "version": 1, "type": "text", "language": "en", "firstcreated": created, "versioncreated": created,
        "copyrightholder": provider, "headlines": [{"role": "main", "value": f"{HOSTILE} Storms close North Sea ports"}],
        "bodies": [{"role": "main", "contenttype": "text/plain", "value": "\n\n".join(BODY)}],
        "people": [{"name": HOSTILE}], "subjects": [{"name": f"<b onclick=\"x()\">{HOSTILE}</b>"}],
    }).encode()


def demo_messages_without(error_code: str) -> list[tuple[bytes | None, bytes, None]]:
    """The demo feed less its bad messages of one error code, so the test's own letter is that code's only one."""
    lines = (resources.files("pipeline") / "samples" / "bad_messages.jsonl").read_text("utf-8").splitlines()
    left_out = {base64.b64decode(b["value_b64"]) for b in map(json.loads, filter(str.strip, lines))
                if b["expected_error_code"] == error_code}
    assert left_out
    return [(key, value, None) for key, value in sample_messages() if value not in left_out]


@pytest.fixture(scope="module")
def report_lake(kafka_bootstrap, tmp_path_factory) -> Path:
    topic = f"t-report-{uuid.uuid4().hex[:8]}"
    ensure_topic(kafka_bootstrap, topic, 3)
    # The page shows each error code's latest message; the hostile one must be it whatever the batch order.
    messages = demo_messages_without("invalid_pubstatus")
    messages += [
        (b"hostile", hostile_story("urn:test:report:hostile", HOSTILE_PROVIDER, "2026-11-24T10:00:00Z"), None),
        (b"hostile-copy", hostile_story("urn:test:report:hostile-copy", HOSTILE_COPY_PROVIDER, "2026-11-24T10:25:00Z"), None),
        (None, json.dumps({"uri": "urn:test:report:bad", "headline": "h", "body_text": "b", "pubstatus": HOSTILE}).encode(), None),
    ]
    produce(kafka_bootstrap, topic, messages)
    lake = tmp_path_factory.mktemp("report") / "lake"
    result = newswire(
        "run", "--bootstrap-servers", kafka_bootstrap, "--topic", topic, "--lake", str(lake), "--group-id", "g-report",
        "--trigger-interval", "0.2", "--until-idle", "3", "--max-records-per-batch", "25",
        "--max-message-bytes", str(DEMO_MAX_MESSAGE_BYTES), timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return lake


def write_page(lake: Path, out: Path, *window: str) -> Path:
    result = newswire("report", "--lake", str(lake), "--out", str(out), *window, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"wrote {out}" in result.stdout
    return out


PAGE_FACTS = """(() => {
  const charts = {};
  for (const svg of document.querySelectorAll('svg[data-chart]')) {
    const c = charts[svg.dataset.chart] ||= {svgs: 0, shown: 0, marks: 0, painted: 0};
    const box = svg.getBoundingClientRect();
    c.svgs++; if (box.width > 0 && box.height > 0) c.shown++;
    for (const mark of svg.querySelectorAll('.mark')) {
      const r = mark.getBoundingClientRect();
      c.marks++; if (r.width > 0 || r.height > 0) c.painted++;
    }
  }
  const handlers = [...document.querySelectorAll('*')].filter(e => [...e.attributes].some(a => a.name.startsWith('on')));
  return {charts, scripts: document.scripts.length, handlers: handlers.length,
          embedded: document.querySelectorAll('img, iframe, object, embed, link, video, audio').length,
          noData: [...document.querySelectorAll('.no-data')].map(e => e.dataset.empty),
          text: document.body.innerText, title: document.title};
})()"""


def chromium() -> Chromium:
    executable = chromium_executable()
    assert executable, "headless Chromium is needed: apt-get install -y chromium (.ci/run installs it)"
    return Chromium(executable, width=1200, height=900)


def test_report_renders_every_chart_offline_without_running_lake_text(report_lake, tmp_path):
    page = write_page(report_lake, tmp_path / "report.html")
    with chromium() as browser:
        visit = browser.open(page.as_uri())
        facts = browser.evaluate(PAGE_FACTS)
        png = browser.screenshot()
        visit = browser.visit()

    assert visit.requests == [page.as_uri()]  # the page itself and nothing else
    assert visit.console_errors == []
    assert facts["scripts"] == 0 and facts["handlers"] == 0 and facts["embedded"] == 0
    assert facts["noData"] == []
    for chart in CHARTS:
        c = facts["charts"].get(chart)
        assert c and c["shown"] == c["svgs"], (chart, c)
        assert c["marks"] > 0 and c["painted"] == c["marks"], (chart, c)
    assert facts["charts"]["entity-trend"]["svgs"] >= 8  # a sparkline per top entity
    # markup from the lake is shown as text, never interpreted
    text = facts["text"]
    assert f"{HOSTILE} Storms close North Sea ports" in text
    assert HOSTILE_PROVIDER in text and HOSTILE_COPY_PROVIDER in text
    assert f"pubstatus: unknown value {HOSTILE!r}" in text

    pixels = decode_png(png)
    height, width, _channels = pixels.shape
    assert width == 1200 and height > 2000  # the whole page, not just the first screen
    rgb = pixels[..., :3].reshape(-1, 3).astype(np.int32)
    non_white = (rgb.min(axis=1) < 245).mean()
    assert 0.02 < non_white < 0.6, non_white
    assert rgb.std() > 10
    palette = [tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c in PALETTE]
    painted = [c for c in palette if (rgb == c).all(axis=1).sum() >= 50]
    assert len(painted) >= 3, painted  # filled bars and dots in several provider colours


def test_report_figures_match_the_views(report_lake):
    data = collect_report(report_lake, since=None)
    con = connect(report_lake)
    stories_by_provider = dict(con.execute(
        "SELECT coalesce(provider, '(no provider)'), count(*) FROM stories GROUP BY ALL").fetchall())
    drawn = {s.name: sum(s.values) for s in data.stories.series}
    assert drawn == stories_by_provider
    assert sorted(data.provider_order) == sorted(stories_by_provider)

    letters = {(c, s): n for c, s, n in con.execute("SELECT error_code, stage, count(*) FROM dead_letters GROUP BY ALL").fetchall()}
    assert {(d.error_code, d.stage): d.messages for d in data.dead_letters} == letters
    assert letters[("invalid_pubstatus", "decode")] == 1
    assert next(d for d in data.dead_letters if d.error_code == "invalid_pubstatus").latest_error == (
        f"pubstatus: unknown value {HOSTILE!r}")

    clusters = con.execute(
        "SELECT cluster_id, members, republication_delays_s FROM clusters WHERE members > 1").fetchall()
    assert {c.cluster_id for c in data.clusters} == {c for c, _m, _d in clusters}
    for cluster in data.clusters:
        members, delays = next((m, d) for c, m, d in clusters if c == cluster.cluster_id)
        assert cluster.members == members and [c.delay_s for c in cluster.copies] == pytest.approx(delays)
    hostile = next(c for c in data.clusters if c.cluster_id == "urn:test:report:hostile")
    assert [(c.provider, c.delay_s) for c in hostile.copies] == [(HOSTILE_COPY_PROVIDER, 25 * 60)]

    people = {t.canonical: t for t in data.entities.by_label["PERSON"]}
    top_person = con.execute(
        "SELECT canonical, count(DISTINCT story_id) AS n FROM story_entities WHERE label = 'PERSON' "
        "GROUP BY canonical ORDER BY n DESC, canonical LIMIT 1").fetchone()
    assert people[top_person[0]].stories == top_person[1] == sum(people[top_person[0]].trend)

    versions = con.execute("SELECT count(*) FROM articles").fetchone()[0]
    assert data.lag.summaries[0].versions == versions == sum(n for _label, n in data.lag.histogram)
    assert sum(b.versions for b in data.lag.buckets) == versions


def test_window_and_empty_lake_show_no_data_states(report_lake, tmp_path):
    future = write_page(report_lake, tmp_path / "future.html", "--since", "2099-01-01")
    empty_lake = tmp_path / "empty-lake"
    empty_lake.mkdir()
    empty = write_page(empty_lake, tmp_path / "empty.html", "--hours", "6")
    with chromium() as browser:
        for page in (future, empty):
            visit = browser.open(page.as_uri())
            facts = browser.evaluate(PAGE_FACTS)
            assert visit.requests == [page.as_uri()] and visit.console_errors == []
            assert sorted(facts["noData"]) == ["clusters", "dead-letters", "entities", "lag", "stories"], page
            assert facts["charts"] == {}


def test_report_refuses_a_missing_lake_and_a_bad_since(tmp_path):
    missing = newswire("report", "--lake", str(tmp_path / "nope"), "--out", str(tmp_path / "r.html"))
    assert missing.returncode == 2 and "no lake folder" in missing.stderr
    (tmp_path / "lake").mkdir()
    bad = newswire("report", "--lake", str(tmp_path / "lake"), "--since", "yesterday")
    assert bad.returncode == 2 and "--since" in bad.stderr
    both = newswire("report", "--lake", str(tmp_path / "lake"), "--hours", "2", "--days", "1")
    assert both.returncode == 2 and "not allowed with" in both.stderr
    assert not (tmp_path / "r.html").exists()
