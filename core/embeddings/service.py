"""``get_embedder(spec)``: parse an embedding spec, load the source once per process, cache it.

Specs: ``"default"`` (GloVe 6B 50-d, offline), ``"paper-voc"`` / ``"paper-context"`` (the paper's
fixed class vectors), ``"minilm"`` (optional sentence encoder), a path to a word-vector file, or
several of these joined with ``+`` (concatenation). Loading GloVe or a user's file takes a second or
more, so the result is cached keyed by the canonical spec (files: resolved path + size + mtime, so
an edited file is reloaded). Two threads asking for the same spec wait for one load; different
specs load in parallel.
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from core.embeddings.base import Embedder
from core.errors import UserError

log = logging.getLogger(__name__)

DEFAULT_ALIASES = ("default", "glove", "glove-6b-50d")
SENTENCE_ALIASES = ("minilm", "sentence", "all-minilm-l6-v2")
PAPER_SPECS = ("paper-voc", "paper-context")
NAMED_SOURCES = ("default", *PAPER_SPECS, "minilm")

_cache: dict[tuple, Embedder] = {}
_key_locks: dict[tuple, threading.Lock] = {}
_cache_lock = threading.Lock()


def _part_key(part: str) -> tuple:
    """Canonical cache key of one (non-concatenated) source."""
    lowered = part.strip().lower()
    if lowered in DEFAULT_ALIASES:
        return ("default",)
    if lowered in PAPER_SPECS:
        return ("paper", lowered)
    if lowered in SENTENCE_ALIASES:
        return ("sentence",)
    path = Path(part.strip()).expanduser()
    if path.is_file():
        stat = path.stat()
        return ("file", str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if path.exists():
        raise UserError(f"embedding source {part!r} is not a file")
    raise UserError(
        f"unknown embedding source {part!r}: not a file and not one of {', '.join(NAMED_SOURCES)}"
    )


def parse_spec(spec: str | None) -> tuple[tuple, ...]:
    """Spec text → tuple of part keys (one part unless the spec joins sources with ``+``)."""
    text = (spec or "default").strip() or "default"
    if Path(text).expanduser().is_file():  # a file name that itself contains "+"
        return (_part_key(text),)
    parts = [p for p in text.split("+")]
    if any(not p.strip() for p in parts):
        raise UserError(f"empty part in embedding spec {text!r}")
    return tuple(_part_key(p) for p in parts)


def _load_part(key: tuple) -> Embedder:
    from core.embeddings.wordvectors import WordVectorEmbedder

    kind = key[0]
    if kind == "default":
        from core.embeddings.sources import DEFAULT_NAME, load_default_glove

        loaded = load_default_glove()
        return WordVectorEmbedder(loaded.kv, name=DEFAULT_NAME, spec="default",
                                  arrow_words=loaded.arrow_words, lower_case=loaded.lower_case)
    if kind == "paper":
        from core.embeddings.paper import PaperEmbedder

        return PaperEmbedder(key[1])
    if kind == "sentence":
        from core.embeddings.sentence import SentenceEmbedder

        return SentenceEmbedder("minilm")
    if kind == "file":
        from core.embeddings.sources import load_file

        path = Path(key[1])
        loaded = load_file(path)
        return WordVectorEmbedder(loaded.kv, name=path.name, spec=str(path), subword=loaded.subword)
    raise AssertionError(f"unhandled source key {key!r}")


def _get(key: tuple, build) -> Embedder:
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None:
            return cached
        lock = _key_locks.setdefault(key, threading.Lock())
    with lock:
        with _cache_lock:
            cached = _cache.get(key)
        if cached is not None:
            return cached
        start = time.perf_counter()
        embedder = build()
        log.info("loaded embeddings %s (%d-d) in %.2f s", embedder.name, embedder.dim, time.perf_counter() - start)
        with _cache_lock:
            _cache[key] = embedder
        return embedder


def get_embedder(spec: str | None = "default") -> Embedder:
    """The embedder for ``spec``, loaded once per process (thread-safe)."""
    keys = parse_spec(spec)
    if len(keys) == 1:
        return _get(keys[0], lambda: _load_part(keys[0]))
    parts = [_get(k, lambda k=k: _load_part(k)) for k in keys]

    def build() -> Embedder:
        from core.embeddings.concat import ConcatEmbedder

        return ConcatEmbedder(parts, spec="+".join(p.spec for p in parts))

    return _get(("concat", *keys), build)


def clear_cache() -> None:
    """Forget every loaded source (tests, or to free memory after switching sources)."""
    with _cache_lock:
        _cache.clear()
        _key_locks.clear()
