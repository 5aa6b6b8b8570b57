"""RunInference wiring for spaCy NER on the in-process DirectRunner, with the real model."""
from __future__ import annotations

import apache_beam as beam
import pytest
import spacy
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.ml.inference.base import PredictionResult
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline.io import ner
from pipeline.news.entities import Mention
from pipeline.beam.inference import (
    MAX_BATCH_SIZE,
    METRICS_NAMESPACE,
    ExtractEntities,
    NerRequest,
    SpacyNerModelHandler,
)
from pipeline.core.contract import DEFAULT_MODEL
from pipeline.io.ner import extract, get_engine, load_ner, resolve_model_name

# Sentences of the seed story (tests/fixtures/seed_article.txt).
ZELENSKY = (
    "Ukrainian President Volodymyr Zelensky has consistently pushed for authorization from Washington "
    "to use the powerful Army Tactical Missile System, known by its initials as ATACMS, to hit targets "
    "inside Russia."
)
PUTIN = (
    "Russian President Vladimir Putin has warned that approval would mean that NATO was \"at war\" with "
    "his country."
)
STARMER = "During a meeting with French leader Emmanuel Macron on Monday, Prime Minister Keir Starmer of Britain spoke."

REQUESTS = [
    NerRequest(("story-1", 1), (ZELENSKY, PUTIN)),
    NerRequest(("story-2", 3), (STARMER,)),
    NerRequest(("story-3", 1), ()),
]


@pytest.fixture(scope="module")
def expected():
    """Per request key, the per-paragraph mentions spaCy gives outside Beam."""
    nlp = load_ner(DEFAULT_MODEL)
    return [(r.key, tuple(tuple(ms) for ms in extract(nlp, r.paragraphs))) for r in REQUESTS]


def persons(inference) -> list[tuple[str, int, int]]:
    return [(m.text, m.start_char, m.end_char) for ms in inference for m in ms if m.label == "PERSON"]


# --------------------------------------------------------------------------- the handler


def test_handler_runs_the_whole_batch_and_keeps_alignment():
    handler = SpacyNerModelHandler()
    engine = handler.load_model()
    assert engine is get_engine(DEFAULT_MODEL, 1) is SpacyNerModelHandler().load_model()
    results = list(handler.run_inference(REQUESTS, engine))
    assert [r.example for r in results] == REQUESTS
    assert all(isinstance(r, PredictionResult) for r in results)
    zelensky, putin = results[0].inference
    assert Mention("Volodymyr Zelensky", "PERSON", 20, 38) in zelensky
    assert Mention("Vladimir Putin", "PERSON", 18, 32) in putin
    assert persons(results[1].inference) == [("Emmanuel Macron", 36, 51), ("Keir Starmer", 78, 90)]
    assert results[2].inference == ()
    assert not any(m.label == "DATE" for m in results[1].inference[0])  # "Monday" is dropped


def test_handler_engine_calls_once_per_batch(monkeypatch):
    handler = SpacyNerModelHandler()
    engine = handler.load_model()
    calls = []
    real = engine.extract
    monkeypatch.setattr(engine, "extract", lambda texts: calls.append(list(texts)) or real(texts))
    list(handler.run_inference(REQUESTS, engine))
    assert calls == [[ZELENSKY, PUTIN, STARMER]]


def test_handler_settings():
    handler = SpacyNerModelHandler("en_core_web_sm", processes=2, min_batch_size=4, max_batch_size=64)
    assert handler.get_metrics_namespace() == METRICS_NAMESPACE == "newswire_ner"
    assert handler.batch_elements_kwargs() == {"min_batch_size": 4, "max_batch_size": 64}
    assert SpacyNerModelHandler().batch_elements_kwargs()["max_batch_size"] == MAX_BATCH_SIZE == 256
    assert handler.share_model_across_processes() is False
    assert handler.get_num_bytes(REQUESTS) == len((ZELENSKY + PUTIN + STARMER).encode("utf-8"))
    handler.validate_inference_args(None)
    with pytest.raises(ValueError, match="no inference_args"):
        handler.validate_inference_args({"batch_size": 8})
    assert repr(handler) == "SpacyNerModelHandler('en_core_web_sm', processes=2)"


# --------------------------------------------------------------------------- the transform


def test_extract_entities_on_the_direct_runner(expected):
    with BeamTestPipeline() as p:
        out = p | beam.Create(REQUESTS) | "ExtractEntities" >> ExtractEntities()

        def check(actual):
            by_key = dict(actual)
            assert sorted(actual) == sorted(expected)
            zelensky, putin = by_key[("story-1", 1)]
            assert Mention("Volodymyr Zelensky", "PERSON", 20, 38) in zelensky
            assert Mention("Vladimir Putin", "PERSON", 18, 32) in putin
            assert by_key[("story-3", 1)] == ()

        assert_that(out, check)
    metrics = p.result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE).with_name("num_inferences"))
    assert sum(c.committed for c in metrics["counters"]) == len(REQUESTS)


def test_extract_entities_on_the_worker_pool_gives_the_same_result(expected):
    with BeamTestPipeline() as p:
        out = p | beam.Create(REQUESTS) | "ExtractEntities" >> ExtractEntities(processes=2)
        assert_that(out, equal_to(expected))


def test_step_labels_are_stable():
    p = beam.Pipeline()
    _ = p | beam.Create(REQUESTS) | "ExtractEntities" >> ExtractEntities()
    labels = set()

    class Collect(beam.pipeline.PipelineVisitor):
        def enter_composite_transform(self, node):
            labels.add(node.full_label)

        def visit_transform(self, node):
            labels.add(node.full_label)

    p.visit(Collect())
    assert {"ExtractEntities", "ExtractEntities/RunInference", "ExtractEntities/KeyByRequest"} <= labels


def test_separate_pipelines_in_one_process_load_the_model_once(monkeypatch, expected):
    """Each micro-batch builds a new pipeline (new RunInference, new shared tag); the model loads once."""
    monkeypatch.setattr(ner, "_NLP_CACHE", {})
    monkeypatch.setattr(ner, "_ENGINES", {})
    loads = []
    real_load = spacy.load

    def counting_load(name, *args, **kwargs):
        loads.append(name)
        return real_load(name, *args, **kwargs)

    monkeypatch.setattr(spacy, "load", counting_load)
    engines = []
    monkeypatch.setattr(SpacyNerModelHandler, "load_model", lambda self: engines.append(get_engine(self.model_name, self.processes)) or engines[-1])
    for batch in range(2):
        with BeamTestPipeline() as p:
            out = p | beam.Create(REQUESTS) | "ExtractEntities" >> ExtractEntities()
            assert_that(out, equal_to(expected))
    assert loads == [resolve_model_name(DEFAULT_MODEL)]
    assert len(engines) >= 2 and all(e is engines[0] for e in engines)  # load_model ran per pipeline


def test_request_key_may_be_an_unhashable_row():
    """The graph keys requests by the article row itself (a dict); it is passed through untouched."""
    row = {"story_id": "urn:a", "version": 2, "_paragraphs": (ZELENSKY,)}
    with BeamTestPipeline() as p:
        out = p | beam.Create([NerRequest(row, row["_paragraphs"])]) | "ExtractEntities" >> ExtractEntities()

        def check(actual):
            ((key, inference),) = actual
            assert key == row
            assert Mention("Volodymyr Zelensky", "PERSON", 20, 38) in inference[0]

        assert_that(out, check)
