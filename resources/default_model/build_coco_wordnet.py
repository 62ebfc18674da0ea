"""Rebuild ``coco_wordnet.json``: which typed names mean which of NanoDet's 80 COCO classes, from WordNet 3.0.

Why WordNet and not an alias list: a typed name relates to a COCO class when its usual sense *is*
the class's WordNet synset, lies below it ("puppy", "sedan", "woman", "astronaut") or above a few of
them ("vehicle", "animal", "furniture"); "sofa"/"couch", "motorbike"/"motorcycle",
"aeroplane"/"airplane" are lemmas of one synset. The 80 COCO classes are pinned here once to their
synsets (checked by lemma below); everything else follows from WordNet's hierarchy.

Sense choice, as in ``core/session/wordnet_links.py``: a name is read in its most frequent sense
that is not a named instance and not abstract; a pinned COCO synset always counts (WordNet files
"traffic light" under signals). An abstract *group* sense stands for its members ("people" → its
member meronym person). If the usual sense is some other physical thing ("mouse" the rodent), the
name reaches no COCO class. A word that is exactly an ImageNet class drops its figurative person
senses first (``build_wordnet_table.readable_senses``: "tiger" is not a person box). Names above COCO
classes reach at most ``MAX_ABOVE`` of them: "artifact" or "object" would mean half the list, which
says nothing a detector can box.

    apt-get install wordnet-base
    python resources/default_model/build_coco_wordnet.py [--wordnet /usr/share/wordnet]

Run it after ``build_wordnet_table.py``: it reads the ImageNet classes from that table.

Source: WordNet 3.0 (Princeton University, WordNet 3.0 licence — ``WORDNET_LICENSE`` here).
"""
from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_wordnet_table import OUT as IMAGENET_TABLE  # noqa: E402
from build_wordnet_table import PHYSICAL_ENTITY, ancestors, read_index_noun, read_synsets, readable_senses, table_main  # noqa: E402

from core.models.coco_names import COCO_CLASSES  # noqa: E402

OUT = ROOT / "resources" / "default_model" / "coco_wordnet.json"
MAX_ABOVE = 12
#: COCO class → WordNet 3.0 noun synsets (offset, a lemma it must have). "stop sign" has none. Where
#: COCO's class is broader than the synset of its label, the broader synset is pinned: "boat" is
#: every watercraft (ships too), "dining table" every table, "potted plant" also a houseplant.
PINNED = {
    "person": [("00007846", "person")], "bicycle": [("02834778", "bicycle")], "car": [("02958343", "car")],
    "motorcycle": [("03790512", "motorcycle")], "airplane": [("02691156", "airplane")],
    "bus": [("02924116", "bus")], "train": [("04468005", "train")], "truck": [("04490091", "truck")],
    "boat": [("04530566", "vessel")], "traffic light": [("06874185", "traffic_light")],
    "fire hydrant": [("03346898", "fire_hydrant")], "stop sign": [],
    "parking meter": [("03891332", "parking_meter")], "bench": [("02828884", "bench")],
    "bird": [("01503061", "bird")], "cat": [("02121620", "cat")], "dog": [("02084071", "dog")],
    "horse": [("02374451", "horse")], "sheep": [("02411705", "sheep")], "cow": [("02402425", "cattle")],
    "elephant": [("02503517", "elephant")], "bear": [("02131653", "bear")], "zebra": [("02391049", "zebra")],
    "giraffe": [("02439033", "giraffe")], "backpack": [("02769748", "backpack")],
    "umbrella": [("04507155", "umbrella")], "handbag": [("02774152", "handbag")],
    "tie": [("03815615", "necktie")], "suitcase": [("02773838", "suitcase")],
    "frisbee": [("03397947", "frisbee")], "skis": [("04228054", "ski")], "snowboard": [("04251791", "snowboard")],
    "sports ball": [("02778669", "ball")], "kite": [("03621473", "kite")],
    "baseball bat": [("02799175", "baseball_bat")], "baseball glove": [("02800213", "baseball_glove")],
    "skateboard": [("04225987", "skateboard")], "surfboard": [("04363559", "surfboard")],
    "tennis racket": [("04409806", "tennis_racket")], "bottle": [("02876657", "bottle")],
    "wine glass": [("04592099", "wineglass")], "cup": [("03147509", "cup")], "fork": [("03383948", "fork")],
    "knife": [("03623556", "knife")], "spoon": [("04284002", "spoon")], "bowl": [("02881193", "bowl")],
    "banana": [("07753592", "banana")], "apple": [("07739125", "apple")], "sandwich": [("07695965", "sandwich")],
    "orange": [("07747607", "orange")], "broccoli": [("07714990", "broccoli")], "carrot": [("07730207", "carrot")],
    "hot dog": [("07697537", "hot_dog")], "pizza": [("07873807", "pizza")], "donut": [("07639069", "donut")],
    "cake": [("07628870", "cake")], "chair": [("03001627", "chair")], "couch": [("04256520", "couch")],
    "potted plant": [("11536230", "pot_plant"), ("13083023", "houseplant")], "bed": [("02818832", "bed")],
    "dining table": [("03201208", "dining_table"), ("04379243", "table")], "toilet": [("04446521", "commode")],
    "tv": [("04405907", "tv"), ("04405762", "tv_monitor")], "laptop": [("03642806", "laptop")],
    "mouse": [("03793489", "computer_mouse")], "remote": [("04074963", "remote_control")],
    "keyboard": [("03085013", "computer_keyboard")], "cell phone": [("02992529", "cellphone")],
    "microwave": [("03761084", "microwave")], "oven": [("03862676", "oven")], "toaster": [("04442312", "toaster")],
    "sink": [("04223580", "sink")], "refrigerator": [("04070727", "refrigerator")], "book": [("02870092", "book")],
    "clock": [("03046257", "clock")], "vase": [("04522168", "vase")], "scissors": [("04148054", "scissors")],
    "teddy bear": [("04399382", "teddy_bear")], "hair drier": [("03483316", "hair_drier")],
    "toothbrush": [("04453156", "toothbrush")],
}


