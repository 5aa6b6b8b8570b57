"""The health rule, readiness and consumer lag as pure functions of what the driver reported."""
from __future__ import annotations

from pipeline.ops.health import TriggerHistory, TriggerWindow, assess_health, assess_readiness, consumer_lag
from pipeline.ops.metrics import OTHER, dead_letter_label, topic_label


def window(missed: int, lags: tuple, planned: bool = True, triggers: int = 100) -> TriggerWindow:
    return TriggerWindow(triggers=triggers, planned=planned, missed=missed, recent_lags=lags)


def test_lag_is_end_minus_committed_and_new_partitions_start_at_earliest():
    lag = consumer_lag(
        committed={("wire", 0): 10, ("wire", 1): 3},
        end_offsets={("wire", 0): 15, ("wire", 1): 3, ("wire", 2): 9},
        earliest_offsets={("wire", 0): 0, ("wire", 1): 0, ("wire", 2): 4},
    )
    assert lag == {("wire", 0): 5, ("wire", 1): 0, ("wire", 2): 5}


def test_records_deleted_by_retention_are_not_lag():
    lag = consumer_lag({("wire", 0): 10}, {("wire", 0): 100}, {("wire", 0): 60})
    assert lag == {("wire", 0): 40}


def test_healthy_while_committing():
    verdict = assess_health(window(0, ()), 6)
    assert verdict.ok and verdict.status == 200


def test_missed_triggers_with_growing_lag_is_unhealthy():
    verdict = assess_health(window(6, (10, 12, 12, 15, 20, 20)), 6)
    assert not verdict.ok and verdict.status == 503
    assert "no commit in 6 triggers" in verdict.reason and "20 records" in verdict.reason
    assert verdict.to_json()["status"] == "unhealthy"


def test_constant_lag_without_commits_is_unhealthy():
    assert not assess_health(window(9, (7, 7, 7)), 3).ok


def test_fewer_missed_triggers_than_the_limit_is_healthy():
    assert assess_health(window(5, (10, 12, 12, 15, 20)), 6).ok


def test_no_lag_means_idle_not_stuck():
    assert assess_health(window(50, (0, 0, 0, 0, 0, 0)), 6).ok


def test_decreasing_lag_is_healthy():
    assert assess_health(window(6, (30, 28, 25, 20, 12, 5)), 6).ok


def test_unknown_lag_is_healthy_and_unknown_start_counts_as_not_decreasing():
    assert assess_health(window(6, (None,) * 6), 6).ok
    assert not assess_health(window(6, (None, None, 4, 4, 4, 4)), 6).ok


def test_start_up_grace_then_unhealthy_without_any_successful_plan():
    assert assess_health(window(2, (None, None), planned=False, triggers=2), 3).ok
    verdict = assess_health(window(3, (None,) * 3, planned=False, triggers=3), 3)
    assert not verdict.ok and "no successful plan" in verdict.reason


def test_ready_only_after_a_successful_plan():
    assert assess_readiness(window(0, (), planned=False, triggers=0)).status == 503
    assert assess_readiness(window(0, (), planned=True, triggers=1)).status == 200


def test_history_counts_triggers_since_the_last_commit():
    history = TriggerHistory(keep=3)
    history.plan_succeeded()
    for lag in (5, 6, 7, 8):
        history.trigger_finished(lag)
    assert history.window() == TriggerWindow(triggers=4, planned=True, missed=4, recent_lags=(6, 7, 8))
    assert not assess_health(history.window(), 3).ok
    history.batch_committed()
    history.trigger_finished(0)
    assert history.window() == TriggerWindow(triggers=5, planned=True, missed=0, recent_lags=())
    assert assess_health(history.window(), 3).ok
    history.trigger_finished(0)
    assert history.window().missed == 1


def test_label_values_come_from_fixed_sets_only():
    assert dead_letter_label("decode", "invalid_json") == ("decode", "invalid_json")
    assert dead_letter_label("entities", "internal_error") == ("entities", "internal_error")
    assert dead_letter_label("password=hunter2", "<script>") == (OTHER, OTHER)
    assert topic_label("wire.ap-1") == "wire.ap-1"
    assert topic_label('wire"} 1\nfake_metric{') is None
