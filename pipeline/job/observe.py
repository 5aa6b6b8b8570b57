"""What the driver tells an observer (metrics, health) about its work; no-op by default.

The driver calls these hooks at fixed points of the batch protocol and never depends on what an
observer does with them, so monitoring stays out of the commit protocol. Hooks must not raise:
an observer that fails would otherwise fail a batch that is fine.
"""
from __future__ import annotations

import time
from pathlib import Path
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Sequence

from pipeline.core.planning import TopicPartitionKey
from pipeline.io.lake.commitlog import BatchCommit, BatchPlan

PHASES = ("plan", "beam", "publish", "commit")
Offsets = Mapping[TopicPartitionKey, int]


@dataclass
class BatchResult:
    """What one executed batch left behind: its commit entry, wall seconds, replay or not, seconds per phase."""

    commit: BatchCommit
    seconds: float
    replayed: bool
    phases: dict[str, float] = field(default_factory=dict)  # seconds per phase of pipeline.job.observe.PHASES


class DriverObserver:
    """The driver's hooks, in the order they happen in one trigger; override what you need."""

    def offsets_fetched(self, committed: Offsets, end_offsets: Offsets, earliest_offsets: Offsets) -> None:
        """Kafka's end/earliest offsets and the last commit's offsets, as fetched for planning a new batch."""

    def planned(self, plan: Optional[BatchPlan], replayed: bool) -> None:
        """Planning succeeded: a new or replayed batch, or None when there is nothing to read."""

    def batch_staged(self, batch_id: int, staging: Path, data_files: Sequence[Path]) -> None:
        """The batch's files are complete in staging (paths relative to ``staging``), not yet published."""

    def batch_committed(self, result: BatchResult) -> None:
        """The batch is committed (commit-log entry written, group offsets committed or warned about)."""

    def trigger_finished(self, error: Optional[BaseException]) -> None:
        """One trigger of the driver loop is over: ``error`` is what failed it, None when it did not fail."""


class PhaseClock:
    """Seconds spent in consecutive named phases: ``lap(name)`` closes the phase that ends now."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last = clock()
        self.seconds: dict[str, float] = {}

    def lap(self, phase: str) -> float:
        now = self._clock()
        spent = now - self._last
        self._last = now
        self.seconds[phase] = self.seconds.get(phase, 0.0) + spent
        return spent
