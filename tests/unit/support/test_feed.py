"""Properties of the integration-test feed generator and of the bundled sample feeds.

The ``_defects`` oracle below is deliberately independent of the real decoder: it
lists *every* defect it can see in a message, so the tests can insist that each bad
message carries exactly one (its expected code) and each valid one carries none.
That keeps the fixtures unambiguous whatever order the decoder checks things in.
"""
from __future__ import annotations

import base64
import json
import zlib
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

from pipeline.news.model import ErrorCode  # noqa: E402

from tests.support import feed as feedmod  # noqa: E402

SAMPLES = ROOT / "pipeline" / "samples"
SEED_ARTICLE = ROOT.parent / "shared" / "samples" / "seed_article.txt"

ERROR_CODES = {v for k, v in vars(ErrorCode).items() if k.isupper()}
PUBSTATUS = {"usable", "withheld", "canceled"}
WINDOW = (datetime(2026, 11, 23, tzinfo=timezone.utc), datetime(2026, 11, 26, tzinfo=timezone.utc))
MAX_BYTES = 1024 * 1024

#: Codes Task 1 asks the bundled bad_messages.jsonl to cover (too_large is made by code).
SAMPLE_CODES = {
    ErrorCode.INVALID_UTF8, ErrorCode.INVALID_JSON, ErrorCode.NOT_AN_OBJECT, ErrorCode.MISSING_URI,
    ErrorCode.NO_CONTENT, ErrorCode.WRONG_TYPE, ErrorCode.INVALID_VERSION, ErrorCode.INVALID_TIMESTAMP,
    ErrorCode.DATE_OUT_OF_RANGE, ErrorCode.INVALID_PUBSTATUS, ErrorCode.EMPTY_MESSAGE,
}


# ---------------------------------------------------------------------------
# Independent oracle
# ---------------------------------------------------------------------------

def _parse_ts(value):
    if not isinstance(value, str):
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo is not None else None


def _defects(raw: bytes, max_bytes: int = MAX_BYTES) -> list[str]:
    """Every defect of one message; [] for a clean ninjs story."""
    if len(raw) > max_bytes:
        return [ErrorCode.TOO_LARGE]
    if not raw:
        return [ErrorCode.EMPTY_MESSAGE]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return [ErrorCode.INVALID_UTF8]
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        return [ErrorCode.INVALID_JSON]
    if not isinstance(doc, dict):
        return [ErrorCode.NOT_AN_OBJECT]

    found: list[str] = []
    if not isinstance(doc.get("uri"), str) or not doc["uri"].strip():
        found.append(ErrorCode.MISSING_URI)
    for name in ("headline", "body_text", "body_html", "byline", "by", "located", "language"):
        if name in doc and not isinstance(doc[name], str):
            found.append(ErrorCode.WRONG_TYPE)
    if "headlines" in doc and not (
        isinstance(doc["headlines"], list)
        and all(isinstance(h, dict) and isinstance(h.get("value"), str) for h in doc["headlines"])
    ):
        found.append(ErrorCode.WRONG_TYPE)
    if "bodies" in doc and not (
        isinstance(doc["bodies"], list)
        and all(isinstance(b, dict) and isinstance(b.get("value"), str) for b in doc["bodies"])
    ):
        found.append(ErrorCode.WRONG_TYPE)
    version = doc.get("version")
    if not (isinstance(version, str) and version.isdigit() and int(version) >= 1):
        found.append(ErrorCode.INVALID_VERSION)
    for name in ("firstcreated", "versioncreated"):
        if name in doc:
            dt = _parse_ts(doc[name])
            if dt is None:
                found.append(ErrorCode.INVALID_TIMESTAMP)
            elif not 1990 <= dt.year <= 2100:
                found.append(ErrorCode.DATE_OUT_OF_RANGE)
    if doc.get("pubstatus", "usable") not in PUBSTATUS:
        found.append(ErrorCode.INVALID_PUBSTATUS)
    texts = [doc.get("headline"), doc.get("body_text"), doc.get("body_html")]
    for key in ("headlines", "bodies"):
        if isinstance(doc.get(key), list):
            texts += [e.get("value") for e in doc[key] if isinstance(e, dict)]
        elif isinstance(doc.get(key), str):
            texts.append(doc[key])
    if not any(isinstance(t, str) and t.strip() for t in texts):
        found.append(ErrorCode.NO_CONTENT)
    return found


def _pair(value: bytes) -> tuple[str, int]:
    doc = json.loads(value.decode("utf-8"))
    return doc["uri"], int(doc["version"])


