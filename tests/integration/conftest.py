"""Integration fixtures: one real Kafka broker per test session, started by the project's own command.

If ``NEWSWIRE_TEST_BOOTSTRAP`` is set (CI may start the broker before pytest), that broker is used.
"""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from pipeline.ops.broker import free_port
from pipeline.ops.compose import ensure_topic

REPO = Path(__file__).resolve().parents[2]

# The fixture stories carry fixed dates (2026-11-23..25, see feed.py) so their partitions and
# expectations are stable. The job evicts dedup state older than ``--dedup-lookback-days`` measured
# from the batch's own clock (now), so a test that needs copies matched across batches widens the
# lookback: the fixtures then stay inside it whatever day the suite runs.
FIXTURE_LOOKBACK = ("--dedup-lookback-days", "3650")


def newswire(*args: str, **kwargs) -> subprocess.CompletedProcess:
    """Run the CLI as users do (``python -m pipeline.cli`` == the ``newswire`` script)."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *args], cwd=REPO, capture_output=True, text=True, **kwargs
    )


def newswire_popen(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipeline.cli", *args], cwd=REPO, **kwargs)


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory) -> str:
    given = os.environ.get("NEWSWIRE_TEST_BOOTSTRAP")
    if given:
        yield given
        return
    broker_dir = tmp_path_factory.mktemp("kafka")
    port = free_port()
    started = newswire("broker", "start", "--dir", str(broker_dir), "--port", str(port), timeout=300)
    assert started.returncode == 0, f"broker did not start:\n{started.stdout}\n{started.stderr}"
    bootstrap = started.stdout.strip().splitlines()[-1]
    try:
        yield bootstrap
    finally:
        newswire("broker", "stop", "--dir", str(broker_dir), timeout=120)


@pytest.fixture
def topic(kafka_bootstrap, request) -> str:
    """A fresh three-partition topic per test."""
    name = f"t-{request.node.name[:40]}-{uuid.uuid4().hex[:8]}".replace("[", "-").replace("]", "")
    name = "".join(c if c.isalnum() or c in "._-" else "-" for c in name)
    ensure_topic(kafka_bootstrap, name, 3)
    return name
