"""Consumer-group offsets for lag tools, committed after each batch without ever holding the job up.

The commit log is the job's truth; the group offsets only tell monitoring how far the job got. A
commit that fails (broker restarting, coordinator moving) is kept and retried on later driver ticks
with backoff, so an idle topic still gets its offsets once Kafka is back, and a batch never waits
for it. A newer batch's offsets replace a pending older set (they include it).
"""
from __future__ import annotations

import logging
import time
from typing import Callable, Optional

from pipeline.core.planning import TopicPartitionKey
from pipeline.core.retry import FailureStreak, RetryPolicy, describe

log = logging.getLogger("newswire.kafka")

CommitGroup = Callable[[dict[TopicPartitionKey, int], str], None]


class GroupOffsetCommitter:
    """Holds the latest batch's offsets until Kafka has accepted them (or the policy gives up)."""

    def __init__(self, commit: CommitGroup, policy: RetryPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.commit = commit
        self.clock = clock
        self.streak = FailureStreak(policy, clock)
        self.pending: Optional[tuple[int, dict[TopicPartitionKey, int]]] = None
        self.next_try = 0.0

    def submit(self, batch_id: int, offsets: dict[TopicPartitionKey, int]) -> None:
        """Offsets of a newly committed batch: tried at once, kept for later ticks if that fails."""
        self.pending = (batch_id, dict(offsets))
        self.next_try = self.clock()
        self.try_commit()

    def try_commit(self) -> bool:
        """Commit the pending offsets if their retry is due; True when nothing is left pending."""
        if self.pending is None:
            return True
        if self.clock() < self.next_try:
            return False
        batch_id, offsets = self.pending
        started = self.clock()
        try:
            self.commit(offsets, f"newswire batch {batch_id}")
        except Exception as err:  # lag tools lag a little; the commit log stays the truth
            failure = self.streak.failed(started)
            if failure.give_up:
                log.error(
                    "group_offset_commit_abandoned batch=%d attempt=%d/%d outage=%.1fs error=%s "
                    "(the next batch commits newer offsets; the commit log has them all)",
                    batch_id, failure.attempt, failure.attempts, failure.outage_seconds, describe(err),
                )
                self.pending = None
                self.streak.succeeded()  # a fresh streak for the next batch
                return True
            log.warning(
                "group_offset_commit_failed batch=%d attempt=%d/%d backoff=%.1fs error=%s",
                batch_id, failure.attempt, failure.attempts, failure.backoff, describe(err),
            )
            self.next_try = self.clock() + failure.backoff
            return False
        recovery = self.streak.succeeded()
        if recovery is not None:
            log.info(
                "group_offset_commit_resumed batch=%d after_failures=%d outage=%.1fs",
                batch_id, recovery.failures, recovery.outage_seconds,
            )
        self.pending = None
        return True
