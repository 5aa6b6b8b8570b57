"""The micro-batch driver: plan -> write-ahead log -> Beam batch -> publish -> commit -> group offsets.

A crash at any point leaves either a committed batch or a planned one; a planned batch is replayed
with the same ranges, the same clock and the same base state, so it writes the same files.
"""
from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, Optional, Protocol

import pyarrow.parquet as pq

from pipeline.io.lake.commitlog import BatchCommit, BatchPlan, CommitLog, ConcurrentWriter
from pipeline.io.lake.compaction import CompactionSchedule, ScheduledCompaction
from pipeline.news.decode import DEFAULT_MAX_MESSAGE_BYTES
from pipeline.core.contract import DEFAULT_LOOKBACK, DEFAULT_MODEL, BatchSettings, BatchSpec
from pipeline.io.lake.durable import clear_dir
from pipeline.io.lake.layout import publish_staged, staged_files
from pipeline.io.lake.names import staged_state_file, validate_topic
from pipeline.io.lake.writer_lock import WriterLock
from pipeline.io.lake.layout import open_lake
from pipeline.io.lake.location import LakeLocation, LocalLakeRequired
from pipeline.job.observe import BatchResult, DriverObserver, PhaseClock
from pipeline.news.schema import TABLES
from pipeline.core.planning import OffsetRange, TopicPartitionKey, end_offsets_of, plan_offset_ranges
from pipeline.io.kafka.group_offsets import GroupOffsetCommitter
from pipeline.core.retry import Failure, FailureStreak, RetriesExhausted, RetryPolicy, describe
from pipeline.io.lake.state import STATE_CACHE, STATE_SECTIONS, StateStore

log = logging.getLogger("newswire.driver")


@dataclass
class JobConfig:
    """Options of ``newswire run``."""

    bootstrap_servers: str
    topics: list[str]
    lake: LakeLocation  # a local Path, or an s3:// / gs:// URI string
    group_id: str = "newswire"
    trigger_interval: float = 10.0
    max_records_per_batch: Optional[int] = None
    until_idle: Optional[float] = None
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    beam_args: list[str] = field(default_factory=list)
    snapshot_every: int = 100
    retain_batches: int = 100
    progress: Optional[bool] = None  # None: only when stderr is a terminal
    spacy_model: str = DEFAULT_MODEL
    ner_processes: int = 1
    dedup_lookback: timedelta = DEFAULT_LOOKBACK
    compaction: Optional[CompactionSchedule] = None
    metrics_port: Optional[int] = None  # serve /metrics, /healthz, /readyz (pipeline.ops.metrics) when set
    metrics_host: str = "0.0.0.0"
    health_max_missed_triggers: int = 6
    retry: RetryPolicy = field(default_factory=RetryPolicy)  # failed batches in a row before giving up
    kafka_config_file: Optional[str] = None  # --kafka-config: security settings (pipeline.io.kafka.config)


class OffsetSource(Protocol):
    """What the driver needs from Kafka (a fake in unit tests, kafka-python in production)."""

    def partitions(self, topics: list[str]) -> list[TopicPartitionKey]: ...
    def end_offsets(self, tps: list[TopicPartitionKey]) -> dict[TopicPartitionKey, int]: ...
    def beginning_offsets(self, tps: list[TopicPartitionKey]) -> dict[TopicPartitionKey, int]: ...
    def commit_group(self, offsets: dict[TopicPartitionKey, int], metadata: str) -> None: ...
    def close(self) -> None: ...


BatchRunner = Callable[[BatchSpec], dict]


class SimulatedCrash(RuntimeError):
    """Raised by test crash hooks to stop the protocol at a named point."""


