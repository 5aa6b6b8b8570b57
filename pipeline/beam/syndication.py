"""Beam steps for syndication clusters and entity reuse: thin wrappers around :mod:`pipeline.news.dedup`.

Candidate search is a GroupByKey on LSH band keys (and exact-body keys), so it spreads over workers
on distributed runners; only the confirmed candidate pairs meet in the single ``AssignClusters``
step. Index entries are named by (story_id, version), never by their position in a worker's copy
of the index, because two workers may have loaded the same state in a different order.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable, Iterator, Optional

import apache_beam as beam
import numpy as np
from apache_beam import pvalue
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindows
from apache_beam.utils.windowed_value import WindowedValue

from pipeline.news import dedup, entities, rows
from pipeline.beam.inference import ExtractEntities, NerRequest
from pipeline.io.ner import get_engine
from pipeline.io.lake.durable import write_parquet_durable
from pipeline.io.lake.layout import rows_to_table
from pipeline.io.lake.names import REMAP_TOPIC, data_file_name, partition_dir_name, staged_state_file
from pipeline.io.lake.layout import open_lake
from pipeline.news.model import KafkaRecord
from pipeline.beam.transforms import DEAD, ENTITY_BLOCKS, NAMESPACE, file_block, internal_error
from pipeline.io.lake.state import (
    CLUSTER_ALIASES_SECTION,
    PARAGRAPHS_SECTION,
    SIGNATURES_SECTION,
    STATE_CACHE,
    STATE_SECTIONS,
    aliases_delta_table,
    epoch_micros,
)


MemberId = tuple[str, int]


def member_id(row: dict) -> MemberId:
    return row["story_id"], row["version"]


def cutoff_micros(planned_at: datetime, lookback: timedelta) -> int:
    """Index entries first created before this are outside the lookback window and never matched."""
    return epoch_micros(planned_at - lookback)


# --------------------------------------------------------------------------- side inputs


def pack_side_input(value) -> bytes:
    """One pickled blob instead of a large side input.

    The portable runners' state cache weighs every side input it caches by walking each object in
    it (objsize); for tens of thousands of small tuples that walk costs more than the step reading
    them. A single bytes object is weighed at once and unpickled once per worker bundle.
    """
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def collect_list() -> beam.PTransform:
    """The whole PCollection as one list, and nothing for an empty one.

    Without defaults: a global combine with a default value re-reads its own result as a side
    input, which the state cache then weighs object by object.
    """
    return beam.combiners.ToList().without_defaults()


class UnpackedSideInput:
    """The value of a :func:`pack_side_input` blob, unpickled only when the blob changes."""

    def __init__(self) -> None:
        self._blob: Optional[bytes] = None
        self._value = None

    def __call__(self, blob: bytes):
        if blob is not self._blob:
            self._value = pickle.loads(blob)
            self._blob = blob
        return self._value


# --------------------------------------------------------------------------- clusters


class _FingerprintFn(beam.DoFn):
    def __init__(self) -> None:
        self.too_short = Metrics.counter(NAMESPACE, "bodies_too_short_for_near_dedup")

    def process(self, row: dict) -> Iterator[dict]:
        fp = dedup.fingerprint(row["body_text"])
        if fp.signature is None:
            self.too_short.inc()
        yield {**row, "_fingerprint": fp}


def match_keys(row: dict) -> Iterator[tuple[tuple[str, int], tuple[MemberId, int]]]:
    """(band or body key, (member, body key)): rows sharing a key are candidate duplicates of each other."""
    fp: dedup.Fingerprint = row["_fingerprint"]
    member = (member_id(row), int(fp.body_key))
    if fp.bands is not None:
        for band in fp.bands.tolist():
            yield ("band", int(band)), member
    if fp.n_words >= dedup.MIN_EXACT_WORDS:
        yield ("body", int(fp.body_key)), member


class _IndexFn(beam.DoFn):
    """Loads the committed signature index as of the batch's base (once per worker process)."""

    def __init__(self, lake_root: str, base_batch: int, cutoff_us: int) -> None:
        self.lake_root = lake_root
        self.base_batch = base_batch
        self.cutoff_us = cutoff_us

    def setup(self) -> None:
        self.layout = open_lake(self.lake_root)
        self.index: dedup.SignatureIndex = STATE_CACHE.get_section(
            self.layout, STATE_SECTIONS[SIGNATURES_SECTION], self.base_batch, None
        )
        self.index.prepare()  # lookups then never mutate it, so worker threads may share it


