"""Near- and exact-duplicate detection for syndicated wire copy, plus a paragraph NER cache.

Pure module (numpy + pyarrow only; no Beam, Kafka or spaCy): the Beam layer fingerprints each
cleaned story, finds candidates by LSH band key, and calls :func:`assign_clusters` once per batch.
State kept in the lake across batches: the :class:`SignatureIndex` (one entry per story version),
cluster remaps and the :class:`ParagraphEntityCache`, each with an Arrow schema for state files.

Text used for dedup: the cleaned body (captions, datelines, bylines and boilerplate already removed
by :mod:`pipeline.news.clean`) in its hashing form (quotes straightened, casefolded, whitespace
collapsed), split into ``\\w+`` words, so punctuation, quote style and layout never matter.

Fingerprint: the set of word 5-shingles, a 256-value MinHash of it, 32 LSH bands of 8 rows, and a
key of the whole normalised word sequence for exact copies. Every hash is derived from blake2b with
fixed personalisation, never Python's ``hash()``, so fingerprints agree across processes, restarts
and machines (numpy integer arithmetic is defined as wraparound modulo 2**64).

MinHash family: multiply-add-shift, ``h(x) = ((a*x + b) mod 2**64) >> 32`` for 32-bit ``x`` (the
shingle hash folded to 32 bits) and random 64-bit ``a``, ``b``. It is strongly universal
(Dietzfelbinger 1996), like datasketch's ``(a*x + b) mod (2**61 - 1)``, but the modulus *is* the
uint64 wraparound, so numpy computes it exactly with no overflow handling and in ~3 array ops.

Near-duplicate rule (:func:`near_duplicate_similarity`), tuned on the fixture feed of
``tests/syndication_feed.py`` with ``bench/dedup_quality.py`` (3 seeds, ~3,500 stories):

* estimated Jaccard ``J >= NEAR_JACCARD`` (0.8); or
* containment: both texts have ``>= MIN_SHINGLES`` shingles, ``J >= CONTAINMENT_JACCARD_FLOOR``
  (0.5) and the estimated overlap covers ``>= NEAR_CONTAINMENT`` (0.75) of the smaller text
  (:func:`estimate_containment`). This accepts copies that dropped trailing paragraphs (keeping
  80 % of a story gives J ~ 0.8, half of them would fall below a plain Jaccard threshold) and copies
  with a word changed in every paragraph: each change replaces 5 shingles, so with ~30-word wire
  paragraphs J ~ 0.62-0.75 while containment stays above 0.76 (5th percentile on the feed: 99 %
  of the edited copies that are candidates verify). For texts of equal size the rule
  means J >= 0.6; the J >= 0.8 rule only documents the plain case (containment >= J always).
* Why these values: on the feed, recall is flat for NEAR_CONTAINMENT in 0.65-0.75 and drops at
  0.8 (0.951 -> 0.923 on seed 7) and 0.85 (0.80); 0.75 is the top of the plateau, furthest from
  the negatives. The floor hardly matters (0.4-0.6 give the same figures within 0.002) as LSH rarely
  proposes pairs below J 0.5; it is kept at 0.5 so a short story that quotes a long one can
  never pass on containment alone. Hardest negatives on the feed (max estimated J between
  different stories): same event by other agencies sharing official quotes 0.16, follow-ups
  reusing two to four background paragraphs 0.31, two stories filled from one template 0.43.
  Precision is 1.000 on every seed.
* Measured with the chosen constants on 3 seeds x ~1,200 stories (P / R over pairs of stories in
  one cluster): originals plus copies keeping >= 80 % of the words 1.000 / 0.995; all stories,
  including heavy cuts keeping 45-70 %, 1.000 / 0.992. Recall per copy kind: exact republication,
  dropped last or two last paragraphs and an added outlet paragraph 1.000, a word changed in
  every paragraph 0.982, that plus the last paragraph dropped 0.995, heavy cut 0.977.

LSH: the 256 values are banded as 64 bands x 4 rows, so a pair becomes a candidate with
probability 1 - (1 - J**4)**64: 0.99 from J = 0.45, 0.64 at 0.3, 0.06 at 0.15. The recommended
32 x 8 (candidates from J ~ 0.65-0.7) missed edited copies at J 0.6-0.72 (a word changed in every
paragraph replaces 5 shingles each): recall on >= 80 % copies was 0.956 (0.949 on one seed).
64 x 4 costs ~25 % more candidate pairs (1.9 per story, 90 % of them verify) and 384 more bytes
of band postings per index entry; verification decides, not the banding.

Size limits: bodies with fewer than ``MIN_SHINGLES`` (30) shingles (~34 words) get no signature
and take no part in near matching (Jaccard over a handful of shingles is noise); exact matching
needs ``MIN_EXACT_WORDS`` (20) words so that "This is a developing story." bodies never cluster
while a short republished brief still does.

Memory (``bench/dedup_quality.py``): SignatureIndex ~162 MiB per 100k entries (1 KiB signature,
384 B of band postings, ids); ParagraphEntityCache ~72 MiB per 100k stories (~2M paragraphs),
where a dict of tuples would take ~540 MiB.
"""
from __future__ import annotations

