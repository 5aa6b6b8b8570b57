"""File and folder names of the lake, built only from validated values (never raw input strings)."""
from __future__ import annotations

import re
from datetime import date
from pathlib import Path

META_DIR = "_newswire"
REMAP_TOPIC = "clusters"  # the pseudo-topic naming cluster_remaps files: one file per batch
_TOPIC_RE = re.compile(r"[A-Za-z0-9._-]{1,249}")
_FILE_RE = re.compile(r"part-(?P<topic>[A-Za-z0-9._-]{1,249})-(?P<partition>[0-9]{5})-(?P<offset>[0-9]{20})\.parquet")


def validate_topic(topic: str) -> str:
    """Kafka topic names are restricted to [A-Za-z0-9._-]; anything else never reaches a path."""
    if not isinstance(topic, str) or not _TOPIC_RE.fullmatch(topic) or topic in (".", ".."):
        raise ValueError(f"not a valid Kafka topic name: {topic!r}")
    return topic


def partition_dir_name(day: date) -> str:
    """Hive partition folder for a validated date (only a real ``date`` object is accepted)."""
    if type(day) is not date:
        raise TypeError("partition dates must be datetime.date values")
    return f"date={day.isoformat()}"


def data_file_name(topic: str, partition: int, first_offset: int) -> str:
    """Deterministic name: the same batch replayed writes the same names."""
    validate_topic(topic)
    if not (0 <= int(partition) < 100_000) or int(first_offset) < 0:
        raise ValueError("partition or offset out of range")
    return f"part-{topic}-{int(partition):05d}-{int(first_offset):020d}.parquet"


def parse_data_file_name(name: str) -> tuple[str, int, int]:
    """Inverse of :func:`data_file_name`."""
    m = _FILE_RE.fullmatch(name)
    if not m:
        raise ValueError(f"not a data file name: {name!r}")
    return m["topic"], int(m["partition"]), int(m["offset"])



STAGED_STATE_DIR = "_state"


def staged_state_file(section: str) -> Path:
    """Where a batch stages its delta of one state section, relative to the batch's staging folder."""
    return Path(STAGED_STATE_DIR) / f"{section}.parquet"
