"""Runs one batch's Beam graph on the configured runner and returns its counters."""
from __future__ import annotations

import dataclasses
from typing import Sequence

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions
from apache_beam.runners.runner import PipelineState

from pipeline.graph import BatchSpec, build_pipeline
from pipeline.inference import METRICS_NAMESPACE as NER_NAMESPACE
from pipeline.transforms import NAMESPACE

NER_LATENCY = "inference_batch_latency_micro_secs"  # RunInference's distribution of time per model call


def make_batch_runner(beam_args: Sequence[str]):
    """A ``BatchRunner`` for the driver: one bounded pipeline per batch on ``--runner`` (DirectRunner by default)."""
    args = list(beam_args)
    if not any(a == "--runner" or a.startswith("--runner=") for a in args):
        args.append("--runner=DirectRunner")

    in_process = runs_in_this_process(PipelineOptions(args))

    def run(spec: BatchSpec) -> dict:
        options = PipelineOptions(args)
        if in_process:
            spec = dataclasses.replace(spec, prefetch_ner=True)
        pipeline = beam.Pipeline(options=options)
        build_pipeline(pipeline, spec)
        result = pipeline.run()
        state = result.wait_until_finish()
        if state not in (None, PipelineState.DONE):
            raise RuntimeError(f"batch {spec.batch_id} pipeline ended in state {state}")
        return counters(result)

    return run


def runs_in_this_process(options: PipelineOptions) -> bool:
    """True when every step of the batch runs in the driver's own process (DirectRunner in memory)."""
    runner = options.view_as(StandardOptions).runner or "DirectRunner"
    mode = options.view_as(DirectOptions).direct_running_mode or "in_memory"
    return runner.rsplit(".", 1)[-1].lower() in ("directrunner", "direct") and mode == "in_memory"


def counters(result) -> dict:
    """Counter values by name, plus the microseconds spent in NER model calls; runners that cannot
    report metrics give an empty dict."""
    try:
        queried = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))
    except Exception:
        return {}
    values: dict = {}
    for counter in queried.get("counters", []):
        value = counter.committed if counter.committed is not None else counter.attempted
        values[counter.key.metric.name] = values.get(counter.key.metric.name, 0) + (value or 0)
    try:
        ner = result.metrics().query(MetricsFilter().with_namespace(NER_NAMESPACE).with_name(NER_LATENCY))
    except Exception:
        return values
    for distribution in ner.get("distributions", []):
        value = distribution.committed if distribution.committed is not None else distribution.attempted
        if value is not None:
            values["ner_inference_micros"] = values.get("ner_inference_micros", 0) + value.sum
    return values
