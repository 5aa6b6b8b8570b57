"""The local broker's jars: the Kafka version it runs, resolved once from Maven Central into a user cache.

There is no Kafka distribution nor Docker to rely on, only Maven Central, so the classpath is resolved
by ``mvn`` from a throw-away pom into ``~/.cache/newswire`` (never the repository: 43 MB of jars must
not reach git, the sdist or the Beam staging area). The version pins live here, together, because
they only work as a set. This is the package's lowest module, so it also holds the error and the
small file helpers (lock, atomic write, tool lookup) the broker's process handling shares.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

log = logging.getLogger(__name__)

KAFKA_VERSION = "4.1.1"
SCALA_VERSION = "2.13"
# kafka_2.13 drags in slf4j-api 1.7.x, which cannot see the log4j2 SLF4J-2
# provider and silently falls back to NOP logging; pinning 2.0.x fixes that.
SLF4J_VERSION = "2.0.17"
LOG4J_VERSION = "2.24.3"

#: (groupId, artifactId, version) resolved from Maven Central, runtime scope.
POM_DEPENDENCIES: tuple[tuple[str, str, str], ...] = (
    ("org.apache.kafka", f"kafka_{SCALA_VERSION}", KAFKA_VERSION),
    ("org.slf4j", "slf4j-api", SLF4J_VERSION),
    ("org.apache.logging.log4j", "log4j-slf4j2-impl", LOG4J_VERSION),
    ("org.apache.logging.log4j", "log4j-core", LOG4J_VERSION),
)

# Jars whose absence means the resolution is broken (checked before the
# completion marker is written).
_REQUIRED_JARS = (
    f"kafka_{SCALA_VERSION}-{KAFKA_VERSION}.jar",
    f"kafka-clients-{KAFKA_VERSION}.jar",
    f"slf4j-api-{SLF4J_VERSION}.jar",
    f"log4j-slf4j2-impl-{LOG4J_VERSION}.jar",
    f"log4j-core-{LOG4J_VERSION}.jar",
    f"log4j-api-{LOG4J_VERSION}.jar",
)

_MARKER_NAME = "jars.complete.json"

_REPO_ROOT = Path(__file__).resolve().parents[3]


class BrokerError(RuntimeError):
    """Raised when the broker cannot be provisioned, started or stopped."""


def jar_cache_dir() -> Path:
    """Where the broker jars live: ``$NEWSWIRE_CACHE_DIR`` or ``~/.cache/newswire``,
    then ``kafka-<version>/``.

    Kept outside the repository so 43 MB of jars never end up in git, in the
    sdist, or in the Beam staging area; raises if the env var points inside it.
    """
    base = os.environ.get("NEWSWIRE_CACHE_DIR")
    root = Path(base).expanduser() if base else Path.home() / ".cache" / "newswire"
    cache = (root / f"kafka-{KAFKA_VERSION}").resolve()
    _refuse_repo_path(cache)
    return cache


def _refuse_repo_path(cache: Path) -> None:
    if (_REPO_ROOT / "pyproject.toml").exists() and _is_within(cache, _REPO_ROOT):
        raise BrokerError(
            f"jar cache dir {cache} is inside the repository {_REPO_ROOT}; "
            "point NEWSWIRE_CACHE_DIR somewhere outside it (e.g. ~/.cache/newswire)"
        )


def render_pom() -> str:
    """The throw-away pom used only to let ``mvn`` resolve the broker classpath."""
    deps = "\n".join(
        "    <dependency>"
        f"<groupId>{g}</groupId><artifactId>{a}</artifactId><version>{v}</version>"
        "</dependency>"
        for g, a, v in POM_DEPENDENCIES
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0"
         xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 http://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.newswire</groupId>
  <artifactId>kafka-broker-classpath</artifactId>
  <version>{KAFKA_VERSION}</version>
  <packaging>pom</packaging>
  <dependencies>
{deps}
  </dependencies>
</project>
"""


