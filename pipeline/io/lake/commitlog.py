"""Write-ahead log of planned batches and commit log of finished ones (Structured-Streaming style).

``offsets/<N>.json`` is written before batch N reads anything: it fixes the ranges and the batch's
clock, so a replay is byte-for-byte the same batch. ``commits/<N>.json`` is written after the
batch's files are published: it records the end offsets, the files and the state deltas. The
commit file is the single point at which a batch becomes done.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import PurePath
from typing import Optional

from pipeline.io.lake.layout import LakeLayout
from pipeline.core.contract import BatchSettings
from pipeline.core.planning import OffsetRange, TopicPartitionKey

_ENTRY_RE = re.compile(r"^(\d{20})\.json$")
FORMAT_VERSION = 1


def _offsets_to_json(offsets: dict[TopicPartitionKey, int]) -> list[dict]:
    return [{"topic": t, "partition": p, "offset": o} for (t, p), o in sorted(offsets.items())]


def _offsets_from_json(items: list[dict]) -> dict[TopicPartitionKey, int]:
    return {(str(i["topic"]), int(i["partition"])): int(i["offset"]) for i in items}


@dataclass(frozen=True)
class BatchPlan:
    """What batch ``batch_id`` reads; immutable once written."""

    batch_id: int
    ranges: tuple[OffsetRange, ...]
    planned_at: datetime
    base_batch: int  # the commit whose state this batch starts from (-1 for none)
    settings: Optional[BatchSettings] = None  # None only in plans written before settings were pinned

    def to_json(self) -> str:
        obj = {
            "format": FORMAT_VERSION,
            "batch_id": self.batch_id,
            "base_batch": self.base_batch,
            "planned_at": self.planned_at.isoformat(),
            "ranges": [r.to_json() for r in self.ranges],
        }
        if self.settings is not None:
            obj["settings"] = self.settings.to_json()
        return json.dumps(obj, indent=1)

    @staticmethod
    def from_json(text: str) -> "BatchPlan":
        obj = json.loads(text)
        return BatchPlan(
            batch_id=int(obj["batch_id"]),
            ranges=tuple(OffsetRange.from_json(r) for r in obj["ranges"]),
            planned_at=datetime.fromisoformat(obj["planned_at"]),
            base_batch=int(obj["base_batch"]),
            settings=BatchSettings.from_json(obj["settings"]) if obj.get("settings") else None,
        )

    @property
    def record_count(self) -> int:
        return sum(r.size for r in self.ranges)


@dataclass(frozen=True)
class BatchCommit:
    """What batch ``batch_id`` made durable."""

    batch_id: int
    end_offsets: dict[TopicPartitionKey, int]
    files: tuple[str, ...]  # as published; compaction may later merge them (the rows keep batch_id)
    state_deltas: dict[str, str]
    stats: dict = field(default_factory=dict)
    committed_at: Optional[datetime] = None

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT_VERSION,
                "batch_id": self.batch_id,
                "end_offsets": _offsets_to_json(self.end_offsets),
                "files": list(self.files),
                "state_deltas": self.state_deltas,
                "stats": self.stats,
                "committed_at": (self.committed_at or datetime.now(timezone.utc)).isoformat(),
            },
            indent=1,
        )

    @staticmethod
    def from_json(text: str) -> "BatchCommit":
        obj = json.loads(text)
        return BatchCommit(
            batch_id=int(obj["batch_id"]),
            end_offsets=_offsets_from_json(obj["end_offsets"]),
            files=tuple(obj["files"]),
            state_deltas=dict(obj.get("state_deltas", {})),
            stats=dict(obj.get("stats", {})),
            committed_at=datetime.fromisoformat(obj["committed_at"]) if obj.get("committed_at") else None,
        )


class ConcurrentWriter(RuntimeError):
    """Another job wrote to the lake meanwhile: a second writer, which retrying cannot mend."""


class LogEntryExists(ConcurrentWriter):
    """A write-once log entry was already there."""


class CommitLog:
    """The two logs of one lake."""

    def __init__(self, layout: LakeLayout) -> None:
        self.layout = layout
        self.storage = layout.storage
        self.plans_dir = layout.meta / "offsets"
        self.commits_dir = layout.meta / "commits"

    def _ids(self, directory: PurePath) -> list[int]:
        return sorted(int(m.group(1)) for name in self.storage.list_names(directory) if (m := _ENTRY_RE.match(name)))

    def batch_ids(self) -> list[int]:
        """Committed batch ids, oldest first."""
        return self._ids(self.commits_dir)

    def plan_ids(self) -> list[int]:
        return self._ids(self.plans_dir)

    def plan(self, batch_id: int) -> BatchPlan:
        return BatchPlan.from_json(self.storage.read_text(self.plans_dir / f"{batch_id:020d}.json"))

    def commit(self, batch_id: int) -> BatchCommit:
        return BatchCommit.from_json(self.storage.read_text(self.commits_dir / f"{batch_id:020d}.json"))

    def latest_commit(self) -> Optional[BatchCommit]:
        ids = self.batch_ids()
        return self.commit(ids[-1]) if ids else None

    def pending_plan(self) -> Optional[BatchPlan]:
        """A batch that was planned but never committed: it must be replayed as planned."""
        plans = self.plan_ids()
        commits = self.batch_ids()
        last_commit = commits[-1] if commits else -1
        if plans and plans[-1] > last_commit:
            return self.plan(plans[-1])
        return None

    def write_plan(self, plan: BatchPlan) -> None:
        """Write-once: a plan that exists was written by another job planning the same batch."""
        self._write_once(self.plans_dir / f"{plan.batch_id:020d}.json", plan.to_json(), "plan", plan.batch_id)

    def write_commit(self, commit: BatchCommit) -> None:
        """Write-once: a batch is committed exactly once, by the job that planned it."""
        self._write_once(self.commits_dir / f"{commit.batch_id:020d}.json", commit.to_json(), "commit", commit.batch_id)

    def _write_once(self, path: PurePath, text: str, kind: str, batch_id: int) -> None:
        try:
            self.storage.write_text_once(path, text)
        except FileExistsError:
            raise LogEntryExists(
                f"{self.layout.location}: the {kind} entry of batch {batch_id} exists already ({path}); "
                "another newswire job is writing to this lake"
            ) from None

    def prune(self, keep_from: int) -> None:
        """Drop log entries of batches before ``keep_from`` (their effects live in files and snapshots)."""
        for directory in (self.plans_dir, self.commits_dir):
            for b in self._ids(directory):
                if b < keep_from:
                    self.storage.delete(directory / f"{b:020d}.json")
