"""An object's feature cells from a box around it, separated in the backbone's feature space.

Why: GrabCut (``core.object_cut``) separates a box's object from its background by colour, and on a
low-contrast or cluttered box (a chair behind a dining table, a book on a shelf) its cheapest cut is no
object at all. The backbone's features already tell an object's patches from what surrounds it: the
cells inside the box that look like the ring of cells around it are background, the rest the object.
It costs a few hundred dot products, where U²-Netp's salient object of the crop costs 0.4–0.8 s a box
on 2 cores (``PriorConfig.salient_cut``).
"""
from __future__ import annotations

import torch

#: How many cells the ring around a box is wide, and the rounds of the two-prototype assignment.
RING = 2
ROUNDS = 3
#: A box over more than this share of the photo gives no cells: GrabCut finding nothing in so large a
#: box says it holds no one object.
MAX_SHARE = 0.25


def centre_cells(box, image_hw: tuple, grid_hw: tuple) -> tuple[slice, slice]:
    """The feature cells whose centres lie inside ``box`` (image pixels), at least one each way."""
    (ih, iw), (gh, gw) = image_hw, grid_hw
    x0, y0, x1, y1 = (float(v) for v in box)

    def span(lo, hi, size, cells):
        a = int(round(lo / size * cells))
        b = int(round(hi / size * cells))
        a = min(max(a, 0), cells - 1)
        return slice(a, max(a + 1, min(b, cells)))

    return span(y0, y1, ih, gh), span(x0, x1, iw, gw)


def feature_cut(features: torch.Tensor, box, image_hw: tuple) -> torch.Tensor:
    """(h, w) bool: the cells of ``box`` unlike the ring of cells around it (``features``: (F, h, w)).

    Two prototypes, the ring's mean (background) and the mean of the box's cells least like it (at
    first the half below the median; object), each cell of the box assigned to the nearer by cosine,
    ``ROUNDS`` times. A box with no ring (the whole photo) or over more than ``MAX_SHARE`` of the photo
    gives no cells. On the two tuning parts its cells were the box's class for 0.3–0.7 of the cells of
    a true box (chairs behind a table, potted plants, a person in a crowd): coarse, so it is only the
    fallback for a box GrabCut leaves empty."""
    grid = tuple(features.shape[-2:])
    ys, xs = centre_cells(box, image_hw, grid)
    unit = torch.nn.functional.normalize(features.float(), dim=0)
    inside = torch.zeros(grid, dtype=torch.bool)
    inside[ys, xs] = True
    ring = torch.zeros(grid, dtype=torch.bool)
    ring[max(0, ys.start - RING):ys.stop + RING, max(0, xs.start - RING):xs.stop + RING] = True
    ring &= ~inside
    out = torch.zeros(grid, dtype=torch.bool)
    if not ring.any() or inside.float().mean() > MAX_SHARE:
        return out
    cells = unit[:, inside].T  # (n, F)
    back = torch.nn.functional.normalize(unit[:, ring].mean(1), dim=0)
    like_back = cells @ back
    obj = like_back <= like_back.median()
    for _ in range(ROUNDS):
        proto = torch.nn.functional.normalize(cells[obj].mean(0), dim=0)
        new = cells @ proto > like_back
        settled = not new.any() or torch.equal(new, obj)
        obj = new
        if settled:
            break
    out[inside] = obj
    return out
