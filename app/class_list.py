"""The user's class list: names, colours, visibility, reserved names, and how label values move.

A label value is a position in this list (0 = background, 1..n = the classes, 255 = ignore), so
every edit of the list (delete, move, merge, undo of a delete) changes what the values in saved
masks mean. Each class therefore also has a stable ``id`` that never changes and is never reused:
an undo record written with one list can be read back with another through :meth:`lut_from`.
Widget-free (``QColor`` is a value type), so the rules are tested without a window.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from PySide6.QtGui import QColor

from app.overlay import IGNORE, default_color

RESERVED_NAMES = ("background", "ignore")
MAX_CLASSES = 254  # values 1..254; 255 is ignore


def clean_name(name: str) -> str:
    """One space between words, none around: the form every check and the project file use."""
    return " ".join(str(name).split())


@dataclass
class ClassItem:
    id: int
    name: str
    color: QColor
    visible: bool = True


@dataclass
class NameCheck:
    """Result of checking a name against the list: ``problem`` is a one-line message or None;
    ``existing`` is the value of the class it duplicates (a rename offers to merge into it)."""

    name: str
    problem: str | None = None
    existing: int | None = None


@dataclass
class ClassList:
    items: list[ClassItem] = field(default_factory=list)
    aliases: dict[int, int] = field(default_factory=dict)   # merged-away id → id it was merged into
    _next_id: int = 1

    # -- reading --------------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return [item.name for item in self.items]

    @property
    def ids(self) -> tuple[int, ...]:
        return tuple(item.id for item in self.items)

    def __len__(self) -> int:
        return len(self.items)

    def item(self, value: int) -> ClassItem | None:
        return self.items[value - 1] if 1 <= value <= len(self.items) else None

    def value_of(self, name: str) -> int | None:
        """Value of the class called ``name`` (case and spacing ignored), or None."""
        key = clean_name(name).casefold()
        return next((v for v, item in enumerate(self.items, start=1) if item.name.casefold() == key), None)

    def color_of(self, value: int) -> QColor:
        if value == 0:
            return QColor(0, 0, 0)
        if value == IGNORE:
            return QColor(224, 224, 192)
        item = self.item(value)
        return QColor(item.color) if item is not None else default_color(value)

    def hidden_values(self) -> set[int]:
        return {v for v, item in enumerate(self.items, start=1) if not item.visible}

    # -- checks ---------------------------------------------------------------------------------
    def check(self, name: str, renaming: int | None = None) -> NameCheck:
        """Why ``name`` cannot be added (or given to class ``renaming``), or no problem."""
        name = clean_name(name)
        if not name:
            return NameCheck(name, "a class name cannot be empty or only spaces")
        if name.casefold() in RESERVED_NAMES:
            return NameCheck(name, f"'{name}' is reserved (background and ignore are always in the list)")
        existing = self.value_of(name)
        if existing is not None and existing != renaming:
            return NameCheck(name, f"'{name}' is already in the class list", existing)
        if renaming is None and len(self.items) >= MAX_CLASSES:
            return NameCheck(name, f"at most {MAX_CLASSES} classes fit in an 8-bit label map")
        return NameCheck(name)

    # -- colours --------------------------------------------------------------------------------
    def free_color(self) -> QColor:
        """The first palette colour no class uses, so two classes never share a colour by default."""
        used = {item.color.name() for item in self.items}
        for index in range(1, 255):
            color = default_color(index)
            if color.name() not in used:
                return color
        return default_color(len(self.items) + 1)

    # -- edits (each returns the LUT old value → new value for masks written before it) ----------
    def add(self, name: str, color: QColor | None = None, visible: bool = True) -> int:
        problem = self.check(name).problem
        if problem:
            raise ValueError(problem)
        item = ClassItem(self._take_id(), clean_name(name), QColor(color) if color else self.free_color(), visible)
        self.items.append(item)
        return len(self.items)

    def rename(self, value: int, name: str) -> None:
        problem = self.check(name, renaming=value).problem
        if problem:
            raise ValueError(problem)
        self.items[value - 1].name = clean_name(name)

    def delete(self, value: int) -> tuple[ClassItem, np.ndarray]:
        """Remove class ``value``; its pixels become 255 (unlabelled), the values above shift down."""
        item = self.items.pop(value - 1)
        lut = _identity()
        lut[value] = IGNORE
        lut[value + 1:IGNORE] -= 1
        return item, lut.astype(np.uint8)

    def insert(self, value: int, item: ClassItem) -> np.ndarray:
        """Put a deleted class back at ``value`` (the undo of :meth:`delete`)."""
        self.items.insert(value - 1, replace(item, color=QColor(item.color)))
        self.aliases = {k: v for k, v in self.aliases.items() if k != item.id}
        lut = _identity()
        lut[value:IGNORE] += 1  # at most MAX_CLASSES classes: 254 + 1 stays inside uint8
        return lut.astype(np.uint8)

    def move(self, value: int, delta: int) -> np.ndarray | None:
        other = value + delta
        if not (1 <= value <= len(self.items) and 1 <= other <= len(self.items)):
            return None
        self.items[value - 1], self.items[other - 1] = self.items[other - 1], self.items[value - 1]
        lut = _identity()
        lut[value], lut[other] = other, value
        return lut.astype(np.uint8)

    def merge(self, source: int, target: int) -> tuple[ClassItem, np.ndarray]:
        """Fold class ``source`` into ``target``: its pixels take the target's value."""
        item = self.items.pop(source - 1)
        self.aliases[item.id] = self.items[target - 1 - (1 if target > source else 0)].id
        lut = _identity()
        lut[source + 1:IGNORE] -= 1
        lut[source] = target - 1 if target > source else target
        return item, lut.astype(np.uint8)

    def lut_from(self, ids: tuple[int, ...]) -> np.ndarray:
        """LUT from a mask written when the list had these ``ids`` to the values of the list now.

        Deleted classes map to 255; merged ones to the class they were merged into.
        """
        index = {item_id: value for value, item_id in enumerate(self.ids, start=1)}
        lut = np.full(256, IGNORE, dtype=np.uint8)
        lut[0] = 0
        for value, item_id in enumerate(ids, start=1):
            seen = set()
            while item_id not in index and item_id in self.aliases and item_id not in seen:
                seen.add(item_id)
                item_id = self.aliases[item_id]
            if item_id in index:
                lut[value] = index[item_id]
        return lut

    def _take_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1


def _identity() -> np.ndarray:
    return np.arange(256, dtype=np.int32)