import bisect
import hashlib
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Iterable, Optional, Sequence

import numpy as np
import pyarrow as pa

from pipeline.news.text import QUOTES_ONLY, hashing_form

__all__ = [
    "BANDS",
    "EXACT",
    "NEAR",
    "ORIGINAL",
    "CLUSTER_REMAPS_SCHEMA",
    "CONTAINMENT_JACCARD_FLOOR",
    "MIN_EXACT_WORDS",
    "MIN_SHINGLES",
    "NEAR_CONTAINMENT",
    "NEAR_JACCARD",
    "NO_FIRST_CREATED",
    "NUM_PERM",
    "PARAGRAPH_CACHE_SCHEMA",
    "ROWS_PER_BAND",
    "SHINGLE_WORDS",
    "SIGNATURE_INDEX_SCHEMA",
    "Assignment",
    "BatchMember",
    "Fingerprint",
    "IndexEntry",
    "ParagraphEntityCache",
    "SignatureIndex",
    "assign_clusters",
    "band_keys",
    "body_key",
    "candidate_pairs_for_band",
    "dedup_tokens",
    "estimate_containment",
    "estimate_jaccard",
    "find_candidates",
    "fingerprint",
    "index_delta_table",
    "is_exact_duplicate",
    "minhash_signature",
    "near_duplicate_similarity",
    "paragraph_cache_delta_table",
    "paragraph_key",
    "remaps_table",
    "replace_cluster",
    "shingle_hashes",
]

# ---------------------------------------------------------------------------
# Constants
# ---------------------------------------------------------------------------

NUM_PERM = 256
SHINGLE_WORDS = 5
BANDS = 64
ROWS_PER_BAND = 4
assert BANDS * ROWS_PER_BAND == NUM_PERM

NEAR_JACCARD = 0.8
NEAR_CONTAINMENT = 0.75
CONTAINMENT_JACCARD_FLOOR = 0.5
MIN_SHINGLES = 30
MIN_EXACT_WORDS = 20

# Rank of stories without first_created: after every dated story, ties broken by story_id.
NO_FIRST_CREATED = 2**62

ORIGINAL = "original"
EXACT = "exact"
NEAR = "near"
_KIND_CODES = {ORIGINAL: 0, EXACT: 1, NEAR: 2}
_KIND_NAMES = (ORIGINAL, EXACT, NEAR)

_MAX_SIG = np.uint32(0xFFFFFFFF)
_WORD = re.compile(r"\w+")


# ---------------------------------------------------------------------------
# Stable hashing helpers
# ---------------------------------------------------------------------------


def _stable64(data: bytes, person: bytes) -> int:
    """Unsigned 64-bit blake2b of ``data`` under a personalisation (domain separation)."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=8, person=person).digest(), "little")


def _params(name: str, count: int) -> np.ndarray:
    """``count`` fixed pseudo-random uint64 values derived from ``name`` (same on every machine)."""
    return np.array(
        [_stable64(f"{name}/{i}".encode(), b"newswire-param") for i in range(count)], dtype=np.uint64
    )


_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S32 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(32)
_LOW32 = np.uint64(0xFFFFFFFF)


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on a uint64 array: a bijection with full avalanche."""
    x = x ^ (x >> _S30)
    x = x * _M1
    x = x ^ (x >> _S27)
    x = x * _M2
    return x ^ (x >> _S31)