# ---------------------------------------------------------------------------
# The generated feed
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def messages():
    return feedmod.build_feed()


def _fingerprint(msgs):
    return [(m.partition, m.key, m.value, m.kind, m.label) for m in msgs]


def test_deterministic_for_a_seed():
    a = feedmod.build_feed(n_messages=1200, seed=11)
    b = feedmod.build_feed(n_messages=1200, seed=11)
    c = feedmod.build_feed(n_messages=1200, seed=12)
    assert _fingerprint(a) == _fingerprint(b)
    assert _fingerprint(a) != _fingerprint(c)


def test_default_feed_matches_module_level_default(messages):
    assert _fingerprint(messages) == _fingerprint(feedmod.build_feed(5000, 3, 7, MAX_BYTES))


def test_counts_per_kind(messages):
    assert len(messages) == 5000
    kinds = Counter(m.kind for m in messages)
    n_bad = sum(n for k, n in kinds.items() if k.startswith("bad:"))
    assert kinds["redelivery"] == 500  # 10%
    assert n_bad == 150  # 3%
    assert kinds["valid"] == 5000 - 500 - 150
    assert set(kinds) <= {"valid", "redelivery"} | {f"bad:{c}" for c in feedmod.BAD_CODES}
    labels = Counter(m.label for m in messages)
    assert labels["valid:update"] > 500 and labels["valid:kill"] > 0
    assert labels["redelivery:exact"] > 0 and labels["redelivery:relayout"] > 0
    assert labels["redelivery:exact-other-partition"] > 0


def test_at_least_twelve_distinct_bad_kinds(messages):
    codes = {m.error_code for m in messages if m.is_bad}
    assert len(codes) >= 12
    assert codes == set(feedmod.BAD_CODES)
    assert codes <= ERROR_CODES
    assert SAMPLE_CODES | {ErrorCode.TOO_LARGE} <= codes
    labels = {m.label for m in messages if m.is_bad}
    assert {"bad:wrong_type:headline-number", "bad:wrong_type:headlines-string",
            "bad:wrong_type:bodies-not-dicts"} <= labels
    assert len(labels) >= 15


def test_each_bad_message_has_exactly_its_defect(messages):
    for i, m in enumerate(messages):
        if m.is_bad:
            assert _defects(m.value) == [m.error_code], (i, m.label, m.value[:200])


def test_valid_messages_are_clean_and_keyed_by_uri(messages):
    for m in messages:
        if m.is_bad:
            continue
        assert _defects(m.value) == [], m.label
        doc = json.loads(m.value)
        assert m.key == doc["uri"].encode("utf-8")
        assert doc["version"] in {"1", "2", "3"}
        assert doc["pubstatus"] in {"usable", "canceled"}
        assert ("headline" in doc) != ("headlines" in doc)  # 1.x or 2.x, never both
        fc, vc = _parse_ts(doc["firstcreated"]), _parse_ts(doc["versioncreated"])
        assert WINDOW[0] <= fc <= vc < WINDOW[1]
        assert doc["firstcreated"].endswith("Z") and doc["versioncreated"].endswith("Z")


def test_layouts_and_providers_are_mixed(messages):
    docs = [json.loads(m.value) for m in messages if m.kind == "valid"]
    assert sum("headline" in d for d in docs) > 1000
    assert sum("headlines" in d for d in docs) > 1000
    assert sum("body_html" in d for d in docs) > 500 and sum("body_text" in d for d in docs) > 500
    contenttypes = Counter(d["bodies"][0]["contenttype"] for d in docs if "bodies" in d)
    assert contenttypes["text/plain"] > 500 and contenttypes["text/html"] > 500
    assert {d["copyrightholder"] for d in docs} == {"AFP", "Reuters", "The Associated Press"}


def test_valid_partition_follows_key(messages):
    for m in messages:
        if m.kind == "valid":
            assert m.partition == zlib.crc32(m.key) % 3
        assert 0 <= m.partition < 3


def test_versions_arrive_in_order_and_contiguous(messages):
    seen: dict[str, list[int]] = defaultdict(list)
    for m in messages:
        if m.kind == "valid":
            uri, version = _pair(m.value)
            seen[uri].append(version)
    assert len(seen) > 2500
    for uri, versions in seen.items():
        assert versions == list(range(1, len(versions) + 1)), uri
    assert Counter(len(v) for v in seen.values()).keys() == {1, 2, 3}


def test_kills_are_last_versions(messages):
    last: dict[str, dict] = {}
    for m in messages:
        if m.kind == "valid":
            doc = json.loads(m.value)
            assert doc["uri"] not in last or last[doc["uri"]]["pubstatus"] != "canceled"
            last[doc["uri"]] = doc
    kills = [d for d in last.values() if d["pubstatus"] == "canceled"]
    assert kills and all(int(d["version"]) >= 2 for d in kills)


