"""The class list's rules: reserved names, duplicates, distinct colours, and LUTs that keep masks right."""
from __future__ import annotations

import numpy as np
import pytest

from app.class_list import ClassList
from app.overlay import IGNORE


def _list(*names: str) -> ClassList:
    classes = ClassList()
    for name in names:
        classes.add(name)
    return classes


@pytest.mark.parametrize("name", ["background", "Background", " BACKGROUND ", "ignore", "Ignore"])
def test_reserved_names_are_refused_for_add_and_rename(name):
    classes = _list("cat")
    assert "reserved" in classes.check(name).problem
    assert "reserved" in classes.check(name, renaming=1).problem
    with pytest.raises(ValueError):
        classes.rename(1, name)
    assert classes.names == ["cat"]


def test_blank_and_duplicate_names_say_why_and_name_the_class_to_merge_into():
    classes = _list("cat", "dog")
    assert "empty" in classes.check("   ").problem
    check = classes.check(" DOG ", renaming=1)
    assert "already" in check.problem and check.existing == 2
    assert classes.check("Cat", renaming=1).problem is None   # a change of case is a rename


def test_a_new_class_never_takes_a_colour_in_use():
    classes = _list("person", "dog", "car", "tree")
    classes.delete(1)
    classes.add("bicycle")
    colours = [item.color.name() for item in classes.items]
    assert len(set(colours)) == len(colours) == 4


def test_delete_then_insert_restores_values_and_old_masks_read_by_id():
    classes = _list("cat", "dog", "car")
    old_ids = classes.ids
    mask = np.array([[0, 1, 2, 3, IGNORE]], np.uint8)
    item, lut = classes.delete(2)
    assert classes.names == ["cat", "car"]
    assert lut[mask].tolist() == [[0, 1, IGNORE, 2, IGNORE]]
    assert classes.lut_from(old_ids)[mask].tolist() == [[0, 1, IGNORE, 2, IGNORE]]
    back = classes.insert(2, item)
    assert classes.names == ["cat", "dog", "car"]
    assert back[np.array([[0, 1, 2, IGNORE]], np.uint8)].tolist() == [[0, 1, 3, IGNORE]]
    assert classes.lut_from(old_ids)[mask].tolist() == mask.tolist()


def test_merge_sends_the_pixels_to_the_target_and_old_masks_follow():
    classes = _list("cat", "kitty", "dog")
    old_ids = classes.ids
    mask = np.array([[1, 2, 3]], np.uint8)
    _item, lut = classes.merge(2, 1)
    assert classes.names == ["cat", "dog"]
    assert lut[mask].tolist() == [[1, 1, 2]]
    assert classes.lut_from(old_ids)[mask].tolist() == [[1, 1, 2]]
    # Merging downwards shifts the target too.
    classes = _list("cat", "kitty", "dog")
    _item, lut = classes.merge(1, 3)
    assert classes.names == ["kitty", "dog"]
    assert lut[np.array([[1, 2, 3]], np.uint8)].tolist() == [[2, 1, 2]]


def test_move_swaps_two_values():
    classes = _list("cat", "dog")
    lut = classes.move(1, +1)
    assert classes.names == ["dog", "cat"]
    assert lut[np.array([[0, 1, 2]], np.uint8)].tolist() == [[0, 2, 1]]
    assert classes.move(2, +1) is None


def test_command_line_classes_pass_over_background_and_doubles(qapp):
    from app.controller import Controller

    controller = Controller()
    asked: list[str] = []
    controller.add_class = asked.append
    controller.set_classes_now(["background", " cat ", "Cat", "traffic  cone", "IGNORE", ""])
    assert asked == ["cat", "traffic cone"]
    controller.shutdown()
