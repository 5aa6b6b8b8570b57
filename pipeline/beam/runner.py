"""Runs one batch's Beam graph on the configured runner and returns its counters."""
from __future__ import annotations

import dataclasses
import types
from collections import OrderedDict
from threading import Lock
from typing import Any, Sequence

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, PipelineOptionsT, StandardOptions
from apache_beam.runners.runner import PipelineRunner, PipelineState
from apache_beam.transforms import userstate

from pipeline.beam.graph import build_pipeline
from pipeline.core.contract import BatchSpec
from pipeline.beam.inference import METRICS_NAMESPACE as NER_NAMESPACE
from pipeline.beam.transforms import NAMESPACE

NER_LATENCY = "inference_batch_latency_micro_secs"  # RunInference's distribution of time per model call


def make_batch_runner(beam_args: Sequence[str]):
    """A ``BatchRunner`` for the driver: one bounded pipeline per batch on ``--runner`` (DirectRunner by default)."""
    args = list(beam_args)
    if not any(a == "--runner" or a.startswith("--runner=") for a in args):
        args.append("--runner=DirectRunner")

    in_process = runs_in_this_process(PipelineOptions(args))
    install_dofn_spec_cache()

    def run(spec: BatchSpec) -> dict:
        options = ReusedViewOptions(args)
        if in_process:
            spec = dataclasses.replace(spec, prefetch_ner=True)
        pipeline = beam.Pipeline(runner=in_memory_runner(options) if in_process else None, options=options)
        build_pipeline(pipeline, spec)
        result = pipeline.run()
        state = result.wait_until_finish()
        if state not in (None, PipelineState.DONE):
            raise RuntimeError(f"batch {spec.batch_id} pipeline ended in state {state}")
        return counters(result)

    return run


class ReusedViewOptions(PipelineOptions):
    """Pipeline options that make each view (``view_as(cls)``) once and hand out the same one again.

    Building a graph asks for views hundreds of times (every type check asks for ``TypeOptions``)
    and each new view re-parses the flags: ~0.3 s of every batch here. A view holds no values of
    its own (all views share the options' value store), so one per class behaves the same.
    """

    def view_as(self, cls: type[PipelineOptionsT]) -> PipelineOptionsT:
        views = self.__dict__.get("_reused_views")
        if views is None:
            views = {}
            object.__setattr__(self, "_reused_views", views)  # PipelineOptions.__setattr__ takes option names only
        view = views.get(cls)
        if view is None:
            view = views[cls] = super().view_as(cls)
        return view

    def __getstate__(self) -> dict:
        state = dict(super().__getstate__())
        state.pop("_reused_views", None)
        return state


def runs_in_this_process(options: PipelineOptions) -> bool:
    """True when every step of the batch runs in the driver's own process (DirectRunner in memory)."""
    runner = options.view_as(StandardOptions).runner or "DirectRunner"
    mode = options.view_as(DirectOptions).direct_running_mode or "in_memory"
    return runner.rsplit(".", 1)[-1].lower() in ("directrunner", "direct") and mode == "in_memory"


def in_memory_runner(options: PipelineOptions) -> PipelineRunner:
    """The runner DirectRunner hands this graph to: Beam's FnApiRunner in memory, set up as DirectRunner sets it up.

    DirectRunner picks it again for every pipeline after two passes over the graph that ask Prism
    and the FnApiRunner whether they support each step (Prism does not support steps with
    exception handling, which this graph has); going straight to the FnApiRunner saves those
    passes, ~0.2 s of every batch.
    """
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    provision = fn_runner.ExtendedProvisionInfo(beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded))
    return fn_runner.FnApiRunner(provision_info=provision)


_DOFN_SPECS_LIMIT = 1024
_dofn_specs: "OrderedDict[tuple, tuple[frozenset, frozenset]]" = OrderedDict()
_dofn_specs_lock = Lock()
_beam_get_dofn_specs = userstate.get_dofn_specs


def _dofn_specs_key(dofn: Any) -> tuple:
    """What ``userstate.get_dofn_specs`` reads of a DoFn: its class's methods, and instance
    attributes that add or shadow methods (``beam.Map`` stores its function as ``process``)."""
    cls = type(dofn)
    own = getattr(dofn, "__dict__", {})
    shadowing = tuple(
        (name, value if isinstance(value, (types.FunctionType, types.MethodType, types.BuiltinFunctionType)) else None)
        for name, value in own.items()
        if isinstance(value, types.MethodType) or callable(getattr(cls, name, None))
    )
    return cls, shadowing


def cached_get_dofn_specs(dofn: Any) -> tuple[set, set]:
    """``userstate.get_dofn_specs`` remembered per DoFn class (and per method stored on the instance).

    Beam asks it several times per DoFn for every pipeline it builds, translates and runs, each
    time inspecting the signature of every method: about 0.2 s of every batch's fixed cost here.
    The answer depends only on the methods' parameter defaults, which the key captures.
    """
    try:
        key = _dofn_specs_key(dofn)
        hash(key)
    except TypeError:  # an unhashable method owner: ask Beam every time
        return _beam_get_dofn_specs(dofn)
    with _dofn_specs_lock:
        found = _dofn_specs.get(key)
        if found is not None:
            _dofn_specs.move_to_end(key)
    if found is None:
        states, timers = _beam_get_dofn_specs(dofn)
        found = (frozenset(states), frozenset(timers))
        with _dofn_specs_lock:
            _dofn_specs[key] = found
            while len(_dofn_specs) > _DOFN_SPECS_LIMIT:
                _dofn_specs.popitem(last=False)
    return set(found[0]), set(found[1])


def install_dofn_spec_cache() -> None:
    """Route Beam's DoFn state/timer introspection through :func:`cached_get_dofn_specs` (idempotent)."""
    userstate.get_dofn_specs = cached_get_dofn_specs


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
