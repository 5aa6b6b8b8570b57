"""Prometheus metrics, /healthz and /readyz for ``newswire run --metrics-port``.

:class:`JobMetrics` is a :class:`pipeline.job.observe.DriverObserver`: everything it reports comes from
what the driver already has (batch stats, planning offsets, staged files), so monitoring costs no
extra Kafka round trips. Label values are only validated topic names, partition numbers, table
and state-section names, phases, and dead-letter stages and error codes from fixed sets: never a
message's content, a key, a broker address or a credential.
"""
from __future__ import annotations

import functools
import json
import logging
import socket
import threading
import time
from collections import Counter as Tally
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Optional, Sequence

import pyarrow.parquet as pq
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder

from pipeline.io.lake.commitlog import BatchCommit, BatchPlan, CommitLog
from pipeline.ops.health import (
    DEFAULT_MAX_MISSED_TRIGGERS,
    TriggerHistory,
    Verdict,
    assess_health,
    assess_readiness,
    consumer_lag,
)
from pipeline.io.lake.names import validate_topic
from pipeline.io.lake.layout import open_lake
from pipeline.io.lake.location import LakeLocation
from pipeline.news.model import ErrorCode
from pipeline.job.observe import PHASES, DriverObserver, Offsets
from pipeline.core.planning import TopicPartitionKey
from pipeline.news.schema import TABLES
from pipeline.io.lake.state import STATE_SECTIONS, StateStore

if TYPE_CHECKING:
    from pipeline.job.observe import BatchResult

log = logging.getLogger("newswire.metrics")

# Dead letters are written by these stages (pipeline.beam.transforms, pipeline.beam.syndication) with these codes.
DEAD_LETTER_STAGES = frozenset({"decode", "clean", "entities"})
ERROR_CODES = frozenset(value for name, value in vars(ErrorCode).items() if name.isupper())
OTHER = "other"  # the label value for anything outside those sets (never the value itself)

# Rows per table, from the batch stats the driver writes into each commit.
TABLE_STATS = {"articles": "rows", "entities": "entities", "cluster_remaps": "cluster_remaps", "dead_letters": "dead_letters"}

DURATION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


def dead_letter_label(stage: str, code: str) -> tuple[str, str]:
    """(stage, error_code) label values: known values as they are, anything else as ``other``."""
    return (stage if stage in DEAD_LETTER_STAGES else OTHER, code if code in ERROR_CODES else OTHER)


def topic_label(topic: str) -> Optional[str]:
    """A topic name fit for a label (validated like lake paths), or None to leave the series out."""
    try:
        return validate_topic(topic)
    except ValueError:
        return None


def _guarded(hook: Callable[..., None]) -> Callable[..., None]:
    """A failing metric update is logged and dropped: it must never fail the batch being observed."""

    @functools.wraps(hook)
    def guarded(self: "JobMetrics", *args: Any, **kwargs: Any) -> None:
        try:
            hook(self, *args, **kwargs)
        except Exception as err:
            log.warning("metrics_update_failed hook=%s error=%s", hook.__name__, type(err).__name__, exc_info=True)

    return guarded


