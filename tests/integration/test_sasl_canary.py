"""Real SASL authentication, with a canary password that must never show up anywhere.

The project's broker is started with a SASL_PLAINTEXT listener (``newswire broker start --sasl-port``)
whose user's password is the canary. The job runs as users run it (a subprocess, ``--log-level DEBUG``,
the password from a file, the environment or a ``--kafka-config`` file), publishes and ingests good and
bad messages through SASL only, and the canary is looked for in the process argv of the whole process
tree and in /metrics, /healthz and /readyz while it runs, its stdout/stderr (text and JSON logs), every
file of the lake (Parquet bytes and decoded rows, dead letters, commit log, state) and the
consumer-group offsets metadata on the broker.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.support.canary_checks import (
    CANARY,
    assert_no_canary,
    assert_no_canary_in_process_argv,
    assert_no_canary_in_process_environment,
    assert_no_canary_in_tree,
)
from conftest import REPO, newswire
from tests.support.lake_checks import article_pairs, assert_lake_files_sound, dead_letter_triples, group_offsets_and_ends

from pipeline.io.kafka import probe as kafka_probe
from pipeline.ops.broker import free_port

ROOT = Path(__file__).resolve().parents[2]
from tests.support.http_probe import http_get  # noqa: E402

ENDPOINTS = ("/metrics", "/healthz", "/readyz")

USER = "newswire-test"
P = "NEWSWIRE_KAFKA_"

GOOD = [
    {"uri": f"urn:test:sasl:{i}", "version": 1, "headline": f"Council approves budget, part {i}",
     "body_text": "Officials in Brussels met on Tuesday to discuss the plan for the harbour.",
     "firstcreated": "2026-11-24T08:00:00Z"}
    for i in range(5)
]
BAD = ["this is not json", json.dumps({"uri": "urn:test:sasl:bad-version", "version": "seven", "headline": "x",
                                       "body_text": "y"}), json.dumps(["a", "list"])]


@dataclass(frozen=True)
class SaslBroker:
    dir: Path
    plaintext_bootstrap: str  # for the test's own checks only
    sasl_bootstrap: str
    password_file: Path


def clean_env(**variables: str) -> dict:
    """The test process's environment without any NEWSWIRE_KAFKA_* variable, plus ``variables``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(P)}
    env.update(variables)
    return env


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory) -> SaslBroker:
    broker_dir = tmp_path_factory.mktemp("sasl-broker")
    password_file = tmp_path_factory.mktemp("secrets") / "kafka-password"
    password_file.write_text(CANARY + "\n", encoding="utf-8")
    password_file.chmod(0o600)
    port = free_port()
    sasl_port = free_port()
    while sasl_port in (port, port + 1):
        sasl_port = free_port()
    env = clean_env(**{P + "SASL_USERNAME": USER, P + "SASL_PASSWORD_FILE": str(password_file)})
    started = newswire(
        "broker", "start", "--dir", str(broker_dir), "--port", str(port), "--sasl-port", str(sasl_port),
        env=env, timeout=300,
    )
    assert started.returncode == 0, f"SASL broker did not start:\n{started.stdout}\n{started.stderr}"
    assert_no_canary(started.stdout + started.stderr, "the output of `newswire broker start`")
    lines = started.stdout.strip().splitlines()
    assert lines[-2] == f"SASL_PLAINTEXT 127.0.0.1:{sasl_port} user {USER}"
    broker = SaslBroker(broker_dir, lines[-1], f"127.0.0.1:{sasl_port}", password_file)
    try:
        yield broker
    finally:
        newswire("broker", "stop", "--dir", str(broker_dir), timeout=120)


def settings_file(path: Path, **variables: str) -> Path:
    path.write_text("".join(f"{P}{k}={v}\n" for k, v in variables.items()), encoding="utf-8")
    path.chmod(0o600)
    return path


@dataclass
class Watched:
    code: int
    out: str
    err: str
    scrapes: dict  # endpoint -> how many answered


def run_watching(args: list[str], env: dict, out_dir: Path, password_only_in_files: bool,
                 metrics_port: int | None = None) -> Watched:
    """Run the CLI; while it runs, check the argv (and, if asked, the environment) of its whole process
    tree and every answer of its metrics endpoints."""
    out_path, err_path = out_dir / "stdout.txt", out_dir / "stderr.txt"
    scrapes = {endpoint: 0 for endpoint in ENDPOINTS}
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", *args], cwd=REPO, env=env, stdout=out, stderr=err)
        samples = 0
        try:
            while proc.poll() is None:
                samples += assert_no_canary_in_process_argv(proc.pid) > 0
                if password_only_in_files:
                    assert_no_canary_in_process_environment(proc.pid)
                for endpoint in ENDPOINTS if metrics_port is not None else ():
                    status, body = http_get(metrics_port, endpoint)
                    assert_no_canary(body, f"the {endpoint} endpoint")
                    scrapes[endpoint] += status != 0
                time.sleep(0.2)
            proc.wait(timeout=600)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert samples > 0, "the job exited before its argv could be inspected"
    return Watched(proc.returncode, out_path.read_text("utf-8", "replace"), err_path.read_text("utf-8", "replace"),
                   scrapes)


