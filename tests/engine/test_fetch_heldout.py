"""The held-out builder (resources/eval/fetch_heldout.py) offline: its converters on small inputs with
known answers, and a folder it writes read back by the evaluation's own reader."""
from __future__ import annotations

import importlib.util
import io
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.masks import read_label_png
from core.session.evaluation import load_labelled_folder

SCRIPT = Path(__file__).resolve().parents[2] / "resources" / "eval" / "fetch_heldout.py"


@pytest.fixture()
def fh(monkeypatch):
    """The script as a fresh module (it is not a package); registered while a test runs, as its
    dataclasses need."""
    spec = importlib.util.spec_from_file_location("fetch_heldout_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


def _jpeg(height: int, width: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (90, 120, 30)).save(buf, format="JPEG")
    return buf.getvalue()


def test_polygon_filled_exactly_without_band(fh):
    labels = fh.polygon_labels((10, 10), [(1, [(2, 2), (7, 2), (7, 7), (2, 7)])], band=0)
    expected = np.zeros((10, 10), np.uint8)
    expected[2:8, 2:8] = 1
    np.testing.assert_array_equal(labels, expected)


def test_polygon_band_is_ignore_and_later_polygons_overwrite(fh):
    square = [(2, 2), (17, 2), (17, 17), (2, 17)]
    inner = [(8, 8), (12, 8), (12, 12), (8, 12)]
    labels = fh.polygon_labels((20, 20), [(1, square), (2, inner)], band=3)
    assert labels[5, 5] == 1  # inside the square, away from both outlines
    assert labels[10, 10] == 2  # the later polygon wins
    assert labels[2, 10] == labels[10, 17] == labels[8, 10] == 255  # on an outline
    assert labels[0, 0] == labels[19, 19] == 0  # outside, past the band
    assert labels[5, 1] == 255 and labels[5, 0] == 0  # the 3-px band reaches one pixel out


def test_instances_become_classes_unkept_ones_ignore(fh):
    masks = np.zeros((3, 4, 6), np.int32)
    masks[0, :, 0:2] = 1  # scissors
    masks[1, :, 2:4] = 1  # soap: not kept
    masks[2, 0, 1:5] = 1  # book, drawn last over both
    names = ["__background__", "fiskars_scissors", "irish_spring_soap", "laugh_out_loud_jokes"]
    labels, kept = fh.instance_labels(masks, [1, 2, 3], names,
                                      {"fiskars_scissors": "scissors", "laugh_out_loud_jokes": "book"})
    assert kept == ("background", "scissors", "book")
    np.testing.assert_array_equal(labels, [[1, 2, 2, 2, 2, 0]] + [[1, 1, 255, 255, 0, 0]] * 3)


def _photo(fh, stem, names, labels):
    labels = np.asarray(labels, np.uint8)
    return fh.Photo(stem, _jpeg(*labels.shape), labels, tuple(names), "synthetic")


def test_union_lists_present_classes_voc_first_and_remaps(fh):
    a = _photo(fh, "a", ["_background_", "cow", "tv/monitor", "truck", "person"], [[0, 2, 3], [4, 255, 0]])
    b = _photo(fh, "b", ["background", "quokka", "bus", "truck"], [[1, 2, 3], [0, 0, 0]])
    union = fh.union_classes([a, b])
    assert union == ["background", "bus", "person", "tvmonitor", "truck", "quokka"]  # no cow: it has no pixel
    np.testing.assert_array_equal(fh.to_union(a, union), [[0, 3, 4], [2, 255, 0]])
    np.testing.assert_array_equal(fh.to_union(b, union), [[5, 1, 4], [0, 0, 0]])


def _source(fh, stems, convert):
    return fh.Source("pkg==1", "pkg-1.tar.gz", "0" * 64, (), "MIT", tuple(stems), convert)


def test_written_folder_reads_back_through_the_evaluation_reader(fh, tmp_path):
    a = _photo(fh, "a", ["_background_", "person", "truck"], [[0, 1, 1, 2], [0, 255, 2, 2], [0, 0, 0, 0]])
    b = _photo(fh, "b", ["background", "quokka"], [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 255]])
    src = _source(fh, ["a", "b"], None)
    dest = fh.write_folder([(src, a), (src, b)], tmp_path / "heldout")
    classes, items = load_labelled_folder(dest)
    assert classes == ["background", "person", "truck", "quokka"]
    gts = {path.stem: gt for path, gt in items}
    np.testing.assert_array_equal(gts["a"], [[0, 1, 1, 2], [0, 255, 2, 2], [0, 0, 0, 0]])
    np.testing.assert_array_equal(gts["b"], [[3, 3, 0, 0], [3, 3, 0, 0], [0, 0, 0, 255]])
    np.testing.assert_array_equal(read_label_png(dest / "SegmentationClass" / "b.png"), gts["b"])
    manifest = (dest / "SOURCES.md").read_text()
    assert "| a | pkg==1" in manifest and "person, truck" in manifest and "| b |" in manifest
    assert fh.complete(dest, [src])
    assert not fh.complete(dest, [_source(fh, ["a", "b", "c"], None)])
    older = manifest.replace(f", {fh.VERSION};", ", v1;", 1)
    (dest / "SOURCES.md").write_text(older)
    assert not fh.complete(dest, [src])  # written by an older converter: rebuilt


