"""The signature index: fingerprints of recent story versions with their clusters, kept across batches.

Column-stored (numpy arrays plus interned id strings) so 100k entries take ~162 MiB rather than a
dict of objects several times that; :data:`SIGNATURE_INDEX_SCHEMA` is the layout of its state files.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from typing import Iterable, Optional, Sequence

import numpy as np
import pyarrow as pa

from pipeline.news.dedup.fingerprints import (
    _KIND_CODES,
    _KIND_NAMES,
    _MAX_SIG,
    MIN_EXACT_WORDS,
    NUM_PERM,
    ORIGINAL,
    Fingerprint,
    _array_eq,
    band_keys,
)

__all__ = [
    "SIGNATURE_INDEX_SCHEMA",
    "IndexEntry",
    "SignatureIndex",
    "index_delta_table",
    "replace_cluster",
]


@dataclass(frozen=True, eq=False)
class IndexEntry:
    """One indexed story version with its cluster. ``bands`` is derived from ``signature``."""

    story_id: str
    version: int
    cluster_id: str
    cluster_rank: int
    first_created_us: int
    body_key: int
    n_words: int
    n_shingles: int
    signature: Optional[np.ndarray]
    dup_kind: str = ORIGINAL
    duplicate_of: Optional[str] = None
    similarity: Optional[float] = None

    @property
    def bands(self) -> Optional[np.ndarray]:
        return None if self.signature is None else band_keys(self.signature)

    @property
    def fingerprint(self) -> Fingerprint:
        return Fingerprint(self.body_key, self.n_words, self.n_shingles, self.signature, self.bands)

    def _plain(self) -> tuple:
        return (
            self.story_id, self.version, self.cluster_id, self.cluster_rank, self.first_created_us,
            self.body_key, self.n_words, self.n_shingles, self.dup_kind, self.duplicate_of, self.similarity,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IndexEntry):
            return NotImplemented
        return self._plain() == other._plain() and _array_eq(self.signature, other.signature)

    def __hash__(self) -> int:
        return hash((self.story_id, self.version))


def replace_cluster(entry: IndexEntry, cluster_id: str, cluster_rank: int) -> IndexEntry:
    """The entry moved to another cluster (to re-write entries of a merged cluster as upserts)."""
    return replace(entry, cluster_id=cluster_id, cluster_rank=int(cluster_rank))


SIGNATURE_INDEX_SCHEMA = pa.schema(
    [
        pa.field("story_id", pa.string(), nullable=False),
        pa.field("version", pa.int64(), nullable=False),
        pa.field("cluster_id", pa.string(), nullable=False),
        pa.field("cluster_rank", pa.int64(), nullable=False),
        pa.field("first_created_us", pa.int64(), nullable=False),
        pa.field("body_key", pa.uint64(), nullable=False),
        pa.field("n_words", pa.int32(), nullable=False),
        pa.field("n_shingles", pa.int32(), nullable=False),
        pa.field("signature", pa.binary(NUM_PERM * 4)),  # little-endian uint32 x NUM_PERM; null = too short
        pa.field("dup_kind", pa.string(), nullable=False),
        pa.field("duplicate_of", pa.string()),
        pa.field("similarity", pa.float64()),
        pa.field("batch_id", pa.int64(), nullable=False),
    ]
)

def _intern(s: Optional[str]) -> Optional[str]:
    return None if s is None else sys.intern(s)


def _signature_column(sigs: np.ndarray, has_sig: np.ndarray) -> pa.Array:
    """FixedSizeBinary(NUM_PERM*4) column from a (k, NUM_PERM) matrix; rows without a signature are null."""
    k = len(has_sig)
    data = pa.py_buffer(np.ascontiguousarray(sigs, dtype="<u4").tobytes())
    validity = None if has_sig.all() else pa.array(has_sig, pa.bool_()).buffers()[1]
    return pa.Array.from_buffers(pa.binary(NUM_PERM * 4), k, [validity, data])


def _signatures_from_column(col: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(k x NUM_PERM uint32 matrix, validity mask) from a signature column; null rows are all-max."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    k = len(arr)
    valid = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    if k == 0:
        return np.empty((0, NUM_PERM), dtype=np.uint32), valid
    flat = np.frombuffer(arr.buffers()[1], dtype="<u4")
    sigs = flat[arr.offset * NUM_PERM : (arr.offset + k) * NUM_PERM].reshape(k, NUM_PERM).astype(np.uint32)
    sigs[~valid] = _MAX_SIG
    return sigs, valid


def _index_table(cols: dict, batch_id: int) -> pa.Table:
    k = len(cols["story_id"])
    sims = np.asarray(cols["similarity"], dtype=np.float64)
    return pa.table(
        {
            "story_id": pa.array(cols["story_id"], pa.string()),
            "version": pa.array(np.asarray(cols["version"], dtype=np.int64)),
            "cluster_id": pa.array(cols["cluster_id"], pa.string()),
            "cluster_rank": pa.array(np.asarray(cols["cluster_rank"], dtype=np.int64)),
            "first_created_us": pa.array(np.asarray(cols["first_created_us"], dtype=np.int64)),
            "body_key": pa.array(np.asarray(cols["body_key"], dtype=np.uint64)),
            "n_words": pa.array(np.asarray(cols["n_words"], dtype=np.int32)),
            "n_shingles": pa.array(np.asarray(cols["n_shingles"], dtype=np.int32)),
            "signature": _signature_column(cols["signature"], np.asarray(cols["has_sig"], dtype=bool)),
            "dup_kind": pa.array([_KIND_NAMES[c] for c in cols["kind"]], pa.string()),
            "duplicate_of": pa.array(cols["duplicate_of"], pa.string()),
            "similarity": pa.array(sims, pa.float64(), mask=np.isnan(sims)),
            "batch_id": pa.array(np.full(k, batch_id, dtype=np.int64)),
        },
        schema=SIGNATURE_INDEX_SCHEMA,
    )


def _entries_to_columns(entries: Sequence[IndexEntry]) -> dict:
    k = len(entries)
    sigs = np.full((k, NUM_PERM), _MAX_SIG, dtype=np.uint32)
    has_sig = np.zeros(k, dtype=bool)
    for r, e in enumerate(entries):
        if e.signature is not None:
            sigs[r] = e.signature
            has_sig[r] = True
    return {
        "story_id": [e.story_id for e in entries],
        "version": [e.version for e in entries],
        "cluster_id": [e.cluster_id for e in entries],
        "cluster_rank": [e.cluster_rank for e in entries],
        "first_created_us": [e.first_created_us for e in entries],
        "body_key": np.array([e.body_key for e in entries], dtype=np.uint64),
        "n_words": [e.n_words for e in entries],
        "n_shingles": [e.n_shingles for e in entries],
        "signature": sigs,
        "has_sig": has_sig,
        "kind": [_KIND_CODES[e.dup_kind] for e in entries],
        "duplicate_of": [e.duplicate_of for e in entries],
        "similarity": [np.nan if e.similarity is None else e.similarity for e in entries],
    }


def index_delta_table(entries: Iterable[IndexEntry], batch_id: int) -> pa.Table:
    """A batch's new index entries as a state delta, sorted by (story_id, version) for byte-identical replays."""
    ordered = sorted(entries, key=lambda e: (e.story_id, e.version))
    return _index_table(_entries_to_columns(ordered), batch_id)


