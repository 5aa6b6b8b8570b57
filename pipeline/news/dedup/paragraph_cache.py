"""The paragraph NER cache: entity mentions per display paragraph, reused when a paragraph repeats.

A new version or a syndicated copy repeats most paragraphs, so NER runs only on paragraphs not
seen in the lookback window; :data:`PARAGRAPH_CACHE_SCHEMA` is the layout of its state files.
"""
from __future__ import annotations

import sys
from typing import Iterable, Optional, Sequence

import numpy as np
import pyarrow as pa

from pipeline.news.dedup.fingerprints import _stable64
from pipeline.news.text import QUOTES_ONLY

__all__ = [
    "PARAGRAPH_CACHE_SCHEMA",
    "Mentions",
    "ParagraphEntityCache",
    "paragraph_cache_delta_table",
    "paragraph_key",
]


Mentions = tuple[tuple[int, int, str], ...]


def paragraph_key(paragraph: str) -> int:
    """Stable uint64 key of a display paragraph with quotes straightened and nothing else changed.

    The cache stores character offsets into the paragraph, so the key may only ignore differences
    that keep every character in place: each curly/angle quote maps to one straight quote (one code
    point for one). Case, whitespace and dashes count, unlike in :func:`dedup_tokens`.
    """
    return _stable64(paragraph.translate(QUOTES_ONLY).encode("utf-8"), b"newswire-para")


PARAGRAPH_CACHE_SCHEMA = pa.schema(
    [
        pa.field("paragraph_key", pa.uint64(), nullable=False),
        pa.field(
            "mentions",
            pa.list_(
                pa.struct(
                    [
                        pa.field("start", pa.int32(), nullable=False),
                        pa.field("end", pa.int32(), nullable=False),
                        pa.field("label", pa.string(), nullable=False),
                    ]
                )
            ),
            nullable=False,
        ),
        pa.field("first_created_us", pa.int64(), nullable=False),
        pa.field("batch_id", pa.int64(), nullable=False),
    ]
)


class _Block:
    """Column block of cache rows: keys, created, and ragged mentions (offsets into starts/ends/labels)."""

    __slots__ = ("keys", "created", "offsets", "starts", "ends", "labels")

    def __init__(self, keys, created, offsets, starts, ends, labels) -> None:
        self.keys = np.asarray(keys, dtype=np.uint64)
        self.created = np.asarray(created, dtype=np.int64)
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.starts = np.asarray(starts, dtype=np.int32)
        self.ends = np.asarray(ends, dtype=np.int32)
        self.labels = np.asarray(labels, dtype=np.uint8)

    @classmethod
    def empty(cls) -> "_Block":
        return cls([], [], [0], [], [], [])

    def __len__(self) -> int:
        return len(self.keys)

    def take(self, rows: np.ndarray) -> "_Block":
        """Rows in the given order, mentions gathered with them."""
        rows = np.asarray(rows, dtype=np.int64)
        lengths = self.offsets[rows + 1] - self.offsets[rows]
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        gather = np.repeat(self.offsets[rows] - offsets[:-1], lengths) + np.arange(offsets[-1])
        return _Block(self.keys[rows], self.created[rows], offsets, self.starts[gather], self.ends[gather], self.labels[gather])

    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.keys, self.created, self.offsets, self.starts, self.ends, self.labels))


def _concat_blocks(a: _Block, b: _Block) -> _Block:
    return _Block(
        np.concatenate([a.keys, b.keys]),
        np.concatenate([a.created, b.created]),
        np.concatenate([a.offsets, b.offsets[1:] + a.offsets[-1]]),
        np.concatenate([a.starts, b.starts]),
        np.concatenate([a.ends, b.ends]),
        np.concatenate([a.labels, b.labels]),
    )


def _fold(block: _Block) -> _Block:
    """Sorted by key, one row per key: the LAST row's mentions, the max first_created_us."""
    k = len(block)
    if k == 0:
        return block
    order = np.lexsort((np.arange(k), block.keys))  # by key, then position
    keys = block.keys[order]
    group_start = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    group_end = np.r_[group_start[1:], k] - 1
    out = block.take(order[group_end])
    out.created = np.maximum.reduceat(block.created[order], group_start)
    return out


