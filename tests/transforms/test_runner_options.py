"""Runner options pass through `newswire run` to Beam unchanged, and the commands in deploy/RUNNERS.md
are exactly what they claim: newswire's options plus Beam options that Beam recognises, nothing lost.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from apache_beam.options.pipeline_options import (
    DebugOptions,
    FlinkRunnerOptions,
    GoogleCloudOptions,
    PipelineOptions,
    PortableOptions,
    SetupOptions,
    StandardOptions,
    WorkerOptions,
)

from pipeline.ops.cli import build_parser

RUNNERS_MD = Path(__file__).resolve().parents[2] / "deploy" / "RUNNERS.md"


def documented_run_commands() -> list[list[str]]:
    """Every `newswire run` command in RUNNERS.md's sh blocks, continuations joined, as argv."""
    text = RUNNERS_MD.read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.DOTALL):
        for command in block.replace("\\\n", " ").splitlines():
            words = shlex.split(command)
            if words[:2] == ["newswire", "run"]:
                commands.append(words[1:])
    return commands


def split_options(argv: list[str]) -> tuple:
    """What pipeline.ops.cli.main does: newswire's options, and the rest for Beam."""
    args, extra = build_parser().parse_known_args(argv)
    assert args.command == "run"
    return args, extra


def unknown_to_beam(beam_args: list[str]) -> dict:
    options = PipelineOptions(beam_args)
    known = options.get_all_options(drop_default=True)
    everything = options.get_all_options(drop_default=True, retain_unknown_options=True)
    return {k: v for k, v in everything.items() if k not in known}


COMMANDS = documented_run_commands()


def runner_of(argv: list[str]) -> str:
    return PipelineOptions(split_options(argv)[1]).view_as(StandardOptions).runner


def test_runners_md_documents_flink_portable_and_dataflow() -> None:
    assert sorted(runner_of(c) for c in COMMANDS) == ["DataflowRunner", "FlinkRunner", "PortableRunner", "PortableRunner"]


@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(c[:1] + c[-2:]) for c in COMMANDS])
def test_every_documented_option_is_known_to_newswire_or_to_beam(argv: list[str]) -> None:
    args, beam_args = split_options(argv)
    assert args.bootstrap_servers and args.topic and args.lake
    assert beam_args, "the runner options reach Beam"
    assert unknown_to_beam(beam_args) == {}
    for word in argv:
        assert not re.search(r"(password|secret|token)", word, re.IGNORECASE), word


def test_portable_flink_command() -> None:
    (argv,) = [c for c in COMMANDS if runner_of(c) == "PortableRunner" and "EXTERNAL" in " ".join(c)]
    args, beam_args = split_options(argv)
    options = PipelineOptions(beam_args)
    portable = options.view_as(PortableOptions)
    assert portable.job_endpoint == "beam-job-server:8099"
    assert portable.environment_type == "EXTERNAL"
    assert portable.environment_config == "localhost:50000"
    assert options.view_as(FlinkRunnerOptions).parallelism == 4
    assert str(args.lake).startswith("s3:"), "workers on other machines need a shared lake"
    assert args.ner_processes == 1


def test_flink_runner_loopback_command() -> None:
    (argv,) = [c for c in COMMANDS if runner_of(c) == "FlinkRunner"]
    options = PipelineOptions(split_options(argv)[1])
    assert options.view_as(FlinkRunnerOptions).flink_master == "localhost:8081"
    assert options.view_as(FlinkRunnerOptions).flink_version == "1.20"
    assert options.view_as(PortableOptions).environment_type == "LOOPBACK"


def test_dataflow_command() -> None:
    (argv,) = [c for c in COMMANDS if runner_of(c) == "DataflowRunner"]
    args, beam_args = split_options(argv)
    options = PipelineOptions(beam_args)
    gcp = options.view_as(GoogleCloudOptions)
    assert (gcp.project, gcp.region) == ("newsroom-data", "europe-west1")
    assert gcp.temp_location.startswith("gs://")
    worker = options.view_as(WorkerOptions)
    assert worker.sdk_container_image.endswith("/newswire-beam-sdk:0.1.0")
    assert worker.use_public_ips is False and worker.max_num_workers == 4
    assert options.view_as(SetupOptions).sdk_location == "container"
    assert "use_runner_v2" in options.view_as(DebugOptions).experiments
    assert str(args.lake).startswith("gs:")
    assert (args.trigger_interval, args.max_records_per_batch, args.ner_processes) == (300.0, 200000, 1)


def test_beam_options_keep_their_order_and_values_next_to_newswire_options() -> None:
    argv = [
        "run", "--runner", "FlinkRunner", "--bootstrap-servers", "k:9092", "--flink_master", "h:8081",
        "--topic", "t", "--environment_type=DOCKER", "--lake", "lake",
        "--environment_config", '{"command": "/opt/apache/beam/boot"}',
    ]
    args, beam_args = split_options(argv)
    assert (args.bootstrap_servers, args.topic, str(args.lake)) == ("k:9092", ["t"], "lake")
    assert beam_args == [
        "--runner", "FlinkRunner", "--flink_master", "h:8081", "--environment_type=DOCKER",
        "--environment_config", '{"command": "/opt/apache/beam/boot"}',
    ]
    assert unknown_to_beam(beam_args) == {}


def test_a_misspelt_runner_option_is_not_silently_taken_for_a_newswire_option() -> None:
    _args, beam_args = split_options(["run", "--bootstrap-servers", "k", "--topic", "t", "--lake", "l", "--flink_mastr=h"])
    assert unknown_to_beam(beam_args) == {"flink_mastr": "h"}
