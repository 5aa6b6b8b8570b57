"""The splittable Kafka read on a real broker: exactly the planned range, across transaction gaps."""
from __future__ import annotations

import apache_beam as beam
from apache_beam.io.restriction_trackers import OffsetRange
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from pipeline.beam.kafka_read import KafkaRangeRestrictionProvider, _ReadKafkaRangeFn


def produce_with_transactions(bootstrap: str, topic: str) -> None:
    """Committed, aborted, committed: the log gets commit/abort markers and aborted records (gaps)."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"tx-{topic}")
    producer.init_transactions()
    for batch, commit in ((range(0, 5), True), (range(100, 103), False), (range(5, 9), True)):
        producer.begin_transaction()
        for i in batch:
            producer.send(topic, value=f"m{i}".encode(), partition=0)
        producer.flush()
        if commit:
            producer.commit_transaction()
        else:
            producer.abort_transaction()
    producer.close()


def committed_records(bootstrap: str, topic: str) -> list[tuple[int, bytes]]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed", enable_auto_commit=False)
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    found = []
    for _ in range(20):
        for record in consumer.poll(timeout_ms=500).get(tp, []):
            found.append((record.offset, record.value))
        if len(found) >= 9:
            break
    end = consumer.end_offsets([tp])[tp]
    consumer.close()
    return found, end


def check_range(bootstrap: str, topic: str, start: int, stop: int, expected: list) -> None:
    """Run the splittable DoFn over [start, stop) and require exactly ``expected`` (offset, value) pairs."""
    with BeamTestPipeline() as p:
        got = (
            p
            | beam.Create([(topic, 0, start, stop)])
            | beam.ParDo(_ReadKafkaRangeFn(bootstrap))
            | beam.Map(lambda r: (r.offset, r.value))
        )
        assert_that(got, equal_to(expected))


def test_reads_exactly_the_planned_range_across_markers_and_aborted_records(kafka_bootstrap, topic):
    produce_with_transactions(kafka_bootstrap, topic)
    records, end = committed_records(kafka_bootstrap, topic)
    assert [v for _o, v in records] == [f"m{i}".encode() for i in range(9)]
    offsets = [o for o, _v in records]
    assert offsets[5] - offsets[4] > 1, "expected a gap (marker + aborted records) between the transactions"
    assert end > offsets[-1] + 1, "expected a trailing commit marker after the last record"

    check_range(kafka_bootstrap, topic, 0, end, records)  # whole log, trailing marker gap included
    check_range(kafka_bootstrap, topic, offsets[2], offsets[6], records[2:6])  # stops before the range's stop
    check_range(kafka_bootstrap, topic, offsets[4] + 1, offsets[5], [])  # a range made only of gaps
    check_range(kafka_bootstrap, topic, offsets[7], offsets[7] + 1, records[7:8])


def test_restriction_is_split_into_chunks_and_sized_for_progress():
    provider = KafkaRangeRestrictionProvider(initial_split_records=1000)
    element = ("wire", 0, 500, 3700)
    restriction = provider.initial_restriction(element)
    assert (restriction.start, restriction.stop) == (500, 3700)
    assert provider.restriction_size(element, restriction) == 3200
    chunks = list(provider.split(element, restriction))
    assert chunks[0].start == 500 and chunks[-1].stop == 3700
    assert all(a.stop == b.start for a, b in zip(chunks, chunks[1:]))
    assert len(chunks) >= 3 and all(c.size() <= 1200 for c in chunks)
    tracker = provider.create_tracker(OffsetRange(0, 10))
    assert tracker.try_claim(3) and tracker.try_split(0.5) is not None
