"""The contract between the micro-batch driver and whatever runs a batch: what a batch is, and defaults.

The driver (pipeline.job) plans and commits batches; a runner (pipeline.beam) executes one. Both need
these names, and the driver must not import Beam to get them, so they live here, in the pure core.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional

from pipeline.core.planning import OffsetRange

DEFAULT_MODEL = "en_core_web_sm"  # spaCy pipeline name; see pipeline.io.ner for how it resolves

DEFAULT_LOOKBACK = timedelta(days=7)  # syndication clusters and the entity cache span this window


@dataclass(frozen=True)
class BatchSpec:
    """Everything a batch's graph depends on; all of it comes from the write-ahead log entry."""

    batch_id: int
    base_batch: int
    ranges: tuple[OffsetRange, ...]
    planned_at: datetime
    bootstrap_servers: str
    lake_root: str
    staging_dir: str
    max_message_bytes: int
    spacy_model: str = DEFAULT_MODEL
    ner_processes: int = 1
    lookback: timedelta = DEFAULT_LOOKBACK
    # The runner executes the whole batch in this process (DirectRunner): NER may start early.
    prefetch_ner: bool = False
    kafka_config_file: Optional[str] = None  # a path; the secrets in it are read by each worker


@dataclass(frozen=True)
class BatchSettings:
    """The flags that shape a batch's output, pinned in its plan so that a replay writes the same files.

    Like the conf Spark keeps in its offset log: a restart with other flags replays a planned batch as
    it was planned, and the new flags apply from the next batch.
    """

    spacy_model: str
    dedup_lookback: timedelta
    max_message_bytes: int

    def to_json(self) -> dict:
        return {
            "spacy_model": self.spacy_model,
            "dedup_lookback_seconds": self.dedup_lookback.total_seconds(),
            "max_message_bytes": self.max_message_bytes,
        }

    @staticmethod
    def from_json(obj: dict) -> "BatchSettings":
        return BatchSettings(
            spacy_model=str(obj["spacy_model"]),
            dedup_lookback=timedelta(seconds=float(obj["dedup_lookback_seconds"])),
            max_message_bytes=int(obj["max_message_bytes"]),
        )

    def differences(self, other: "BatchSettings") -> dict[str, tuple]:
        """``{name: (self's value, other's value)}`` for every setting that differs."""
        mine, theirs = self.to_json(), other.to_json()
        return {k: (mine[k], theirs[k]) for k in mine if mine[k] != theirs[k]}
