"""Deduplication state that survives restarts: kept in the lake, advanced only by the commit log.

State is a set of named sections. Each committed batch may add a delta file per section
(``state/<section>/delta-<batch>.parquet``); every so often a snapshot
(``state/<section>/snapshot-<batch>.parquet``) folds all deltas up to that batch. The state "as of
batch N" is the newest snapshot at or below N plus the deltas of the commits after it, so a batch
that was planned but never committed contributes nothing, and its replay sees exactly the state
its first attempt saw. Sections: ``seen_versions`` (exact-redelivery keys), ``signatures`` (the
near-duplicate index of story versions within the lookback window), ``cluster_aliases`` (retired
cluster ids) and ``paragraph_entities`` (NER results per paragraph, for reuse).
"""
from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePath
from typing import Any, Callable, Iterable, Optional

import pyarrow as pa

from pipeline.news import dedup
from pipeline.io.lake.layout import LakeLayout
from pipeline.news.schema import CLUSTER_ALIASES, SEEN_VERSIONS

SEEN_VERSIONS_SECTION = "seen_versions"
SECTION_SCHEMAS: dict[str, pa.Schema] = {SEEN_VERSIONS_SECTION: SEEN_VERSIONS}
_SNAPSHOT_RE = re.compile(r"^snapshot-(\d{20})\.parquet$")


def version_key(story_id: str, version: int) -> bytes:
    """16-byte key of a (story_id, version) pair; collisions are negligible at any news volume."""
    return hashlib.blake2b(f"{version}\x00{story_id}".encode("utf-8"), digest_size=16).digest()


def content_key(content_hash: str) -> bytes:
    """8-byte prefix of a content hash: enough to tell a conflicting redelivery from an exact one."""
    return bytes.fromhex(content_hash[:16])


@dataclass
class SeenVersions:
    """The exact-deduplication index: version key -> content key of the first delivery."""

    entries: dict[bytes, bytes] = field(default_factory=dict)

    def __contains__(self, key: bytes) -> bool:
        return key in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, key: bytes) -> Optional[bytes]:
        return self.entries.get(key)

    def apply(self, table: pa.Table) -> None:
        """Fold a delta or snapshot table into the index (first delivery wins)."""
        keys = table.column("version_key").to_pylist()
        contents = table.column("content_key").to_pylist()
        for k, c in zip(keys, contents):
            self.entries.setdefault(k, c)

    def to_table(self, batch_id: int) -> pa.Table:
        """The whole index as a snapshot table (same layout and order rules as a delta)."""
        return delta_table(self.entries.items(), batch_id)


def delta_table(pairs: Iterable[tuple[bytes, bytes]], batch_id: int) -> pa.Table:
    """A batch's delta of new (version key, content key) pairs, sorted for byte-identical replays."""
    pairs = sorted(pairs)
    return pa.table(
        {
            "version_key": pa.array([p[0] for p in pairs], pa.binary(16)),
            "content_key": pa.array([p[1] for p in pairs], pa.binary(8)),
            "batch_id": pa.array([batch_id] * len(pairs), pa.int64()),
        },
        schema=SEEN_VERSIONS,
    )


@dataclass(frozen=True)
class Section:
    """How one state section is folded: an empty index, applying a delta/snapshot table, snapshotting.

    ``expire`` (optional) drops entries first created before a cutoff (the batch clock minus the
    lookback window) before a snapshot is written. Lookups whose result depends on the window filter
    by it too, so when expiry happens never changes what a batch writes.
    """

    name: str
    schema: pa.Schema
    empty: Callable[[], Any]
    apply: Callable[[Any, pa.Table], None]
    snapshot: Callable[[Any, int], pa.Table]
    expire: Optional[Callable[[Any, datetime], None]] = None


