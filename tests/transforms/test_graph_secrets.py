"""The batch graph never carries Kafka credentials: not in the pickled DoFns, not in the pipeline options.

Credentials sit in the environment and in a settings file while the graph is built, exactly as in
production; the serialized pipeline (what a runner ships to its workers) is then searched for them.
"""
from __future__ import annotations

import base64
import bz2
import pickle
import uuid
import zlib
from datetime import datetime, timezone

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.portability import common_urns
from apache_beam.portability.api import beam_runner_api_pb2

from pipeline.beam.graph import build_pipeline
from pipeline.core.contract import BatchSpec
from pipeline.io.kafka.config import client_settings
from pipeline.beam.kafka_read import _ReadKafkaRangeFn
from pipeline.core.planning import OffsetRange

ENV_SECRET = f"graph-env-canary-{uuid.uuid4().hex}"
FILE_SECRET = f"graph-file-canary-{uuid.uuid4().hex}"


def dofn_payloads(pipeline: beam.Pipeline) -> list[bytes]:
    """The pickled DoFns of the graph as plain pickle bytes (Beam ships them base64'd and compressed)."""
    proto = pipeline.to_runner_api()
    payloads = []
    for transform in proto.components.transforms.values():
        if transform.spec.urn != common_urns.primitives.PAR_DO.urn:
            continue
        do_fn = beam_runner_api_pb2.ParDoPayload.FromString(transform.spec.payload).do_fn
        if do_fn.urn != "beam:dofn:pickled_python_info:v1":
            continue
        packed = base64.b64decode(do_fn.payload, validate=True)
        payloads.append(bz2.decompress(packed) if packed.startswith(b"BZh") else zlib.decompress(packed))
    return payloads


def test_serialized_batch_graph_holds_no_credentials(monkeypatch, tmp_path):
    config = tmp_path / "kafka.env"
    config.write_text(f"NEWSWIRE_KAFKA_SSL_PASSWORD={FILE_SECRET}\n", encoding="utf-8")
    config.chmod(0o600)
    monkeypatch.setenv("NEWSWIRE_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("NEWSWIRE_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("NEWSWIRE_KAFKA_SASL_USERNAME", "newswire")
    monkeypatch.setenv("NEWSWIRE_KAFKA_SASL_PASSWORD", ENV_SECRET)
    cert = tmp_path / "client.pem"
    cert.write_text("pem", encoding="utf-8")
    monkeypatch.setenv("NEWSWIRE_KAFKA_SSL_CERTFILE", str(cert))
    # The driver process has read the credentials (its own clients use them) before the graph is built.
    assert client_settings("k:9093", config_file=config)["sasl_plain_password"] == ENV_SECRET

    spec = BatchSpec(
        batch_id=3,
        base_batch=2,
        ranges=(OffsetRange("wire", 0, 0, 10), OffsetRange("wire", 1, 5, 9)),
        planned_at=datetime(2026, 11, 25, tzinfo=timezone.utc),
        bootstrap_servers="k:9093",
        lake_root=str(tmp_path / "lake"),
        staging_dir=str(tmp_path / "staging"),
        max_message_bytes=1024,
        kafka_config_file=str(config),
    )
    options = PipelineOptions(["--runner=DirectRunner"])
    pipeline = beam.Pipeline(options=options)
    build_pipeline(pipeline, spec)
    graph = pipeline.to_runner_api().SerializeToString()
    payloads = dofn_payloads(pipeline)
    assert any(str(config).encode() in p for p in payloads)  # the settings file travels by path...
    assert any(b"k:9093" in p for p in payloads)
    for secret in (ENV_SECRET, FILE_SECRET):
        assert not any(secret.encode() in p for p in payloads)  # ...its contents and the environment's never do
        assert secret.encode() not in graph
        assert secret not in repr(options.get_all_options())


def test_read_dofn_pickles_without_credentials_and_resolves_them_in_setup(monkeypatch, tmp_path):
    monkeypatch.setenv("NEWSWIRE_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("NEWSWIRE_KAFKA_SASL_MECHANISM", "PLAIN")
    monkeypatch.setenv("NEWSWIRE_KAFKA_SASL_USERNAME", "newswire")
    monkeypatch.setenv("NEWSWIRE_KAFKA_SASL_PASSWORD", ENV_SECRET)
    fn = _ReadKafkaRangeFn("127.0.0.1:9", kafka_config_file=None)
    payload = pickle.dumps(fn)
    assert ENV_SECRET.encode() not in payload
    assert pickle.loads(payload).bootstrap_servers == "127.0.0.1:9"
