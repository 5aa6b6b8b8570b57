"""A replayed batch keeps the settings it was planned with; a lake has one writer at a time."""
from __future__ import annotations

import json
import logging
import os
import threading
from datetime import timedelta

import pytest

from pipeline.core.contract import BatchSettings, BatchSpec
from pipeline.io.lake.commitlog import CommitLog, ConcurrentWriter
from pipeline.io.lake.layout import LakeLayout
from pipeline.io.lake.writer_lock import WriterLock, WriterLockHeld
from pipeline.job.driver import JobConfig, MicroBatchDriver, SimulatedCrash
from tests.support.memory_kafka import TOPIC, MemoryLog, fixed_clock, story


def recording_runner(specs: list[BatchSpec], block: threading.Event | None = None, started: threading.Event | None = None):
    """A batch runner that writes nothing and remembers each spec (the driver's side is under test)."""

    def run(spec: BatchSpec) -> dict:
        specs.append(spec)
        if started is not None:
            started.set()
        if block is not None:
            assert block.wait(30), "the test never released the batch"
        return {}

    return run


def config(lake, **overrides) -> JobConfig:
    return JobConfig(bootstrap_servers="unused:9092", topics=[TOPIC], lake=lake, trigger_interval=0, **overrides)


def crash_at(point: str):
    def hook(name: str) -> None:
        if name == point:
            raise SimulatedCrash(name)

    return hook


def test_replay_runs_with_the_planned_settings_and_new_flags_apply_from_the_next_batch(tmp_path, caplog):
    kafka = MemoryLog()
    for i in range(4):
        kafka.append(i % 2, story(i))
    lake = tmp_path / "lake"
    planned_with = dict(spacy_model="en_core_web_sm", dedup_lookback=timedelta(days=7), max_message_bytes=1 << 20)
    first_specs: list[BatchSpec] = []
    first = MicroBatchDriver(config(lake, **planned_with), kafka, recording_runner(first_specs),
                             crash_hook=crash_at("pipeline_done"), clock=fixed_clock())
    with pytest.raises(SimulatedCrash):
        first.run_once()
    assert CommitLog(LakeLayout(lake)).pending_plan().settings == BatchSettings(**planned_with)

    restarted_with = dict(spacy_model="en_core_web_md", dedup_lookback=timedelta(days=2), max_message_bytes=4096)
    specs: list[BatchSpec] = []
    restarted = MicroBatchDriver(config(lake, **restarted_with), kafka, recording_runner(specs), clock=fixed_clock())
    with caplog.at_level(logging.WARNING, logger="pipeline.job.driver"):
        replay = restarted.run_once()
    assert replay.replayed and replay.commit.batch_id == 0
    (spec,) = specs
    assert (spec.spacy_model, spec.lookback, spec.max_message_bytes) == (
        "en_core_web_sm", timedelta(days=7), 1 << 20
    ), "the replay must write what the batch was planned to write"
    warning = " ".join(r.getMessage() for r in caplog.records if "replay_keeps_planned_settings" in r.getMessage())
    assert "spacy_model='en_core_web_sm'(now 'en_core_web_md')" in warning
    assert "max_message_bytes=1048576(now 4096)" in warning
    assert "the new flags apply from batch 1" in warning

    kafka.append(0, story(10))
    nxt = restarted.run_once()
    assert nxt.commit.batch_id == 1 and not nxt.replayed
    assert (specs[1].spacy_model, specs[1].lookback, specs[1].max_message_bytes) == (
        "en_core_web_md", timedelta(days=2), 4096
    )
    assert CommitLog(LakeLayout(lake)).plan(1).settings == BatchSettings(**restarted_with)


def test_plan_written_before_settings_were_pinned_replays_with_the_current_flags(tmp_path):
    kafka = MemoryLog()
    kafka.append(0, story(1))
    lake = tmp_path / "lake"
    first = MicroBatchDriver(config(lake), kafka, recording_runner([]), crash_hook=crash_at("pipeline_done"))
    with pytest.raises(SimulatedCrash):
        first.run_once()
    log = CommitLog(LakeLayout(lake))
    legacy = log.plans_dir / f"{0:020d}.json"
    obj = json.loads(legacy.read_text())
    del obj["settings"]
    legacy.write_text(json.dumps(obj))
    specs: list[BatchSpec] = []
    MicroBatchDriver(config(lake, spacy_model="en_core_web_md"), kafka, recording_runner(specs)).run_once()
    assert specs[0].spacy_model == "en_core_web_md"


def test_second_job_on_a_lake_is_refused_while_the_first_is_mid_batch(tmp_path):
    kafka = MemoryLog()
    kafka.append(0, story(1))
    lake = tmp_path / "lake"
    release, in_batch = threading.Event(), threading.Event()
    first = MicroBatchDriver(config(lake, until_idle=0.2), kafka, recording_runner([], release, in_batch))
    outcome: dict = {}
    runner = threading.Thread(target=lambda: outcome.setdefault("batches", first.run()))
    runner.start()
    try:
        assert in_batch.wait(30), "the first job never started its batch"
        second = MicroBatchDriver(config(lake, until_idle=0.2), kafka, recording_runner([]))
        with pytest.raises(WriterLockHeld, match=rf"held by another newswire job \(pid {os.getpid()} on "):
            second.run()
    finally:
        release.set()
        runner.join(30)
    assert outcome["batches"] == 1
    assert CommitLog(LakeLayout(lake)).batch_ids() == [0], "the refused job wrote nothing"
    # the lock goes with the job: the next job on the lake runs
    kafka.append(1, story(2))
    assert MicroBatchDriver(config(lake, until_idle=0.2), kafka, recording_runner([])).run() == 1


def test_lock_is_released_when_the_loop_fails(tmp_path):
    lake = tmp_path / "lake"
    kafka = MemoryLog()
    kafka.append(0, story(1))
    driver = MicroBatchDriver(config(lake), kafka, recording_runner([]), crash_hook=crash_at("published"))
    with pytest.raises(SimulatedCrash):
        driver.run()
    with WriterLock(LakeLayout(lake)):
        pass


def test_a_second_writer_committing_the_same_batch_is_refused(tmp_path):
    """Without the lock (e.g. an object-store lake), the write-once commit entry still refuses the late writer."""
    kafka = MemoryLog()
    kafka.append(0, story(1))
    lake = tmp_path / "lake"
    late = MicroBatchDriver(config(lake), kafka, recording_runner([]))
    plan, replayed = late.next_plan()
    assert plan.batch_id == 0 and not replayed
    early = MicroBatchDriver(config(lake), kafka, recording_runner([]))
    assert early.run_once().commit.batch_id == 0  # takes the plan as a pending one and commits it
    with pytest.raises(ConcurrentWriter, match="another newswire job committed meanwhile"):
        late.execute(plan)
    assert CommitLog(LakeLayout(lake)).batch_ids() == [0]
