"""Unit tests for pipeline.io.lake.state: keys, the seen-versions index, the state store and its cache."""
from __future__ import annotations

import hashlib
import itertools
import random
from datetime import datetime, timezone

import pyarrow.parquet as pq
import pytest

from pipeline.io.lake.commitlog import BatchCommit, CommitLog
from pipeline.io.lake.durable import write_parquet_durable
from pipeline.io.lake.layout import LakeLayout
from pipeline.news.schema import SEEN_VERSIONS
from pipeline.io.lake.state import (
    SEEN_VERSIONS_SECTION,
    SeenVersions,
    StateCache,
    StateStore,
    content_key,
    delta_table,
    version_key,
)

S = SEEN_VERSIONS_SECTION


def ck(text: str) -> bytes:
    return content_key(hashlib.sha256(text.encode()).hexdigest())


def pair(story: str, version: int, content: str = "") -> tuple[bytes, bytes]:
    return version_key(story, version), ck(content or f"{story}/{version}")


@pytest.fixture
def layout(tmp_path) -> LakeLayout:
    lay = LakeLayout(tmp_path / "lake")
    lay.ensure()
    return lay


@pytest.fixture
def store(layout) -> StateStore:
    return StateStore(layout)


def write_delta(store: StateStore, batch: int, pairs) -> None:
    write_parquet_durable(delta_table(pairs, batch), store.delta_path(S, batch))


# -- keys ----------------------------------------------------------------------------------


def test_version_key_is_16_bytes_and_stable():
    k = version_key("urn:newsml:afp.com:20241117:abc", 3)
    assert isinstance(k, bytes) and len(k) == 16
    assert version_key("urn:newsml:afp.com:20241117:abc", 3) == k
    # pinned: the key is persisted in the lake, so its definition must never drift
    assert k == hashlib.blake2b(b"3\x00urn:newsml:afp.com:20241117:abc", digest_size=16).digest()


@pytest.mark.parametrize(
    "a,b",
    [
        (("a", 12), ("a1", 2)),
        (("a1", 2), ("a", 12)),
        (("1a", 2), ("a", 12)),
        (("12", 1), ("1", 21)),
        (("", 12), ("2", 1)),
        (("x", 1), ("x", 10)),
        (("x", 0), ("x", 1)),
        (("a\x002", 1), ("2", 1)),
        (("story", 1), ("Story", 1)),
        (("é", 1), ("e\u0301", 1)),
    ],
)
def test_version_key_distinguishes_tricky_pairs(a, b):
    assert version_key(*a) != version_key(*b)


def test_version_key_distinct_over_many_pairs():
    stories = ["", "a", "a1", "1", "12", "a12", "1a", "story", "x\x00", "\x001"]
    versions = [0, 1, 2, 12, 21, 112, 10**12]
    keys = {version_key(s, v) for s, v in itertools.product(stories, versions)}
    assert len(keys) == len(stories) * len(versions)


def test_content_key_is_first_8_bytes_of_the_hash():
    h = hashlib.sha256(b"body").hexdigest()
    key = content_key(h)
    assert key == bytes.fromhex(h[:16]) and len(key) == 8
    assert content_key(h) == key
    assert content_key(h.upper()) == key
    assert content_key(hashlib.sha256(b"other").hexdigest()) != key


def test_content_key_rejects_non_hex():
    with pytest.raises(ValueError):
        content_key("zz" * 32)


# -- SeenVersions --------------------------------------------------------------------------


def test_seen_versions_apply_first_delivery_wins():
    k = version_key("s", 1)
    seen = SeenVersions()
    seen.apply(delta_table([(k, ck("first"))], 0))
    seen.apply(delta_table([(k, ck("second"))], 1))
    assert seen.get(k) == ck("first")
    assert k in seen and len(seen) == 1


def test_seen_versions_apply_within_one_table_keeps_the_first_row():
    k = version_key("s", 1)
    table = SeenVersions(entries={k: ck("a")}).to_table(0)
    seen = SeenVersions()
    seen.apply(table)
    seen.apply(SeenVersions(entries={k: ck("b")}).to_table(1))
    assert seen.get(k) == ck("a")


def test_seen_versions_get_missing_and_contains():
    seen = SeenVersions()
    assert seen.get(version_key("s", 1)) is None
    assert version_key("s", 1) not in seen
    assert len(seen) == 0


