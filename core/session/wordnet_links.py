"""Typed class names → ImageNet-1k classes through WordNet 3.0 (``resources/default_model/imagenet_wordnet.json``).

Why WordNet and not word-vector similarity or an alias list: the 1,000 ImageNet classes *are*
WordNet noun synsets, so "dog" covers its 118 breeds, "vehicle" cars, buses and boats, and
"motorcycle" and "motorbike" are the same thing, with no list tuned on any evaluation photo.

Sense choice (homonyms): a name is read in its most frequent concrete sense — WordNet's sense order,
skipping named instances ("Crane" the poet) and abstract senses ("table" the array). If that sense is
an ImageNet class or lies above one, the name maps to every ImageNet class under it; if it is some
other physical thing ("kite" the toy, "mouse" the rodent, "cup" the vessel), WordNet says the
ImageNet classes sharing the word are something else, and the name gets no WordNet link (the caller
falls back to word vectors) — unless the name is one of the COCO detector's labels as typed, which
means the detector's class to both models ("mouse": the computer mouse; ``linked_synsets``). A living
thing none of whose senses is in ImageNet's hierarchy reaches the nearest kind above it ("puppy" →
every dog, "pony" → horse, "woman" → person), and a word that is exactly an ImageNet class is not read
as a figurative person ("tiger", "boxer", "printer"), and where WordNet ranks no sense by frequency,
the ImageNet sense goes first ("cucumber": the vegetable, not the plant; "kite" stays the toy COCO
knows): all settled when the table is built, by
``resources/default_model/build_wordnet_table.py``.
"""
from __future__ import annotations

import functools
import json
import threading
from pathlib import Path

TABLE = Path(__file__).resolve().parents[2] / "resources" / "default_model" / "imagenet_wordnet.json"
_SKIP = ("i", "a")  # instance, abstract
#: The one relation photos need that WordNet lacks: people are seen as their clothes (ImageNet has
#: three person classes but 49 garments), so person.n.01 also covers the classes under clothing.n.01.
SEEN_AS = {"00007846": ("03051540",)}


def lemma_key(name: str) -> str:
    """A typed class name as a WordNet lemma key: "Dining-Table: the big one" → "dining_table"."""
    return "_".join(name.split(":", 1)[0].replace("-", " ").lower().split())


def squash(key: str) -> str:
    """A lemma key without its word breaks: VOC's "diningtable" and a typed "cell phone" meet WordNet's
    "dining_table" and "cellphone"."""
    return key.replace("_", "")


class WordNetLinks:
    def __init__(self, path: Path = TABLE):
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        self.wnids: list[str] = data["classes"]
        self.synsets: dict = data["synsets"]
        self.lemmas: dict = data["lemmas"]
        self._squashed: dict = {}
        for k in sorted(self.lemmas, key=lambda k: (k.count("_"), k)):  # "cellphone" before "cell_phone"
            self._squashed.setdefault(squash(k), k)

    def _senses(self, name: str):
        key = lemma_key(name)
        candidates = [key]
        if key.endswith("es"):
            candidates.append(key[:-2])
        if key.endswith("s"):
            candidates.append(key[:-1])
        for k in candidates:
            if k in self.lemmas:
                return k, self.lemmas[k]
        for k in candidates:  # written without WordNet's word breaks, or with others
            if squash(k) in self._squashed:
                k = self._squashed[squash(k)]
                return k, self.lemmas[k]
        return None, None

    def senses(self, name: str) -> list:
        """Every noun sense of a typed name, in WordNet's frequency order: the offset of a synset that
        is an ImageNet class or lies above one, else "i" (instance), "a" (abstract) or None (another
        physical thing). Empty when the table does not know the word."""
        return list(self._senses(name)[1] or [])

    def synset(self, name: str) -> str | None:
        """The synset offset a typed name resolves to (its usual concrete sense), if ImageNet-related."""
        _, senses = self._senses(name)
        if not senses:
            return None
        first = next((s for s in senses if s not in _SKIP), None)
        return first  # None: the usual sense is a physical thing outside ImageNet's hierarchy

    def linked_synsets(self, name: str) -> list[str]:
        """The table synsets a typed name links to: its usual concrete sense; where that links nothing
        and the name is one of the COCO detector's own labels as typed, that label's sense ("mouse",
        "microwave", "banana", "sports ball": the computer mouse, the oven, the fruit and the balls the
        detector boxes, not the rodent, the wave, the plant). One name, one meaning for both models:
        without this the detector boxed a typed "mouse" as the computer mouse while the ImageNet head,
        which knows "computer mouse", was told nothing."""
        s = self.synset(name)
        if s is not None:
            return [s]
        from core.models.coco_names import detector_label_synsets

        return [o for o in detector_label_synsets(name) if o in self.synsets]

    def imagenet_classes(self, name: str) -> list[int] | None:
        """ImageNet class indices under the name's linked senses (``linked_synsets``), or None when
        WordNet does not link it."""
        offsets = self.linked_synsets(name)
        if not offsets:
            return None
        ids: set = set()
        for s in offsets:
            ids.update(self.synsets[s]["classes"])
            for other in SEEN_AS.get(s, ()):
                ids.update(self.synsets[other]["classes"])
        return sorted(ids)

    def kin_size(self, classes, other: int) -> int:
        """How many ImageNet classes the smallest table synset over all of ``classes`` and ``other`` holds
        (1,000 at most): how near ``other`` is to what a name means ("chair" and the dining table: 22,
        furniture; "cat" and the badger: 158, carnivore)."""
        want = frozenset(classes) | {int(other)}
        return self._kin_size(want)

    @functools.cached_property
    def _class_sets(self) -> list[frozenset]:
        """Each table synset's ImageNet classes, smallest first (built once, on the first ``kin_size``)."""
        return sorted((frozenset(v["classes"]) for v in self.synsets.values()), key=len)

    @functools.lru_cache(maxsize=4096)
    def _kin_size(self, want: frozenset) -> int:
        return next((len(s) for s in self._class_sets if want <= s), len(self.wnids))

    def suggestions(self, name: str) -> list[str]:
        """Other lemmas of the linked synset (what the name also reaches), for the user's information."""
        words = [w.replace("_", " ") for s in self.linked_synsets(name) for w in self.synsets[s]["lemmas"]]
        return list(dict.fromkeys(words))


_LINKS: dict = {}
_LOCK = threading.Lock()


def wordnet_links() -> WordNetLinks | None:
    """The shared table (read-only), or None when the file is missing (word vectors only then)."""
    with _LOCK:
        if "links" not in _LINKS:
            _LINKS["links"] = WordNetLinks() if TABLE.is_file() else None
        return _LINKS["links"]