VARIANTS = {  # name: SASL mechanism
    "scram-sha-256, password file, text logs": "SCRAM-SHA-256",
    "plain, password in the environment, settings file, json logs": "PLAIN",
}


def job_configuration(variant: str, broker: SaslBroker, tmp_path: Path) -> tuple[dict, list[str], bool]:
    """(environment, extra CLI options, whether the password reaches the job only through files)."""
    mechanism = VARIANTS[variant]
    if variant.startswith("scram-sha-256"):
        env = clean_env(**{P + "SECURITY_PROTOCOL": "SASL_PLAINTEXT", P + "SASL_MECHANISM": mechanism,
                           P + "SASL_USERNAME": USER, P + "SASL_PASSWORD_FILE": str(broker.password_file)})
        return env, [], True
    config = settings_file(tmp_path / "kafka.env", SECURITY_PROTOCOL="SASL_PLAINTEXT", SASL_MECHANISM=mechanism,
                           SASL_USERNAME=USER)
    return clean_env(**{P + "SASL_PASSWORD": CANARY}), ["--kafka-config", str(config)], False


def assert_debug_config_line_masked(stderr: str) -> None:
    """The admin client's DEBUG configuration line is present, with the password masked (no data printed)."""
    has_line = "Starting KafkaAdminClient with configuration" in stderr
    masked = "'sasl_plain_password': '***'" in stderr
    assert has_line and masked, f"configuration line present: {has_line}, password masked: {masked}"


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_job_over_sasl_ingests_and_never_leaks_the_password(sasl_broker, tmp_path, variant):
    env, options, password_only_in_files = job_configuration(variant, sasl_broker, tmp_path)
    topic = f"sasl-{uuid.uuid4().hex[:8]}"
    group = f"g-{topic}"
    feed = tmp_path / "feed.jsonl"
    feed.write_text("\n".join([json.dumps(g) for g in GOOD] + BAD) + "\n", encoding="utf-8")

    # Publishing creates the topic with an admin client, which logs its whole configuration at DEBUG.
    produced = newswire("--log-level", "DEBUG", "produce", "--bootstrap-servers", sasl_broker.sasl_bootstrap,
                        "--topic", topic, "--partitions", "2", *options, str(feed), env=env, timeout=300)
    assert_no_canary(produced.stdout, "stdout of `newswire produce`")
    assert_no_canary(produced.stderr, "stderr of `newswire produce`")
    assert produced.returncode == 0, produced.stderr[-3000:]
    assert f"published {len(GOOD) + len(BAD)} messages" in produced.stdout
    assert_debug_config_line_masked(produced.stderr)

    lake = tmp_path / "lake"
    json_logs = variant.endswith("json logs")
    metrics_port = free_port()
    job = run_watching(
        ["--log-level", "DEBUG", "--log-format", "json" if json_logs else "text", "run",
         "--bootstrap-servers", sasl_broker.sasl_bootstrap, "--topic", topic, "--lake", str(lake),
         "--group-id", group, "--trigger-interval", "0.5", "--until-idle", "3",
         "--metrics-port", str(metrics_port), "--metrics-host", "127.0.0.1", *options],
        env, tmp_path, password_only_in_files, metrics_port,
    )
    assert_no_canary(job.out, "stdout of `newswire run`")
    assert_no_canary(job.err, "stderr of `newswire run`")
    assert job.code == 0, job.err[-4000:]
    assert all(job.scrapes.values()), f"endpoints that never answered: {job.scrapes}"
    assert f"kafka_security SASL_PLAINTEXT, {VARIANTS[variant]} as user '{USER}'" in job.err
    # kafka-python's own debug log was on
    assert ('"level": "DEBUG", "logger": "kafka.' if json_logs else " DEBUG kafka.") in job.err

    # Real SASL worked: every good message is a row, every bad one a dead letter.
    assert sorted(article_pairs(lake)) == sorted((g["uri"], 1) for g in GOOD)
    assert len(dead_letter_triples(lake)) == len(BAD)
    assert_lake_files_sound(lake)
    assert assert_no_canary_in_tree(lake) >= 6  # articles, entities, dead letters, commit log, plans, state

    # The group offsets the job committed through SASL, and their metadata on the broker.
    committed, ends = group_offsets_and_ends(sasl_broker.plaintext_bootstrap, topic, group)
    assert committed == ends and sum(ends.values()) == len(GOOD) + len(BAD)
    assert_no_canary(repr(group_offset_metadata(sasl_broker.plaintext_bootstrap, group)),
                     "the consumer group's offsets metadata on the broker")