def test_seen_versions_to_table_round_trip():
    pairs = [pair("s", v) for v in range(20)]
    seen = SeenVersions(entries=dict(pairs))
    table = seen.to_table(7)
    assert table.schema.equals(SEEN_VERSIONS)
    assert set(table.column("batch_id").to_pylist()) == {7}
    again = SeenVersions()
    again.apply(table)
    assert again.entries == seen.entries


def test_empty_seen_versions_to_table():
    table = SeenVersions().to_table(3)
    assert table.num_rows == 0 and table.schema.equals(SEEN_VERSIONS)


# -- delta_table ---------------------------------------------------------------------------


def test_delta_table_is_sorted_and_deterministic():
    pairs = [pair("s", v) for v in range(50)]
    rng = random.Random(3)
    shuffled = pairs[:]
    rng.shuffle(shuffled)
    a = delta_table(pairs, 9)
    b = delta_table(shuffled, 9)
    c = delta_table(iter(reversed(pairs)), 9)
    assert a.equals(b) and a.equals(c)
    keys = a.column("version_key").to_pylist()
    assert keys == sorted(keys)
    assert a.schema.equals(SEEN_VERSIONS)
    assert set(a.column("batch_id").to_pylist()) == {9}
    assert dict(zip(keys, a.column("content_key").to_pylist())) == dict(pairs)


def test_delta_table_files_are_byte_identical_for_replays(tmp_path):
    pairs = [pair("s", v) for v in range(30)]
    write_parquet_durable(delta_table(pairs, 4), tmp_path / "a.parquet")
    write_parquet_durable(delta_table(list(reversed(pairs)), 4), tmp_path / "b.parquet")
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()


def test_empty_delta_table():
    t = delta_table([], 1)
    assert t.num_rows == 0 and t.schema.equals(SEEN_VERSIONS)


def test_delta_table_rejects_wrong_key_sizes():
    with pytest.raises(Exception):
        delta_table([(b"short", ck("x"))], 0)
    with pytest.raises(Exception):
        delta_table([(version_key("s", 1), b"123")], 0)


# -- StateStore paths ----------------------------------------------------------------------


def test_state_paths_live_under_meta(store, layout):
    assert store.section_dir(S) == layout.meta / "state" / S
    assert store.delta_path(S, 5).name == "delta-00000000000000000005.parquet"
    assert store.snapshot_path(S, 5).name == "snapshot-00000000000000000005.parquet"
    assert store.delta_path(S, 5).parent == store.section_dir(S)


def test_snapshots_listing(store):
    assert store.snapshots(S) == []
    assert store.snapshots("nothing_here") == []
    for b in (10, 2, 30):
        store.write_snapshot(SeenVersions(entries=dict([pair("s", b)])), b)
    write_delta(store, 4, [pair("s", 4)])
    (store.section_dir(S) / "snapshot-junk.parquet").write_bytes(b"x")
    assert store.snapshots(S) == [2, 10, 30]
    assert store.latest_snapshot(S, 1) is None
    assert store.latest_snapshot(S, 2) == 2
    assert store.latest_snapshot(S, 29) == 10
    assert store.latest_snapshot(S, 10**6) == 30


# -- load_seen_versions --------------------------------------------------------------------


def keys_of(seen: SeenVersions) -> set[bytes]:
    return set(seen.entries)


def test_load_seen_versions_empty_lake(store):
    assert len(store.load_seen_versions(-1, [])) == 0
    assert len(store.load_seen_versions(5, [])) == 0
    assert len(store.load_seen_versions(5, [0, 1, 2])) == 0  # batches without deltas


def test_load_seen_versions_from_deltas_only_counts_committed_batches(store):
    write_delta(store, 0, [pair("a", 1)])
    write_delta(store, 1, [pair("b", 1)])
    write_delta(store, 2, [pair("c", 1)])  # written, never committed
    seen = store.load_seen_versions(2, [0, 1])
    assert keys_of(seen) == {version_key("a", 1), version_key("b", 1)}


def test_load_seen_versions_with_snapshot_and_later_deltas(store):
    base = SeenVersions(entries=dict([pair("a", 1), pair("b", 1)]))
    store.write_snapshot(base, 2)
    write_delta(store, 0, [pair("old", 1)])  # folded into the snapshot: must not be re-read
    write_delta(store, 3, [pair("c", 1)])
    write_delta(store, 4, [pair("d", 1)])
    write_delta(store, 5, [pair("e", 1)])  # uncommitted
    committed = [0, 1, 2, 3, 4]
    seen = store.load_seen_versions(5, committed)
    assert keys_of(seen) == {version_key(s, 1) for s in "abcd"}
    assert version_key("old", 1) not in seen


