"""Cluster assignment: one batch of fingerprinted story versions against the signature index.

:func:`find_candidates` is the reference for the candidate pairs the Beam layer's GroupByKey
computes; :func:`assign_clusters` verifies them and returns assignments, remaps and index entries.
"""
from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

import numpy as np

from pipeline.news.dedup.fingerprints import (
    _KIND_NAMES,
    EXACT,
    MIN_EXACT_WORDS,
    NEAR,
    NO_FIRST_CREATED,
    ORIGINAL,
    Fingerprint,
    _near_similarity,
)
from pipeline.news.dedup.signature_index import IndexEntry, SignatureIndex

__all__ = [
    "Assignment",
    "BatchMember",
    "assign_clusters",
    "candidate_pairs_for_band",
    "find_candidates",
]


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
    return _ClusterAssignment(members, index, candidate_pairs, index_candidates, fallback_created_us).run()


_Verdict = Optional[tuple[str, float]]  # (kind, similarity) of a verified pair, None if not a duplicate
_Match = tuple[tuple, str, str]  # (sort key, cluster node, matched story_id)


class _ClusterAssignment:
    """The per-call state of :func:`assign_clusters`, one method per step of its rules.

    Members with one body key have one fingerprint, so they are matched as a class: a copy sent
    by a thousand outlets costs a thousand lookups, not half a million pair checks. A class's
    candidates are those of any of its members, and its members are candidates of each other.
    Cluster ids are joined in a union-find whose roots carry the (rank, id) of their earliest member.
    """

    def __init__(
        self,
        members: Sequence[BatchMember],
        index: SignatureIndex,
        candidate_pairs: Iterable[tuple[int, int]],
        index_candidates: Iterable[tuple[int, int]],
        fallback_created_us: Optional[int],
    ) -> None:
        self.members = members
        self.index = index
        self.fallback_created_us = fallback_created_us
        self.ranks = [_rank_of(m.first_created_us) for m in members]
        self.story_rank: dict[str, int] = {}
        for m, r in zip(members, self.ranks):
            self.story_rank[m.story_id] = min(self.story_rank.get(m.story_id, r), r)
        self.order = sorted(range(len(members)), key=self._order_key)

        self.body_class = [m.fingerprint.body_key for m in members]
        self.class_fp = {c: members[i].fingerprint for i, c in enumerate(self.body_class)}
        self.class_nbrs: dict[int, set[int]] = defaultdict(set)
        for i, j in candidate_pairs:
            ci, cj = self.body_class[i], self.body_class[j]
            if ci != cj:
                self.class_nbrs[ci].add(cj)
                self.class_nbrs[cj].add(ci)
        class_index_nbrs: dict[int, set[int]] = defaultdict(set)
        for i, e in index_candidates:
            class_index_nbrs[self.body_class[i]].add(e)
        self.verified: dict[tuple[int, int], _Verdict] = {}  # (class, class or indexed body)

        # Per class, its members whose cluster is known, by (rank, story_id, version): they all verify
        # alike, so a class's best match for a member is its first one from another story.
        self.known: dict[int, list[tuple[int, str, int, int]]] = defaultdict(list)

        self.parent: dict[str, str] = {}
        self.best: dict[str, tuple[int, str]] = {}
        self.from_index: dict[str, int] = {}  # indexed cluster id -> its stored rank

        self._group_index_candidates(class_index_nbrs)

        self.member_node: dict[int, str] = {}
        self.dup: dict[int, tuple[str, Optional[str], Optional[float]]] = {}
        self.latest_in_batch: dict[str, int] = {}

    def _order_key(self, i: int) -> tuple:
        m = self.members[i]
        fp = m.fingerprint
        return (self.story_rank[m.story_id], m.story_id, m.version, self.ranks[i], fp.body_key, fp.n_words, fp.n_shingles)

    def _group_index_candidates(self, class_index_nbrs: dict[int, set[int]]) -> None:
        """Index candidates of a class, grouped by body key (entries of one body verify alike): per
        group its entries by (first_created, story_id, version) and its (cluster, rank)s by story."""
        index = self.index
        self.index_groups: dict[int, tuple[list[tuple[int, str, int, int]], dict[tuple[str, int], set[str]]]] = {}
        self.class_index_groups: dict[int, list[int]] = {}
        for c, entries_of_class in class_index_nbrs.items():
            bodies = set()
            for e in entries_of_class:
                body = int(index._body_key[e])
                bodies.add(body)
                if body not in self.index_groups:
                    self.index_groups[body] = ([], defaultdict(set))
                ordered_entries, clusters = self.index_groups[body]
                sid = index._story_ids[e]
                ordered_entries.append((int(index._created[e]), sid, int(index._version[e]), e))
                clusters[(index._cluster_ids[e], int(index._rank[e]))].add(sid)
            self.class_index_groups[c] = sorted(bodies)
        for ordered_entries, _clusters in self.index_groups.values():
            ordered_entries[:] = sorted(set(ordered_entries))  # an entry may be a candidate of several classes

    # -- verification (memoised per class pair / class and indexed body) --------

    def _verify_classes(self, a: int, b: int) -> _Verdict:
        if (a, b) not in self.verified:
            other = self.class_fp[b]
            self.verified[(a, b)] = _verify(self.class_fp[a], other.body_key, other.n_words, other.n_shingles, other.signature)
        return self.verified[(a, b)]

    def _verify_entry(self, a: int, e: int) -> _Verdict:
        """Class ``a`` against index entry ``e``: alike for every entry of ``e``'s body."""
        index = self.index
        body = int(index._body_key[e])
        if (a, body) not in self.verified:
            self.verified[(a, body)] = _verify(self.class_fp[a], body, int(index._n_words[e]),
                                               int(index._n_shingles[e]), index._signature_of(e))
        return self.verified[(a, body)]

    def _mark_known(self, i: int) -> None:
        m = self.members[i]
        bisect.insort(self.known[self.body_class[i]], (self.ranks[i], m.story_id, m.version, i))

    def _best_known(self, c: int, story_id: str) -> Optional[int]:
        return next((j for _r, sid, _v, j in self.known.get(c, ()) if sid != story_id), None)

    # -- union-find over cluster ids ---------------------------------------------

    def _find(self, x: str) -> str:
        parent = self.parent
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def _node(self, cid: str, label: tuple[int, str]) -> str:
        if cid not in self.parent:
            self.parent[cid] = cid
            self.best[cid] = label
        else:
            root = self._find(cid)
            self.best[root] = min(self.best[root], label)
        return cid

    def _indexed_cluster(self, cid: str, rank: int) -> str:
        self.from_index[cid] = min(self.from_index.get(cid, rank), rank)
        return self._node(cid, (rank, cid))

    def _index_node(self, row: int) -> str:
        return self._indexed_cluster(self.index._cluster_ids[row], int(self.index._rank[row]))

    def _union(self, a: str, b: str) -> None:
        ra, rb = self._find(a), self._find(b)
        if ra != rb:
            self.parent[rb] = ra
            self.best[ra] = min(self.best[ra], self.best[rb])

    def _label(self, cid: str) -> tuple[int, str]:
        return self.best[self._find(cid)]

    # -- the rules -----------------------------------------------------------------

    def run(self) -> tuple[dict[tuple[str, int], Assignment], list[tuple[str, str, int]], list[IndexEntry]]:
        for i in self.order:
            self._join_indexed_story(i)
        for i in self.order:
            self._assign(i)
        remaps = self._remaps()
        assignments, entries = self._results()
        return assignments, remaps, entries

    def _join_indexed_story(self, i: int) -> None:
        """Rule 2 for stories already indexed: their cluster is known before anything is matched."""
        m = self.members[i]
        index = self.index
        row = index.latest_entry(m.story_id)
        if row is None:
            return
        self.member_node[i] = self._index_node(row)
        self._node(self.member_node[i], (self.ranks[i], m.story_id))
        sim = float(index._sim[row])
        self.dup[i] = (_KIND_NAMES[int(index._kind[row])], index._duplicate_of[row], None if np.isnan(sim) else sim)
        self._mark_known(i)

    def _index_matches(self, i: int) -> tuple[list[_Match], list[str]]:
        """Rule 3 against the index: verified matches, and further clusters they merge (rule 4)."""
        m = self.members[i]
        index = self.index
        c = self.body_class[i]
        matches: list[_Match] = []
        merged: list[str] = []
        for body in self.class_index_groups.get(c, ()):
            ordered_entries, clusters = self.index_groups[body]
            e = next((e for _c, sid, _v, e in ordered_entries if sid != m.story_id), None)
            if e is None:
                continue
            got = self._verify_entry(c, e)
            if got is not None:
                sid = index._story_ids[e]
                key = (got[0] != EXACT, -got[1], int(index._created[e]), sid, int(index._version[e]), got)
                matches.append((key, self._index_node(e), sid))
                merged += [self._indexed_cluster(cid, rank) for (cid, rank), stories in clusters.items()
                           if stories != {m.story_id}]
        return matches, merged

    def _batch_matches(self, i: int) -> list[_Match]:
        """Rule 3 against members of the batch whose cluster is already known."""
        m = self.members[i]
        c = self.body_class[i]
        matches: list[_Match] = []
        for d in sorted((c, *self.class_nbrs.get(c, ()))):
            j = self._best_known(d, m.story_id)
            if j is None:
                continue  # no member with a known cluster yet: they will look at this member
            got = self._verify_classes(c, d)
            if got is not None:
                sid = self.members[j].story_id
                key = (got[0] != EXACT, -got[1], self.ranks[j], sid, self.members[j].version, got)
                matches.append((key, self.member_node[j], sid))
        return matches

    def _assign(self, i: int) -> None:
        """Rules 2-5 for one member, in processing order."""
        m = self.members[i]
        member_node, dup = self.member_node, self.dup
        prev = self.latest_in_batch.get(m.story_id)
        if i not in member_node and prev is not None:  # rule 2, story seen earlier in this batch
            member_node[i] = member_node[prev]
            self._node(member_node[i], (self.ranks[i], m.story_id))
            dup[i] = dup[prev]
            self._mark_known(i)
        self.latest_in_batch[m.story_id] = i
        matches, merged = self._index_matches(i)
        matches += self._batch_matches(i)
        if i in member_node:  # a version: its matches merge clusters, it keeps its own
            for other_node in [n for _, n, _ in matches] + merged:
                self._union(member_node[i], other_node)
            return
        if not matches:  # rule 5
            member_node[i] = self._node(m.story_id, (self.ranks[i], m.story_id))
            dup[i] = (ORIGINAL, None, None)
            self._mark_known(i)
            return
        matches.sort(key=lambda t: t[0])
        key, target, match_sid = matches[0]
        kind, sim = key[-1]
        member_node[i] = target
        self._node(target, (self.ranks[i], m.story_id))
        for other_node in [n for _, n, _ in matches[1:]] + merged:
            self._union(target, other_node)
        dup[i] = (kind, match_sid, sim)
        self._mark_known(i)

    def _remaps(self) -> list[tuple[str, str, int]]:
        """Rule 6: (old id, new id, new rank) for every indexed cluster whose id or rank changed."""
        remaps = []
        for cid, old_rank in sorted(self.from_index.items()):
            rank, new_id = self._label(cid)
            if new_id != cid or rank != old_rank:
                remaps.append((cid, new_id, rank))
        return remaps

    def _results(self) -> tuple[dict[tuple[str, int], Assignment], list[IndexEntry]]:
        """Assignments by (story_id, version) in processing order, and the new entries sorted by key."""
        assignments: dict[tuple[str, int], Assignment] = {}
        entries: dict[tuple[str, int], IndexEntry] = {}
        for i in self.order:
            m = self.members[i]
            key = (m.story_id, m.version)
            if key in assignments:
                continue  # a redelivered version in the same batch: the first in order stands
            rank, cid = self._label(self.member_node[i])
            kind, dup_of, sim = self.dup[i]
            assignments[key] = Assignment(cluster_id=cid, duplicate_of=dup_of, dup_kind=kind, similarity=sim, cluster_rank=rank)
            fp = m.fingerprint
            created = m.first_created_us
            if created is None:
                created = NO_FIRST_CREATED if self.fallback_created_us is None else self.fallback_created_us
            entries[key] = IndexEntry(
                story_id=m.story_id, version=m.version, cluster_id=cid, cluster_rank=rank,
                first_created_us=int(created), body_key=fp.body_key, n_words=fp.n_words,
                n_shingles=fp.n_shingles, signature=fp.signature, dup_kind=kind, duplicate_of=dup_of,
                similarity=sim,
            )
        return assignments, [entries[k] for k in sorted(entries)]
