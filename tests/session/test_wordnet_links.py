"""Names reach ImageNet classes through WordNet: hypernyms, synonyms, homonyms in their usual sense."""
from __future__ import annotations

import torch

from core.models.efficientnet_lite import imagenet_class_names
from core.session.wordnet_links import WordNetLinks


def _names(links, word):
    ids = links.imagenet_classes(word)
    return None if ids is None else {imagenet_class_names()[i] for i in ids}


def test_hypernyms_synonyms_and_plurals():
    links = WordNetLinks()
    dogs = _names(links, "dog")
    assert len(dogs) > 100 and {"golden retriever", "beagle", "pug"} <= dogs and "tabby" not in dogs
    assert {"sports car", "fireboat", "tractor"} <= _names(links, "vehicle")
    assert {"orange", "lemon", "banana"} <= _names(links, "fruit")
    assert _names(links, "dogs") == dogs  # plural
    assert _names(links, "Golden Retriever") == {"golden retriever"}  # case and spaces
    assert "tabby" in _names(links, "cat")
    assert {"scuba diver", "suit", "jersey", "lab coat"} <= _names(links, "person")  # people are seen as their clothes


def test_names_written_without_or_with_other_word_breaks():
    """VOC's squashed class names link as their spaced forms do, and COCO's "cell phone" as WordNet's
    "cellphone"; a squashed word that is no lemma stays unlinked."""
    links = WordNetLinks()
    assert _names(links, "diningtable") == _names(links, "dining table") == {"dining table"}
    assert _names(links, "cell phone") == _names(links, "cellphone") == {"cellular telephone"}
    assert links.imagenet_classes("tvmonitor") is None


def test_homonyms_take_the_usual_concrete_sense():
    links = WordNetLinks()
    assert links.imagenet_classes("kite") is None  # usually the toy, not the hawk ImageNet calls "kite"
    assert links.imagenet_classes("organ") is None  # usually the body part, not the pipe organ
    assert _names(links, "crane") == {"crane"}  # the poets are instances, skipped: the machine
    assert {"desk", "pool table"} <= _names(links, "table")  # the array sense is abstract, skipped
    assert links.imagenet_classes("quokka") is None  # not in the table: word vectors decide


def test_prior_relevance_uses_wordnet_then_vectors():
    from core.embeddings import get_embedder
    from core.session.prior import ImageNetPrior, PriorConfig

    emb = get_embedder("default")
    prior = ImageNetPrior.for_embedder(emb, imagenet_class_names())
    names = ["dog", "quokka"]
    vecs = torch.from_numpy(emb.embed_many(names))
    r = prior.relevance(vecs, PriorConfig(), names)
    dog_ids = WordNetLinks().imagenet_classes("dog")
    assert torch.all(r[0, dog_ids] == 1) and r[0].sum() == len(dog_ids)
    off = prior.relevance(vecs, PriorConfig(wordnet=False), names)
    assert torch.equal(r[1], off[1])  # no WordNet link: the word-vector relevance, unchanged
    assert off[0, dog_ids].sum() < 0.5 * len(dog_ids)  # word vectors alone miss most breeds


def test_names_wordnet_links_need_no_imagenet_name_vectors():
    """Embedding the 2,000 ImageNet names is left to the first name WordNet does not link: a session of
    linked names (every `zs3 segment` run with everyday names) never pays for it."""
    from core.embeddings import get_embedder
    from core.session.prior import ImageNetPrior, PriorConfig

    emb = get_embedder("default")
    prior = ImageNetPrior(emb, imagenet_class_names())  # a private instance: the shared one may be embedded
    linked = ["dog", "chair"]
    r = prior.relevance(torch.from_numpy(emb.embed_many(linked)), PriorConfig(), linked)
    assert prior._vectors is None and r.sum() == sum(len(WordNetLinks().imagenet_classes(n)) for n in linked)
    names = ["dog", "quokka"]
    r = prior.relevance(torch.from_numpy(emb.embed_many(names)), PriorConfig(), names)
    assert prior._vectors is not None and 0 < r[1].max() < 1  # quokka: word vectors, embedded on demand


def test_a_living_thing_outside_the_table_reaches_the_kind_above_it():
    links = WordNetLinks()
    assert _names(links, "puppy") == _names(links, "dog")  # puppy.n.01 is a dog
    assert _names(links, "pony") == {"sorrel"}  # ImageNet's only horse
    assert "lab coat" in _names(links, "woman")  # woman → adult → person (seen as clothes)
    assert links.suggestions("puppy")[0] == "dog"  # the user is told what the name reaches
    assert links.imagenet_classes("kitten") is None  # kitten → young mammal → animal: too broad to mean anything
    assert links.imagenet_classes("sedan") is None  # an artefact: its hypernyms are functions, never walked
    assert links.imagenet_classes("teacup") is None  # (cup → container would mean 100 classes)


def test_an_imagenet_word_is_not_read_as_a_figurative_person():
    links = WordNetLinks()
    assert _names(links, "tiger") == {"tiger"}  # WordNet's first "tiger" is a fierce person
    assert _names(links, "printer") == {"printer"}
    assert _names(links, "boxer") == {"boxer"}
    assert "lab coat" in _names(links, "kid")  # no ImageNet sense: the child, not the young goat


def test_unranked_senses_put_the_imagenet_class_first():
    """WordNet ranks none of "cucumber"'s senses by frequency and lists the plant first: the vegetable,
    an ImageNet class, is what a photo shows. A name that means a COCO class keeps that sense."""
    links = WordNetLinks()
    assert _names(links, "cucumber") == {"cucumber"}
    assert _names(links, "broccoli") == {"broccoli"}
    assert _names(links, "pineapple") == {"pineapple"}
    assert {"mushroom"} <= _names(links, "mushroom")
    assert _names(links, "otter") == {"otter"}
    assert links.imagenet_classes("kite") is None  # COCO's kite is the toy: the hawk does not jump ahead
    assert _names(links, "robin") == {"robin"}  # COCO's bird and ImageNet's robin agree
    assert links.imagenet_classes("divider") is None  # a person sense never jumps ahead of an object


def test_a_detector_label_means_for_the_head_what_it_means_for_the_detector():
    """A COCO label typed as it is means the detector's class (``coco_names`` rule 1): where its usual
    WordNet sense links nothing, the head reads the label's sense too, so both models look for one thing."""
    links = WordNetLinks()
    assert _names(links, "mouse") == _names(links, "mice") == {"mouse"}  # ImageNet's computer mouse
    assert _names(links, "microwave") == {"microwave"}  # not the wave
    assert _names(links, "banana") == {"banana"}  # not the plant
    assert {"basketball", "soccer ball"} <= _names(links, "sports ball")
    assert "computer mouse" in links.suggestions("mouse")  # the user is told which mouse
    assert links.imagenet_classes("kite") is None  # COCO's kite is the toy, which ImageNet lacks
    assert links.imagenet_classes("organ") is None  # not a detector label: the usual sense rules
    assert "lab coat" in _names(links, "person")  # a name with a link of its own keeps it
