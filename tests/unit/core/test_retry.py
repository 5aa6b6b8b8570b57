"""The retry policy and its bookkeeping: pauses, bounds, give-up and recovery, on a fake clock."""
from __future__ import annotations

import pytest

from pipeline.core.retry import FailureStreak, RetriesExhausted, RetryPolicy, call_with_retries, describe


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_backoff_doubles_from_the_initial_pause_up_to_the_cap():
    policy = RetryPolicy(attempts=10, initial_backoff=1.0, max_backoff=10.0)
    assert [policy.backoff(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_backoff_stays_finite_for_very_long_streaks():
    assert RetryPolicy(attempts=10_000, max_backoff=60.0).backoff(5000) == 60.0


def test_total_wait_is_the_sum_of_the_pauses_before_giving_up():
    # 3 attempts: two pauses (after failures 1 and 2); the third failure gives up without one.
    assert RetryPolicy(attempts=3, initial_backoff=1.0, max_backoff=60.0).total_wait() == 3.0
    assert RetryPolicy().total_wait() == 1 + 2 + 4 + 8 + 16 + 32 + 60 * 13


@pytest.mark.parametrize(
    "kwargs",
    [{"attempts": 0}, {"initial_backoff": -1.0}, {"max_backoff": -1.0}, {"multiplier": 0.5}],
)
def test_nonsense_policies_are_refused(kwargs):
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)


def test_backoff_counts_failures_from_one():
    with pytest.raises(ValueError):
        RetryPolicy().backoff(0)


def test_streak_reports_attempt_n_of_m_backoff_and_outage_then_gives_up():
    clock = FakeClock()
    streak = FailureStreak(RetryPolicy(attempts=3, initial_backoff=2.0, max_backoff=60.0), clock)
    first = streak.failed()
    assert (first.attempt, first.attempts, first.backoff, first.give_up, first.outage_seconds) == (1, 3, 2.0, False, 0.0)
    clock.sleep(2.5)
    second = streak.failed()
    assert (second.attempt, second.backoff, second.give_up, second.outage_seconds) == (2, 4.0, False, 2.5)
    clock.sleep(4.0)
    third = streak.failed()
    assert (third.attempt, third.backoff, third.give_up, third.outage_seconds) == (3, 0.0, True, 6.5)


def test_success_ends_the_streak_and_says_how_long_the_outage_was():
    clock = FakeClock()
    streak = FailureStreak(RetryPolicy(attempts=3), clock)
    assert streak.succeeded() is None  # nothing had failed: nothing to report
    streak.failed()
    clock.sleep(1.0)
    streak.failed()
    clock.sleep(2.0)
    recovery = streak.succeeded()
    assert (recovery.failures, recovery.outage_seconds) == (2, 3.0)
    assert streak.succeeded() is None
    # a new streak counts from one again
    assert streak.failed().attempt == 1


def test_call_with_retries_waits_between_attempts_and_reports_the_recovery():
    clock = FakeClock()
    outcomes = [ConnectionError("refused"), TimeoutError("timed out"), "value"]
    failures, recoveries = [], []

    def call():
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    result = call_with_retries(
        "end_offsets",
        call,
        RetryPolicy(attempts=5, initial_backoff=1.0, max_backoff=60.0),
        on_failure=lambda what, f, err: failures.append((what, f.attempt, f.backoff, type(err).__name__)),
        on_recovery=lambda what, r: recoveries.append((what, r.failures, r.outage_seconds)),
        sleep=clock.sleep,
        clock=clock,
    )
    assert result == "value"
    assert failures == [("end_offsets", 1, 1.0, "ConnectionError"), ("end_offsets", 2, 2.0, "TimeoutError")]
    assert recoveries == [("end_offsets", 2, 3.0)]


def test_call_with_retries_gives_up_after_the_bound_with_the_last_error():
    clock = FakeClock()
    calls = []

    def call():
        calls.append(clock())
        raise ConnectionError(f"refused #{len(calls)}")

    with pytest.raises(RetriesExhausted) as raised:
        call_with_retries("partitions", call, RetryPolicy(attempts=3, initial_backoff=1.0), lambda *a: None,
                          lambda *a: None, sleep=clock.sleep, clock=clock)
    assert calls == [100.0, 101.0, 103.0]  # no pause after the last failure
    assert raised.value.failure.attempt == 3 and raised.value.failure.give_up
    assert isinstance(raised.value.last_error, ConnectionError) and "refused #3" in str(raised.value)
    assert "partitions failed 3 times in a row" in str(raised.value)


def test_first_call_success_reports_nothing():
    reported = []
    assert call_with_retries("x", lambda: 7, RetryPolicy(), reported.append, reported.append, sleep=reported.append) == 7
    assert reported == []


def test_outage_is_dated_from_when_the_failing_call_began():
    clock = FakeClock()
    streak = FailureStreak(RetryPolicy(attempts=5), clock)
    clock.sleep(30.0)  # a request that timed out after 30 s
    assert streak.failed(attempt_started_at=100.0).outage_seconds == 30.0
    clock.sleep(5.0)
    assert streak.succeeded().outage_seconds == 35.0


def test_describe_names_the_error_type_once_on_one_line():
    class KafkaTimeoutError(Exception):
        pass

    assert describe(KafkaTimeoutError("KafkaTimeoutError: Failed to get offsets in 30000 ms")) == (
        "KafkaTimeoutError: Failed to get offsets in 30000 ms"
    )
    assert describe(ConnectionError("111\nECONNREFUSED")) == "ConnectionError: 111 ECONNREFUSED"
    assert describe(TimeoutError()) == "TimeoutError"
