"""What the integration tests assert about a lake, read back through DuckDB like an analyst would."""
from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
from kafka import KafkaConsumer, TopicPartition

from pipeline.io.lake.names import META_DIR
from pipeline.io.lake.query import connect


def article_pairs(lake: Path) -> list[tuple[str, int]]:
    return connect(lake).execute("SELECT story_id, version FROM articles").fetchall()


def dead_letter_triples(lake: Path) -> list[tuple[int, int, str]]:
    rows = connect(lake).execute('SELECT "partition", "offset", error_code FROM dead_letters').fetchall()
    return sorted((int(p), int(o), c) for p, o, c in rows)


def assert_lake_files_sound(lake: Path) -> None:
    """Every file under the dataset folders reads, and nothing temporary or staged is among them."""
    for table in ("articles", "dead_letters"):
        base = lake / table
        for path in base.rglob("*"):
            if path.is_dir():
                assert path.name.startswith("date="), path
                continue
            assert path.suffix == ".parquet" and not path.name.startswith("."), f"stray file {path}"
            pq.read_table(path)  # raises on a truncated file
    assert (lake / META_DIR).is_dir()


def group_offsets_and_ends(bootstrap: str, topic: str, group: str) -> tuple[dict, dict]:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False, isolation_level="read_committed"
    )
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        ends = {tp.partition: o for tp, o in consumer.end_offsets(tps).items()}
        committed = {tp.partition: consumer.committed(tp) for tp in tps}
    finally:
        consumer.close()
    return committed, ends