_SHINGLE_SEED = _params("shingle-seed", 1)
_MINHASH_A = _params("minhash-a", NUM_PERM)
_MINHASH_B = _params("minhash-b", NUM_PERM)
_BAND_SEEDS = _mix64(_params("band-seed", BANDS))
_MINHASH_BLOCK = 2048  # shingles per block: bounds the (NUM_PERM x block) temporary to 4 MB

_TOKEN_CACHE: dict[str, int] = {}
_TOKEN_CACHE_LIMIT = 100_000  # ~15 MB; cleared when full (news vocabulary repeats, names churn)


def _token_hashes(tokens: Sequence[str]) -> np.ndarray:
    """Stable 64-bit hash per token; each distinct token is hashed once."""
    cache = _TOKEN_CACHE
    if len(cache) > _TOKEN_CACHE_LIMIT:
        cache.clear()
    hashes = list(map(cache.get, tokens))
    if None in hashes:  # only tokens never seen before are hashed
        for i, h in enumerate(hashes):
            if h is None:
                tok = tokens[i]
                h = cache.get(tok)
                if h is None:
                    h = cache[tok] = _stable64(tok.encode("utf-8"), b"newswire-token")
                hashes[i] = h
    return np.array(hashes, dtype=np.uint64)


# ---------------------------------------------------------------------------
# Fingerprint primitives
# ---------------------------------------------------------------------------


def dedup_tokens(body_text: str) -> list[str]:
    """Words of a cleaned (display-normalised) body in hashing form: punctuation, quote style, case and
    layout never count."""
    if not body_text:
        return []
    return _WORD.findall(hashing_form(body_text))


def shingle_hashes(tokens: Sequence[str]) -> np.ndarray:
    """Sorted unique uint64 hashes of the word ``SHINGLE_WORDS``-shingles.

    A text shorter than a shingle is one shingle of all its words; no words, no shingles. Each
    shingle hash chains the token hashes through splitmix64, so word order matters.
    """
    n = len(tokens)
    if n == 0:
        return np.empty(0, dtype=np.uint64)
    t = _token_hashes(tokens)
    width = min(SHINGLE_WORDS, n)
    m = n - width + 1
    h = np.repeat(_SHINGLE_SEED, m)
    for k in range(width):
        h = _mix64(h ^ t[k : k + m])
    return np.unique(h)


def minhash_signature(shingles: np.ndarray) -> np.ndarray:
    """uint32[NUM_PERM] MinHash: per permutation the min of ``((a*x + b) mod 2**64) >> 32``.

    ``x`` is the shingle hash folded to 32 bits. Empty input gives the all-max signature (callers
    skip it: see :func:`fingerprint`).
    """
    shingles = np.asarray(shingles, dtype=np.uint64)
    if shingles.size == 0:
        return np.full(NUM_PERM, _MAX_SIG, dtype=np.uint32)
    x = (shingles ^ (shingles >> _S32)) & _LOW32
    sig = np.full(NUM_PERM, np.uint64(0xFFFFFFFFFFFFFFFF), dtype=np.uint64)
    for start in range(0, x.size, _MINHASH_BLOCK):
        t = np.multiply.outer(x[start : start + _MINHASH_BLOCK], _MINHASH_A)  # (block, NUM_PERM)
        t += _MINHASH_B  # in place: wraps modulo 2**64, which is the hash's own modulus
        np.minimum(sig, t.min(axis=0), out=sig)
    return (sig >> _S32).astype(np.uint32)  # the shift is monotone, so it commutes with min