class _CandidatesInGroupFn(_IndexFn):
    """One band/body key group -> candidate pairs inside the batch and with indexed story versions.

    Members with one body key have one fingerprint and are matched as a class by
    :func:`dedup.assign_clusters`, so a group yields pairs between one member of each body class
    (the least): a story republished by a thousand outlets in one batch is one class, not half a
    million pairs per band. Band keys are looked up in the index once per bundle, vectorised.
    """

    def start_bundle(self) -> None:
        self.pending: list[tuple[int, list[MemberId]]] = []
        self.emitted: set[tuple] = set()  # two near copies share most of their bands: say it once

    def process(self, element: tuple[tuple[str, int], Iterable[tuple[MemberId, int]]]) -> Iterator[tuple]:
        (kind, key), values = element
        first_of_class: dict[int, MemberId] = {}
        for mid, body in values:
            if body not in first_of_class or mid < first_of_class[body]:
                first_of_class[body] = mid
        members = sorted(first_of_class.values())
        pairs = (("pair", (members[a], members[b])) for a in range(len(members)) for b in range(a + 1, len(members)))
        yield from self._once(pairs)
        if kind == "band":
            self.pending.append((key, members))
        else:
            yield from self._once(self._index_pairs(self.index.exact_matches(key), members))

    def finish_bundle(self) -> Iterator[WindowedValue]:
        pending, self.pending = self.pending, []
        if pending:
            keys = np.fromiter((key for key, _ in pending), dtype=np.uint64, count=len(pending))
            for (_key, members), hits in zip(pending, self.index.candidates_per_key(keys)):
                for pair in self._once(self._index_pairs(hits, members)):
                    yield GlobalWindows.windowed_value(pair)
        self.emitted = set()

    def _once(self, candidates: Iterable[tuple]) -> Iterator[tuple]:
        for candidate in candidates:
            if candidate not in self.emitted:
                self.emitted.add(candidate)
                yield candidate

    def _index_pairs(self, hits: Iterable[int], members: list[MemberId]) -> Iterator[tuple]:
        for e in hits:
            if self.index.first_created_us(e) < self.cutoff_us:
                continue
            story_id, version = self.index.story_version(e)
            for m in members:  # also from m's own story: m stands for its whole body class
                yield "index", (m, (story_id, version))


@dataclass
class ClusterResult:
    """What the batch decided: per member assignment and state deltas (retired ids become lake rows too)."""

    assignments: dict[MemberId, dedup.Assignment] = field(default_factory=dict)
    index_delta: list[dedup.IndexEntry] = field(default_factory=list)
    alias_rows: list[tuple[str, str]] = field(default_factory=list)


class _AssignClustersFn(_IndexFn):
    """All members and confirmed candidates of the batch -> one ClusterResult (see dedup.assign_clusters)."""

    def __init__(self, lake_root: str, base_batch: int, cutoff_us: int, planned_at: datetime, batch_id: int) -> None:
        super().__init__(lake_root, base_batch, cutoff_us)
        self.planned_at = planned_at
        self.batch_id = batch_id

    def setup(self) -> None:
        super().setup()
        self.aliases: dict = STATE_CACHE.get_section(self.layout, STATE_SECTIONS[CLUSTER_ALIASES_SECTION], self.base_batch, None)

    def process(self, members: list[tuple[MemberId, Optional[int], dedup.Fingerprint]], candidates_blob: bytes) -> Iterator[ClusterResult]:
        candidates: list[tuple] = pickle.loads(candidates_blob)
        ordered = sorted(members, key=lambda m: m[0])
        position = {mid: i for i, (mid, _fc, _fp) in enumerate(ordered)}
        batch_members = [dedup.BatchMember(mid[0], mid[1], fc, fp) for mid, fc, fp in ordered]
        pairs, index_pairs = set(), set()
        for kind, (a, b) in candidates:
            if kind == "pair":
                pairs.add((position[a], position[b]))
            else:
                e = self.index.find(*b)
                if e is not None:
                    index_pairs.add((position[a], e))
        assignments, remaps, new_entries = dedup.assign_clusters(
            batch_members, self.index, sorted(pairs), sorted(index_pairs),
            fallback_created_us=epoch_micros(self.planned_at),
        )
        result = ClusterResult(assignments=assignments)
        moved = {old: (new, rank) for old, new, rank in remaps}
        # Existing entries of retired clusters are re-written with their new cluster (upserts).
        result.index_delta = list(new_entries) + [
            dedup.replace_cluster(self.index.entry(e), *moved[self.index.cluster_of(e)])
            for e in self.index.entries_in_clusters(moved)
        ]
        # Retired ids, flattened: ids that earlier merges sent to a now-retired cluster move too.
        retired = dict((old, new) for old, (new, _rank) in moved.items())
        for alias, current in self.aliases.items():
            if current in retired:
                retired[alias] = retired[current]
        result.alias_rows = sorted(retired.items())
        yield result


