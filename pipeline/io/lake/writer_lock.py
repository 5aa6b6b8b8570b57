"""One job per lake: the writer lock a running job holds on a local lake for its whole lifetime.

Two jobs on one lake would plan the same batch ids from the same commit and overwrite each other's
files. The lock is an exclusive ``flock`` on ``_newswire/writer.lock`` (the kernel releases it when
the process dies, so a SIGKILLed job never leaves a stale lock); the file names the holder so the job
refused can say who holds it. Object stores have no locks: there the write-once commit-log entries
(:class:`pipeline.io.lake.commitlog.CommitLog`) are what refuses a second writer.
"""
from __future__ import annotations

import fcntl
import os
import socket
from datetime import datetime, timezone
from typing import Optional

from pipeline.io.lake.layout import LakeLayout

LOCK_NAME = "writer.lock"


class WriterLockHeld(RuntimeError):
    """Another process holds the lake's writer lock."""


class WriterLock:
    """An exclusive, non-blocking flock on ``_newswire/writer.lock`` (local lakes only)."""

    def __init__(self, layout: LakeLayout) -> None:
        self.layout = layout
        self.path = layout.meta / LOCK_NAME
        self.fd: Optional[int] = None

    def acquire(self) -> "WriterLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 512, 0).decode("utf-8", "replace").strip() or "a process that has not written its name yet"
            os.close(fd)
            raise WriterLockHeld(
                f"lake {self.layout.location} is held by another newswire job ({holder}); "
                "one job per lake: stop that job first, or give this one another --lake"
            ) from None
        holder = f"pid {os.getpid()} on {socket.gethostname()} since {datetime.now(timezone.utc).isoformat(timespec='seconds')}"
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder.encode("utf-8") + b"\n", 0)
        os.fsync(fd)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = None

    def __enter__(self) -> "WriterLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