class MicroBatchDriver:
    """Runs batches one after another against one lake."""

    CRASH_POINTS = ("planned", "pipeline_done", "published", "state_published", "committed")

    def __init__(
        self,
        config: JobConfig,
        source: OffsetSource,
        run_batch: BatchRunner,
        crash_hook: Optional[Callable[[str], None]] = None,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        observer: Optional[DriverObserver] = None,
    ) -> None:
        for topic in config.topics:
            validate_topic(topic)
        self.config = config
        self.source = source
        self.run_batch = run_batch
        self.crash_hook = crash_hook or (lambda point: None)
        self.clock = clock
        self.observer = observer or DriverObserver()
        self.layout = open_lake(config.lake)
        self.layout.ensure()
        self.log = CommitLog(self.layout)
        self.state = StateStore(self.layout)
        self.stop_event = threading.Event()
        self.batches_run = 0
        schedule = config.compaction
        if schedule is not None and schedule.enabled and not self.layout.storage.is_local:
            raise LocalLakeRequired(f"{self.layout.location}: scheduled compaction (--compact-*) needs a local lake")
        self.compaction = (
            ScheduledCompaction(schedule, self.layout, clock, self.stop_event.is_set)
            if schedule is not None and schedule.enabled else None
        )
        self.stage = "planning"  # what the batch in hand is doing, for failure logs
        self.group_offsets = GroupOffsetCommitter(source.commit_group, config.retry)

    @property
    def settings(self) -> BatchSettings:
        """The batch-shaping flags of this run, pinned in every batch it plans."""
        cfg = self.config
        return BatchSettings(cfg.spacy_model, cfg.dedup_lookback, cfg.max_message_bytes)

    def settings_of(self, plan: BatchPlan) -> BatchSettings:
        """The settings a batch runs with: those it was planned with, whatever the flags are now."""
        if plan.settings is None:  # planned before settings were pinned
            return self.settings
        changed = plan.settings.differences(self.settings)
        if changed:
            log.warning(
                "replay_keeps_planned_settings batch=%d %s; the new flags apply from batch %d",
                plan.batch_id,
                " ".join(f"{name}={was!r}(now {now!r})" for name, (was, now) in sorted(changed.items())),
                plan.batch_id + 1,
            )
        return plan.settings

    # -- planning -------------------------------------------------------------------------
    def next_plan(self) -> tuple[Optional[BatchPlan], bool]:
        """The pending plan to replay, else a new plan, else None when there is nothing new."""
        self.stage = "planning"
        pending = self.log.pending_plan()
        if pending is not None:
            return pending, True
        last = self.log.latest_commit()
        committed = last.end_offsets if last else {}
        tps = self.source.partitions(self.config.topics)
        if not tps:
            return None, False
        ends = self.source.end_offsets(tps)
        earliest = self.source.beginning_offsets(tps)
        self.observer.offsets_fetched(committed, ends, earliest)
        for tp, start in committed.items():
            if tp in earliest and earliest[tp] > start:
                log.warning(
                    "records_lost_to_retention topic=%s partition=%d from=%d to=%d", tp[0], tp[1], start, earliest[tp]
                )
        ranges = plan_offset_ranges(committed, ends, earliest, self.config.max_records_per_batch)
        if not ranges:
            return None, False
        base = last.batch_id if last else -1
        plan = BatchPlan(
            batch_id=base + 1, ranges=tuple(ranges), planned_at=self.clock(), base_batch=base, settings=self.settings
        )
        self.log.write_plan(plan)
        return plan, False

    # -- one batch ------------------------------------------------------------------------
    def execute(self, plan: BatchPlan, replayed: bool = False) -> BatchResult:
        started = time.monotonic()
        phases = PhaseClock()
        self.crash_hook("planned")
        staging = self.layout.staging_dir(plan.batch_id)
        clear_dir(staging)
        staging.mkdir(parents=True)
        settings = self.settings_of(plan)
        spec = BatchSpec(
            batch_id=plan.batch_id,
            base_batch=plan.base_batch,
            ranges=plan.ranges,
            planned_at=plan.planned_at,
            bootstrap_servers=self.config.bootstrap_servers,
            lake_root=self.layout.location,
            staging_dir=str(staging),
            max_message_bytes=settings.max_message_bytes,
            spacy_model=settings.spacy_model,
            ner_processes=self.config.ner_processes,
            lookback=settings.dedup_lookback,
            kafka_config_file=self.config.kafka_config_file,
        )
        self.stage = "pipeline"
        metrics = self.run_batch(spec)
        data_files = staged_files(staging)
        row_counts = {table: 0 for table in TABLES}
        for rel in data_files:
            row_counts[rel.parts[0]] += pq.read_metadata(staging / rel).num_rows
        self.crash_hook("pipeline_done")
        self.observer.batch_staged(plan.batch_id, staging, data_files)
        phases.lap("beam")

        self.stage = "publishing"
        publish_staged(self.layout, staging, data_files)
        self.crash_hook("published")

        state_deltas = {}
        for section in STATE_SECTIONS:
            staged_delta = staging / staged_state_file(section)
            if staged_delta.exists():
                target = self.state.delta_path(section, plan.batch_id)
                self.layout.storage.publish([(staged_delta, target)])
                state_deltas[section] = str(target.relative_to(self.layout.meta))
        self.crash_hook("state_published")
        phases.lap("publish")

        self.stage = "committing"
        last = self.log.latest_commit()
        if (last.batch_id if last else -1) != plan.base_batch:
            raise ConcurrentWriter(
                f"{self.layout.location}: batch {plan.batch_id} was planned on batch {plan.base_batch} but the lake "
                f"is at batch {last.batch_id if last else -1}; another newswire job committed meanwhile"
            )
        base_offsets = last.end_offsets if last else {}
        seconds = time.monotonic() - started
        stats = {
            "records": plan.record_count,
            "rows": row_counts["articles"],
            "entities": row_counts["entities"],
            "dead_letters": row_counts["dead_letters"],
            "redeliveries_skipped": int(metrics.get("redeliveries_skipped", 0)),
            "version_conflicts": int(metrics.get("version_conflicts", 0)),
            "cluster_remaps": row_counts["cluster_remaps"],
            "exact_duplicates": int(metrics.get("exact_duplicates", 0)),
            "near_duplicates": int(metrics.get("near_duplicates", 0)),
            "paragraphs_annotated": int(metrics.get("paragraphs_annotated", 0)),
            "paragraphs_reused": int(metrics.get("paragraphs_reused", 0)),
            "ner_seconds": round(metrics.get("ner_inference_micros", 0) / 1e6, 3),
            "seconds": round(seconds, 3),
            "replayed": replayed,
        }
        commit = BatchCommit(
            batch_id=plan.batch_id,
            end_offsets=end_offsets_of(list(plan.ranges), base_offsets),
            files=tuple(str(f) for f in data_files),
            state_deltas=state_deltas,
            stats=stats,
            committed_at=self.clock(),
        )
        self.log.write_commit(commit)
        self.crash_hook("committed")
        clear_dir(staging)
        self._after_commit(commit, plan.planned_at, settings.dedup_lookback)
        phases.lap("commit")
        return BatchResult(commit=commit, seconds=seconds, replayed=replayed, phases=phases.seconds)

    def _after_commit(self, commit: BatchCommit, planned_at: datetime, lookback: timedelta) -> None:
        committed_ids = self.log.batch_ids()
        self.group_offsets.submit(commit.batch_id, commit.end_offsets)
        every = self.config.snapshot_every
        if every > 0 and commit.batch_id > 0 and commit.batch_id % every == 0:
            for section in STATE_SECTIONS.values():
                index = STATE_CACHE.get_section(self.layout, section, commit.batch_id, committed_ids)
                if section.expire is not None:
                    section.expire(index, planned_at - lookback)
                self.state.write_section_snapshot(section, index, commit.batch_id)
                self.state.prune_section(section.name, commit.batch_id)
            self.log.prune(commit.batch_id - max(self.config.retain_batches, 1) + 1)

    def run_once(self) -> Optional[BatchResult]:
        plan_started = time.monotonic()
        plan, replayed = self.next_plan()
        plan_seconds = time.monotonic() - plan_started
        self.observer.planned(plan, replayed)
        if plan is None:
            return None
        if replayed:
            log.info("replaying_planned_batch batch=%d records=%d", plan.batch_id, plan.record_count)
        result = self.execute(plan, replayed)
        result.phases["plan"] = plan_seconds
        log_batch(result, plan.ranges)
        self.observer.batch_committed(result)
        return result

    # -- the loop -------------------------------------------------------------------------
    def run(self) -> int:
        """Run until stopped (signal) or idle for ``until_idle`` seconds; returns batches run.

        A failing batch (Kafka unreachable, a stalled read, a full disk) is retried with backoff up to
        ``config.retry.attempts`` times in a row, then ``RetriesExhausted`` is raised.
        """
        with self._writer_lock():
            return self._loop()

    def _writer_lock(self) -> contextlib.AbstractContextManager:
        """The lake's writer lock for the loop's lifetime (local lakes; object stores have none)."""
        if not self.layout.storage.is_local:
            log.warning("no_writer_lock lake=%s: object stores have no locks; run one job per lake", self.layout.location)
            return contextlib.nullcontext()
        return WriterLock(self.layout)

    def _loop(self) -> int:
        cfg = self.config
        progress = Progress(cfg.progress if cfg.progress is not None else sys.stderr.isatty())
        failures = FailureStreak(cfg.retry)
        last_activity = time.monotonic()
        while not self.stop_event.is_set():
            self.group_offsets.try_commit()
            started = time.monotonic()
            try:
                result = self.run_once()
            except (SimulatedCrash, ConcurrentWriter):
                raise  # a second writer on the lake is not a failure that retrying mends
            except Exception as err:
                self.observer.trigger_finished(err)
                failure = failures.failed(started)
                log_batch_failure(self.stage, failure, err)
                if failure.give_up:
                    raise RetriesExhausted(f"batch ({self.stage})", failure, err) from err
                self.stop_event.wait(failure.backoff)
                continue
            self.observer.trigger_finished(None)
            recovery = failures.succeeded()
            if recovery is not None:
                log.info("batch_resumed after_failures=%d outage=%.1fs", recovery.failures, recovery.outage_seconds)
            if result is not None:
                self.batches_run += 1
                last_activity = time.monotonic()
                progress.show(result)
                if self.compaction is not None:  # between batches: never while one publishes
                    self.compaction.after_batch()
                if cfg.trigger_interval and time.monotonic() - started < cfg.trigger_interval:
                    # Processing-time trigger: the next batch starts one interval after this one did.
                    self.stop_event.wait(cfg.trigger_interval - (time.monotonic() - started))
                continue
            if self.compaction is not None:
                self.compaction.when_idle()
            if cfg.until_idle is not None and time.monotonic() - last_activity >= cfg.until_idle:
                log.info("idle_stop seconds=%.1f", cfg.until_idle)
                break
            wait = cfg.trigger_interval if cfg.trigger_interval else 0.2
            if cfg.until_idle is not None:
                wait = min(wait, max(0.05, cfg.until_idle - (time.monotonic() - last_activity)))
            self.stop_event.wait(wait)
        self.group_offsets.try_commit()
        progress.done()
        return self.batches_run

    def install_signal_handlers(self) -> None:
        """First SIGTERM/SIGINT finishes the current batch and exits 0; a second one exits at once."""

        def handler(signum, _frame):
            if self.stop_event.is_set():
                log.warning("second_signal signal=%d: exiting without waiting", signum)
                raise SystemExit(1)
            log.info("stop_requested signal=%d", signum)
            self.stop_event.set()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)