def test_publishing_with_scram_sha_512_and_the_password_in_the_settings_file(sasl_broker, tmp_path):
    config = settings_file(tmp_path / "kafka.env", SECURITY_PROTOCOL="SASL_PLAINTEXT", SASL_MECHANISM="SCRAM-SHA-512",
                           SASL_USERNAME=USER, SASL_PASSWORD=CANARY)
    feed = tmp_path / "feed.jsonl"
    feed.write_text("\n".join(json.dumps(g) for g in GOOD) + "\n", encoding="utf-8")
    topic = f"sasl-512-{uuid.uuid4().hex[:8]}"
    produced = newswire("--log-level", "DEBUG", "produce", "--bootstrap-servers", sasl_broker.sasl_bootstrap,
                        "--topic", topic, "--kafka-config", str(config), str(feed), env=clean_env(), timeout=300)
    assert_no_canary(produced.stdout + produced.stderr, "the output of `newswire produce`")
    assert produced.returncode == 0, produced.stderr[-3000:]
    assert_debug_config_line_masked(produced.stderr)
    _committed, ends = group_offsets_and_ends(sasl_broker.plaintext_bootstrap, topic, "nobody")
    assert sum(ends.values()) == len(GOOD)


def group_offset_metadata(bootstrap: str, group: str) -> dict:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        offsets = admin.list_group_offsets({group: None})[group]
    finally:
        admin.close()
    assert offsets and all(o.metadata.startswith("newswire batch ") for o in offsets.values())
    return offsets


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_wrong_password_is_a_clear_refusal_that_prints_no_password(sasl_broker, tmp_path, mechanism):
    wrong = f"wrong-{uuid.uuid4().hex}"
    env = clean_env(**{P + "SECURITY_PROTOCOL": "SASL_PLAINTEXT", P + "SASL_MECHANISM": mechanism,
                       P + "SASL_USERNAME": USER, P + "SASL_PASSWORD": wrong})
    lake = tmp_path / "lake"
    job = run_watching(
        ["--log-level", "DEBUG", "run", "--bootstrap-servers", sasl_broker.sasl_bootstrap, "--topic", "wire",
         "--lake", str(lake)],
        env, tmp_path, password_only_in_files=False,
    )
    for canary, what in ((CANARY, "the real password"), (wrong, "the wrong password")):
        assert_no_canary(job.out + job.err, f"the output of a rejected login ({what})", canary)
    assert job.code == 2
    assert (
        f"newswire run: Kafka at {sasl_broker.sasl_bootstrap} rejected the login "
        f"(SASL_PLAINTEXT, {mechanism} as user '{USER}'): Authentication failed"
    ) in job.err
    assert "Traceback" not in job.err
    assert not lake.exists()


def test_login_probe_verdicts_from_the_real_broker(sasl_broker):
    def settings(mechanism: str, password: str) -> dict:
        return {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": mechanism,
                "sasl_plain_username": USER, "sasl_plain_password": password}

    for mechanism in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
        assert kafka_probe.probe_login(sasl_broker.sasl_bootstrap, settings(mechanism, CANARY)).outcome == kafka_probe.OK
        rejected = kafka_probe.probe_login(sasl_broker.sasl_bootstrap, settings(mechanism, "nope-" + CANARY[:6]))
        assert rejected.outcome == kafka_probe.AUTH_FAILED and "Authentication failed" in rejected.detail
    unsupported = kafka_probe.probe_login(sasl_broker.sasl_bootstrap, settings("OAUTHBEARER", CANARY))
    assert unsupported.outcome == kafka_probe.MECHANISM_UNSUPPORTED
    assert "PLAIN" in unsupported.detail and "SCRAM-SHA-256" in unsupported.detail
    # SASL against the plaintext listener: the broker answers, but not with a verdict on the login.
    assert kafka_probe.probe_login(sasl_broker.plaintext_bootstrap, settings("PLAIN", CANARY)).outcome == kafka_probe.INCONCLUSIVE


def test_canary_checks_see_through_compressed_parquet_and_argv(tmp_path):
    """The checks themselves: a canary inside compressed Parquet data, or on a command line, is found."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    # gzip Huffman-codes literals, so the canary is not in the raw bytes (zstd often keeps it literal)
    pq.write_table(pa.table({"error": [f"x {CANARY} y"] * 50}), tmp_path / "part.parquet", compression="gzip",
                   use_dictionary=False, write_statistics=False)
    assert CANARY.encode() not in (tmp_path / "part.parquet").read_bytes()  # invisible in the raw bytes...
    with pytest.raises(AssertionError, match="decoded rows"):
        assert_no_canary_in_tree(tmp_path)  # ...but found
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", CANARY])
    try:
        with pytest.raises(AssertionError, match=f"argv of process {sleeper.pid}"):
            assert_no_canary_in_process_argv(os.getpid())  # found among the descendants of this process
    finally:
        sleeper.kill()
        sleeper.wait()


def test_broker_process_argv_holds_no_password(sasl_broker):
    state = json.loads((sasl_broker.dir / "broker.json").read_text(encoding="utf-8"))
    assert assert_no_canary_in_process_argv(int(state["pid"])) >= 1
    assert (sasl_broker.dir / "config" / "server.properties").stat().st_mode & 0o077 == 0