def attach_cluster(row: dict, result: ClusterResult) -> dict:
    a = result.assignments[member_id(row)]
    out = {k: v for k, v in row.items() if k != "_fingerprint"}
    out.update(cluster_id=a.cluster_id, duplicate_of=a.duplicate_of, dup_kind=a.dup_kind, similarity=a.similarity)
    return out


class _AttachClusterFn(beam.DoFn):
    """Row + the batch's packed ClusterResult -> row with its cluster columns."""

    def setup(self) -> None:
        self.result = UnpackedSideInput()

    def process(self, row: dict, result_blob: bytes) -> Iterator[dict]:
        yield attach_cluster(row, self.result(result_blob))


def write_cluster_state(result: ClusterResult, staging_dir: str, batch_id: int, planned_at: datetime) -> list[str]:
    """Stage the batch's index and alias deltas and its cluster_remaps file; returns what was written."""
    written = []
    staging = Path(staging_dir)
    if result.index_delta:
        rel = staged_state_file(SIGNATURES_SECTION)
        write_parquet_durable(dedup.index_delta_table(result.index_delta, batch_id), staging / rel)
        written.append(str(rel))
    if result.alias_rows:
        rel = staged_state_file(CLUSTER_ALIASES_SECTION)
        write_parquet_durable(aliases_delta_table(result.alias_rows, batch_id), staging / rel)
        written.append(str(rel))
        day = planned_at.astimezone(timezone.utc).date()
        rel = Path("cluster_remaps") / partition_dir_name(day) / data_file_name(REMAP_TOPIC, 0, batch_id)
        remaps = [{"cluster_from": old, "cluster_to": new, "batch_id": batch_id, "remapped_at": planned_at}
                  for old, new in result.alias_rows]
        write_parquet_durable(rows_to_table(remaps, "cluster_remaps"), staging / rel)
        written.append(str(rel))
    return written


class AssignClusters(beam.PTransform):
    """Unique article rows -> the same rows with cluster_id, duplicate_of, dup_kind and similarity."""

    def __init__(self, lake_root: str, base_batch: int, planned_at: datetime, lookback: timedelta,
                 batch_id: int, staging_dir: str) -> None:
        super().__init__()
        self.lake_root = lake_root
        self.base_batch = base_batch
        self.planned_at = planned_at
        self.cutoff_us = cutoff_micros(planned_at, lookback)
        self.batch_id = batch_id
        self.staging_dir = staging_dir

    def expand(self, article_rows):
        fingerprinted = article_rows | "Fingerprint" >> beam.ParDo(_FingerprintFn())
        candidates = (
            fingerprinted
            | "KeyByBand" >> beam.FlatMap(match_keys)
            | "GroupByBand" >> beam.GroupByKey()
            | "CandidatesInBand" >> beam.ParDo(_CandidatesInGroupFn(self.lake_root, self.base_batch, self.cutoff_us))
        )
        members = (
            fingerprinted
            | "Members" >> beam.Map(lambda r: (member_id(r), epoch_micros(r["first_created"]), r["_fingerprint"]))
            | "CollectMembers" >> collect_list()
        )
        candidates_blob = (
            candidates
            | "CollectCandidates" >> collect_list()
            | "PackCandidates" >> beam.Map(pack_side_input)
        )
        result = members | "Assign" >> beam.ParDo(
            _AssignClustersFn(self.lake_root, self.base_batch, self.cutoff_us, self.planned_at, self.batch_id),
            beam.pvalue.AsSingleton(candidates_blob, default_value=pack_side_input([])),
        )
        result | "WriteClusterState" >> beam.Map(write_cluster_state, self.staging_dir, self.batch_id, self.planned_at)
        result_blob = result | "PackClusters" >> beam.Map(pack_side_input)
        return fingerprinted | "AttachClusters" >> beam.ParDo(_AttachClusterFn(), beam.pvalue.AsSingleton(result_blob))


