"""The driver loop under Kafka failures: bounded retries with backoff, clear log lines, then resumption.

Kafka is an in-memory offset source that fails on demand; the batch runner writes nothing (the
retry behaviour of the loop is under test, not the Beam graph, which test_commit_protocol covers).
"""
from __future__ import annotations

import logging

import pytest

from pipeline.io.lake.commitlog import CommitLog
from pipeline.job.driver import JobConfig, MicroBatchDriver
from pipeline.io.kafka.group_offsets import GroupOffsetCommitter
from pipeline.io.lake.layout import LakeLayout
from pipeline.core.retry import RetriesExhausted, RetryPolicy

TOPIC = "wire"
FAST = RetryPolicy(attempts=4, initial_backoff=0.01, max_backoff=0.02)


class FlakySource:
    """Two partitions with fixed end offsets; ``fail[name]`` calls of ``name`` raise before it works."""

    def __init__(self, ends: dict[int, int], fail: dict[str, int]) -> None:
        self.ends = ends
        self.fail = dict(fail)
        self.group_commits: list[dict] = []

    def _maybe_fail(self, name: str) -> None:
        if self.fail.get(name, 0) > 0:
            self.fail[name] -= 1
            raise ConnectionError(f"{name}: 111 ECONNREFUSED")

    def partitions(self, topics):
        self._maybe_fail("partitions")
        return [(TOPIC, p) for p in sorted(self.ends)]

    def end_offsets(self, tps):
        self._maybe_fail("end_offsets")
        return {tp: self.ends[tp[1]] for tp in tps}

    def beginning_offsets(self, tps):
        return {tp: 0 for tp in tps}

    def commit_group(self, offsets, metadata):
        self._maybe_fail("commit_group")
        self.group_commits.append(dict(offsets))

    def close(self):
        pass


def no_output_runner(fail_first: int = 0):
    calls = {"n": 0}

    def run(spec) -> dict:
        calls["n"] += 1
        if calls["n"] <= fail_first:
            raise TimeoutError(f"no progress reading {TOPIC}[0] at offset {spec.ranges[0].start} for 120s")
        return {}

    return run


def driver_for(tmp_path, source, runner, policy: RetryPolicy = FAST) -> MicroBatchDriver:
    config = JobConfig(
        bootstrap_servers="unused:9092", topics=[TOPIC], lake=tmp_path / "lake", trigger_interval=0,
        until_idle=0.3, retry=policy,
    )
    return MicroBatchDriver(config, source, runner)


def messages(caplog, prefix: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(prefix)]


def test_planning_failures_are_retried_with_backoff_then_the_job_resumes(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    source = FlakySource({0: 3, 1: 2}, fail={"end_offsets": 2})
    driver = driver_for(tmp_path, source, no_output_runner())
    assert driver.run() == 1
    failed = messages(caplog, "batch_failed")
    assert len(failed) == 2
    assert failed[0].startswith("batch_failed stage=planning attempt=1/4 backoff=0.0s error=ConnectionError: end_offsets")
    assert "attempt=2/4" in failed[1]
    assert len(messages(caplog, "batch_resumed after_failures=2 outage=")) == 1
    commit = CommitLog(LakeLayout(tmp_path / "lake")).latest_commit()
    assert commit.end_offsets == {(TOPIC, 0): 3, (TOPIC, 1): 2}
    assert source.group_commits == [commit.end_offsets]


def test_a_failed_pipeline_is_replayed_from_its_plan(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    source = FlakySource({0: 3, 1: 2}, fail={})
    driver = driver_for(tmp_path, source, no_output_runner(fail_first=1))
    assert driver.run() == 1
    (failed,) = messages(caplog, "batch_failed")
    assert failed.startswith("batch_failed stage=pipeline attempt=1/4") and "TimeoutError: no progress" in failed
    assert messages(caplog, "replaying_planned_batch batch=0")
    log = CommitLog(LakeLayout(tmp_path / "lake"))
    assert log.batch_ids() == [0] and log.commit(0).stats["replayed"] is True


def test_the_loop_gives_up_after_the_bound_instead_of_spinning(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    source = FlakySource({0: 3}, fail={"partitions": 10**6})
    driver = driver_for(tmp_path, source, no_output_runner(), RetryPolicy(attempts=3, initial_backoff=0.01))
    with pytest.raises(RetriesExhausted) as raised:
        driver.run()
    assert raised.value.failure.attempt == 3
    assert "batch (planning) failed 3 times in a row" in str(raised.value)
    failed = messages(caplog, "batch_failed")
    assert len(failed) == 3 and "attempt=3/3" in failed[-1] and "giving_up" in failed[-1]
    assert CommitLog(LakeLayout(tmp_path / "lake")).batch_ids() == []


def test_a_failed_group_offset_commit_never_holds_a_batch_and_is_retried_while_idle(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    source = FlakySource({0: 3, 1: 2}, fail={"commit_group": 2})
    driver = driver_for(tmp_path, source, no_output_runner())
    assert driver.run() == 1
    assert messages(caplog, "batch_failed") == []
    failed = messages(caplog, "group_offset_commit_failed batch=0")
    assert len(failed) == 2 and "attempt=1/4" in failed[0] and "attempt=2/4" in failed[1]
    assert len(messages(caplog, "group_offset_commit_resumed batch=0 after_failures=2")) == 1
    assert source.group_commits == [{(TOPIC, 0): 3, (TOPIC, 1): 2}]


class StepClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_group_committer_waits_out_its_backoff_and_newer_offsets_replace_pending_ones(caplog):
    caplog.set_level(logging.INFO)
    clock = StepClock()
    commits, fail = [], {"n": 1}

    def commit(offsets, metadata):
        if fail["n"] > 0:
            fail["n"] -= 1
            raise ConnectionError("coordinator not available")
        commits.append((metadata, offsets))

    committer = GroupOffsetCommitter(commit, RetryPolicy(attempts=5, initial_backoff=2.0), clock)
    committer.submit(0, {(TOPIC, 0): 5})
    assert commits == [] and committer.pending is not None
    clock.now = 1.0
    assert committer.try_commit() is False and commits == []  # backoff of 2 s not over yet
    committer.submit(1, {(TOPIC, 0): 9})  # a newer batch: tried at once, supersedes batch 0
    assert commits == [("newswire batch 1", {(TOPIC, 0): 9})]
    assert committer.pending is None and committer.try_commit() is True


def test_group_committer_abandons_after_the_bound_and_starts_afresh(caplog):
    caplog.set_level(logging.INFO)
    clock = StepClock()

    def commit(offsets, metadata):
        raise ConnectionError("refused")

    committer = GroupOffsetCommitter(commit, RetryPolicy(attempts=2, initial_backoff=1.0), clock)
    committer.submit(3, {(TOPIC, 0): 5})
    clock.now = 1.0
    assert committer.try_commit() is True and committer.pending is None
    assert len(messages(caplog, "group_offset_commit_abandoned batch=3 attempt=2/2")) == 1
    committer.submit(4, {(TOPIC, 0): 6})
    assert "attempt=1/2" in messages(caplog, "group_offset_commit_failed batch=4")[0]
