"""Health and readiness of the running job, decided by pure functions of what the driver reported.

The unit of time is the trigger (one turn of the driver loop), not the wall clock: a batch that
legitimately runs for an hour must not make the job look dead, because a restart would replay the
same planned batch and be killed again. What does mean trouble is a row of triggers without a
commit while there is data waiting: Kafka or the lake keeps failing, or every attempt of the
pending batch fails.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional

from pipeline.core.planning import TopicPartitionKey

DEFAULT_MAX_MISSED_TRIGGERS = 6


def consumer_lag(
    committed: Mapping[TopicPartitionKey, int],
    end_offsets: Mapping[TopicPartitionKey, int],
    earliest_offsets: Mapping[TopicPartitionKey, int],
) -> dict[TopicPartitionKey, int]:
    """Records still to read per partition: end offset minus where the job resumes.

    The job resumes at the committed offset, at the earliest offset for a partition it never read,
    and never before the earliest offset still retained (records deleted by retention are not lag).
    """
    lag = {}
    for tp, end in end_offsets.items():
        earliest = int(earliest_offsets.get(tp, 0))
        resume = max(int(committed.get(tp, earliest)), earliest)
        lag[tp] = max(int(end) - resume, 0)
    return lag


@dataclass(frozen=True)
class Verdict:
    """An answer for /healthz or /readyz: ok -> HTTP 200, otherwise 503; ``reason`` for people."""

    ok: bool
    reason: str

    @property
    def status(self) -> int:
        return 200 if self.ok else 503

    def to_json(self) -> dict:
        return {"status": "ok" if self.ok else "unhealthy", "reason": self.reason}


@dataclass(frozen=True)
class TriggerWindow:
    """What health is decided from.

    ``triggers``: triggers finished since the job started; ``planned``: planning has succeeded at
    least once; ``missed``: triggers finished since the last one that committed a batch;
    ``recent_lags``: the total consumer lag known at the end of the last of those triggers (at
    most as many as health looks back, oldest first; None while the lag is unknown).
    """

    triggers: int
    planned: bool
    missed: int
    recent_lags: tuple[Optional[int], ...]


def assess_health(window: TriggerWindow, max_missed_triggers: int) -> Verdict:
    """Unhealthy after ``max_missed_triggers`` triggers without a successful plan (at start-up), or
    without a commit while the lag is above zero and not decreasing; healthy otherwise."""
    n = max(int(max_missed_triggers), 1)
    if not window.planned:
        if window.triggers >= n:
            return Verdict(False, f"no successful plan in {window.triggers} triggers (Kafka or the lake unreachable?)")
        return Verdict(True, f"starting: {window.triggers} triggers, no plan yet")
    lags = window.recent_lags[-n:]
    latest = lags[-1] if lags else None
    if window.missed >= n and latest is not None and latest > 0:
        first = lags[0]
        if first is None or latest >= first:
            return Verdict(
                False,
                f"no commit in {window.missed} triggers while consumer lag is {latest} records and not decreasing",
            )
    lag_text = "" if latest is None else f", consumer lag {latest} records"
    return Verdict(True, f"ok: {window.missed} triggers since the last commit{lag_text}")


def assess_readiness(window: TriggerWindow) -> Verdict:
    """Ready once the job has planned a batch: it reached Kafka and read its lake's commit log."""
    if window.planned:
        return Verdict(True, "ready: planning succeeded")
    return Verdict(False, f"not ready: no successful plan yet ({window.triggers} triggers)")


@dataclass
class TriggerHistory:
    """Accumulates the driver's events into a :class:`TriggerWindow`, keeping the last ``keep`` lags."""

    keep: int = DEFAULT_MAX_MISSED_TRIGGERS
    triggers: int = 0
    planned: bool = False
    missed: int = 0
    lags: list[Optional[int]] = field(default_factory=list)
    committed_this_trigger: bool = False

    def plan_succeeded(self) -> None:
        self.planned = True

    def batch_committed(self) -> None:
        self.committed_this_trigger = True

    def trigger_finished(self, total_lag: Optional[int]) -> None:
        self.triggers += 1
        if self.committed_this_trigger:
            self.missed, self.lags = 0, []
            self.committed_this_trigger = False
        else:
            self.missed += 1
            self.lags = (self.lags + [total_lag])[-max(self.keep, 1):]

    def window(self) -> TriggerWindow:
        return TriggerWindow(self.triggers, self.planned, self.missed, tuple(self.lags))
