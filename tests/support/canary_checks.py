"""A canary password and the checks that it never shows up anywhere the job writes or exposes.

The canary is the SASL password of the test broker's user. Every place a secret could leak (process
argv, stdout/stderr, lake files, broker-side group metadata, and any later surface such as a metrics
endpoint) is checked with the one helper :func:`assert_no_canary`.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Iterator, Union

CANARY = f"canary-{uuid.uuid4().hex}"  # one per test session, unguessable, never a substring of anything else


def canary_forms(canary: str = CANARY) -> list[bytes]:
    """The byte patterns the canary would take if written as text by Python, Java or as hex."""
    return [canary.encode("utf-8"), canary.encode("utf-16-le"), canary.encode("utf-8").hex().encode("ascii")]


def assert_no_canary(text_or_bytes: Union[str, bytes, bytearray], where: str, canary: str = CANARY) -> None:
    """Fail, naming ``where`` (never printing the data), if the canary is in ``text_or_bytes``."""
    data = text_or_bytes.encode("utf-8", "surrogatepass") if isinstance(text_or_bytes, str) else bytes(text_or_bytes)
    for form in canary_forms(canary):
        position = data.find(form)
        assert position < 0, f"the canary password appears in {where} at byte {position}"


def assert_no_canary_in_tree(root: Path, canary: str = CANARY) -> int:
    """Check every file under ``root`` byte for byte, and Parquet files also decoded (their pages are
    compressed, so the raw bytes alone would hide a canary in the data); returns how many files were checked."""
    import pyarrow.parquet as pq

    checked = 0
    for path in sorted(Path(root).rglob("*")):
        if path.is_file():
            assert_no_canary(path.read_bytes(), f"file {path}", canary)
            assert_no_canary(str(path), f"the file name {path}", canary)
            if path.suffix == ".parquet":
                assert_no_canary(repr(pq.read_table(path).to_pylist()), f"the decoded rows of {path}", canary)
            checked += 1
    return checked


def process_tree(pid: int) -> Iterator[int]:
    """``pid`` and all its live descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry))
    todo = [pid]
    while todo:
        current = todo.pop()
        yield current
        todo.extend(children.get(current, []))


def assert_no_canary_in_process_argv(pid: int, canary: str = CANARY) -> int:
    """Check /proc/PID/cmdline of ``pid`` and its descendants; returns how many processes were seen."""
    seen = 0
    for member in process_tree(pid):
        try:
            cmdline = Path(f"/proc/{member}/cmdline").read_bytes()
        except OSError:  # exited meanwhile
            continue
        assert_no_canary(cmdline, f"the argv of process {member} (in the tree of {pid})", canary)
        seen += 1
    return seen


def assert_no_canary_in_process_environment(pid: int, canary: str = CANARY) -> None:
    """For runs that got only a password *file*: the password must not be in any environment either."""
    for member in process_tree(pid):
        try:
            environ = Path(f"/proc/{member}/environ").read_bytes()
        except OSError:
            continue
        assert_no_canary(environ, f"the environment of process {member}", canary)