def test_load_seen_versions_as_of_in_the_middle_ignores_later_deltas(store):
    for b, s in enumerate("abcdef"):
        write_delta(store, b, [pair(s, 1)])
    committed = list(range(6))
    assert keys_of(store.load_seen_versions(2, committed)) == {version_key(s, 1) for s in "abc"}
    assert keys_of(store.load_seen_versions(0, committed)) == {version_key("a", 1)}
    assert keys_of(store.load_seen_versions(-1, committed)) == set()
    assert keys_of(store.load_seen_versions(5, committed)) == {version_key(s, 1) for s in "abcdef"}


def test_load_seen_versions_ignores_snapshots_after_as_of(store):
    write_delta(store, 0, [pair("a", 1)])
    write_delta(store, 1, [pair("b", 1)])
    store.write_snapshot(SeenVersions(entries=dict([pair("a", 1), pair("b", 1), pair("z", 1)])), 3)
    seen = store.load_seen_versions(1, [0, 1, 2, 3])
    assert keys_of(seen) == {version_key("a", 1), version_key("b", 1)}


def test_load_seen_versions_first_delivery_wins_across_deltas(store):
    k = version_key("s", 1)
    write_delta(store, 0, [(k, ck("first"))])
    write_delta(store, 1, [(k, ck("second"))])
    assert store.load_seen_versions(1, [1, 0]).get(k) == ck("first")


def test_load_seen_versions_snapshot_wins_over_later_conflicting_delta(store):
    k = version_key("s", 1)
    store.write_snapshot(SeenVersions(entries={k: ck("snap")}), 1)
    write_delta(store, 2, [(k, ck("later"))])
    assert store.load_seen_versions(2, [0, 1, 2]).get(k) == ck("snap")


def test_write_snapshot_round_trips(store):
    seen = SeenVersions(entries=dict(pair("s", v) for v in range(10)))
    path = store.write_snapshot(seen, 8)
    assert path == store.snapshot_path(S, 8)
    table = pq.read_table(path)
    assert table.schema.equals(SEEN_VERSIONS)
    assert set(table.column("batch_id").to_pylist()) == {8}
    assert store.load_seen_versions(8, [8]).entries == seen.entries
    assert not list(store.section_dir(S).glob("*.tmp"))


# -- prune ---------------------------------------------------------------------------------


def test_prune_removes_what_the_snapshot_covers(store):
    for b in range(6):
        write_delta(store, b, [pair("s", b)])
    store.write_snapshot(store.load_seen_versions(1, range(6)), 1)
    snap = store.load_seen_versions(3, range(6))
    store.write_snapshot(snap, 3)
    before = store.load_seen_versions(5, range(6)).entries
    store.prune(3)
    names = sorted(p.name for p in store.section_dir(S).iterdir())
    assert names == [
        "delta-00000000000000000004.parquet",
        "delta-00000000000000000005.parquet",
        "snapshot-00000000000000000003.parquet",
    ]
    assert store.load_seen_versions(5, range(6)).entries == before
    assert store.load_seen_versions(3, range(6)).entries == snap.entries


def test_prune_is_idempotent(store):
    write_delta(store, 0, [pair("s", 0)])
    store.write_snapshot(store.load_seen_versions(0, [0]), 0)
    store.prune(0)
    store.prune(0)
    assert [p.name for p in store.section_dir(S).iterdir()] == ["snapshot-00000000000000000000.parquet"]


# -- StateCache ---------------------------------------------------------------------


def test_cache_returns_same_object_advanced_incrementally(layout, store, monkeypatch):
    cache = StateCache()
    write_delta(store, 0, [pair("a", 1)])
    write_delta(store, 1, [pair("b", 1)])
    first = cache.get(layout, 1, [0, 1])
    assert keys_of(first) == {version_key("a", 1), version_key("b", 1)}

    write_delta(store, 2, [pair("c", 1)])
    write_delta(store, 3, [pair("d", 1)])

    def no_full_reload(*args, **kwargs):
        raise AssertionError("advancing must not reload from scratch")

    read: list[int] = []
    real_apply = StateStore.apply_section_deltas

    def spy_apply(self, section, index, batches):
        batches = list(batches)
        read.extend(batches)
        return real_apply(self, section, index, batches)

    monkeypatch.setattr(StateStore, "load", no_full_reload)
    monkeypatch.setattr(StateStore, "apply_section_deltas", spy_apply)
    advanced = cache.get(layout, 3, [0, 1, 2, 3])
    assert advanced is first
    assert read == [2, 3]
    assert keys_of(advanced) == {version_key(s, 1) for s in "abcd"}


