"""Beam RunInference wiring for spaCy NER: a ModelHandler over :class:`pipeline.io.ner.NerEngine`.

RunInference keeps the loaded model in ``shared.Shared`` under a tag that is new for every
RunInference instance, so every micro-batch pipeline calls ``load_model`` again. ``load_model``
therefore returns the process-wide engine from :func:`pipeline.io.ner.get_engine`: the model (and the
worker pool, if any) is loaded once per process, not once per batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional, Sequence

import apache_beam as beam
from apache_beam.ml.inference.base import ModelHandler, PredictionResult, RunInference

from pipeline.news.entities import Mention
from pipeline.core.contract import DEFAULT_MODEL
from pipeline.io.ner import NerEngine, get_engine

METRICS_NAMESPACE = "newswire_ner"
MIN_BATCH_SIZE = 8
MAX_BATCH_SIZE = 256  # documents per inference call


@dataclass(frozen=True)
class NerRequest:
    """One document for NER: a key to join results back on and its body paragraphs.

    ``key`` is passed through untouched (it is never hashed or compared), so it may be the article
    row itself.
    """

    key: Any
    paragraphs: tuple[str, ...]


# The inference for one request: per paragraph, the mentions with offsets into that paragraph.
NerResult = tuple[tuple[Mention, ...], ...]


class SpacyNerModelHandler(ModelHandler[NerRequest, PredictionResult, NerEngine]):
    """NerRequest -> PredictionResult(example=request, inference=NerResult).

    ``processes > 1`` runs spaCy on a persistent worker pool (see :class:`pipeline.io.ner.NerEngine`);
    the whole batch's paragraphs go through one ``engine.extract`` call.
    """

    def __init__(
        self,
        model_name: str = DEFAULT_MODEL,
        processes: int = 1,
        *,
        min_batch_size: int = MIN_BATCH_SIZE,
        max_batch_size: int = MAX_BATCH_SIZE,
    ) -> None:
        # share_model_across_processes() stays False: the engine is a per-process cache (with its
        # own pool), not a model to proxy through multi_process_shared.
        super().__init__(min_batch_size=min_batch_size, max_batch_size=max_batch_size)
        self.model_name = model_name
        self.processes = processes

    def __repr__(self) -> str:
        return f"SpacyNerModelHandler({self.model_name!r}, processes={self.processes})"

    def load_model(self) -> NerEngine:
        return get_engine(self.model_name, self.processes)

    def run_inference(
        self,
        batch: Sequence[NerRequest],
        model: NerEngine,
        inference_args: Optional[dict[str, Any]] = None,
    ) -> Iterable[PredictionResult]:
        flat = model.extract([p for request in batch for p in request.paragraphs])
        results = []
        start = 0
        for request in batch:
            end = start + len(request.paragraphs)
            results.append(PredictionResult(request, tuple(tuple(mentions) for mentions in flat[start:end])))
            start = end
        return results

    def validate_inference_args(self, inference_args: Optional[dict[str, Any]]) -> None:
        if inference_args:
            raise ValueError(f"SpacyNerModelHandler takes no inference_args, got {sorted(inference_args)}")

    def get_num_bytes(self, batch: Sequence[NerRequest]) -> int:
        """UTF-8 bytes of text in the batch (what NER actually reads)."""
        return sum(len(p.encode("utf-8")) for request in batch for p in request.paragraphs)

    def get_metrics_namespace(self) -> str:
        return METRICS_NAMESPACE

    def batch_elements_kwargs(self) -> Mapping[str, Any]:
        return dict(self._batching_kwargs)


def _keyed(result: PredictionResult) -> tuple[Any, NerResult]:
    return result.example.key, result.inference


class ExtractEntities(beam.PTransform):
    """NerRequest -> (key, per-paragraph mentions), through RunInference (label "RunInference")."""

    def __init__(self, model_name: str = DEFAULT_MODEL, processes: int = 1, **handler_kwargs: Any) -> None:
        super().__init__()
        self.handler = SpacyNerModelHandler(model_name, processes, **handler_kwargs)

    def expand(self, requests):
        return (
            requests
            | "RunInference" >> RunInference(self.handler)
            | "KeyByRequest" >> beam.Map(_keyed)
        )