def test_redeliveries_duplicate_earlier_pairs(messages):
    earlier_values: dict[tuple[str, int], bytes] = {}
    n_exact = n_relayout = n_moved = 0
    for m in messages:
        if m.kind == "valid":
            earlier_values[_pair(m.value)] = m.value
        elif m.kind == "redelivery":
            pair = _pair(m.value)
            assert pair in earlier_values, pair  # re-sent *later* than the original
            original = earlier_values[pair]
            assert m.key == pair[0].encode("utf-8")
            if m.label == "redelivery:relayout":
                n_relayout += 1
                assert m.value != original
                assert json.loads(m.value) == json.loads(original)
            else:
                n_exact += 1
                assert m.value == original
                if m.partition != zlib.crc32(m.key) % 3:
                    n_moved += 1
    assert n_exact + n_relayout == 500
    assert n_relayout >= 50 and n_moved >= 50


def test_bodies_differ_between_stories(messages):
    contents = [json.loads(m.value) for m in messages if m.label == "valid:v1"]
    keys = {json.dumps({k: v for k, v in d.items() if k in ("headline", "headlines", "body_text", "body_html",
                                                              "bodies")}, sort_keys=True)
            for d in contents}
    assert len(keys) == len(contents)


def test_expected_pairs_excludes_bad_ones(messages):
    pairs = feedmod.expected_pairs(messages)
    valid_pairs = {_pair(m.value) for m in messages if m.kind == "valid"}
    assert pairs == valid_pairs
    assert len(pairs) == sum(1 for m in messages if m.kind == "valid")  # each valid message is a new version
    assert all(uri.startswith("urn:test:story:") for uri, _ in pairs)
    bad_uris = set()
    for m in messages:
        if m.is_bad and m.key is not None:
            bad_uris.add(m.key.decode())
    assert bad_uris and not bad_uris & {uri for uri, _ in pairs}


def test_bad_messages_spread_across_partitions(messages):
    per_code: dict[str, set[int]] = defaultdict(set)
    for m in messages:
        if m.is_bad:
            per_code[m.error_code].add(m.partition)
    assert set().union(*per_code.values()) == {0, 1, 2}
    for code, parts in per_code.items():
        assert len(parts) == 3, code
    keys = [m.key for m in messages if m.is_bad]
    assert any(k is None for k in keys) and any(k is not None for k in keys)


def test_too_large_exceeds_limit_and_nothing_else_does(messages):
    too_large = [m for m in messages if m.error_code == ErrorCode.TOO_LARGE]
    assert 1 <= len(too_large) <= 3
    for m in too_large:
        assert MAX_BYTES < len(m.value) <= MAX_BYTES + 8192
        # Underneath it looks like a real story: only the size is wrong.
        assert _defects(m.value, max_bytes=10 * MAX_BYTES) == []
    assert all(len(m.value) <= MAX_BYTES for m in messages if m.error_code != ErrorCode.TOO_LARGE)


def test_smaller_limit_and_small_feed():
    msgs = feedmod.build_feed(n_messages=200, partitions=2, seed=3, max_message_bytes=64 * 1024)
    assert len(msgs) == 200
    assert {m.error_code for m in msgs if m.is_bad} == set(feedmod.BAD_CODES)
    assert {m.partition for m in msgs} == {0, 1}
    for m in msgs:
        if m.is_bad:
            assert _defects(m.value, max_bytes=64 * 1024) == [m.error_code], m.label
        else:
            assert len(m.value) <= 64 * 1024
    single = feedmod.build_feed(n_messages=300, partitions=1)
    assert {m.partition for m in single} == {0}
    with pytest.raises(ValueError):
        feedmod.build_feed(n_messages=20)
    with pytest.raises(ValueError):
        feedmod.build_feed(max_message_bytes=1000)


def test_feed_record_offsets(messages):
    feed = feedmod.Feed.build()
    assert _fingerprint(feed.messages) == _fingerprint(messages)
    assert feed.expected_versions == feedmod.expected_pairs(messages)
    next_offset: Counter = Counter()
    offsets = []
    for m in feed.messages:
        offsets.append(next_offset[m.partition])
        next_offset[m.partition] += 1
    bad = feed.record_offsets(offsets)
    assert bad == feed.expected_bad == sorted(bad)
    assert len(bad) == 150 and len(set((p, o) for p, o, _ in bad)) == 150
    assert Counter(code for _, _, code in bad) == Counter(m.error_code for m in messages if m.is_bad)
    assert feed.record_offsets([(m.partition, o) for m, o in zip(feed.messages, offsets)]) == bad
    with pytest.raises(ValueError):
        feed.record_offsets(offsets[:-1])


