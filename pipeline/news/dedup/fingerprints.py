"""Fingerprints of cleaned bodies: constants, stable hashes, MinHash, LSH band keys and the near/exact rules.

Everything here is a pure function of the text (see the package docstring for why each constant
has its value); the index, the clustering and the paragraph cache build on these primitives.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from pipeline.news.text import hashing_form

__all__ = [
    "BANDS",
    "CONTAINMENT_JACCARD_FLOOR",
    "EXACT",
    "MIN_EXACT_WORDS",
    "MIN_SHINGLES",
    "NEAR",
    "NEAR_CONTAINMENT",
    "NEAR_JACCARD",
    "NO_FIRST_CREATED",
    "NUM_PERM",
    "ORIGINAL",
    "ROWS_PER_BAND",
    "SHINGLE_WORDS",
    "Fingerprint",
    "band_keys",
    "body_key",
    "dedup_tokens",
    "estimate_containment",
    "estimate_jaccard",
    "fingerprint",
    "is_exact_duplicate",
    "minhash_signature",
    "near_duplicate_similarity",
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
