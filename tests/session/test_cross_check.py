"""``core.session.cross_check``: a class's prior cells judged by the other photos (synthetic, known answers)."""
from __future__ import annotations

import torch

from core.constants import IGNORE
from core.session.cross_check import cross_image_check

F_DIM, SIDE = 6, 8
OBJECT, BUSH, WALL, ROAD = (torch.eye(F_DIM)[i] * 3 for i in range(4))


def _photo(rows: list[list[str]], gen: torch.Generator):
    """A photo from a map of cell kinds: features (noisy prototypes) and prior labels
    ("p" object cut as class 1, "b" bush cut as class 1, "B" bush as background, "w"/"r" background, "." unsure)."""
    kinds = {"p": (OBJECT, 1), "b": (BUSH, 1), "B": (BUSH, 0), "w": (WALL, 0), "r": (ROAD, 0), ".": (ROAD, IGNORE)}
    feats = torch.zeros(F_DIM, SIDE, SIDE)
    lab = torch.full((SIDE, SIDE), IGNORE, dtype=torch.long)
    for y, row in enumerate(rows):
        for x, k in enumerate(row):
            proto, label = kinds[k]
            feats[:, y, x] = proto + 0.2 * torch.randn(F_DIM, generator=gen)
            lab[y, x] = label
    return feats, lab


#: The first photo's box holds the object and a bush GrabCut kept; in the others the object is cut
#: cleanly and bushes are background.
FIRST = ["wwwwwwww", "wwbbppww", "wwbbppww", "wwbbppww", "wwbbppww", "rrrrrrrr", "rrrrrrrr", "rrrrrrrr"]
OTHER = ["wwwwwwww", "wwwppwww", "wwwppwww", "BBBppBBB", "BBBppBBB", "rrrrrrrr", "rrrrrrrr", "rrrrrrrr"]


def _pairs(n_other: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    return [_photo(FIRST, gen)] + [_photo(OTHER, gen) for _ in range(n_other)]


def test_cells_the_other_photos_call_background_become_unsure():
    pairs = _pairs(3)
    before = [lab.clone() for _, lab in pairs]
    out = cross_image_check(pairs, num_classes=2, min_others=2)
    lab = out[0][1]
    bush = torch.tensor([[k == "b" for k in row] for row in FIRST])
    obj = torch.tensor([[k == "p" for k in row] for row in FIRST])
    assert (lab[bush] == IGNORE).all()  # the bush in the first photo's box is no longer the object
    assert (lab[obj] == 1).all()  # the object itself keeps its cells
    assert (lab[~bush] == before[0][~bush]).all()  # nothing else moves (background is never judged)
    for (_, new), old in zip(out[1:], before[1:]):
        assert torch.equal(new, old)  # the clean photos keep every cell
    for (_, lab_in), old in zip(pairs, before):
        assert torch.equal(lab_in, old)  # the inputs are not changed


def test_a_class_in_too_few_other_photos_is_not_judged():
    pairs = _pairs(1)  # one other photo: it alone cannot say what the class looks like
    out = cross_image_check(pairs, num_classes=2, min_others=2)
    assert torch.equal(out[0][1], pairs[0][1])
    out = cross_image_check(_pairs(3), num_classes=2, min_others=0)  # 0 = off
    assert torch.equal(out[0][1], _pairs(3)[0][1])
    # the default asks for three other photos
    assert torch.equal(cross_image_check(_pairs(2), num_classes=2)[0][1], _pairs(2)[0][1])
    assert not torch.equal(cross_image_check(_pairs(3), num_classes=2)[0][1], _pairs(3)[0][1])


def test_a_class_of_one_photo_keeps_its_cells_while_others_are_judged():
    pairs = _pairs(3)
    feats, lab = pairs[1]
    lab = lab.clone()
    lab[6, 0:3] = 2  # a second class only this photo has, on road-like cells
    pairs[1] = (feats, lab)
    out = cross_image_check(pairs, num_classes=3, min_others=2)
    assert (out[1][1][6, 0:3] == 2).all()
    assert (out[0][1] == IGNORE).sum() > (pairs[0][1] == IGNORE).sum()  # class 1 was still judged
