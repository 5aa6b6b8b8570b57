"""docker-compose.yml, as Docker Compose itself resolves it (`docker compose config`, no engine needed).

The plugin comes from deploy/tools/install-tools.sh, which .ci/run calls; without it these tests fail
with that instruction rather than skip.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Optional

import pytest

ROOT = Path(__file__).resolve().parents[2]

from pipeline.ops.cli import build_parser  # noqa: E402
from tests.support.deploy_files import docker_compose  # noqa: E402

SECRET_WORDS = re.compile(r"(password|passwd|secret|token|credential|sasl_plain)", re.IGNORECASE)


def compose_config(*profiles: str, variables: Optional[dict[str, str]] = None) -> dict:
    options = [arg for profile in profiles for arg in ("--profile", profile)]
    result = docker_compose("-f", "docker-compose.yml", *options, "config", "--format", "json", variables=variables)
    assert result.returncode == 0, f"docker compose config failed:\n{result.stderr}"
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def config() -> dict:
    return compose_config()


@pytest.fixture(scope="module")
def demo_config() -> dict:
    return compose_config("demo")


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_default_services_and_demo_profile(config: dict, demo_config: dict) -> None:
    assert set(config["services"]) == {"kafka", "topics", "job"}
    assert set(demo_config["services"]) == {"kafka", "topics", "job", "samples"}
    assert demo_config["services"]["samples"]["profiles"] == ["demo"]


def test_kafka_is_the_official_4x_image_in_kraft_mode_with_a_healthcheck(config: dict) -> None:
    kafka = config["services"]["kafka"]
    assert re.fullmatch(r"apache/kafka:4\.\d+\.\d+", kafka["image"]), "a pinned 4.x tag"
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    node = env["KAFKA_NODE_ID"]
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{node}@kafka:9093"
    assert "CONTROLLER://:9093" in env["KAFKA_LISTENERS"].split(",")
    assert "INTERNAL://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    test = kafka["healthcheck"]["test"]
    assert test[0] == "CMD" and test[1].startswith("/opt/kafka/bin/") and "localhost:9092" in test
    assert any(v["target"] == "/var/lib/kafka/data" and v["type"] == "volume" for v in kafka["volumes"])
    # The host listener is published on loopback only.
    assert all(p["host_ip"] == "127.0.0.1" for p in kafka.get("ports", []))


def test_start_order_broker_healthy_then_topic_created_then_job(config: dict, demo_config: dict) -> None:
    services = config["services"]
    assert services["topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert services["job"]["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    assert demo_config["services"]["samples"]["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    topics = services["topics"]["command"]
    assert "--create" in topics and "--if-not-exists" in topics
    assert option(topics, "--bootstrap-server") == "kafka:9092"
    assert services["topics"]["restart"] == "no"


def test_job_is_built_from_deploy_dockerfile_and_runs_newswire(config: dict) -> None:
    job = config["services"]["job"]
    assert job["build"]["dockerfile"] == "deploy/Dockerfile"
    assert Path(job["build"]["context"]).resolve() == ROOT
    args, _extra = build_parser().parse_known_args(job["command"])
    assert args.command == "run"
    assert args.bootstrap_servers == "kafka:9092"
    assert args.allow_plaintext, "the compose broker is plaintext on a non-loopback address"
    assert option(job["command"], "--metrics-port") == "9108"
    assert any(p["target"] == 9108 and p["host_ip"] == "127.0.0.1" for p in job["ports"])
    assert args.topic == [option(config["services"]["topics"]["command"], "--topic")]


def test_job_lake_is_a_named_volume(config: dict) -> None:
    job = config["services"]["job"]
    lake = build_parser().parse_known_args(job["command"])[0].lake
    (mount,) = [v for v in job["volumes"] if v["target"] == str(lake)]
    assert mount["type"] == "volume" and mount["source"] in config["volumes"]


def test_samples_service_publishes_the_bundled_feed_to_the_jobs_topic(demo_config: dict) -> None:
    services = demo_config["services"]
    samples = build_parser().parse_args(services["samples"]["command"])
    assert samples.command == "produce" and samples.samples and samples.file is None
    assert samples.bootstrap_servers == "kafka:9092"
    job = build_parser().parse_known_args(services["job"]["command"])[0]
    assert [samples.topic] == job.topic
    assert services["samples"]["image"] == services["job"]["image"]


def test_no_secret_in_commands_or_environment(demo_config: dict) -> None:
    for name, service in demo_config["services"].items():
        for word in service.get("command") or []:
            assert not SECRET_WORDS.search(word), f"{name}: {word}"
        for key, value in (service.get("environment") or {}).items():
            assert not SECRET_WORDS.search(key), f"{name}: {key} (secrets come from files, not compose)"
            assert not SECRET_WORDS.search(str(value)), f"{name}: {key}"


def test_topic_can_be_chosen_at_up_time(config: dict) -> None:
    assert option(config["services"]["job"]["command"], "--topic") == "wire-stories"
    chosen = compose_config(variables={"NEWSWIRE_TOPIC": "wire-ap"})["services"]
    for name in ("job", "topics"):
        assert option(chosen[name]["command"], "--topic") == "wire-ap"