SEEN_VERSIONS_STATE = Section(
    name=SEEN_VERSIONS_SECTION,
    schema=SEEN_VERSIONS,
    empty=SeenVersions,
    apply=lambda index, table: index.apply(table),
    snapshot=lambda index, batch_id: index.to_table(batch_id),
)


SIGNATURES_SECTION = "signatures"
CLUSTER_ALIASES_SECTION = "cluster_aliases"
PARAGRAPHS_SECTION = "paragraph_entities"

def aliases_delta_table(pairs: Iterable[tuple[str, str]], batch_id: int) -> pa.Table:
    pairs = sorted(pairs)
    return pa.table(
        {
            "cluster_from": pa.array([a for a, _ in pairs], pa.string()),
            "cluster_to": pa.array([b for _, b in pairs], pa.string()),
            "batch_id": pa.array([batch_id] * len(pairs), pa.int64()),
        },
        schema=CLUSTER_ALIASES,
    )


def _apply_aliases(index: dict, table: pa.Table) -> None:
    index.update(zip(table.column("cluster_from").to_pylist(), table.column("cluster_to").to_pylist()))


def epoch_micros(moment: Optional[datetime]) -> Optional[int]:
    """Microseconds since the epoch: the time unit of first_created in dedup state."""
    if moment is None:
        return None
    return int(moment.timestamp() * 1_000_000)


SIGNATURES_STATE = Section(
    name=SIGNATURES_SECTION,
    schema=dedup.SIGNATURE_INDEX_SCHEMA,
    empty=dedup.SignatureIndex,
    apply=lambda index, table: index.apply_table(table),
    snapshot=lambda index, batch_id: index.to_table(batch_id),
    expire=lambda index, cutoff: index.expire(epoch_micros(cutoff)),
)
CLUSTER_ALIASES_STATE = Section(
    name=CLUSTER_ALIASES_SECTION,
    schema=CLUSTER_ALIASES,
    empty=dict,
    apply=_apply_aliases,
    snapshot=lambda index, batch_id: aliases_delta_table(index.items(), batch_id),
)
PARAGRAPHS_STATE = Section(
    name=PARAGRAPHS_SECTION,
    schema=dedup.PARAGRAPH_CACHE_SCHEMA,
    empty=dedup.ParagraphEntityCache,
    apply=lambda index, table: index.apply_table(table),
    snapshot=lambda index, batch_id: index.to_table(batch_id),
    expire=lambda index, cutoff: index.expire(epoch_micros(cutoff)),
)

# Every section the job keeps, by name; the driver publishes, snapshots and prunes each of them.
STATE_SECTIONS: dict[str, Section] = {
    s.name: s for s in (SEEN_VERSIONS_STATE, SIGNATURES_STATE, CLUSTER_ALIASES_STATE, PARAGRAPHS_STATE)
}