# --------------------------------------------------------------------------- entities with reuse


def paragraph_cache(lake_root: str, base_batch: int) -> dedup.ParagraphEntityCache:
    """The committed paragraph-entity cache as of ``base_batch`` (loaded once per worker process)."""
    return STATE_CACHE.get_section(open_lake(lake_root), STATE_SECTIONS[PARAGRAPHS_SECTION], base_batch, None)


class _UncachedParagraphsFn(beam.DoFn):
    """Paragraphs whose entities are not cached yet -> (paragraph key, (text, first_created_us))."""

    def __init__(self, lake_root: str, base_batch: int) -> None:
        self.lake_root = lake_root
        self.base_batch = base_batch
        self.reused = Metrics.counter(NAMESPACE, "paragraphs_reused")

    def setup(self) -> None:
        self.cache = paragraph_cache(self.lake_root, self.base_batch)

    def process(self, row: dict) -> Iterator[tuple[int, tuple[str, int]]]:
        created = epoch_micros(row["first_created"]) or epoch_micros(row["ingested_at"])
        for paragraph, key in zip(row["_paragraphs"], row["_paragraph_keys"]):
            if self.cache.get(key) is None:
                yield key, (paragraph, created)
            else:
                self.reused.inc()


class _PrefetchParagraphsFn(beam.DoFn):
    """Cleaned rows -> nothing; starts NER of uncached paragraphs on this process's worker pool.

    Only for runners that execute the whole batch in one process (DirectRunner): there the engine
    that RunInference uses later is this process's engine, and its workers run NER while the main
    process deduplicates and clusters. Results are the same with or without this step.
    """

    def __init__(self, lake_root: str, base_batch: int, model_name: str, processes: int, batch_id: int) -> None:
        self.lake_root = lake_root
        self.base_batch = base_batch
        self.model_name = model_name
        self.processes = processes
        self.batch_id = batch_id

    def setup(self) -> None:
        self.cache = paragraph_cache(self.lake_root, self.base_batch)
        self.engine = get_engine(self.model_name, self.processes)

    def process(self, row: dict) -> Iterator:
        texts = [p for p, key in zip(row["_paragraphs"], row["_paragraph_keys"]) if self.cache.get(key) is None]
        if texts:
            self.engine.prefetch(texts, generation=self.batch_id)
        return iter(())

    def finish_bundle(self) -> None:
        self.engine.flush_prefetch()



class PrefetchNer(beam.PTransform):
    """Cleaned rows -> nothing: NER of their uncached paragraphs starts early on this process's pool.

    For runners that run the whole batch in one process (see :class:`_PrefetchParagraphsFn`).
    """

    def __init__(self, lake_root: str, base_batch: int, model_name: str, processes: int, batch_id: int) -> None:
        super().__init__()
        self._args = (lake_root, base_batch, model_name, processes, batch_id)

    def expand(self, rows: beam.PCollection) -> beam.PCollection:
        return rows | "StartNer" >> beam.ParDo(_PrefetchParagraphsFn(*self._args))

PARAGRAPHS_ANNOTATED = Metrics.counter(NAMESPACE, "paragraphs_annotated")


def ner_request(element: tuple[int, Iterable[tuple[str, int]]]) -> NerRequest:
    """One request per distinct paragraph; equal keys differ at most in quote style (same offsets)."""
    PARAGRAPHS_ANNOTATED.inc()
    key, copies = element
    copies = list(copies)
    text = min(t for t, _ in copies)
    return NerRequest(key=(key, max(c for _, c in copies)), paragraphs=(text,))


Spans = tuple[tuple[int, int, str], ...]  # (start_char, end_char, label) of one paragraph's mentions


def found_spans(element: tuple[tuple[int, int], tuple]) -> tuple[tuple[int, int], Spans]:
    """RunInference output -> ((paragraph key, first created), spans): plain tuples from here on,
    which Beam's coder encodes natively instead of pickling each Mention."""
    key, per_paragraph = element
    return key, tuple((m.start_char, m.end_char, m.label) for m in per_paragraph[0])


def pack_found_mentions(items: list[tuple[tuple[int, int], Spans]]) -> bytes:
    """The batch's NER results as one blob: paragraph key -> spans."""
    return pack_side_input({key: spans for (key, _created), spans in items})


