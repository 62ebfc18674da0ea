"""The export job on a folder holding an unreadable image: the others export, the summary names it."""
from __future__ import annotations

from pathlib import Path

from PIL import Image

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"


def test_export_skips_an_unreadable_image_and_says_so(qapp, tmp_path):
    from app.dialogs.export_dialog import summary_text
    from app.export_job import ExportRecord, ExportRequest, run_export
    from app.workers import JobContext, JobSignals
    from core.masks import read_label_png
    from core.session import Session, SessionConfig

    good = tmp_path / "a_cat.jpg"
    with Image.open(SAMPLES / "cat_chelsea.jpg") as image:
        image = image.convert("RGB")
        image.thumbnail((160, 160))
        image.save(good)
    bad = tmp_path / "b_broken.png"
    bad.write_text("notes, not a picture")  # unreadable (16-bit PNGs open since issue 14)
    session = Session(model="default", device="cpu", config=SessionConfig(input_side=160))
    session.add_images([good, bad])
    session.set_classes(["background", "cat"])
    out = tmp_path / "out"
    request = ExportRequest(out_dir=out, formats=["voc"], min_confidence=None, overwrite=False,
                            class_names=["background", "cat"],
                            records=[ExportRecord(good, None, False, False), ExportRecord(bad, None, False, False)])
    summary = run_export(request, session, JobContext(JobSignals()))
    assert summary.added == 1 and summary.skipped == ["b_broken.png"]
    with Image.open(good) as image:
        assert read_label_png(out / "SegmentationClass" / "a_cat.png").shape == (image.height, image.width)
    assert not (out / "SegmentationClass" / "b_broken.png").exists()
    assert "Skipped 1 unreadable image(s): b_broken.png" in summary_text(summary)