class StateStore:
    """Reads and writes the state files of one lake."""

    def __init__(self, layout: LakeLayout) -> None:
        self.layout = layout
        self.storage = layout.storage

    def section_dir(self, section: str) -> PurePath:
        return self.layout.meta / "state" / section

    def delta_path(self, section: str, batch_id: int) -> PurePath:
        return self.section_dir(section) / f"delta-{batch_id:020d}.parquet"

    def snapshot_path(self, section: str, batch_id: int) -> PurePath:
        return self.section_dir(section) / f"snapshot-{batch_id:020d}.parquet"

    def snapshots(self, section: str) -> list[int]:
        names = self.storage.list_names(self.section_dir(section))
        return sorted(int(m.group(1)) for name in names if (m := _SNAPSHOT_RE.match(name)))

    def latest_snapshot(self, section: str, at_most: int) -> Optional[int]:
        found = [b for b in self.snapshots(section) if b <= at_most]
        return found[-1] if found else None

    def load(self, section: Section, as_of_batch: int, committed_batches: Iterable[int]) -> Any:
        """The section's index after ``as_of_batch`` (-1 = empty): newest snapshot plus later deltas."""
        index = section.empty()
        if as_of_batch < 0:
            return index
        snap = self.latest_snapshot(section.name, as_of_batch)
        if snap is not None:
            section.apply(index, self.storage.read_table(self.snapshot_path(section.name, snap)))
        start = -1 if snap is None else snap
        self.apply_section_deltas(section, index, [b for b in committed_batches if start < b <= as_of_batch])
        return index

    def apply_section_deltas(self, section: Section, index: Any, batches: Iterable[int]) -> None:
        for b in sorted(batches):
            path = self.delta_path(section.name, b)
            if self.storage.exists(path):
                section.apply(index, self.storage.read_table(path))

    def write_section_snapshot(self, section: Section, index: Any, batch_id: int) -> PurePath:
        path = self.snapshot_path(section.name, batch_id)
        self.storage.write_table(section.snapshot(index, batch_id), path)
        return path

    def prune_section(self, section: str, keep_after_snapshot: int) -> None:
        """Delete deltas and snapshots made redundant by the snapshot at ``keep_after_snapshot``."""
        d = self.section_dir(section)
        for name in self.storage.list_names(d):
            if not name.endswith(".parquet"):
                continue
            batch = int(name[: -len(".parquet")].split("-")[1])
            if batch < keep_after_snapshot or (name.startswith("delta-") and batch == keep_after_snapshot):
                self.storage.delete(d / name)

    # -- the seen-versions section (exact redeliveries) -------------------------------------
    def load_seen_versions(self, as_of_batch: int, committed_batches: Iterable[int]) -> SeenVersions:
        return self.load(SEEN_VERSIONS_STATE, as_of_batch, committed_batches)

    def apply_deltas(self, seen: SeenVersions, batches: Iterable[int]) -> None:
        self.apply_section_deltas(SEEN_VERSIONS_STATE, seen, batches)

    def write_snapshot(self, seen: SeenVersions, batch_id: int) -> PurePath:
        return self.write_section_snapshot(SEEN_VERSIONS_STATE, seen, batch_id)

    def prune(self, keep_after_snapshot: int) -> None:
        self.prune_section(SEEN_VERSIONS_SECTION, keep_after_snapshot)


class StateCache:
    """Process-wide cache so a long-running driver (and in-process runners) never reload from scratch.

    One index per (lake, section). Advancing from batch N to N+k reads only the k new delta files.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: dict[tuple[str, str], tuple[int, Any]] = {}

    def get_section(
        self, layout: LakeLayout, section: Section, as_of_batch: int, committed_batches: Optional[Iterable[int]]
    ) -> Any:
        from pipeline.io.lake.commitlog import CommitLog  # local: commitlog imports this module

        committed = list(committed_batches) if committed_batches is not None else CommitLog(layout).batch_ids()
        store = StateStore(layout)
        key = (layout.storage.cache_key, section.name)
        with self._lock:
            cached = self._by_key.get(key)
            if cached is not None and cached[0] == as_of_batch:
                return cached[1]
            snapshot_between = cached is not None and any(
                cached[0] < b <= as_of_batch for b in store.snapshots(section.name)
            )
            if cached is not None and cached[0] < as_of_batch and not snapshot_between:
                index = cached[1]
                store.apply_section_deltas(section, index, [b for b in committed if cached[0] < b <= as_of_batch])
            else:
                index = store.load(section, as_of_batch, committed)
            self._by_key[key] = (as_of_batch, index)
            return index

    def get(self, layout: LakeLayout, as_of_batch: int, committed_batches: Optional[Iterable[int]]) -> SeenVersions:
        """The seen-versions index (kept for the callers that only need exact redeliveries)."""
        return self.get_section(layout, SEEN_VERSIONS_STATE, as_of_batch, committed_batches)

    def clear(self) -> None:
        with self._lock:
            self._by_key.clear()


SEEN_VERSIONS_CACHE = StateCache()
STATE_CACHE = SEEN_VERSIONS_CACHE