class ParagraphEntityCache:
    """paragraph_key -> entity mentions (start, end, label) found in that paragraph, for reuse.

    A new version or a copy repeats most paragraphs; their NER results are looked up instead of
    recomputed. Stored as sorted numpy columns (~40 bytes per paragraph plus 9 per mention, see
    ``bench/dedup_quality.py``) instead of a dict of tuples (~10x more); recent additions sit in a
    small dict until the next compaction. A key added again keeps the newest mentions and the
    latest first_created_us, so a paragraph in daily use does not expire.
    """

    _COMPACT_AT = 50_000

    def __init__(self) -> None:
        self._main = _Block.empty()
        self._pending: dict[int, tuple[Mentions, int]] = {}
        self._label_names: list[str] = []
        self._label_codes: dict[str, int] = {}

    def _code(self, label: str) -> int:
        code = self._label_codes.get(label)
        if code is None:
            if len(self._label_names) >= 255:
                raise ValueError("ParagraphEntityCache: more than 255 distinct labels")
            code = self._label_codes[label] = len(self._label_names)
            self._label_names.append(label)
        return code

    def _lookup(self, key: int) -> Optional[int]:
        keys = self._main.keys
        pos = int(np.searchsorted(keys, np.uint64(key)))
        return pos if pos < len(keys) and int(keys[pos]) == key else None

    def _mentions_at(self, pos: int) -> Mentions:
        a, b = int(self._main.offsets[pos]), int(self._main.offsets[pos + 1])
        names = self._label_names
        return tuple(
            (s, e, names[c])
            for s, e, c in zip(self._main.starts[a:b].tolist(), self._main.ends[a:b].tolist(), self._main.labels[a:b].tolist())
        )

    def __len__(self) -> int:
        self._compact()
        return len(self._main)

    def __contains__(self, key: int) -> bool:
        return self.get(key) is not None

    def get(self, key: int) -> Optional[Mentions]:
        """The cached mentions (possibly empty) or None when the paragraph is not cached."""
        hit = self._pending.get(key)
        if hit is not None:
            return hit[0]
        pos = self._lookup(key)
        return None if pos is None else self._mentions_at(pos)

    def add(self, items: Iterable[tuple[int, Sequence[tuple[int, int, str]], int]]) -> None:
        """Cache (paragraph_key, mentions, first_created_us) items."""
        for key, mentions, created in items:
            key = int(key)
            old = self._pending.get(key)
            if old is not None:
                created = max(created, old[1])
            else:
                pos = self._lookup(key)
                if pos is not None:
                    created = max(created, int(self._main.created[pos]))
            self._pending[key] = (tuple((int(s), int(e), str(lab)) for s, e, lab in mentions), int(created))
        if len(self._pending) >= self._COMPACT_AT:
            self._compact()

    def _pending_block(self) -> _Block:
        keys = sorted(self._pending)
        created, offsets, starts, ends, labels = [], [0], [], [], []
        for k in keys:
            mentions, c = self._pending[k]
            created.append(c)
            for s, e, lab in mentions:
                starts.append(s)
                ends.append(e)
                labels.append(self._code(lab))
            offsets.append(len(starts))
        return _Block(keys, created, offsets, starts, ends, labels)

    def _compact(self) -> None:
        if not self._pending:
            return
        self._main = _fold(_concat_blocks(self._main, self._pending_block()))
        self._pending.clear()

    def expire(self, before_us: int) -> int:
        """Drop paragraphs whose first_created_us < before_us; returns how many."""
        self._compact()
        keep = self._main.created >= before_us
        dropped = int(len(keep) - np.count_nonzero(keep))
        if dropped:
            self._main = self._main.take(np.flatnonzero(keep))
        return dropped

    def apply_table(self, table: pa.Table) -> None:
        """Fold a delta or snapshot: later rows for a key replace its mentions; first_created_us is the max."""
        self._compact()
        if table.num_rows == 0:
            return
        mentions = table.column("mentions").combine_chunks()
        offsets = mentions.offsets.to_numpy().astype(np.int64)
        flat = mentions.flatten()  # values between the first and last offset
        offsets = offsets - offsets[0]
        label_col = flat.field("label")
        labels = np.array([self._code(s) for s in label_col.to_pylist()], dtype=np.uint8)
        block = _Block(
            table.column("paragraph_key").to_numpy(),
            table.column("first_created_us").to_numpy(),
            offsets,
            flat.field("start").to_numpy(zero_copy_only=False),
            flat.field("end").to_numpy(zero_copy_only=False),
            labels,
        )
        self._main = _fold(_concat_blocks(self._main, block))

    def to_table(self, batch_id: int) -> pa.Table:
        """The whole cache as a snapshot table, sorted by paragraph_key."""
        self._compact()
        return _cache_table(self._main, self._label_names, batch_id)

    def memory_bytes(self) -> int:
        """Bytes of the numpy columns plus a per-item estimate for not yet compacted additions."""
        pending = sys.getsizeof(self._pending)
        for mentions, _ in self._pending.values():
            pending += 28 + 28 + 64 + sys.getsizeof(mentions) + len(mentions) * (64 + 2 * 28)
        return self._main.nbytes() + pending


def _cache_table(block: _Block, label_names: Sequence[str], batch_id: int) -> pa.Table:
    k = len(block)
    labels = pa.DictionaryArray.from_arrays(
        pa.array(block.labels.astype(np.int32)), pa.array(list(label_names), pa.string())
    ).cast(pa.string())
    struct = pa.StructArray.from_arrays(
        [pa.array(block.starts, pa.int32()), pa.array(block.ends, pa.int32()), labels],
        fields=list(PARAGRAPH_CACHE_SCHEMA.field("mentions").type.value_type),
    )
    mentions = pa.ListArray.from_arrays(pa.array(block.offsets.astype(np.int32)), struct)
    return pa.table(
        {
            "paragraph_key": pa.array(block.keys, pa.uint64()),
            "mentions": mentions.cast(PARAGRAPH_CACHE_SCHEMA.field("mentions").type),
            "first_created_us": pa.array(block.created, pa.int64()),
            "batch_id": pa.array(np.full(k, batch_id, dtype=np.int64)),
        },
        schema=PARAGRAPH_CACHE_SCHEMA,
    )


def paragraph_cache_delta_table(items: Iterable[tuple[int, Sequence[tuple[int, int, str]], int]], batch_id: int) -> pa.Table:
    """A batch's new cache items, one row per key, sorted by key, whatever order they came in.

    Two items for one key (a paragraph NER'd twice in a batch) fold deterministically: the
    smallest mentions tuple and the latest first_created_us.
    """
    merged: dict[int, tuple[Mentions, int]] = {}
    for key, mentions, created in items:
        key = int(key)
        m = tuple((int(s), int(e), str(lab)) for s, e, lab in mentions)
        old = merged.get(key)
        if old is not None:
            m = min(m, old[0])
            created = max(int(created), old[1])
        merged[key] = (m, int(created))
    cache = ParagraphEntityCache()
    cache._pending = merged
    cache._compact()
    return _cache_table(cache._main, cache._label_names, batch_id)