def log_batch_failure(stage: str, failure: Failure, err: BaseException) -> None:
    """One line per failed attempt: the stage, attempt n of m, the pause before the next one."""
    summary = describe(err)
    if len(summary) > 600:  # Beam wraps worker tracebacks into the message; the whole one is at DEBUG
        summary = summary[:300] + " ... " + summary[-300:]
    if failure.give_up:
        log.error("batch_failed stage=%s attempt=%d/%d outage=%.1fs giving_up error=%s",
                  stage, failure.attempt, failure.attempts, failure.outage_seconds, summary)
    else:
        log.error("batch_failed stage=%s attempt=%d/%d backoff=%.1fs error=%s",
                  stage, failure.attempt, failure.attempts, failure.backoff, summary)
    log.debug("batch_failed traceback", exc_info=err)


def format_ranges(ranges: tuple[OffsetRange, ...]) -> str:
    return ",".join(f"{r.topic}:{r.partition}:{r.start}-{r.stop}" for r in ranges)


def log_batch(result: BatchResult, ranges: tuple[OffsetRange, ...]) -> None:
    s = result.commit.stats
    log.info(
        "batch_committed batch=%d ranges=%s records=%d rows=%d entities=%d dead_letters=%d "
        "redeliveries_skipped=%d version_conflicts=%d exact_duplicates=%d near_duplicates=%d "
        "paragraphs_annotated=%d paragraphs_reused=%d seconds=%.3f replayed=%s",
        result.commit.batch_id,
        format_ranges(ranges),
        s["records"],
        s["rows"],
        s.get("entities", 0),
        s["dead_letters"],
        s["redeliveries_skipped"],
        s["version_conflicts"],
        s.get("exact_duplicates", 0),
        s.get("near_duplicates", 0),
        s.get("paragraphs_annotated", 0),
        s.get("paragraphs_reused", 0),
        s["seconds"],
        str(result.replayed).lower(),
        extra={"batch_id": result.commit.batch_id, "ranges": [r.to_json() for r in ranges], **s},
    )


class Progress:
    """A one-line live status on a terminal; silent otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.rows = self.dead = self.skipped = self.batches = 0
        self.started = time.monotonic()

    def show(self, result: BatchResult) -> None:
        s = result.commit.stats
        self.batches += 1
        self.rows += s["rows"]
        self.dead += s["dead_letters"]
        self.skipped += s["redeliveries_skipped"]
        if self.enabled:
            elapsed = time.monotonic() - self.started
            sys.stderr.write(
                f"\r\x1b[2K[newswire] batch {result.commit.batch_id} | {self.rows} rows | {self.dead} dead letters"
                f" | {self.skipped} redeliveries skipped | {self.rows / max(elapsed, 1e-9):.0f} rows/s"
            )
            sys.stderr.flush()

    def done(self) -> None:
        if self.enabled and self.batches:
            sys.stderr.write("\n")