class JobMetrics(DriverObserver):
    """The job's metrics (in their own registry) and the state /healthz and /readyz decide from."""

    def __init__(
        self,
        lake: LakeLocation,
        max_missed_triggers: int = DEFAULT_MAX_MISSED_TRIGGERS,
        registry: Optional[CollectorRegistry] = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        disable_created_metrics()  # no *_created series: they double the series count and say nothing here
        self.layout = open_lake(lake)
        self.max_missed_triggers = max_missed_triggers
        self.registry = registry if registry is not None else CollectorRegistry()
        self.clock = clock
        self._lock = threading.Lock()  # driver thread writes, HTTP threads read
        self.history = TriggerHistory(keep=max_missed_triggers)
        self.end_offsets: dict[TopicPartitionKey, int] = {}
        self.earliest_offsets: dict[TopicPartitionKey, int] = {}
        self.lag: Optional[dict[TopicPartitionKey, int]] = None
        self.pending_records: Optional[int] = None
        self.last_commit: Optional[BatchCommit] = None
        self._staged_dead_letters: dict[int, Tally] = {}
        self._state_rows_by_file: dict[tuple[str, int, int], int] = {}
        self._partition_series: set[tuple[str, str]] = set()

        r = self.registry
        self.batches = Counter("newswire_batches_committed", "Batches committed by this process.", registry=r)
        self.replays = Counter(
            "newswire_batches_replayed", "Committed batches that were replays of a batch planned before a crash.", registry=r
        )
        self.triggers = Counter(
            "newswire_triggers", "Driver triggers by outcome: committed, idle (nothing to read) or failed.", ["outcome"], registry=r
        )
        self.records = Counter("newswire_records_read", "Kafka records read by committed batches.", registry=r)
        self.rows = Counter("newswire_rows_written", "Rows written to the lake by committed batches.", ["table"], registry=r)
        self.dead_letters = Counter(
            "newswire_dead_letters", "Dead letters written, by stage and error code.", ["stage", "error_code"], registry=r
        )
        self.redeliveries = Counter(
            "newswire_redeliveries_skipped", "Redelivered story versions skipped (already written).", registry=r
        )
        self.conflicts = Counter(
            "newswire_version_conflicts", "Redeliveries whose content differs from the first delivery.", registry=r
        )
        self.duplicates = Counter(
            "newswire_duplicates", "Syndicated copies found, by kind: exact or near.", ["kind"], registry=r
        )
        self.ner_paragraphs = Counter(
            "newswire_ner_paragraphs", "Distinct paragraphs run through the NER model.", registry=r
        )
        self.ner_reused = Counter(
            "newswire_ner_paragraphs_reused", "Paragraphs whose entities were reused from the cache instead.", registry=r
        )
        self.ner_seconds = Counter(
            "newswire_ner_seconds", "Seconds spent in NER model calls (rate(paragraphs)/rate(seconds) = paragraphs per NER second).", registry=r
        )
        self.batch_duration = Histogram(
            "newswire_batch_duration_seconds", "Wall time of a committed batch, planning to group-offset commit.",
            buckets=DURATION_BUCKETS, registry=r,
        )
        self.phase_duration = Histogram(
            "newswire_batch_phase_duration_seconds", "Wall time of each phase of a committed batch: " + ", ".join(PHASES) + ".",
            ["phase"], buckets=DURATION_BUCKETS, registry=r,
        )
        self.lag_gauge = Gauge(
            "newswire_consumer_lag_records", "End offset minus the job's committed offset, as of the last planning fetch.",
            ["topic", "partition"], registry=r,
        )
        self.end_offset_gauge = Gauge(
            "newswire_end_offset", "Partition end offset at the last planning fetch.", ["topic", "partition"], registry=r
        )
        self.committed_offset_gauge = Gauge(
            "newswire_committed_offset", "Next offset to read per partition, from the job's commit log.", ["topic", "partition"], registry=r
        )
        self.state_rows = Gauge(
            "newswire_state_rows", "Rows in a state section's live snapshot and delta files (index entries).", ["section"], registry=r
        )
        self.state_bytes = Gauge(
            "newswire_state_bytes", "Bytes of a state section's live snapshot and delta files.", ["section"], registry=r
        )
        for phase in PHASES:
            self.phase_duration.labels(phase)
        for table in TABLES:
            self.rows.labels(table)
        for kind in ("exact", "near"):
            self.duplicates.labels(kind)
        for outcome in ("committed", "idle", "failed"):
            self.triggers.labels(outcome)
        r.register(_LiveCollector(self))

        self.last_commit = CommitLog(self.layout).latest_commit()
        self._update_state_sizes()

    # -- driver hooks -------------------------------------------------------------------------
    @_guarded
    def offsets_fetched(self, committed: Offsets, end_offsets: Offsets, earliest_offsets: Offsets) -> None:
        with self._lock:
            self.end_offsets = dict(end_offsets)
            self.earliest_offsets = dict(earliest_offsets)
        self._update_offsets(committed)

    @_guarded
    def planned(self, plan: Optional[BatchPlan], replayed: bool) -> None:
        with self._lock:
            self.history.plan_succeeded()
            self.pending_records = plan.record_count if plan is not None else None

    @_guarded
    def batch_staged(self, batch_id: int, staging: Path, data_files: Sequence[Path]) -> None:
        found: Tally = Tally()
        for rel in data_files:
            if rel.parts[0] == "dead_letters":
                table = pq.read_table(staging / rel, columns=["stage", "error_code"])
                found.update(zip(table.column("stage").to_pylist(), table.column("error_code").to_pylist()))
        self._staged_dead_letters = {batch_id: found}

    @_guarded
    def batch_committed(self, result: "BatchResult") -> None:
        commit = result.commit
        stats = commit.stats
        with self._lock:  # first: health must see the commit even if a metric below fails
            self.history.batch_committed()
            self.pending_records = None
        self.last_commit = commit
        self.batches.inc()
        if result.replayed:
            self.replays.inc()
        self.records.inc(stats.get("records", 0))
        for table, key in TABLE_STATS.items():
            self.rows.labels(table).inc(stats.get(key, 0))
        letters = self._staged_dead_letters.pop(commit.batch_id, None)
        if letters is None:  # not read from staging: count them, without a breakdown
            letters = Tally({(OTHER, OTHER): stats.get("dead_letters", 0)})
        for (stage, code), n in letters.items():
            if n:
                self.dead_letters.labels(*dead_letter_label(stage, code)).inc(n)
        self.redeliveries.inc(stats.get("redeliveries_skipped", 0))
        self.conflicts.inc(stats.get("version_conflicts", 0))
        self.duplicates.labels("exact").inc(stats.get("exact_duplicates", 0))
        self.duplicates.labels("near").inc(stats.get("near_duplicates", 0))
        self.ner_paragraphs.inc(stats.get("paragraphs_annotated", 0))
        self.ner_reused.inc(stats.get("paragraphs_reused", 0))
        self.ner_seconds.inc(stats.get("ner_seconds", 0))
        for phase, seconds in result.phases.items():
            if phase in PHASES:
                self.phase_duration.labels(phase).observe(seconds)
        self.batch_duration.observe(sum(result.phases.values()) if result.phases else result.seconds)
        self._update_offsets(commit.end_offsets)
        self._update_state_sizes()

    @_guarded
    def trigger_finished(self, error: Optional[BaseException]) -> None:
        with self._lock:
            committed = self.history.committed_this_trigger
            self.history.trigger_finished(self._total_lag())
        outcome = "failed" if error is not None else "committed" if committed else "idle"
        self.triggers.labels(outcome).inc()

    # -- what the endpoints answer ------------------------------------------------------------
    def health(self) -> Verdict:
        with self._lock:
            return assess_health(self.history.window(), self.max_missed_triggers)

    def readiness(self) -> Verdict:
        with self._lock:
            return assess_readiness(self.history.window())

    def details(self) -> dict:
        """Numbers behind the verdicts, for the JSON bodies of /healthz and /readyz."""
        with self._lock:
            window = self.history.window()
            lag = self._total_lag()
        last = self.last_commit
        return {
            "triggers": window.triggers,
            "triggers_since_commit": window.missed,
            "max_missed_triggers": self.max_missed_triggers,
            "consumer_lag": lag,
            "last_commit_batch": last.batch_id if last else None,
            "last_commit_at": last.committed_at.isoformat() if last and last.committed_at else None,
        }

    # -- internals ----------------------------------------------------------------------------
    def _total_lag(self) -> Optional[int]:
        """Records waiting: the consumer lag if known, else the records of a planned batch (a replay)."""
        if self.lag is not None:
            return sum(self.lag.values())
        return self.pending_records

    def _update_offsets(self, committed: Mapping[TopicPartitionKey, int]) -> None:
        with self._lock:
            if not self.end_offsets:
                return
            self.lag = consumer_lag(committed, self.end_offsets, self.earliest_offsets)
            lag = dict(self.lag)
            ends = dict(self.end_offsets)
        series = set()
        for (topic, partition), records in lag.items():
            name = topic_label(topic)
            if name is None:
                continue
            labels = (name, str(int(partition)))
            series.add(labels)
            self.lag_gauge.labels(*labels).set(records)
            self.end_offset_gauge.labels(*labels).set(ends[(topic, partition)])
            self.committed_offset_gauge.labels(*labels).set(ends[(topic, partition)] - records)
        for gone in self._partition_series - series:
            for gauge in (self.lag_gauge, self.end_offset_gauge, self.committed_offset_gauge):
                gauge.remove(*gone)
        self._partition_series = series

    def _update_state_sizes(self) -> None:
        store = StateStore(self.layout)
        storage = self.layout.storage  # a local folder or an object store (pipeline.io.lake.storage)
        seen = set()
        for section in STATE_SECTIONS:
            rows = size = 0
            directory = store.section_dir(section)
            for name, file_size, mtime_ns in sorted(storage.file_stats(directory)):
                if not name.endswith(".parquet"):
                    continue
                path = directory / name
                key = (str(path), file_size, mtime_ns)
                try:
                    if key not in self._state_rows_by_file:
                        self._state_rows_by_file[key] = storage.parquet_rows(path)
                except FileNotFoundError:  # pruned between listing and reading
                    continue
                seen.add(key)
                rows += self._state_rows_by_file[key]
                size += file_size
            self.state_rows.labels(section).set(rows)
            self.state_bytes.labels(section).set(size)
        self._state_rows_by_file = {k: v for k, v in self._state_rows_by_file.items() if k in seen}


class _LiveCollector:
    """Values computed when scraped: health, readiness, triggers since the last commit, and the last
    commit's id, time and age (absent until the lake has a commit)."""

    def __init__(self, metrics: JobMetrics) -> None:
        self.metrics = metrics

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        m = self.metrics
        yield GaugeMetricFamily("newswire_healthy", "1 while /healthz answers 200, else 0.", value=int(m.health().ok))
        yield GaugeMetricFamily("newswire_ready", "1 while /readyz answers 200, else 0.", value=int(m.readiness().ok))
        with m._lock:
            missed = m.history.missed
        yield GaugeMetricFamily(
            "newswire_triggers_since_commit", "Driver triggers finished since the last one that committed.", value=missed
        )
        last = m.last_commit
        if last is None:
            return
        yield GaugeMetricFamily("newswire_last_committed_batch_id", "Id of the last committed batch.", value=last.batch_id)
        if last.committed_at is not None:
            at = last.committed_at.timestamp()
            yield GaugeMetricFamily(
                "newswire_last_commit_timestamp_seconds", "Unix time of the last commit in the lake's commit log.", value=at
            )
            yield GaugeMetricFamily(
                "newswire_last_commit_age_seconds", "Seconds since the last commit in the lake's commit log.",
                value=max(m.clock() - at, 0.0),
            )


class MetricsServer:
    """A small HTTP server on its own daemon threads: GET /metrics, /healthz, /readyz."""

    def __init__(self, metrics: JobMetrics, host: str, port: int) -> None:
        handler = _handler_for(metrics)
        server_class = _IPv6Server if ":" in host else ThreadingHTTPServer
        self.httpd = server_class((host, port), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="newswire-metrics", daemon=True)

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def start(self) -> "MetricsServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


class _IPv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def _handler_for(metrics: JobMetrics) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "newswire"
        sys_version = ""

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                encode, content_type = choose_encoder(self.headers.get("Accept", ""))
                self._send(200, content_type, encode(metrics.registry))
            elif path in ("/healthz", "/readyz"):
                verdict = metrics.health() if path == "/healthz" else metrics.readiness()
                body = json.dumps({**verdict.to_json(), **metrics.details()}).encode("utf-8")
                self._send(verdict.status, "application/json", body)
            else:
                self._send(404, "text/plain; charset=utf-8", b"not found: try /metrics, /healthz or /readyz\n")

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # scrapes every few seconds: not worth a log line
            log.debug("http %s", format % args)

    return Handler