def band_keys(signature: np.ndarray) -> np.ndarray:
    """uint64[BANDS] LSH keys, one per band of ROWS_PER_BAND values, seeded by the band index.

    Also accepts a (k, NUM_PERM) matrix and returns (k, BANDS). Equal rows in different bands give
    different keys, so all bands can share one lookup table.
    """
    sig = np.asarray(signature)
    rows = sig.reshape(sig.shape[:-1] + (BANDS, ROWS_PER_BAND)).astype(np.uint64)
    h = np.broadcast_to(_BAND_SEEDS, rows.shape[:-1])
    for r in range(ROWS_PER_BAND):
        h = _mix64(h ^ rows[..., r])
    return np.ascontiguousarray(h)


def body_key(tokens: Sequence[str]) -> int:
    """Unsigned 64-bit key of the normalised word sequence (exact copies share it)."""
    return _stable64(" ".join(tokens).encode("utf-8"), b"newswire-body")


def _array_eq(a: Optional[np.ndarray], b: Optional[np.ndarray]) -> bool:
    if a is None or b is None:
        return a is b
    return bool(np.array_equal(a, b))


@dataclass(frozen=True, eq=False)
class Fingerprint:
    """What dedup keeps of a body. ``signature``/``bands`` are None when it is too short to compare."""

    body_key: int
    n_words: int
    n_shingles: int
    signature: Optional[np.ndarray]
    bands: Optional[np.ndarray]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Fingerprint):
            return NotImplemented
        return (
            (self.body_key, self.n_words, self.n_shingles) == (other.body_key, other.n_words, other.n_shingles)
            and _array_eq(self.signature, other.signature)
            and _array_eq(self.bands, other.bands)
        )

    def __hash__(self) -> int:
        return hash((self.body_key, self.n_words, self.n_shingles))


def fingerprint(body_text: Optional[str]) -> Fingerprint:
    """Fingerprint of a cleaned body (``Article.body_text``); None/empty bodies get an empty one."""
    tokens = dedup_tokens(body_text or "")
    shingles = shingle_hashes(tokens)
    if shingles.size >= MIN_SHINGLES:
        sig = minhash_signature(shingles)
        bands = band_keys(sig)
    else:
        sig = bands = None
    return Fingerprint(body_key(tokens), len(tokens), int(shingles.size), sig, bands)


def estimate_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """Fraction of equal MinHash positions: an unbiased estimate of the shingle-set Jaccard."""
    return float(np.count_nonzero(np.asarray(sig_a) == np.asarray(sig_b))) / NUM_PERM


def estimate_containment(jaccard: float, n_a: int, n_b: int) -> float:
    """Estimated overlap over the smaller set's size: |A∩B| = J (|A| + |B|) / (1 + J)."""
    smaller = min(n_a, n_b)
    if smaller <= 0 or jaccard <= 0.0:
        return 0.0
    return min(1.0, jaccard * (n_a + n_b) / ((1.0 + jaccard) * smaller))


def _near_similarity(sig_a: np.ndarray, n_a: int, sig_b: np.ndarray, n_b: int) -> Optional[float]:
    j = estimate_jaccard(sig_a, sig_b)
    if j >= NEAR_JACCARD:
        return j
    if (
        j >= CONTAINMENT_JACCARD_FLOOR
        and min(n_a, n_b) >= MIN_SHINGLES
        and estimate_containment(j, n_a, n_b) >= NEAR_CONTAINMENT
    ):
        return j
    return None


def near_duplicate_similarity(fp_a: Fingerprint, fp_b: Fingerprint) -> Optional[float]:
    """Estimated Jaccard of a near-duplicate pair, None when the pair is not one.

    The value is always the Jaccard estimate, also for pairs accepted through containment (a
    truncated copy), so it can be below ``NEAR_JACCARD``.
    """
    if fp_a.signature is None or fp_b.signature is None:
        return None
    return _near_similarity(fp_a.signature, fp_a.n_shingles, fp_b.signature, fp_b.n_shingles)


def is_exact_duplicate(fp_a: Fingerprint, fp_b: Fingerprint) -> bool:
    """Same normalised words, and long enough that the match is not a stock phrase."""
    return fp_a.body_key == fp_b.body_key and min(fp_a.n_words, fp_b.n_words) >= MIN_EXACT_WORDS


# ---------------------------------------------------------------------------
# Signature index
# ---------------------------------------------------------------------------


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

