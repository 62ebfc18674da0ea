"""Embedding service timings: first load, per-phrase embed, suggestions, neighbours. Prints JSON.

Run: .venv/bin/python -m bench.bench_embeddings  (each number is wall time on this machine).
"""
from __future__ import annotations

import json
import platform
import time


def main() -> dict:
    t0 = time.perf_counter()
    from core.embeddings import UnknownWordError, get_embedder
    t1 = time.perf_counter()
    emb = get_embedder("default")
    t2 = time.perf_counter()
    get_embedder("default")
    t3 = time.perf_counter()

    from core.embeddings.paper import CONTEXT_CLASSES, VOC_CLASSES

    names = list(dict.fromkeys(VOC_CLASSES[1:] + CONTEXT_CLASSES[1:]))
    start = time.perf_counter()
    emb.embed_many(names)  # first time: glued names also run the typo check (builds the index)
    first_embed_all = time.perf_counter() - start
    rounds = 20
    start = time.perf_counter()
    for _ in range(rounds):
        for name in names:
            emb.embed(name)
    per_phrase = (time.perf_counter() - start) / (rounds * len(names))

    def time_unknown(word: str) -> float:
        start = time.perf_counter()
        try:
            emb.embed(word)
        except UnknownWordError:
            pass
        return time.perf_counter() - start

    first_suggest = time_unknown("giraffee")
    warm_words = ("elephnt", "zebbra", "bicyle", "quokkka", "sheeep")
    warm_suggest = sum(time_unknown(w) for w in warm_words) / len(warm_words)
    from core.embeddings.suggest import SpellingIndex

    fresh = SpellingIndex(list(emb._keys))  # a user file's path: index built from a Python list
    start = time.perf_counter()
    fresh.prepare()
    index_build = time.perf_counter() - start
    emb.neighbors("cat", 5)
    start = time.perf_counter()
    for _ in range(10):
        emb.neighbors("cat", 5)
    neighbors = (time.perf_counter() - start) / 10
    start = time.perf_counter()
    get_embedder("paper-voc")
    paper_load = time.perf_counter() - start

    result = {
        "machine": f"{platform.machine()} CPU, {platform.python_version()}",
        "import_s": round(t1 - t0, 3),
        "default_first_load_s": round(t2 - t1, 3),
        "default_cached_get_s": round(t3 - t2, 6),
        "embed_per_phrase_ms": round(per_phrase * 1e3, 4),
        "phrases": len(names),
        "first_embed_of_all_phrases_s": round(first_embed_all, 3),
        "unknown_word_first_suggestion_s": round(first_suggest, 3),
        "unknown_word_warm_suggestion_s": round(warm_suggest, 3),
        "spelling_index_build_from_list_400k_s": round(index_build, 3),
        "neighbors_400k_ms": round(neighbors * 1e3, 2),
        "paper_voc_load_s": round(paper_load, 4),
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