def test_photos_moved_to_tuning_are_left_out_and_the_folder_is_complete_without_them(fh, tmp_path, monkeypatch):
    """``keep`` (default: not in TUNING_STEMS) decides which photos of a source land in DEST."""
    src = _source(fh, ["a", "b"], lambda read: [_photo(fh, "a", ["background", "cat"], [[0, 1]]),
                                                _photo(fh, "b", ["background", "dog"], [[1, 0]])])
    monkeypatch.setattr(fh, "download", lambda source, folder: folder / "unused.whl")
    monkeypatch.setattr(fh, "_reader", lambda path: None)
    monkeypatch.setattr(fh, "TUNING_STEMS", frozenset({"b"}))
    dest = fh.fetch(tmp_path / "heldout", [src])
    assert sorted(p.stem for p in (dest / "JPEGImages").iterdir()) == ["a"]
    assert (dest / "class_names.txt").read_text().split() == ["background", "cat"]
    assert fh.complete(dest, [src])
    other = fh.fetch(tmp_path / "tuning", [src], "Tuning", lambda stem: stem == "b")
    assert sorted(p.stem for p in (other / "JPEGImages").iterdir()) == ["b"]
    assert (other / "SOURCES.md").read_text().startswith(f"# Tuning, {fh.VERSION};")


def test_the_moved_photos_are_photos_of_the_sources(fh):
    stems = {s for source in fh.SOURCES for s in source.stems}
    assert fh.TUNING_STEMS < stems and len(stems - fh.TUNING_STEMS) >= 20


def test_old_three_photo_folder_is_not_complete(fh, tmp_path):
    old = tmp_path / "heldout-voc"
    (old / "JPEGImages").mkdir(parents=True)
    (old / "SegmentationClass").mkdir()
    (old / "class_names.txt").write_text("_background_\nperson\n")
    for stem in ("2011_000003", "2011_000006", "2011_000025"):
        (old / "JPEGImages" / f"{stem}.jpg").write_bytes(_jpeg(2, 2))
        Image.fromarray(np.zeros((2, 2), np.uint8)).save(old / "SegmentationClass" / f"{stem}.png")
    assert not fh.complete(old)


def test_a_failed_source_is_reported_and_skipped(fh, tmp_path, monkeypatch, capsys):
    good = _source(fh, ["a"], lambda read: [_photo(fh, "a", ["background", "cat"], [[0, 1]])])
    bad = replace(_source(fh, ["z"], lambda read: []), spec="gone==9")

    def download(source, folder):
        if source.spec == "gone==9":
            raise subprocess.CalledProcessError(1, "pip", stderr="ERROR: No matching distribution found\n")
        return folder / "unused.whl"

    monkeypatch.setattr(fh, "download", download)
    monkeypatch.setattr(fh, "_reader", lambda path: None)
    dest = fh.fetch(tmp_path / "out", [bad, good])
    assert "gone==9: not fetched (ERROR: No matching distribution found)" in capsys.readouterr().err
    assert (dest / "class_names.txt").read_text().split() == ["background", "cat"]
    with pytest.raises(SystemExit):
        fh.fetch(tmp_path / "none", [bad])


