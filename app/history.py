"""Undo/redo per image, plus class-list changes that belong to every image, under a memory cap.

Why not one ``QUndoStack``: with one stack, Ctrl+Z on image B undid a stroke on image A without
showing it. Here every image has its own stack and the window's Undo follows the image on screen;
a class-list change (delete, merge) sits on a shared stack and is undone from any image when it is
the newest thing there. Edits carry their own ``undo``/``redo`` callables and their size, and the
oldest edits are forgotten first when the total passes ``max_bytes``. Qt-free.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Hashable

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
SHARED = None  # the key of the stack for class-list changes


@dataclass
class Edit:
    text: str                          # "Paint cat on a.jpg": shown in the Undo tooltip
    undo: Callable[[], None]
    redo: Callable[[], None]
    nbytes: int = 0
    key: Hashable = SHARED             # the image it changes; SHARED for a class-list change
    seq: int = field(default=0, compare=False)       # order of pushing
    undone_at: int = field(default=0, compare=False)  # order of undoing (redo takes the latest)


class EditHistory:
    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES, on_change: Callable[[], None] | None = None) -> None:
        self.max_bytes = int(max_bytes)
        self.on_change = on_change
        self._done: dict[Hashable, list[Edit]] = {}
        self._undone: dict[Hashable, list[Edit]] = {}
        self._counter = itertools.count(1)

    # -- state ------------------------------------------------------------------------------------
    @property
    def nbytes(self) -> int:
        return sum(e.nbytes for stacks in (self._done, self._undone) for s in stacks.values() for e in s)

    def count(self, key: Hashable) -> int:
        return len(self._done.get(_norm(key), []))

    def next_undo(self, key: Hashable) -> Edit | None:
        return _newest([self._done.get(_norm(key)), self._done.get(SHARED)], lambda e: e.seq)

    def next_redo(self, key: Hashable) -> Edit | None:
        return _newest([self._undone.get(_norm(key)), self._undone.get(SHARED)], lambda e: e.undone_at)

    # -- changes ----------------------------------------------------------------------------------
    def push(self, edit: Edit, apply: bool = True) -> Edit:
        """Record ``edit`` (running its ``redo`` first when ``apply``); new work drops the redo path."""
        key = _norm(edit.key)
        if apply:
            edit.redo()
        edit.key = key
        edit.seq = next(self._counter)
        self._undone.pop(key, None)
        self._undone.pop(SHARED, None)   # a class change redone over newer strokes would surprise
        if key is SHARED:
            self._undone.clear()
        self._done.setdefault(key, []).append(edit)
        self._trim()
        self._changed()
        return edit

    def undo(self, key: Hashable) -> Edit | None:
        edit = self.next_undo(key)
        if edit is None:
            return None
        self._done[edit.key].pop()
        edit.undo()
        edit.undone_at = next(self._counter)
        self._undone.setdefault(edit.key, []).append(edit)
        self._changed()
        return edit

    def redo(self, key: Hashable) -> Edit | None:
        edit = self.next_redo(key)
        if edit is None:
            return None
        self._undone[edit.key].pop()
        edit.redo()
        self._done.setdefault(edit.key, []).append(edit)
        self._changed()
        return edit

    def clear(self) -> None:
        self._done.clear()
        self._undone.clear()
        self._changed()

    def _trim(self) -> None:
        """Forget the oldest edits (redo paths first) until the total fits the cap."""
        total = self.nbytes
        while total > self.max_bytes:
            stacks = [s for s in self._undone.values() if s] or [s for s in self._done.values() if s]
            if not stacks:
                return
            oldest = min(stacks, key=lambda s: s[0].seq)
            total -= oldest.pop(0).nbytes

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()


def _norm(key: Hashable) -> Hashable:
    return Path(key).resolve() if isinstance(key, (str, Path)) else key


def _newest(stacks, order) -> Edit | None:
    tops = [s[-1] for s in stacks if s]
    return max(tops, key=order) if tops else None
