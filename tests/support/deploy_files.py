"""Helpers for the deploy tests: the tools deploy/tools/install-tools.sh installs, and a Dockerfile parser.

The parser follows the Dockerfile reference closely enough for static checks: line continuations,
comment lines (also inside continuations), parser directives, exec (JSON) and shell forms, ARGs
declared before the first FROM, and stages.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[2]
INSTALL_HINT = "run deploy/tools/install-tools.sh (it builds the tool once from the Go module proxy)"


# --------------------------------------------------------------------------- tools


def docker_compose(*args: str, variables: Optional[dict[str, str]] = None) -> subprocess.CompletedProcess:
    """``docker compose ARGS`` in the repository, with no COMPOSE_* or NEWSWIRE_* variables but ``variables``."""
    docker = shutil.which("docker")
    if docker is None:
        raise AssertionError(f"the docker CLI is not on PATH; {INSTALL_HINT} needs it as well")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "NEWSWIRE_"))}
    env.update(variables or {})
    version = subprocess.run([docker, "compose", "version"], capture_output=True, text=True, env=env)
    if version.returncode != 0:
        raise AssertionError(f"the docker compose plugin is missing ({version.stderr.strip()}); {INSTALL_HINT}")
    return subprocess.run([docker, "compose", *args], capture_output=True, text=True, env=env, cwd=ROOT)


def kustomize_binary() -> str:
    """The kustomize that install-tools.sh installed (or ``$NEWSWIRE_KUSTOMIZE``, or one on PATH)."""
    cache = Path(os.environ.get("NEWSWIRE_CACHE_DIR") or Path.home() / ".cache" / "newswire")
    for candidate in (os.environ.get("NEWSWIRE_KUSTOMIZE"), cache / "tools" / "bin" / "kustomize", shutil.which("kustomize")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise AssertionError(f"kustomize is not installed; {INSTALL_HINT}")


# --------------------------------------------------------------------------- Dockerfile


@dataclass
class Instruction:
    keyword: str  # upper case
    text: str  # everything after the keyword, continuations joined
    line: int  # first line in the file

    @property
    def exec_form(self) -> Optional[list[str]]:
        """The JSON array of the exec form, or None for the shell form."""
        if not self.text.startswith("["):
            return None
        try:
            value = json.loads(self.text)
        except ValueError:
            return None
        return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None

    def flags_and_args(self) -> tuple[dict[str, str], list[str]]:
        """``--flag=value`` options (as on COPY, FROM, HEALTHCHECK) and the remaining words."""
        flags: dict[str, str] = {}
        words = shlex.split(self.text, posix=True)
        while words and words[0].startswith("--"):
            name, _, value = words.pop(0)[2:].partition("=")
            flags[name] = value
        return flags, words


@dataclass
class Stage:
    base: str  # the FROM image with pre-FROM ARG defaults substituted
    name: Optional[str]
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def env(self) -> dict[str, str]:
        """The stage's ENV settings (``KEY=VALUE`` pairs; later settings win)."""
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            for word in shlex.split(instruction.text, posix=True):
                key, sep, value = word.partition("=")
                if sep:
                    values[key] = value
        return values


@dataclass
class Dockerfile:
    args: dict[str, str]  # ARGs declared before the first FROM, with defaults
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)


def logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, instruction text) with continuations joined and comment lines dropped."""
    escape = "\\"
    lines = text.splitlines()
    # Parser directives: only at the very top, before any other line.
    for raw in lines:
        match = re.match(r"#\s*([a-zA-Z]+)\s*=\s*(\S+)\s*$", raw)
        if not match:
            break
        if match.group(1).lower() == "escape":
            escape = match.group(2)
    result: list[tuple[int, str]] = []
    current: list[str] = []
    start = 0
    for number, raw in enumerate(lines, start=1):
        stripped = raw.strip()
        if stripped.startswith("#"):
            continue  # comment lines are removed, also in the middle of a continued instruction
        if not stripped:
            continue  # blank lines end nothing, not even a continued instruction
        if not current:
            start = number
        if raw.rstrip().endswith(escape):
            current.append(raw.rstrip()[: -len(escape)])
            continue
        current.append(raw)
        result.append((start, " ".join(part.strip() for part in current if part.strip())))
        current = []
    if current:
        result.append((start, " ".join(part.strip() for part in current if part.strip())))
    return result


def substitute(text: str, values: dict[str, str]) -> str:
    """``$NAME`` and ``${NAME}`` from ``values`` (ARG defaults)."""
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: values.get(m.group(1) or m.group(2), m.group(0)), text)


def parse_dockerfile(path: Path) -> Dockerfile:
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line, text in logical_lines(Path(path).read_text(encoding="utf-8")):
        keyword, _, rest = text.partition(" ")
        instruction = Instruction(keyword.upper(), rest.strip(), line)
        if instruction.keyword == "FROM":
            _flags, words = instruction.flags_and_args()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(substitute(words[0], args), name))
        elif not stages:
            if instruction.keyword != "ARG":
                raise ValueError(f"{path}:{line}: only ARG may come before the first FROM")
            key, _, default = instruction.text.partition("=")
            args[key.strip()] = default.strip()
        else:
            stages[-1].instructions.append(instruction)
    if not stages:
        raise ValueError(f"{path}: no FROM")
    return Dockerfile(args, stages)


def shell_commands(script: str) -> list[list[str]]:
    """The simple commands of a RUN shell script (split on ``&&``, ``||``, ``;`` and ``|``)."""
    commands: list[list[str]] = []
    current: list[str] = []
    lexer = shlex.shlex(script, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    for token in lexer:
        if token in ("&&", "||", ";", "|", "&"):
            if current:
                commands.append(current)
            current = []
        else:
            current.append(token)
    if current:
        commands.append(current)
    return commands