def ensure_broker_jars(cache_dir: Path | None = None) -> Path:
    """Make sure the broker classpath is in the cache; return the jar directory.

    Resolution runs ``mvn`` once (pom in a temp dir, never in the repo). It is
    idempotent (a marker is written only once every jar is present), and safe
    to call from concurrent processes (pytest-xdist, demo + tests) thanks to an
    ``fcntl`` lock around the resolution.
    """
    if cache_dir is None:
        cache_dir = jar_cache_dir()
    else:
        cache_dir = Path(cache_dir).expanduser().resolve()
        _refuse_repo_path(cache_dir)
    jars_dir = cache_dir / "jars"
    pom = render_pom()
    if _jars_complete(cache_dir, pom):
        return jars_dir

    cache_dir.mkdir(parents=True, exist_ok=True)
    with _flock(cache_dir / ".lock"):
        if _jars_complete(cache_dir, pom):  # somebody else finished meanwhile
            return jars_dir
        _require_tool("java")
        mvn = _require_tool("mvn")
        (cache_dir / _MARKER_NAME).unlink(missing_ok=True)
        started = time.monotonic()
        log.info("resolving Kafka %s broker jars into %s (one-time, via mvn)", KAFKA_VERSION, jars_dir)
        with tempfile.TemporaryDirectory(prefix="newswire-kafka-pom-") as tmp:
            tmp_path = Path(tmp)
            (tmp_path / "pom.xml").write_text(pom, encoding="utf-8")
            staging = Path(tempfile.mkdtemp(prefix="jars.partial-", dir=cache_dir))
            try:
                cmd = [
                    mvn, "-q", "-B", "-Dstyle.color=never",
                    "-f", str(tmp_path / "pom.xml"),
                    "dependency:copy-dependencies",
                    f"-DoutputDirectory={staging}",
                    "-DincludeScope=runtime",
                ]
                proc = subprocess.run(
                    cmd, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                    text=True, timeout=900,
                )
                if proc.returncode != 0:
                    tail = "\n".join(proc.stdout.splitlines()[-40:])
                    raise BrokerError(
                        f"mvn failed to resolve the Kafka {KAFKA_VERSION} broker jars "
                        f"(exit {proc.returncode}); is Maven Central reachable?\n{tail}"
                    )
                jars = sorted(p.name for p in staging.glob("*.jar"))
                missing = [j for j in _REQUIRED_JARS if j not in jars]
                if missing:
                    raise BrokerError(f"mvn succeeded but these jars are missing: {missing}")
                if jars_dir.exists():
                    shutil.rmtree(jars_dir)
                staging.rename(jars_dir)
            finally:
                if staging.exists():
                    shutil.rmtree(staging, ignore_errors=True)
        marker = {
            "kafka_version": KAFKA_VERSION,
            "pom_sha256": _sha256(pom),
            "jars": jars,
            "resolved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "resolve_seconds": round(time.monotonic() - started, 1),
        }
        _atomic_write(cache_dir / _MARKER_NAME, json.dumps(marker, indent=2) + "\n")
        log.info("resolved %d jars in %.1fs", len(jars), time.monotonic() - started)
    return jars_dir


def _jars_complete(cache_dir: Path, pom: str) -> bool:
    try:
        marker = json.loads((cache_dir / _MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if marker.get("pom_sha256") != _sha256(pom):
        return False
    jars_dir = cache_dir / "jars"
    return all((jars_dir / j).is_file() for j in marker.get("jars", [])) and bool(marker.get("jars"))


def _require_tool(name: str) -> str:
    if name == "java" and os.environ.get("JAVA_HOME"):
        candidate = Path(os.environ["JAVA_HOME"]) / "bin" / "java"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if not found:
        hint = {
            "java": "install a JDK >= 17 (e.g. `apt-get install openjdk-17-jre-headless`) or set JAVA_HOME",
            "mvn": "install Maven (e.g. `apt-get install maven`); it is only needed once to fetch the broker jars",
        }.get(name, "")
        raise BrokerError(f"`{name}` not found on PATH; needed to run a local Kafka broker. {hint}")
    return found


@contextlib.contextmanager
def _flock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _atomic_write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, mode)  # mkstemp creates 0600; most are plain config/state files
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _is_within(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False
