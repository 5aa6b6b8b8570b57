"""``newswire demo``: a local broker, the bundled sample feed, the job until idle, and a few queries."""
from __future__ import annotations

import base64
import json
import logging
import shlex
import shutil
from importlib import resources
from pathlib import Path
from typing import Optional

from pipeline.ops import broker
from pipeline.job.driver import JobConfig
from pipeline.ops.compose import ensure_topic, produce, run_job
from pipeline.io.lake.query import run_query

log = logging.getLogger("newswire.demo")

DEMO_TOPIC = "wire-stories"
DEMO_MAX_MESSAGE_BYTES = 256 * 1024

EXAMPLE_QUERIES = [
    ("What landed", "SELECT 'articles' AS view, count(*) AS rows FROM articles "
     "UNION ALL SELECT 'stories', count(*) FROM stories UNION ALL SELECT 'entities', count(*) FROM entities "
     "UNION ALL SELECT 'dead_letters', count(*) FROM dead_letters"),
    ("Current stories by provider and input format", "SELECT provider, source_format, count(*) AS stories FROM stories "
     "GROUP BY ALL ORDER BY stories DESC, provider"),
    ("Stories mentioning Zelensky and ATACMS",
     "SELECT story_id, provider, dateline, headline FROM stories "
     "WHERE story_id IN (SELECT story_id FROM story_entities WHERE canonical ILIKE '%zelensk%') "
     "AND story_id IN (SELECT story_id FROM story_entities WHERE canonical = 'ATACMS') ORDER BY first_created"),
    ("Top organisations", "SELECT canonical, count(DISTINCT story_id) AS stories, count(*) AS mentions "
     "FROM story_entities WHERE label = 'ORG' GROUP BY canonical ORDER BY stories DESC, mentions DESC, canonical LIMIT 8"),
    ("Syndication: who republished what, and how fast (seconds after the original)",
     "SELECT cluster_id, provider, members, providers, republication_delays_s FROM clusters WHERE members > 1 "
     "ORDER BY members DESC, cluster_id"),
    ("Captions and datelines taken out of the seed story", "SELECT dateline, byline, word_count, captions "
     "FROM stories WHERE story_id LIKE '%seed-atacms'"),
    ("Versions, kills, withholds and embargoes (stories shows only what is current and usable)",
     "SELECT story_id, count(*) AS versions, max(version) AS latest, arg_max(pubstatus, version) AS latest_status, "
     "story_id IN (SELECT story_id FROM stories) AS in_stories FROM articles GROUP BY story_id "
     "HAVING count(*) > 1 OR bool_or(pubstatus <> 'usable' OR embargoed_until IS NOT NULL) ORDER BY story_id"),
    ("Dead letters by error code", "SELECT error_code, stage, count(*) AS messages, min(\"offset\") AS first_offset "
     "FROM dead_letters GROUP BY ALL ORDER BY error_code"),
]


def format_samples() -> list[tuple[str, bytes]]:
    """One story per file in every input format (ninjs 1-3, NewsML-G2, plain JSON), as producers send them."""
    folder = resources.files("pipeline") / "samples" / "formats"
    return [(entry.name, entry.read_bytes()) for entry in sorted(folder.iterdir(), key=lambda e: e.name)
            if entry.name.endswith((".json", ".xml"))]


def sample_messages() -> list[tuple[bytes | None, bytes]]:
    """The bundled feed: realistic stories (with versions, a kill, redeliveries), every input format, bad messages."""
    samples = resources.files("pipeline") / "samples"
    messages: list[tuple[bytes | None, bytes]] = []
    for line in (samples / "stories.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            uri = json.loads(line).get("uri")
            messages.append((uri.encode() if isinstance(uri, str) else None, line.encode("utf-8")))
    messages.extend((None, value) for _name, value in format_samples())
    for line in (samples / "bad_messages.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            messages.append((None, base64.b64decode(json.loads(line)["value_b64"])))
    oversized = json.dumps({"uri": "urn:demo:oversized", "headline": "Oversized", "body_text": "x" * (DEMO_MAX_MESSAGE_BYTES + 10)})
    messages.append((b"urn:demo:oversized", oversized.encode()))
    return messages


def publish_samples(
    bootstrap_servers: str, topic: str, partitions: int = 3, kafka_config_file: Optional[str] = None
) -> int:
    """``newswire produce --samples``: the demo's feed for a broker the demo did not start (e.g. in compose)."""
    ensure_topic(bootstrap_servers, topic, partitions, kafka_config_file)
    messages = sample_messages()
    produce(bootstrap_servers, topic, ((k, v, None) for k, v in messages), kafka_config_file=kafka_config_file)
    return len(messages)


def run_demo(directory: Path, port: int) -> int:
    directory = Path(directory).resolve()
    broker_dir, lake = directory / "broker", directory / "lake"
    if broker.broker_status(broker_dir):
        broker.stop_broker(broker_dir)
    for stale in (broker_dir, lake):  # every demo starts from nothing, so its figures are always the same
        shutil.rmtree(stale, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)
    if not broker.port_is_free(port) or not broker.port_is_free(port + 1):
        port = broker.free_port()
    print(f"Starting a local Apache Kafka {broker.KAFKA_VERSION} broker (first run fetches its jars from Maven Central)...")
    info = broker.start_broker(broker_dir, port=port, timeout=120)
    try:
        print(f"Broker up at {info.bootstrap}; publishing the sample feed to topic '{DEMO_TOPIC}'")
        published = publish_samples(info.bootstrap, DEMO_TOPIC)
        print(f"Published {published} messages. Running the job until it has been idle for 3 s...")
        run_job(
            JobConfig(
                bootstrap_servers=info.bootstrap,
                topics=[DEMO_TOPIC],
                lake=lake,
                group_id="newswire-demo",
                trigger_interval=1.0,
                until_idle=3.0,
                max_records_per_batch=25,
                max_message_bytes=DEMO_MAX_MESSAGE_BYTES,
            )
        )
        for title, query in EXAMPLE_QUERIES:
            print(f"\n== {title}\n$ newswire sql --lake {shlex.quote(str(lake))} {shlex.quote(query)}")
            print(run_query(lake, query))
    finally:
        broker.stop_broker(broker_dir)
        print("\nBroker stopped.")
    print(f"The lake is at {lake}\nTry: newswire sql --lake {lake} \"SELECT headline FROM stories LIMIT 5\"")
    return 0
