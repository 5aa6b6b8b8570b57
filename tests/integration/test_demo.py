"""`newswire demo` end to end: its own broker, the bundled feed, the job, the example queries."""
from __future__ import annotations

import base64
import json
from importlib import resources

from conftest import newswire
from tests.support.lake_checks import article_pairs, assert_lake_files_sound, dead_letter_triples

from pipeline.ops.broker import broker_status, free_port
from pipeline.news.decode import decode_message
from pipeline.ops.demo import EXAMPLE_QUERIES, format_samples


def test_demo_publishes_runs_queries_and_stops_its_broker(tmp_path):
    result = newswire("demo", "--dir", str(tmp_path / "demo"), "--port", str(free_port()), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    lake = tmp_path / "demo" / "lake"
    assert f"The lake is at {lake}" in out
    assert "Stories mentioning Zelensky and ATACMS" in out and "seed-atacms" in out
    assert broker_status(tmp_path / "demo" / "broker") is None

    samples = resources.files("pipeline") / "samples"
    stories = [json.loads(line) for line in (samples / "stories.jsonl").read_text().splitlines() if line.strip()]
    expected_pairs = {(s["uri"], int(s.get("version", 1))) for s in stories}
    for _name, value in format_samples():
        article = decode_message(value)
        expected_pairs.add((article.story_id, article.version))
    pairs = article_pairs(lake)
    assert len(pairs) == len(set(pairs)) and set(pairs) == expected_pairs

    bad = [json.loads(line) for line in (samples / "bad_messages.jsonl").read_text().splitlines() if line.strip()]
    codes = sorted(code for _p, _o, code in dead_letter_triples(lake))
    assert codes == sorted([b["expected_error_code"] for b in bad] + ["too_large"])
    assert all(base64.b64decode(b["value_b64"]) is not None for b in bad)
    assert_lake_files_sound(lake)
    for code in ("invalid_utf8", "not_an_object", "too_large"):
        assert code in out
    for title, _query in EXAMPLE_QUERIES:
        assert f"== {title}" in out
    assert "| Washington |" in out and "This handout photo courtesy" in out  # the seed's dateline and caption
    assert "Resource module is not available" not in result.stderr
