"""Bounded retry with exponential backoff: the policy and the bookkeeping, no IO and no sleeping.

The job runs for months next to a Kafka cluster that restarts, fails over and pauses (GC, VM
migration). A failing call is retried a bounded number of times with growing pauses; each failure
says what failed, which attempt of how many it was and how long the job now waits; the first success
after failures says the job resumed and how long the outage lasted. When the attempts run out the
caller gives up loudly instead of spinning.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Optional, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` failures in a row are tolerated; the pause after failure n is
    ``initial_backoff * multiplier**(n-1)``, capped at ``max_backoff`` seconds."""

    attempts: int = 20
    initial_backoff: float = 1.0
    max_backoff: float = 60.0
    multiplier: float = 2.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be >= 1")
        if self.initial_backoff < 0 or self.max_backoff < 0:
            raise ValueError("backoff must be >= 0")
        if self.multiplier < 1:
            raise ValueError("multiplier must be >= 1")

    def backoff(self, failure: int) -> float:
        """Seconds to wait after the ``failure``-th failure in a row (1-based)."""
        if failure < 1:
            raise ValueError("failure counts from 1")
        # Capped exponent: no float overflow however long the streak.
        exponent = min(failure - 1, 64)
        return min(self.max_backoff, self.initial_backoff * self.multiplier**exponent)

    def total_wait(self) -> float:
        """Seconds of waiting before giving up: the outage this policy rides out (call time excluded)."""
        return sum(self.backoff(n) for n in range(1, self.attempts))


@dataclass(frozen=True)
class Failure:
    """One failure of a streak: what to log and what to do next."""

    attempt: int  # 1-based count of failures in a row
    attempts: int  # the policy's bound
    backoff: float  # seconds to wait before the next attempt (0 when giving up)
    give_up: bool
    outage_seconds: float  # since the first failed attempt of the streak began


@dataclass(frozen=True)
class Recovery:
    """The first success after a streak of failures."""

    failures: int
    outage_seconds: float


class FailureStreak:
    """Consecutive failures of one operation under a ``RetryPolicy``."""

    def __init__(self, policy: RetryPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self.clock = clock
        self.failures = 0
        self.first_failure_at: Optional[float] = None

    def failed(self, attempt_started_at: Optional[float] = None) -> Failure:
        """Count a failure; ``attempt_started_at`` (same clock) dates the outage from when the failing
        call began rather than from when it gave up (a timed-out request fails long after it started)."""
        now = self.clock()
        if self.failures == 0:
            self.first_failure_at = now if attempt_started_at is None else min(now, attempt_started_at)
        self.failures += 1
        give_up = self.failures >= self.policy.attempts
        return Failure(
            attempt=self.failures,
            attempts=self.policy.attempts,
            backoff=0.0 if give_up else self.policy.backoff(self.failures),
            give_up=give_up,
            outage_seconds=now - (self.first_failure_at if self.first_failure_at is not None else now),
        )

    def succeeded(self) -> Optional[Recovery]:
        """Ends the streak; returns what to report, or None when nothing had failed."""
        if self.failures == 0:
            return None
        recovery = Recovery(failures=self.failures, outage_seconds=self.clock() - (self.first_failure_at or 0.0))
        self.failures = 0
        self.first_failure_at = None
        return recovery


def describe(err: BaseException) -> str:
    """``Type: message`` on one line, without the type twice (kafka-python puts it in the message)."""
    message = " ".join(str(err).split())
    name = type(err).__name__
    return message if message.startswith(name) else f"{name}: {message}" if message else name


class RetriesExhausted(RuntimeError):
    """Raised when an operation failed as many times in a row as its policy allows."""

    def __init__(self, what: str, failure: Failure, last_error: BaseException) -> None:
        super().__init__(
            f"{what} failed {failure.attempt} times in a row over {failure.outage_seconds:.0f}s; "
            f"last error {describe(last_error)}"
        )
        self.what = what
        self.failure = failure
        self.last_error = last_error


def call_with_retries(
    what: str,
    call: Callable[[], T],
    policy: RetryPolicy,
    on_failure: Callable[[str, Failure, BaseException], None],
    on_recovery: Callable[[str, Recovery], None],
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """``call()`` until it succeeds or ``policy.attempts`` calls failed (then ``RetriesExhausted``).

    Every failure is reported through ``on_failure`` before the pause, a success after failures
    through ``on_recovery``; logging is the caller's, so this stays testable without IO.
    """
    streak = FailureStreak(policy, clock)
    while True:
        started = clock()
        try:
            result = call()
        except Exception as err:
            failure = streak.failed(started)
            on_failure(what, failure, err)
            if failure.give_up:
                raise RetriesExhausted(what, failure, err) from err
            sleep(failure.backoff)
            continue
        recovery = streak.succeeded()
        if recovery is not None:
            on_recovery(what, recovery)
        return result
