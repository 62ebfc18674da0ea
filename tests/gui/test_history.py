"""Per-image undo/redo with a shared stack for class-list changes, under a memory cap."""
from __future__ import annotations

from pathlib import Path

from app.history import SHARED, Edit, EditHistory


def _edit(log: list, text: str, key, nbytes: int = 10) -> Edit:
    return Edit(text, undo=lambda: log.append(f"undo {text}"), redo=lambda: log.append(f"do {text}"),
                nbytes=nbytes, key=key)


def test_undo_follows_the_image_it_is_asked_for(tmp_path):
    a, b = tmp_path / "a.jpg", tmp_path / "b.jpg"
    log: list[str] = []
    history = EditHistory()
    history.push(_edit(log, "paint a", a))
    history.push(_edit(log, "paint b", b))
    assert history.undo(a).text == "paint a"          # not the newer stroke on b
    assert history.undo(a) is None
    assert history.next_undo(b).text == "paint b"
    assert history.redo(a).text == "paint a"
    assert log == ["do paint a", "do paint b", "undo paint a", "do paint a"]


def test_a_class_change_is_undone_from_any_image_when_it_is_the_newest(tmp_path):
    a, b = tmp_path / "a.jpg", tmp_path / "b.jpg"
    log: list[str] = []
    history = EditHistory()
    history.push(_edit(log, "paint a", a))
    history.push(_edit(log, "delete dog", SHARED))
    history.push(_edit(log, "paint a again", a))
    assert history.undo(b).text == "delete dog"
    assert history.undo(b) is None
    assert history.undo(a).text == "paint a again"
    assert history.undo(a).text == "paint a"
    assert history.redo(a).text == "paint a"           # undone last, so redone first
    assert history.redo(b).text == "delete dog"        # another image only sees the shared change
    assert history.redo(b) is None


def test_new_work_drops_the_redo_path(tmp_path):
    a = tmp_path / "a.jpg"
    log: list[str] = []
    history = EditHistory()
    history.push(_edit(log, "one", a))
    history.undo(a)
    history.push(_edit(log, "two", a))
    assert history.next_redo(a) is None
    assert history.count(Path(a)) == 1


def test_memory_cap_forgets_the_oldest_edits_first(tmp_path):
    a, b = tmp_path / "a.jpg", tmp_path / "b.jpg"
    log: list[str] = []
    history = EditHistory(max_bytes=250)
    for i in range(3):
        history.push(_edit(log, f"a{i}", a, nbytes=100))
        history.push(_edit(log, f"b{i}", b, nbytes=100))
    assert history.nbytes <= 250
    assert history.count(a) + history.count(b) == 2
    assert history.next_undo(b).text == "b2" and history.next_undo(a).text == "a2"
