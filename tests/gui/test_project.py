"""The project file and the user-label PNGs: written atomically, read back exactly."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from app.controller import remap_by_name
from app.project import (
    PROJECT_FILENAME,
    ProjectClass,
    ProjectData,
    load_project,
    read_label_png,
    save_project,
    write_label_png,
)
from core.errors import UserError


def test_label_png_keeps_indices_exactly(tmp_path):
    labels = np.array([[0, 2, 5, 255], [1, 1, 255, 0]], np.uint8)
    path = tmp_path / "labels" / "a.png"
    write_label_png(path, labels)
    with Image.open(path) as image:
        assert image.mode == "P"
        assert np.array_equal(np.asarray(image), labels)
    assert np.array_equal(read_label_png(path, labels.shape), labels)
    assert [p.name for p in path.parent.iterdir()] == ["a.png"]  # no temp file left behind
    with pytest.raises(UserError):
        read_label_png(path, (3, 3))


def test_project_json_round_trip(tmp_path):
    project = ProjectData(folder=tmp_path, images=["img1.jpg", "sub/img2.jpg"],
                          classes=[ProjectClass("cat", "#ff0000", True), ProjectClass("traffic cone", "", False)],
                          status={"img1.jpg": "reviewed", "sub/img2.jpg": "auto-labelled"},
                          user_labels={"img1.jpg": "zs3_labels/img1.png"}, model="default", device="cpu")
    save_project(project)
    data = json.loads((tmp_path / PROJECT_FILENAME).read_text())
    assert data["format"] == "zs3project" and data["version"] == 1
    loaded = load_project(tmp_path)
    assert loaded.to_json() == project.to_json()
    assert loaded.key(tmp_path / "sub" / "img2.jpg") == "sub/img2.jpg"
    assert loaded.label_path_for(tmp_path / "sub" / "img2.jpg") == tmp_path / "zs3_labels" / "sub__img2.png"


def test_broken_project_file_is_a_user_error(tmp_path):
    (tmp_path / PROJECT_FILENAME).write_text("{not json")
    with pytest.raises(UserError, match="not a readable project file"):
        load_project(tmp_path)
    (tmp_path / PROJECT_FILENAME).write_text(json.dumps({"format": "other"}))
    with pytest.raises(UserError, match="not a zs3 project file"):
        load_project(tmp_path)


def test_a_corrupt_project_file_is_reported_and_the_last_good_copy_kept(tmp_path):
    from app.project import BACKUP_SUFFIX

    project = ProjectData(folder=tmp_path, images=["a.jpg"], classes=[ProjectClass("cat", "#ff0000", True)])
    save_project(project)
    project.classes.append(ProjectClass("dog", "#00ff00", True))
    save_project(project)
    backup = tmp_path / (PROJECT_FILENAME + BACKUP_SUFFIX)
    assert [c["name"] for c in json.loads(backup.read_text())["classes"]] == ["cat"]
    (tmp_path / PROJECT_FILENAME).write_text("{truncated")  # e.g. a crash of another program
    with pytest.raises(UserError, match="last good copy"):
        load_project(tmp_path)
    save_project(project)  # saving over the damaged file keeps the good backup
    assert [c["name"] for c in json.loads(backup.read_text())["classes"]] == ["cat"]
    assert [c.name for c in load_project(tmp_path).classes] == ["cat", "dog"]


def test_a_non_utf8_image_name_is_saved_and_read_back(tmp_path):
    name = os.fsdecode(b"caf\xe9.jpg")  # a Latin-1 file name: lone surrogates in Python
    project = ProjectData(folder=tmp_path, images=[name], status={name: "reviewed"})
    save_project(project)
    assert load_project(tmp_path).images == [name]


def test_remap_by_name_follows_renames_and_deletions():
    mask = np.array([[0, 1, 2, 3, 255]], np.uint8)
    out = remap_by_name(mask, ("cat", "dog", "cow"), ["cow", "cat"])
    assert out.tolist() == [[0, 2, 255, 1, 255]]
    assert remap_by_name(mask, ("a", "b", "c"), ["a", "b", "c"]) is mask
