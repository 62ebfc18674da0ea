"""Navigation over a folder holding unreadable files: they never block the way or blank the canvas."""
from __future__ import annotations

from pathlib import Path

from PIL import Image

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"


def test_unreadable_images_are_passed_over(qapp, qtbot, tmp_path):
    from app.controller import Controller, EngineSettings

    (tmp_path / "a_empty.png").write_bytes(b"")  # unreadable (16-bit PNGs open since issue 14)
    (tmp_path / "b_broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    for name in ("c_cat.jpg", "e_cat.jpg"):
        with Image.open(SAMPLES / "cat_chelsea.jpg") as image:
            image = image.convert("RGB")
            image.thumbnail((96, 96))
            image.save(tmp_path / name)
    (tmp_path / "d_broken.jpg").write_bytes(b"not an image")
    controller = Controller(EngineSettings(model="default", device="cpu"))
    messages = []
    controller.message.connect(lambda text, kind: messages.append(text))
    try:
        controller.open_paths([tmp_path])
        names = [r.path.name for r in controller.images]
        assert names[controller.current] == "c_cat.jpg"  # the first two cannot be read
        assert any("a_empty.png" in m for m in messages) and any("b_broken.jpg" in m for m in messages)
        controller.next_image(+1)
        assert names[controller.current] == "e_cat.jpg"  # d_broken.jpg passed over
        controller.next_image(-1)
        assert names[controller.current] == "c_cat.jpg"
        controller.next_image(-1)  # nothing readable before: stays
        assert names[controller.current] == "c_cat.jpg"
    finally:
        controller.shutdown()


def test_picking_an_unreadable_file_keeps_the_list_on_the_shown_image(fresh_window, tmp_path):
    with Image.open(SAMPLES / "cat_chelsea.jpg") as image:
        image = image.convert("RGB")
        image.thumbnail((96, 96))
        image.save(tmp_path / "a_cat.jpg")
    (tmp_path / "b_broken.jpg").write_bytes(b"not an image")
    fresh_window.controller.open_paths([tmp_path])
    assert fresh_window.controller.current == 0
    fresh_window.file_panel.list.setCurrentRow(1)  # the user clicks the broken file
    assert fresh_window.controller.current == 0
    assert fresh_window.file_panel.list.currentRow() == 0