def _flatten_remaps(remaps: Iterable[tuple[str, str, int]]) -> dict[str, tuple[str, int]]:
    """from -> (final to, rank); chains a->b, b->c become a->c (later remaps of an id win)."""
    mapping: dict[str, tuple[str, int]] = {}
    for src, dst, rank in remaps:
        mapping[src] = (dst, int(rank))
    flat: dict[str, tuple[str, int]] = {}
    for src in mapping:
        dst, rank = mapping[src]
        seen = {src}
        while dst in mapping and dst not in seen and mapping[dst][0] != dst:
            seen.add(dst)
            dst, rank = mapping[dst]
        flat[src] = (dst, rank)
    return flat


class SignatureIndex:
    """Fingerprints of recent story versions with their clusters, column-stored for memory and speed.

    Entry indices (``candidates``, ``exact_matches``, ``entry``) are positions in *this* object:
    stable under ``add``/``apply_*`` but renumbered by ``expire``. LSH lookup is a sorted array of
    (band key, entry) postings searched with ``searchsorted``; postings of new entries are merged
    in lazily before the next lookup. Exact-match postings only hold bodies of at least
    ``MIN_EXACT_WORDS`` words.
    """

    _INITIAL_CAPACITY = 1024

    def __init__(self) -> None:
        self._n = 0
        self._story_ids: list[str] = []
        self._cluster_ids: list[str] = []
        self._duplicate_of: list[Optional[str]] = []
        self._by_story: dict[str, list[int]] = {}
        self._alloc(0)
        self._band_keys = np.empty(0, dtype=np.uint64)
        self._band_rows = np.empty(0, dtype=np.int32)
        self._body_keys = np.empty(0, dtype=np.uint64)
        self._body_rows = np.empty(0, dtype=np.int32)
        self._unposted: set[int] = set()
        self._stale: set[int] = set()

    # -- storage -----------------------------------------------------------

    def _alloc(self, capacity: int) -> None:
        self._version = np.zeros(capacity, dtype=np.int64)
        self._rank = np.zeros(capacity, dtype=np.int64)
        self._created = np.zeros(capacity, dtype=np.int64)
        self._body_key = np.zeros(capacity, dtype=np.uint64)
        self._n_words = np.zeros(capacity, dtype=np.int32)
        self._n_shingles = np.zeros(capacity, dtype=np.int32)
        self._kind = np.zeros(capacity, dtype=np.int8)
        self._sim = np.full(capacity, np.nan, dtype=np.float64)
        self._has_sig = np.zeros(capacity, dtype=bool)
        self._sig = np.full((capacity, NUM_PERM), _MAX_SIG, dtype=np.uint32)

    _NUMERIC = ("_version", "_rank", "_created", "_body_key", "_n_words", "_n_shingles", "_kind", "_sim", "_has_sig", "_sig")

    def _reserve(self, needed: int) -> None:
        cap = len(self._version)
        if needed <= cap:
            return
        new_cap = max(needed, 2 * cap, self._INITIAL_CAPACITY)
        for name in self._NUMERIC:
            old = getattr(self, name)
            fill = np.nan if name == "_sim" else (_MAX_SIG if name == "_sig" else 0)
            new = np.full((new_cap,) + old.shape[1:], fill, dtype=old.dtype)
            new[: self._n] = old[: self._n]
            setattr(self, name, new)

    def _find(self, story_id: str, version: int) -> Optional[int]:
        for row in self._by_story.get(story_id, ()):
            if self._version[row] == version:
                return row
        return None

    def find(self, story_id: str, version: int) -> Optional[int]:
        """Entry index of (story_id, version), None if not indexed (to translate ids across processes)."""
        return self._find(story_id, version)

    def _append(self, cols: dict) -> None:
        """Insert rows; a row for an indexed (story_id, version) replaces it, later rows win."""
        k = len(cols["story_id"])
        if k == 0:
            return
        self._reserve(self._n + k)
        targets = np.empty(k, dtype=np.int64)
        last: dict[tuple[str, int], int] = {}
        for r in range(k):
            last[(cols["story_id"][r], int(cols["version"][r]))] = r
        keep = np.zeros(k, dtype=bool)
        for (sid, ver), r in last.items():
            keep[r] = True
            row = self._find(sid, ver)
            if row is None:
                row = self._n
                self._n += 1
                sid = _intern(sid)
                self._story_ids.append(sid)
                self._cluster_ids.append("")
                self._duplicate_of.append(None)
                self._by_story.setdefault(sid, []).append(row)
            else:
                self._stale.add(row)
            targets[r] = row
            self._cluster_ids[row] = _intern(cols["cluster_id"][r])
            self._duplicate_of[row] = _intern(cols["duplicate_of"][r])
            self._unposted.add(row)
        rows = targets[keep]
        self._version[rows] = np.asarray(cols["version"], dtype=np.int64)[keep]
        self._rank[rows] = np.asarray(cols["cluster_rank"], dtype=np.int64)[keep]
        self._created[rows] = np.asarray(cols["first_created_us"], dtype=np.int64)[keep]
        self._body_key[rows] = np.asarray(cols["body_key"], dtype=np.uint64)[keep]
        self._n_words[rows] = np.asarray(cols["n_words"], dtype=np.int32)[keep]
        self._n_shingles[rows] = np.asarray(cols["n_shingles"], dtype=np.int32)[keep]
        self._kind[rows] = np.asarray(cols["kind"], dtype=np.int8)[keep]
        self._sim[rows] = np.asarray(cols["similarity"], dtype=np.float64)[keep]
        self._has_sig[rows] = np.asarray(cols["has_sig"], dtype=bool)[keep]
        self._sig[rows] = np.asarray(cols["signature"], dtype=np.uint32)[keep]

    def _sync(self) -> None:
        """Bring the sorted postings up to date (drop replaced rows, merge new ones)."""
        if self._stale:
            stale = np.fromiter(self._stale, dtype=np.int32)
            m = ~np.isin(self._band_rows, stale)
            self._band_keys, self._band_rows = self._band_keys[m], self._band_rows[m]
            m = ~np.isin(self._body_rows, stale)
            self._body_keys, self._body_rows = self._body_keys[m], self._body_rows[m]
            self._stale.clear()
        if not self._unposted:
            return
        rows = np.fromiter(sorted(self._unposted), dtype=np.int32)
        self._unposted.clear()
        with_sig = rows[self._has_sig[rows]]
        if with_sig.size:
            keys = band_keys(self._sig[with_sig])  # (rows, bands): the width comes from band_keys, the one reader of BANDS
            self._band_keys, self._band_rows = _merge_postings(
                self._band_keys, self._band_rows, keys.ravel(), np.repeat(with_sig, keys.shape[1])
            )
        long_enough = rows[self._n_words[rows] >= MIN_EXACT_WORDS]
        if long_enough.size:
            self._body_keys, self._body_rows = _merge_postings(
                self._body_keys, self._body_rows, self._body_key[long_enough], long_enough
            )

    # -- public API ----------------------------------------------------------

    def __len__(self) -> int:
        return self._n

    def add(self, entries: Iterable[IndexEntry]) -> None:
        """Index entries; an entry for an indexed (story_id, version) replaces the old one."""
        self._append(_entries_to_columns(list(entries)))

    def expire(self, before_us: int) -> int:
        """Drop entries whose first_created_us < before_us; returns how many. Renumbers entries."""
        n = self._n
        keep = self._created[:n] >= before_us
        dropped = int(n - np.count_nonzero(keep))
        if dropped == 0:
            return 0
        self._sync()
        idx = np.flatnonzero(keep)
        new_pos = np.full(n, -1, dtype=np.int32)
        new_pos[idx] = np.arange(idx.size, dtype=np.int32)
        for name in self._NUMERIC:
            setattr(self, name, getattr(self, name)[idx])
        self._story_ids = [self._story_ids[i] for i in idx]
        self._cluster_ids = [self._cluster_ids[i] for i in idx]
        self._duplicate_of = [self._duplicate_of[i] for i in idx]
        self._n = int(idx.size)
        m = keep[self._band_rows]
        self._band_keys, self._band_rows = self._band_keys[m], new_pos[self._band_rows[m]]
        m = keep[self._body_rows]
        self._body_keys, self._body_rows = self._body_keys[m], new_pos[self._body_rows[m]]
        self._by_story = {}
        for row, sid in enumerate(self._story_ids):
            self._by_story.setdefault(sid, []).append(row)
        return dropped

    def candidates(self, bands: np.ndarray) -> set[int]:
        """Entries sharing at least one band key with ``bands``."""
        self._sync()
        bands = np.asarray(bands, dtype=np.uint64)
        lo = np.searchsorted(self._band_keys, bands, side="left")
        hi = np.searchsorted(self._band_keys, bands, side="right")
        out: set[int] = set()
        for a, b in zip(lo.tolist(), hi.tolist()):
            if b > a:
                out.update(self._band_rows[a:b].tolist())
        return out

    def candidates_per_key(self, bands: np.ndarray) -> list[list[int]]:
        """For each band key, the entries posted under it (one vectorised lookup for many keys)."""
        self._sync()
        bands = np.asarray(bands, dtype=np.uint64)
        lo = np.searchsorted(self._band_keys, bands, side="left").tolist()
        hi = np.searchsorted(self._band_keys, bands, side="right").tolist()
        rows = self._band_rows
        return [rows[a:b].tolist() if b > a else [] for a, b in zip(lo, hi)]

    def exact_matches(self, body_key: int) -> list[int]:
        """Entries with this body key (only bodies of at least MIN_EXACT_WORDS words are posted)."""
        self._sync()
        key = np.uint64(body_key)
        a = int(np.searchsorted(self._body_keys, key, side="left"))
        b = int(np.searchsorted(self._body_keys, key, side="right"))
        return sorted(self._body_rows[a:b].tolist())

    def entry(self, i: int) -> IndexEntry:
        sim = float(self._sim[i])
        return IndexEntry(
            story_id=self._story_ids[i],
            version=int(self._version[i]),
            cluster_id=self._cluster_ids[i],
            cluster_rank=int(self._rank[i]),
            first_created_us=int(self._created[i]),
            body_key=int(self._body_key[i]),
            n_words=int(self._n_words[i]),
            n_shingles=int(self._n_shingles[i]),
            signature=self._sig[i].copy() if self._has_sig[i] else None,
            dup_kind=_KIND_NAMES[int(self._kind[i])],
            duplicate_of=self._duplicate_of[i],
            similarity=None if np.isnan(sim) else sim,
        )

    def story_version(self, i: int) -> tuple[str, int]:
        return self._story_ids[i], int(self._version[i])

    def cluster_of(self, i: int) -> str:
        return self._cluster_ids[i]

    def first_created_us(self, i: int) -> int:
        return int(self._created[i])

    def entries_in_clusters(self, cluster_ids: Iterable[str]) -> list[int]:
        """Entry indices (ascending) whose cluster is one of ``cluster_ids`` (a scan: once per batch)."""
        wanted = set(cluster_ids)
        if not wanted:
            return []
        return [row for row, cid in enumerate(self._cluster_ids) if cid in wanted]

    def prepare(self) -> None:
        """Merge pending postings now: lookups on a prepared index do not mutate it (thread-safe reads)."""
        self._sync()

    def latest_entry(self, story_id: str) -> Optional[int]:
        """Entry index of the story's highest indexed version."""
        rows = self._by_story.get(story_id)
        if not rows:
            return None
        return max(rows, key=lambda r: int(self._version[r]))

    def story_cluster(self, story_id: str) -> Optional[tuple[str, int]]:
        """(cluster_id, cluster_rank) of the story's latest indexed version."""
        row = self.latest_entry(story_id)
        if row is None:
            return None
        return self._cluster_ids[row], int(self._rank[row])

    def apply_remaps(self, remaps: Iterable[tuple[str, str, int]]) -> None:
        """Move every entry of cluster ``from`` to ``to`` with the new rank (chains are followed)."""
        flat = _flatten_remaps(remaps)
        if not flat:
            return
        for row in range(self._n):
            hit = flat.get(self._cluster_ids[row])
            if hit is not None:
                self._cluster_ids[row] = _intern(hit[0])
                self._rank[row] = hit[1]

    def apply_table(self, table: pa.Table) -> None:
        """Fold a delta or snapshot table: later rows for the same (story_id, version) replace earlier ones."""
        sigs, valid = _signatures_from_column(table.column("signature"))
        sims = table.column("similarity").to_numpy(zero_copy_only=False)
        cols = {
            "story_id": table.column("story_id").to_pylist(),
            "version": table.column("version").to_numpy(),
            "cluster_id": table.column("cluster_id").to_pylist(),
            "cluster_rank": table.column("cluster_rank").to_numpy(),
            "first_created_us": table.column("first_created_us").to_numpy(),
            "body_key": table.column("body_key").to_numpy(),
            "n_words": table.column("n_words").to_numpy(),
            "n_shingles": table.column("n_shingles").to_numpy(),
            "signature": sigs,
            "has_sig": valid,
            "kind": [_KIND_CODES[k] for k in table.column("dup_kind").to_pylist()],
            "duplicate_of": table.column("duplicate_of").to_pylist(),
            "similarity": np.asarray(sims, dtype=np.float64),  # nulls come back as NaN
        }
        self._append(cols)

    def to_table(self, batch_id: int) -> pa.Table:
        """The whole index as a snapshot table (same layout and order as a delta)."""
        order = sorted(range(self._n), key=lambda r: (self._story_ids[r], int(self._version[r])))
        idx = np.asarray(order, dtype=np.int64)
        cols = {
            "story_id": [self._story_ids[r] for r in order],
            "version": self._version[idx],
            "cluster_id": [self._cluster_ids[r] for r in order],
            "cluster_rank": self._rank[idx],
            "first_created_us": self._created[idx],
            "body_key": self._body_key[idx],
            "n_words": self._n_words[idx],
            "n_shingles": self._n_shingles[idx],
            "signature": self._sig[idx],
            "has_sig": self._has_sig[idx],
            "kind": self._kind[idx].tolist(),
            "duplicate_of": [self._duplicate_of[r] for r in order],
            "similarity": self._sim[idx],
        }
        return _index_table(cols, batch_id)

    def memory_bytes(self) -> int:
        """Bytes held: numpy buffers (allocated capacity) plus Python strings, lists and the story dict."""
        self._sync()
        total = sum(getattr(self, name).nbytes for name in self._NUMERIC)
        total += self._band_keys.nbytes + self._band_rows.nbytes + self._body_keys.nbytes + self._body_rows.nbytes
        seen: set[int] = set()
        for lst in (self._story_ids, self._cluster_ids, self._duplicate_of):
            total += sys.getsizeof(lst)
            for s in lst:
                if s is not None and id(s) not in seen:
                    seen.add(id(s))
                    total += sys.getsizeof(s)
        total += sys.getsizeof(self._by_story) + sum(sys.getsizeof(v) for v in self._by_story.values())
        return total

    # -- internal accessors for assign_clusters --------------------------------

    def _signature_of(self, row: int) -> Optional[np.ndarray]:
        return self._sig[row] if self._has_sig[row] else None


def _merge_postings(keys: np.ndarray, rows: np.ndarray, new_keys: np.ndarray, new_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Insert (key, row) postings into sorted arrays; ties ordered by row for determinism."""
    order = np.lexsort((new_rows, new_keys))
    new_keys = new_keys[order]
    new_rows = new_rows[order].astype(np.int32)
    pos = np.searchsorted(keys, new_keys, side="right")
    return np.insert(keys, pos, new_keys), np.insert(rows, pos, new_rows)