def write_paragraph_cache(items: list[tuple[tuple[int, int], Spans]], staging_dir: str, batch_id: int) -> Optional[str]:
    if not items:
        return None
    rel = staged_state_file(PARAGRAPHS_SECTION)
    delta = [(key, spans, created) for (key, created), spans in items]
    write_parquet_durable(dedup.paragraph_cache_delta_table(delta, batch_id), Path(staging_dir) / rel)
    return str(rel)


class _AttachEntitiesFn(beam.DoFn):
    """Article row + paragraph mentions (cached, or found in this batch) -> row with entities + entity rows.

    Canonicalisation is pure and runs here, next to the data; a failure in it must not lose the
    article, so the article is kept without entities and the failure becomes a dead letter.
    """

    def __init__(self, lake_root: str, base_batch: int) -> None:
        self.lake_root = lake_root
        self.base_batch = base_batch
        self.mentions_counter = Metrics.counter(NAMESPACE, "entity_mentions")
        self.exact = Metrics.counter(NAMESPACE, "exact_duplicates")
        self.near = Metrics.counter(NAMESPACE, "near_duplicates")

    def setup(self) -> None:
        self.cache = paragraph_cache(self.lake_root, self.base_batch)
        self.found = UnpackedSideInput()

    def process(self, row: dict, found_blob: bytes) -> Iterator:
        found: dict = self.found(found_blob)
        if row["dup_kind"] == dedup.EXACT:
            self.exact.inc()
        elif row["dup_kind"] == dedup.NEAR:
            self.near.inc()
        article = dict(row)  # Beam elements must not be mutated
        try:
            per_paragraph = []
            for paragraph, key in zip(row["_paragraphs"], row["_paragraph_keys"]):
                spans = self.cache.get(key)
                if spans is None:
                    spans = found[key]
                per_paragraph.append([entities.Mention(paragraph[s:e], label, s, e) for s, e, label in spans])
            tags = row["_provider_tags"]
            mentions = entities.mentions_in_body(row["_paragraphs"], per_paragraph)
            resolved = entities.canonicalise(mentions, tags) + entities.provider_entities(tags)
            article["entities"] = entities.summarise(resolved)
        except Exception as err:
            yield internal_error(KafkaRecord(row["topic"], row["partition"], row["offset"], None, None), "entities", err)
            article["entities"] = []
            yield article
            return
        self.mentions_counter.inc(len(resolved))
        yield article
        if resolved:
            yield pvalue.TaggedOutput(ENTITY_BLOCKS, file_block(article, rows.entity_rows(article, resolved)))


class AnnotateEntities(beam.PTransform):
    """Article rows -> rows with ``entities`` filled (main) + ``entity_blocks`` + ``dead_letters``.

    ``entity_blocks`` has one element per article with entities: its ``entities`` rows keyed by its file.

    NER runs through Beam's RunInference, once per distinct paragraph the lake has not seen within
    the lookback window: redelivered versions are gone already, and copies and updates mostly
    repeat paragraphs whose mentions are cached. The model stays loaded across micro-batches.
    """

    def __init__(self, lake_root: str, base_batch: int, staging_dir: str, batch_id: int,
                 model_name: str, processes: int) -> None:
        super().__init__()
        self.lake_root = lake_root
        self.base_batch = base_batch
        self.staging_dir = staging_dir
        self.batch_id = batch_id
        self.model_name = model_name
        self.processes = processes

    def expand(self, article_rows):
        found = (
            article_rows
            | "UncachedParagraphs" >> beam.ParDo(_UncachedParagraphsFn(self.lake_root, self.base_batch))
            | "GroupByParagraph" >> beam.GroupByKey()
            | "NerRequests" >> beam.Map(ner_request)
            | "ExtractEntities" >> ExtractEntities(self.model_name, self.processes)
            | "FoundSpans" >> beam.Map(found_spans)
        )
        collected = found | "CollectFound" >> collect_list()
        collected | "WriteParagraphCache" >> beam.Map(write_paragraph_cache, self.staging_dir, self.batch_id)
        mentions = collected | "PackFoundMentions" >> beam.Map(pack_found_mentions)
        return article_rows | "AttachEntities" >> beam.ParDo(
            _AttachEntitiesFn(self.lake_root, self.base_batch),
            beam.pvalue.AsSingleton(mentions, default_value=pack_side_input({})),
        ).with_outputs(ENTITY_BLOCKS, DEAD, main="articles")