def test_cache_same_batch_returns_cached_without_reading(layout, store, monkeypatch):
    cache = StateCache()
    write_delta(store, 0, [pair("a", 1)])
    first = cache.get(layout, 0, [0])
    monkeypatch.setattr(StateStore, "load", lambda *a, **k: pytest.fail("reloaded"))
    monkeypatch.setattr(StateStore, "apply_section_deltas", lambda *a, **k: pytest.fail("re-read deltas"))
    assert cache.get(layout, 0, [0]) is first


def test_cache_reloads_when_asked_for_an_older_batch(layout, store):
    cache = StateCache()
    for b, s in enumerate("abc"):
        write_delta(store, b, [pair(s, 1)])
    newest = cache.get(layout, 2, [0, 1, 2])
    older = cache.get(layout, 0, [0, 1, 2])
    assert older is not newest
    assert keys_of(older) == {version_key("a", 1)}
    assert keys_of(newest) == {version_key(s, 1) for s in "abc"}  # the old object is left alone
    # and moving forward again from the reloaded state works
    again = cache.get(layout, 2, [0, 1, 2])
    assert again is older and keys_of(again) == keys_of(newest)


def test_cache_skips_uncommitted_deltas_when_advancing(layout, store):
    cache = StateCache()
    write_delta(store, 0, [pair("a", 1)])
    seen = cache.get(layout, 0, [0])
    write_delta(store, 1, [pair("b", 1)])  # planned batch that crashed before its commit
    write_delta(store, 2, [pair("c", 1)])
    advanced = cache.get(layout, 2, [0, 2])
    assert keys_of(advanced) == {version_key("a", 1), version_key("c", 1)}
    assert advanced is seen


def test_cache_is_per_lake(tmp_path):
    cache = StateCache()
    lakes = []
    for name, story in (("one", "a"), ("two", "b")):
        lay = LakeLayout(tmp_path / name)
        lay.ensure()
        write_delta(StateStore(lay), 0, [pair(story, 1)])
        lakes.append(lay)
    a = cache.get(lakes[0], 0, [0])
    b = cache.get(lakes[1], 0, [0])
    assert a is not b
    assert keys_of(a) == {version_key("a", 1)} and keys_of(b) == {version_key("b", 1)}


def test_cache_reads_commit_log_when_committed_batches_is_none(layout, store):
    cache = StateCache()
    log = CommitLog(layout)
    write_delta(store, 0, [pair("a", 1)])
    write_delta(store, 1, [pair("b", 1)])  # not committed
    log.write_commit(
        BatchCommit(
            batch_id=0,
            end_offsets={("t", 0): 1},
            files=(),
            state_deltas={S: "state/seen_versions/delta-00000000000000000000.parquet"},
            committed_at=datetime(2024, 1, 1, tzinfo=timezone.utc),
        )
    )
    seen = cache.get(layout, 1, None)
    assert keys_of(seen) == {version_key("a", 1)}


def test_cache_clear_forces_reload(layout, store):
    cache = StateCache()
    write_delta(store, 0, [pair("a", 1)])
    first = cache.get(layout, 0, [0])
    cache.clear()
    assert cache.get(layout, 0, [0]) is not first


def test_cache_advancing_across_a_snapshot_and_prune_matches_a_fresh_load(layout, store):
    """A cache that lags behind (e.g. a long-lived worker process) must not lose pruned deltas."""
    cache = StateCache()
    write_delta(store, 0, [pair("a", 1)])
    write_delta(store, 1, [pair("b", 1)])
    cache.get(layout, 1, [0, 1])
    # meanwhile the driver commits 2 and 3, snapshots at 3 and prunes, then commits 4
    write_delta(store, 2, [pair("c", 1)])
    write_delta(store, 3, [pair("d", 1)])
    store.write_snapshot(store.load_seen_versions(3, [0, 1, 2, 3]), 3)
    store.prune(3)
    write_delta(store, 4, [pair("e", 1)])
    committed = [0, 1, 2, 3, 4]
    expected = store.load_seen_versions(4, committed)
    assert keys_of(expected) == {version_key(s, 1) for s in "abcde"}
    got = cache.get(layout, 4, committed)
    missing = keys_of(expected) - keys_of(got)
    assert not missing, (
        f"BUG in StateCache.get: advancing from batch 1 to 4 across snapshot 3 + prune(3) lost "
        f"{len(missing)} key(s) (the deltas of batches 2 and 3 were pruned and apply_deltas silently "
        "skips missing delta files); the cache must reload from the snapshot in that case"
    )