def test_ignore_boxes_cover_background_only_and_copy(fh):
    labels = np.array([[0, 1, 0, 0], [0, 1, 2, 0], [0, 0, 0, 0]], np.uint8)
    out = fh.ignore_boxes(labels, [(1, 0, 3, 2), (3, 2, 9, 9)])  # the second is clipped by the frame
    np.testing.assert_array_equal(out, [[0, 1, 255, 0], [0, 1, 2, 0], [0, 0, 0, 255]])
    assert labels[0, 2] == 0  # the input is left as it was


def test_trimap_and_instance_ids_become_labels(fh):
    np.testing.assert_array_equal(fh.trimap_labels([[1, 2, 3, 0]]), [[1, 0, 255, 255]])
    np.testing.assert_array_equal(fh.instances_as_class([[0, 1, 2], [3, 0, 0]]), [[0, 1, 1], [1, 0, 0]])


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.asarray(array, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _icedata_reader(fh, size=(480, 450)):
    """``read`` of a fake icedata 0.0.3 wheel: every Penn-Fudan and Pet photo the converters name, two
    walkers (instances 1 and 2) or a pet (trimap: pet, border, background) near the top left."""
    width, height = size
    ids = np.zeros((height, width), np.uint8)
    ids[5:25, 20:26], ids[5:25, 30:34] = 1, 2
    trimap = np.full((height, width), 2, np.uint8)
    trimap[10:20, 10:20], trimap[9, 10:20] = 1, 3
    files = {}
    for stem in fh.PENNFUDAN:
        files[f"{fh.ICEDATA}pennfudan/sample_data/PNGImages/{stem}.png"] = _png(np.full((height, width, 3), 90))
        files[f"{fh.ICEDATA}pennfudan/sample_data/PedMasks/{stem}_mask.png"] = _png(ids)
    for stem in fh.PETS:
        files[f"{fh.ICEDATA}pets/sample_data/annotations/images/{stem}.jpg"] = _jpeg(height, width)
        files[f"{fh.ICEDATA}pets/sample_data/annotations/trimaps/{stem}.png"] = _png(trimap)
    return files.__getitem__


def test_icedata_converters_match_their_sources(fh):
    read = _icedata_reader(fh)
    by_convert = {s.convert: s for s in fh.SOURCES}
    for convert in (fh._pennfudan, fh._pets):
        photos = convert(read)
        assert tuple(p.stem for p in photos) == by_convert[convert].stems
        for photo in photos:
            with Image.open(io.BytesIO(photo.jpeg)) as image:
                assert image.format == "JPEG" and image.size == (480, 450)
            assert photo.labels.shape == (450, 480)


def test_pennfudan_walkers_are_person_and_left_out_ones_ignore(fh):
    walkers = {p.stem: p for p in fh._pennfudan(_icedata_reader(fh))}
    first = walkers["pennfudan_00001"]
    assert first.names == ("background", "person")
    assert first.labels[10, 22] == first.labels[10, 31] == 1 and first.labels[10, 28] == 0
    assert 255 not in first.labels  # no box: nobody was left out
    behind = walkers["pennfudan_00002"].labels  # box (125, 95, 235, 375)
    assert behind[150, 200] == 255 and behind[150, 300] == 0 and behind[10, 22] == 1
    cut = walkers["pennfudan_00005"].labels  # box (0, 50, 22, 165) at the left edge
    assert cut[100, 10] == 255 and cut[100, 30] == 0 and cut[10, 22] == 1


def test_pets_trimaps_become_cat_or_dog_with_unannotated_objects_ignore(fh):
    pets = {p.stem: p for p in fh._pets(_icedata_reader(fh))}
    assert pets["pet_pug_188"].names == ("background", "dog")
    assert pets["pet_siamese_137"].names == pets["pet_abyssinian_119"].names == ("background", "cat")
    siamese = pets["pet_siamese_137"].labels
    assert siamese[15, 15] == 1 and siamese[9, 15] == 255 and siamese[0, 0] == siamese[300, 300] == 0
    pug = pets["pet_pug_188"].labels  # box (135, 0, 300, 85)
    assert pug[40, 200] == 255 and pug[100, 200] == 0 and pug[15, 15] == 1
    abyssinian = pets["pet_abyssinian_119"].labels  # boxes (0, 140, 62, 297), (248, 195, 300, 297)
    assert abyssinian[200, 30] == abyssinian[250, 270] == 255 and abyssinian[100, 100] == 0


def _square(x0, y0, x1, y1):
    return [[x0, y0, x1, y0, x1, y1, x0, y1]]  # a COCO polygon, flat


def _rle(mask: np.ndarray) -> dict:
    """Uncompressed COCO RLE of a bool mask (column-major runs, background first)."""
    flat = np.asarray(mask, bool).T.ravel()
    changes = np.flatnonzero(np.diff(np.r_[False, flat, True].astype(np.int8)) != 0)
    counts = np.diff(np.r_[0, changes]).tolist()
    return {"size": list(mask.shape), "counts": counts}


def test_coco_rle_decodes_column_major_also_from_text(fh):
    mask = np.zeros((4, 5), bool)
    mask[1:3, 2] = mask[0, 4] = True
    seg = _rle(mask)
    np.testing.assert_array_equal(fh.segmentation_mask(seg, (5, 4)), mask)
    as_text = {"size": str(seg["size"]), "counts": str(seg["counts"])}  # as pixano writes it
    np.testing.assert_array_equal(fh.segmentation_mask(as_text, (5, 4)), mask)
    with pytest.raises(ValueError):
        fh.segmentation_mask({"size": [4, 5], "counts": "PP0a1"}, (5, 4))  # compressed RLE


def _coco_json():
    """A 30×20 COCO image: a couch polygon, a person crowd (RLE), a cup overlapping the couch, a dropped
    keyboard and a tv with a crowd-numbered id (pixano's export lost ``iscrowd``)."""
    crowd = np.zeros((20, 30), bool)
    crowd[14:18, 20:28] = True
    anns = [(1, 63, _square(2, 2, 12, 12), 0), (2, 1, _rle(crowd), 1), (3, 47, _square(10, 4, 16, 10), 0),
            (1118101, 76, _square(20, 2, 27, 8), 0), (900100000001, 72, _square(2, 15, 8, 19), 0)]
    return {"images": [{"id": 5, "file_name": "000000000005.jpg", "width": 30, "height": 20, "license": 4,
                        "flickr_url": "http://flickr/x.jpg"}],
            "licenses": [{"id": 4, "name": "Attribution License", "url": "http://creativecommons.org/licenses/by/2.0/"}],
            "categories": [{"id": 1, "name": "person"}, {"id": 47, "name": "cup"}, {"id": 63, "name": "couch"},
                           {"id": 72, "name": "tv"}, {"id": 76, "name": "keyboard"}],
            "annotations": [{"id": i, "image_id": 5, "category_id": c, "segmentation": s, "iscrowd": k}
                            for i, c, s, k in anns]}


def test_coco_instances_become_classes_crowds_overlaps_and_bands_ignore(fh):
    (photo,) = fh._coco_photos(_coco_json(), lambda name: _jpeg(20, 30))
    assert photo.stem == "coco_000000000005"
    assert photo.names == ("background", "sofa", "cup")  # couch renamed to VOC's sofa; no crowd, no dropped class
    labels = photo.labels
    assert labels.shape == (20, 30)
    assert labels[7, 6] == 1 and labels[7, 14] == 2  # inside the couch, inside the cup
    assert labels[7, 11] == 255  # couch and cup overlap: two classes claim it
    assert labels[2, 6] == labels[7, 2] == labels[1, 6] == 255 and labels[0, 6] == 0  # the 3-px band
    assert labels[16, 24] == 255  # the person crowd
    assert labels[5, 23] == 255  # the dropped keyboard (COCO_DROPPED)
    assert labels[17, 5] == 255  # the tv numbered as a crowd
    assert labels[12, 20] == labels[19, 29] == 0
    assert "Attribution License <http://creativecommons.org/licenses/by/2.0/>" in photo.licence


def test_coco_panoptic_segments_become_classes_unlabelled_ignore(fh):
    rgb = np.zeros((12, 16, 3), np.uint8)
    rgb[:, :8] = (7, 1, 0)  # segment 7 + 256
    rgb[2:10, 10:15] = (9, 0, 0)
    labels, names = fh.panoptic_labels(rgb, [(263, "couch"), (9, "cat")], band=3)
    assert names == ("background", "sofa", "cat")
    assert labels[6, 3] == 1 and labels[6, 12] == 2
    assert labels[0, 12] == labels[6, 9] == 255  # unlabelled: ignore, not background
    assert labels[6, 7] == labels[6, 8] == 255 and labels[6, 10] == 255  # outlines
    assert 0 not in labels