def build(wordnet: Path) -> dict:
    synsets = read_synsets(wordnet / "data.noun")
    senses = read_index_noun(wordnet / "index.noun")
    if list(PINNED) != list(COCO_CLASSES):
        raise SystemExit("PINNED must list the 80 COCO classes in the model's order")
    coco_of: dict = defaultdict(set)  # synset → COCO classes it is, or lies above
    for index, pins in enumerate(PINNED.values()):
        for offset, lemma in pins:
            if lemma not in synsets[offset][0]:
                raise SystemExit(f"synset {offset} has no lemma {lemma!r}: wrong WordNet version?")
            for s in ancestors(synsets, offset):
                coco_of[s].add(index)
    pin_index = {offset: i for i, pins in enumerate(PINNED.values()) for offset, _ in pins}

    def below(offset: str) -> set:  # COCO classes of a synset at or under a pinned one
        return {pin_index[s] for s in ancestors(synsets, offset) if s in pin_index}

    def classes(offset: str) -> set | None:
        """COCO classes a sense means, None if it is not a sense to read (instance, abstract)."""
        found = below(offset) or (coco_of.get(offset, set()) if len(coco_of.get(offset, ())) <= MAX_ABOVE else set())
        if found:
            return found
        lemmas, _, members, instance = synsets[offset]
        if instance:
            return None
        if PHYSICAL_ENTITY not in ancestors(synsets, offset):
            group = set().union(*(below(m) for m in members)) if members else set()
            return group or None
        return set()  # a physical thing outside COCO: the name means something else

    exact = {wnid[1:] for wnid in json.loads(IMAGENET_TABLE.read_text(encoding="utf-8"))["classes"]}
    lemmas = {}
    for lemma, offsets in senses.items():
        for offset in readable_senses(offsets, synsets, exact):
            found = classes(offset)
            if found is not None:
                if found:
                    lemmas[lemma] = sorted(found)
                break
    exceptions = {}  # irregular plurals (noun.exc) of names that reach a class: "men" → "man"
    for line in (wordnet / "noun.exc").read_text(encoding="latin-1").splitlines():
        plural, *bases = line.split()
        base = next((b for b in bases if b in lemmas or b.replace("_", " ") in COCO_CLASSES), None)
        if base is not None and plural not in lemmas:
            exceptions[plural] = base
    return {
        "format": "zs3-coco-wordnet/1",
        "source": "WordNet 3.0 (Princeton University, WordNet 3.0 licence)",
        "classes": list(COCO_CLASSES),
        "synsets": {name: [o for o, _ in pins] for name, pins in PINNED.items()},
        "lemmas": lemmas,
        "exceptions": exceptions,
    }


def main() -> None:
    table_main(build, OUT, lambda t: f"{len(t['lemmas'])} lemmas reach a COCO class", __doc__)


if __name__ == "__main__":
    main()