# ---------------------------------------------------------------------------
# Bundled samples
# ---------------------------------------------------------------------------

def _story_lines() -> list[str]:
    return (SAMPLES / "stories.jsonl").read_text(encoding="utf-8").splitlines()


def test_stories_jsonl_every_line_is_a_clean_story():
    lines = _story_lines()
    assert 38 <= len(lines) <= 50
    for n, line in enumerate(lines, 1):
        doc = json.loads(line)
        assert isinstance(doc, dict), n
        assert isinstance(doc.get("uri"), str) and doc["uri"], n
        assert _defects(line.encode("utf-8")) == [], (n, doc["uri"])
        fc, vc = _parse_ts(doc["firstcreated"]), _parse_ts(doc["versioncreated"])
        assert WINDOW[0] <= fc <= vc < WINDOW[1], n
        assert isinstance(doc["version"], str)


def test_stories_jsonl_shapes():
    lines = _story_lines()
    docs = [json.loads(line) for line in lines]
    # 3 exact redeliveries (identical lines), each after its original.
    counts = Counter(lines)
    assert sorted(n for n in counts.values() if n > 1) == [2, 2, 2]
    # 1 redelivery with the same content but a different layout.
    by_content: dict[str, set[str]] = defaultdict(set)
    for line, doc in zip(lines, docs):
        by_content[json.dumps(doc, sort_keys=True)].add(line)
    assert sum(1 for variants in by_content.values() if len(variants) > 1) == 1
    # Versions: two stories get a version 2, one is killed at version 3.
    pairs = {(d["uri"], int(d["version"])) for d in docs}
    assert len(pairs) == len(by_content) == len(lines) - 4
    v2 = {uri for uri, v in pairs if v == 2}
    assert len(v2) == 2
    kills = [d for d in docs if d["pubstatus"] == "canceled"]
    assert len(kills) == 1 and kills[0]["version"] == "3"
    assert (kills[0]["uri"], 1) in pairs and (kills[0]["uri"], 2) in pairs
    kill_index = docs.index(kills[0])
    assert any(d["uri"] == kills[0]["uri"] for d in docs[:kill_index])
    # Later versions are created later.
    for uri in v2:
        by_version = {int(d["version"]): d for d in docs if d["uri"] == uri}
        assert by_version[2]["versioncreated"] > by_version[1]["versioncreated"]
    # ninjs 1.x and 2.x mixed; AFP, Reuters and AP present; ~40 distinct stories.
    assert sum("headline" in d for d in docs) >= 10 and sum("headlines" in d for d in docs) >= 10
    assert any("body_html" in d for d in docs) and any("body_text" in d for d in docs)
    assert {b["contenttype"] for d in docs for b in d.get("bodies", [])} == {"text/plain", "text/html"}
    holders = {d.get("copyrightholder") for d in docs}
    assert {"AFP", "Reuters", "The Associated Press"} <= holders
    assert 35 <= len({d["uri"] for d in docs}) <= 45


def test_stories_jsonl_contains_seed_article():
    docs = [json.loads(line) for line in _story_lines()]
    seed = [d for d in docs if d["uri"] == "urn:newsml:afp.com:20241117:seed-atacms"]
    assert len(seed) == 1
    assert seed[0]["headline"] == "Biden authorizes Ukraine to use long-range US missiles inside Russia"
    assert seed[0]["copyrightholder"] == "AFP"
    assert "Washington: US President Joe Biden has authorized Ukraine" in seed[0]["body_text"]
    if SEED_ARTICLE.exists():
        assert seed[0]["body_text"] == SEED_ARTICLE.read_text(encoding="utf-8")


def test_bad_messages_jsonl_decodes_and_has_its_defect():
    lines = (SAMPLES / "bad_messages.jsonl").read_text(encoding="utf-8").splitlines()
    codes = set()
    for n, line in enumerate(lines, 1):
        entry = json.loads(line)
        assert set(entry) == {"label", "expected_error_code", "value_b64"}, n
        raw = base64.b64decode(entry["value_b64"], validate=True)
        code = entry["expected_error_code"]
        assert code in ERROR_CODES, n
        assert _defects(raw) == [code], (n, entry["label"])
        codes.add(code)
    assert SAMPLE_CODES <= codes
    assert ErrorCode.TOO_LARGE not in codes
