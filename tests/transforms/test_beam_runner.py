"""The batch runner's Beam glue: the in-memory runner it picks and the DoFn introspection cache."""
from __future__ import annotations

import pickle

import apache_beam as beam
from apache_beam.coders import VarIntCoder
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import userstate
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import BagStateSpec, TimerSpec, on_timer
from apache_beam.transforms.window import GlobalWindow

from pipeline.beam import runner as beam_runner
from pipeline.beam.runner import _beam_get_dofn_specs, cached_get_dofn_specs, in_memory_runner, install_dofn_spec_cache
from pipeline.beam.syndication import _AttachEntitiesFn
from pipeline.beam.transforms import _WriteFileFn


class CountingFn(beam.DoFn):
    SEEN = BagStateSpec("seen", VarIntCoder())
    FLUSH = TimerSpec("flush", TimeDomain.WATERMARK)

    def process(self, element, seen=beam.DoFn.StateParam(SEEN), flush=beam.DoFn.TimerParam(FLUSH)):
        seen.add(element[1])
        flush.set(GlobalWindow().max_timestamp())

    @on_timer(FLUSH)
    def flushed(self, seen=beam.DoFn.StateParam(SEEN)):
        yield sum(seen.read())


class StatelessFn(beam.DoFn):
    def process(self, element):
        yield element


class Holder:
    """A bound method handed to beam.Map: its parameters are what Beam inspects."""

    SPEC = BagStateSpec("held", VarIntCoder())

    def plain(self, element):
        return element

    def with_state(self, element, held=beam.DoFn.StateParam(SPEC)):
        return element


def double(x: int) -> int:
    return 2 * x


def test_cached_specs_equal_beams_for_every_kind_of_dofn():
    holder = Holder()
    dofns = [
        CountingFn(),
        StatelessFn(),
        _WriteFileFn("/tmp/x", "articles"),
        _AttachEntitiesFn("/tmp/lake", -1),
        beam.Map(double).dofn,
        beam.Map(lambda x: x).dofn,
        beam.Map(holder.plain).dofn,
        beam.Map(holder.with_state).dofn,
        beam.Map(len).dofn,
    ]
    for dofn in dofns:
        for _ in range(2):  # first computed, then remembered
            assert cached_get_dofn_specs(dofn) == _beam_get_dofn_specs(dofn), dofn
    states, timers = cached_get_dofn_specs(CountingFn())
    assert {s.name for s in states} == {"seen"} and {t.name for t in timers} == {"ts-flush"}
    assert cached_get_dofn_specs(StatelessFn()) == (set(), set())


def test_an_instance_method_shadowing_the_class_changes_the_answer():
    shadowed = CountingFn()
    shadowed.process = lambda element: [element]  # as beam.Map stores its function
    assert cached_get_dofn_specs(CountingFn())[0]
    assert cached_get_dofn_specs(shadowed) == _beam_get_dofn_specs(shadowed)


def test_callers_may_change_the_returned_sets_without_changing_the_cache():
    states, _ = cached_get_dofn_specs(CountingFn())
    states.clear()
    assert cached_get_dofn_specs(CountingFn())[0]


def test_the_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(beam_runner, "_DOFN_SPECS_LIMIT", 5)
    for _ in range(20):
        cached_get_dofn_specs(beam.Map(lambda x: x).dofn)  # a new function each time: a new key
    assert len(beam_runner._dofn_specs) <= 5


def test_stateful_pipeline_runs_on_the_in_memory_runner_with_the_cache_installed():
    install_dofn_spec_cache()
    assert userstate.get_dofn_specs is cached_get_dofn_specs
    options = PipelineOptions([])
    with beam.Pipeline(runner=in_memory_runner(options), options=options) as p:
        out = p | beam.Create([("a", 1), ("a", 2), ("b", 5)]) | beam.ParDo(CountingFn())
        assert_that(out, equal_to([3, 5]))


def test_reused_views_are_one_per_class_and_share_the_options_values():
    from apache_beam.options.pipeline_options import StandardOptions, TypeOptions

    args = ["--runner=DirectRunner", "--pipeline_type_check", "--job_name=batch-7"]
    options = beam_runner.ReusedViewOptions(args)
    types_view = options.view_as(TypeOptions)
    assert options.view_as(TypeOptions) is types_view
    assert options.view_as(StandardOptions) is not types_view
    assert options.get_all_options() == PipelineOptions(args).get_all_options()
    options.view_as(StandardOptions).runner = "FnApiRunner"  # a write through one view is seen by all
    assert options.view_as(StandardOptions).runner == "FnApiRunner"
    assert options.get_all_options()["runner"] == "FnApiRunner"
    state = options.__getstate__()
    assert "_reused_views" not in state and "_reused_views" in options.__dict__
    restored = pickle.loads(pickle.dumps(options))
    assert restored.get_all_options() == options.get_all_options()
    assert restored.view_as(TypeOptions) is restored.view_as(TypeOptions)


def test_a_pipeline_runs_with_reused_views():
    options = beam_runner.ReusedViewOptions(["--runner=DirectRunner"])
    with beam.Pipeline(runner=in_memory_runner(options), options=options) as p:
        out = p | beam.Create([1, 2, 3]) | "Double" >> beam.Map(lambda x: 2 * x)
        assert_that(out, equal_to([2, 4, 6]))