CLUSTER_REMAPS_SCHEMA = pa.schema(
    [
        pa.field("cluster_from", pa.string(), nullable=False),
        pa.field("cluster_to", pa.string(), nullable=False),
        pa.field("cluster_rank", pa.int64(), nullable=False),
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


def remaps_table(remaps: Iterable[tuple[str, str, int]], batch_id: int) -> pa.Table:
    """A batch's cluster remaps (from, to, new rank) as a state delta, sorted by cluster_from."""
    rows = sorted(set(remaps))
    return pa.table(
        {
            "cluster_from": pa.array([r[0] for r in rows], pa.string()),
            "cluster_to": pa.array([r[1] for r in rows], pa.string()),
            "cluster_rank": pa.array([r[2] for r in rows], pa.int64()),
            "batch_id": pa.array([batch_id] * len(rows), pa.int64()),
        },
        schema=CLUSTER_REMAPS_SCHEMA,
    )


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
            keys = band_keys(self._sig[with_sig]).ravel()
            self._band_keys, self._band_rows = _merge_postings(
                self._band_keys, self._band_rows, keys, np.repeat(with_sig, BANDS)
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

    def apply_remaps_table(self, table: pa.Table) -> None:
        """Fold a CLUSTER_REMAPS_SCHEMA table (rows in order; see :meth:`apply_remaps`)."""
        self.apply_remaps(
            zip(
                table.column("cluster_from").to_pylist(),
                table.column("cluster_to").to_pylist(),
                table.column("cluster_rank").to_pylist(),
            )
        )

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


# ---------------------------------------------------------------------------
# Cluster assignment
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchMember:
    """A story version of the current batch to be clustered."""

    story_id: str
    version: int
    first_created_us: Optional[int]
    fingerprint: Fingerprint


@dataclass(frozen=True)
class Assignment:
    """Where a story version landed. ``dup_kind``/``duplicate_of``/``similarity`` describe its arrival match."""

    cluster_id: str
    duplicate_of: Optional[str]
    dup_kind: str  # 'original' | 'exact' | 'near'
    similarity: Optional[float]
    cluster_rank: int


def candidate_pairs_for_band(members: Sequence[int], index_hits: Sequence[int]) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Pairs implied by one band-key (or body-key) group: (member, member) with i < j, and (member, entry)."""
    ms = sorted(set(members))
    hits = sorted(set(index_hits))
    pairs = [(ms[a], ms[b]) for a in range(len(ms)) for b in range(a + 1, len(ms))]
    return pairs, [(m, e) for m in ms for e in hits]


def find_candidates(members: Sequence[BatchMember], index: SignatureIndex) -> tuple[set[tuple[int, int]], set[tuple[int, int]]]:
    """Reference candidate search: what the Beam layer's GroupByKey on band/body keys computes.

    Members with one body key stand for each other in :func:`assign_clusters`, so only the first
    member of each body class is paired. Returns (pairs of those sharing a band or body key,
    (member, entry) pairs sharing one with the index); body keys count from MIN_EXACT_WORDS words.
    """
    first_of_class: dict[int, int] = {}
    for i, m in enumerate(members):
        first_of_class.setdefault(m.fingerprint.body_key, i)
    by_key: dict[tuple[str, int], list[int]] = defaultdict(list)
    index_pairs: set[tuple[int, int]] = set()
    for i in sorted(first_of_class.values()):
        fp = members[i].fingerprint
        if fp.bands is not None:
            for b in fp.bands.tolist():
                by_key[("b", b)].append(i)
            index_pairs.update((i, e) for e in index.candidates(fp.bands))
        if fp.n_words >= MIN_EXACT_WORDS:
            by_key[("x", fp.body_key)].append(i)
            index_pairs.update((i, e) for e in index.exact_matches(fp.body_key))
    pairs: set[tuple[int, int]] = set()
    for group in by_key.values():
        if len(group) > 1:
            pairs.update(candidate_pairs_for_band(group, [])[0])
    return pairs, index_pairs


def _rank_of(first_created_us: Optional[int]) -> int:
    return NO_FIRST_CREATED if first_created_us is None else int(first_created_us)


def _verify(fa: Fingerprint, body_b: int, words_b: int, shingles_b: int, sig_b: Optional[np.ndarray]) -> Optional[tuple[str, float]]:
    """(kind, similarity) if the pair is an exact or near duplicate."""
    if fa.body_key == body_b and min(fa.n_words, words_b) >= MIN_EXACT_WORDS:
        return EXACT, 1.0
    if fa.signature is None or sig_b is None:
        return None
    sim = _near_similarity(fa.signature, fa.n_shingles, sig_b, shingles_b)
    return None if sim is None else (NEAR, sim)


def assign_clusters(
    members: Sequence[BatchMember],
    index: SignatureIndex,
    candidate_pairs: Iterable[tuple[int, int]],
    index_candidates: Iterable[tuple[int, int]],
    *,
    fallback_created_us: Optional[int] = None,
) -> tuple[dict[tuple[str, int], Assignment], list[tuple[str, str, int]], list[IndexEntry]]:
    """Cluster one batch against the index; returns (assignments, remaps, new index entries).

    Rules:

    1. Members are processed stories first in (earliest first_created of the story's members,
       story_id), then by version; stories without first_created rank NO_FIRST_CREATED. The
       result depends on nothing else: any permutation of ``members`` or of the candidate lists
       (with indices permuted alike) gives the same output.
    2. A version of a story already in the index, or processed earlier in the batch, stays in that
       story's cluster and inherits dup_kind/duplicate_of/similarity from the story's latest
       version (index versions first). Versions never leave their story's cluster, but the matches
       they verify (as in rule 3) merge those clusters into it (rule 4): a "Developing story."
       flash whose full text arrives as version 2 after copies of that text joins the copies.
    3. Any other member verifies its candidates: index entries and batch members whose cluster is
       already known (processed earlier, or versions of indexed stories); pairs of one story are
       skipped. A pair is exact when the body keys are equal and both bodies have
       MIN_EXACT_WORDS words, else near when :func:`near_duplicate_similarity` accepts it. The
       best match is exact over near, then higher similarity, then the match's earliest
       first_created, then story_id, then version. The member joins that match's cluster with
       ``duplicate_of`` = its story_id. Members with one body key have one fingerprint: they are
       candidates of each other whether listed or not and share their candidates, so one listed
       member per body is enough (what ``find_candidates`` and the Beam layer list).
    4. Clustering is transitive: every cluster the member verified a match in is merged with the
       one it joins. A cluster's id is the story_id of its earliest member (min (rank, story_id)
       over members and the merged clusters' ranks), also when an earlier original arrives after
       its copy; dup_kind still records the arrival match.
    5. A member with no verified match is the ``original`` of a new cluster named after itself,
       rank = its first_created_us.
    6. Remaps (old cluster_id, new cluster_id, new rank) are returned, flattened, for every indexed
       cluster whose id or rank changed; new entries already carry final ids, so remaps and the
       entry delta can be applied to an index in either order.

    ``fallback_created_us`` is the expiry time of entries for members without first_created
    (pass the batch's planned time); without it they never expire. Entry indices in
    ``index_candidates`` are positions in this very ``index`` object (see ``SignatureIndex.find``).
    """
    n = len(members)
    ranks = [_rank_of(m.first_created_us) for m in members]
    story_rank: dict[str, int] = {}
    for m, r in zip(members, ranks):
        story_rank[m.story_id] = min(story_rank.get(m.story_id, r), r)

    def order_key(i: int) -> tuple:
        m = members[i]
        fp = m.fingerprint
        return (story_rank[m.story_id], m.story_id, m.version, ranks[i], fp.body_key, fp.n_words, fp.n_shingles)

    order = sorted(range(n), key=order_key)

    # Members with one body key have one fingerprint, so they are matched as a class: a copy sent
    # by a thousand outlets costs a thousand lookups, not half a million pair checks. A class's
    # candidates are those of any of its members, and its members are candidates of each other.
    body_class = [m.fingerprint.body_key for m in members]
    class_fp = {c: members[i].fingerprint for i, c in enumerate(body_class)}
    class_nbrs: dict[int, set[int]] = defaultdict(set)
    for i, j in candidate_pairs:
        ci, cj = body_class[i], body_class[j]
        if ci != cj:
            class_nbrs[ci].add(cj)
            class_nbrs[cj].add(ci)
    class_index_nbrs: dict[int, set[int]] = defaultdict(set)
    for i, e in index_candidates:
        class_index_nbrs[body_class[i]].add(e)
    verified: dict[tuple[int, int], Optional[tuple[str, float]]] = {}  # (class, class or indexed body)

    def verify_classes(a: int, b: int) -> Optional[tuple[str, float]]:
        if (a, b) not in verified:
            other = class_fp[b]
            verified[(a, b)] = _verify(class_fp[a], other.body_key, other.n_words, other.n_shingles, other.signature)
        return verified[(a, b)]

    def verify_entry(a: int, e: int) -> Optional[tuple[str, float]]:
        """Class ``a`` against index entry ``e``: alike for every entry of ``e``'s body."""
        body = int(index._body_key[e])
        if (a, body) not in verified:
            verified[(a, body)] = _verify(class_fp[a], body, int(index._n_words[e]),
                                          int(index._n_shingles[e]), index._signature_of(e))
        return verified[(a, body)]

    # Per class, its members whose cluster is known, by (rank, story_id, version): they all verify
    # alike, so a class's best match for a member is its first one from another story.
    known: dict[int, list[tuple[int, str, int, int]]] = defaultdict(list)

    def mark_known(i: int) -> None:
        m = members[i]
        bisect.insort(known[body_class[i]], (ranks[i], m.story_id, m.version, i))

    def best_known(c: int, story_id: str) -> Optional[int]:
        return next((j for _r, sid, _v, j in known.get(c, ()) if sid != story_id), None)

    # Union-find over cluster ids; each root carries the (rank, id) of its earliest member.
    parent: dict[str, str] = {}
    best: dict[str, tuple[int, str]] = {}
    from_index: dict[str, int] = {}  # indexed cluster id -> its stored rank

    def find(x: str) -> str:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def node(cid: str, label: tuple[int, str]) -> str:
        if cid not in parent:
            parent[cid] = cid
            best[cid] = label
        else:
            root = find(cid)
            best[root] = min(best[root], label)
        return cid

    def indexed_cluster(cid: str, rank: int) -> str:
        from_index[cid] = min(from_index.get(cid, rank), rank)
        return node(cid, (rank, cid))

    def index_node(row: int) -> str:
        return indexed_cluster(index._cluster_ids[row], int(index._rank[row]))

    # Index candidates of a class, grouped by body key (entries of one body verify alike): per
    # group its entries by (first_created, story_id, version) and its (cluster, rank)s by story.
    index_groups: dict[int, tuple[list[tuple[int, str, int, int]], dict[tuple[str, int], set[str]]]] = {}
    class_index_groups: dict[int, list[int]] = {}
    for c, entries_of_class in class_index_nbrs.items():
        bodies = set()
        for e in entries_of_class:
            body = int(index._body_key[e])
            bodies.add(body)
            if body not in index_groups:
                index_groups[body] = ([], defaultdict(set))
            ordered_entries, clusters = index_groups[body]
            sid = index._story_ids[e]
            ordered_entries.append((int(index._created[e]), sid, int(index._version[e]), e))
            clusters[(index._cluster_ids[e], int(index._rank[e]))].add(sid)
        class_index_groups[c] = sorted(bodies)
    for ordered_entries, _clusters in index_groups.values():
        ordered_entries[:] = sorted(set(ordered_entries))  # an entry may be a candidate of several classes

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[rb] = ra
            best[ra] = min(best[ra], best[rb])

    member_node: dict[int, str] = {}
    dup: dict[int, tuple[str, Optional[str], Optional[float]]] = {}
    latest_in_batch: dict[str, int] = {}

    # Rule 2 for stories already indexed: their cluster is known before anything is matched.
    for i in order:
        m = members[i]
        row = index.latest_entry(m.story_id)
        if row is None:
            continue
        member_node[i] = index_node(row)
        node(member_node[i], (ranks[i], m.story_id))
        sim = float(index._sim[row])
        dup[i] = (_KIND_NAMES[int(index._kind[row])], index._duplicate_of[row], None if np.isnan(sim) else sim)
        mark_known(i)

    for i in order:
        m = members[i]
        prev = latest_in_batch.get(m.story_id)
        if i not in member_node and prev is not None:  # rule 2, story seen earlier in this batch
            member_node[i] = member_node[prev]
            node(member_node[i], (ranks[i], m.story_id))
            dup[i] = dup[prev]
            mark_known(i)
        latest_in_batch[m.story_id] = i
        matches: list[tuple[tuple, str, str]] = []  # (sort key, cluster node, matched story_id)
        c = body_class[i]
        merged: list[str] = []  # further clusters the member verified a match in (rule 4)
        for body in class_index_groups.get(c, ()):
            ordered_entries, clusters = index_groups[body]
            e = next((e for _c, sid, _v, e in ordered_entries if sid != m.story_id), None)
            if e is None:
                continue
            got = verify_entry(c, e)
            if got is not None:
                sid = index._story_ids[e]
                key = (got[0] != EXACT, -got[1], int(index._created[e]), sid, int(index._version[e]), got)
                matches.append((key, index_node(e), sid))
                merged += [indexed_cluster(cid, rank) for (cid, rank), stories in clusters.items()
                           if stories != {m.story_id}]
        for d in sorted((c, *class_nbrs.get(c, ()))):
            j = best_known(d, m.story_id)
            if j is None:
                continue  # no member with a known cluster yet: they will look at this member
            got = verify_classes(c, d)
            if got is not None:
                sid = members[j].story_id
                key = (got[0] != EXACT, -got[1], ranks[j], sid, members[j].version, got)
                matches.append((key, member_node[j], sid))
        if i in member_node:  # a version: its matches merge clusters, it keeps its own
            for other_node in [n for _, n, _ in matches] + merged:
                union(member_node[i], other_node)
            continue
        if not matches:  # rule 5
            member_node[i] = node(m.story_id, (ranks[i], m.story_id))
            dup[i] = (ORIGINAL, None, None)
            mark_known(i)
            continue
        matches.sort(key=lambda t: t[0])
        key, target, match_sid = matches[0]
        kind, sim = key[-1]
        member_node[i] = target
        node(target, (ranks[i], m.story_id))
        for other_node in [n for _, n, _ in matches[1:]] + merged:
            union(target, other_node)
        dup[i] = (kind, match_sid, sim)
        mark_known(i)

    def label(cid: str) -> tuple[int, str]:
        return best[find(cid)]

    remaps = []
    for cid, old_rank in sorted(from_index.items()):
        rank, new_id = label(cid)
        if new_id != cid or rank != old_rank:
            remaps.append((cid, new_id, rank))

    assignments: dict[tuple[str, int], Assignment] = {}
    entries: dict[tuple[str, int], IndexEntry] = {}
    for i in order:
        m = members[i]
        key = (m.story_id, m.version)
        if key in assignments:
            continue  # a redelivered version in the same batch: the first in order stands
        rank, cid = label(member_node[i])
        kind, dup_of, sim = dup[i]
        assignments[key] = Assignment(cluster_id=cid, duplicate_of=dup_of, dup_kind=kind, similarity=sim, cluster_rank=rank)
        fp = m.fingerprint
        created = m.first_created_us
        if created is None:
            created = NO_FIRST_CREATED if fallback_created_us is None else fallback_created_us
        entries[key] = IndexEntry(
            story_id=m.story_id, version=m.version, cluster_id=cid, cluster_rank=rank,
            first_created_us=int(created), body_key=fp.body_key, n_words=fp.n_words,
            n_shingles=fp.n_shingles, signature=fp.signature, dup_kind=kind, duplicate_of=dup_of,
            similarity=sim,
        )
    return assignments, remaps, [entries[k] for k in sorted(entries)]


# ---------------------------------------------------------------------------
# Paragraph NER cache
# ---------------------------------------------------------------------------


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
