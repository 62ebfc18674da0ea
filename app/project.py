"""The project file ``zs3project.json`` and the user-label PNGs beside it.

A project is what a user would hate to lose: the class list (with colours and visibility), the
status of each image and the labels they painted. Everything is written atomically through
``core.atomic``, after every change (a class typed, a stroke, a status), so a crash loses at most
the stroke being painted.
Paths inside the file are relative to the project folder when possible, so a project folder can
be moved or shared.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from core.atomic import atomic_write_text
from core import masks
from core.errors import UserError

log = logging.getLogger(__name__)

PROJECT_FILENAME = "zs3project.json"
BACKUP_SUFFIX = ".last-good"  # zs3project.json.last-good: the previous readable project file
LABELS_DIRNAME = "zs3_labels"
FORMAT_VERSION = 1

STATUS_NOT_RUN = "not run"
STATUS_AUTO = "auto-labelled"
STATUS_REVIEWED = "reviewed"
STATUSES = (STATUS_NOT_RUN, STATUS_AUTO, STATUS_REVIEWED)
STATUS_UNREADABLE = "unreadable"   # shown, never saved: the file may be fixed before the next open


@dataclass
class ProjectClass:
    name: str
    color: str = ""          # "#rrggbb"; empty = the VOC colour of its index
    visible: bool = True


@dataclass
class ProjectData:
    """Everything ``zs3project.json`` holds; image keys are paths relative to ``folder``."""

    folder: Path
    images: list[str] = field(default_factory=list)
    classes: list[ProjectClass] = field(default_factory=list)   # background excluded
    status: dict[str, str] = field(default_factory=dict)
    user_labels: dict[str, str] = field(default_factory=dict)    # image key → label PNG (relative)
    model: str = "default"
    device: str = "auto"

    @property
    def path(self) -> Path:
        return self.folder / PROJECT_FILENAME

    # -- paths --------------------------------------------------------------------------------
    def key(self, image: Path) -> str:
        """Stable key of an image: relative to the project folder when inside it."""
        image = Path(image).resolve()
        try:
            return image.relative_to(self.folder.resolve()).as_posix()
        except ValueError:
            return str(image)

    def resolve(self, key: str) -> Path:
        path = Path(key)
        return path if path.is_absolute() else self.folder / path

    def label_path_for(self, image: Path) -> Path:
        key = self.key(image)
        stem = key.replace("/", "__").rsplit(".", 1)[0] if not Path(key).is_absolute() else Path(key).stem
        return self.folder / LABELS_DIRNAME / f"{stem}.png"

    # -- (de)serialisation ----------------------------------------------------------------------
    def to_json(self) -> dict:
        return {
            "format": "zs3project",
            "version": FORMAT_VERSION,
            "images": self.images,
            "classes": [{"name": c.name, "color": c.color, "visible": c.visible} for c in self.classes],
            "status": self.status,
            "user_labels": self.user_labels,
            "model": self.model,
            "device": self.device,
        }

    @classmethod
    def from_json(cls, folder: Path, data: dict) -> "ProjectData":
        if not isinstance(data, dict) or data.get("format") != "zs3project":
            raise UserError(f"{folder / PROJECT_FILENAME} is not a zs3 project file")
        classes = []
        for item in data.get("classes", []):
            if isinstance(item, str):
                classes.append(ProjectClass(item))
            else:
                classes.append(ProjectClass(str(item["name"]), str(item.get("color", "")),
                                            bool(item.get("visible", True))))
        return cls(
            folder=folder,
            images=[str(p) for p in data.get("images", [])],
            classes=classes,
            status={str(k): str(v) for k, v in data.get("status", {}).items() if v in STATUSES},
            user_labels={str(k): str(v) for k, v in data.get("user_labels", {}).items()},
            model=str(data.get("model", "default")),
            device=str(data.get("device", "auto")),
        )


def project_folder_for(path: Path) -> Path:
    """Where the project of an opened path lives: the folder itself, or the folder of a file."""
    path = Path(path)
    if path.is_file():
        return path.parent
    return path


def load_project(path: str | os.PathLike) -> ProjectData:
    """Read ``zs3project.json`` (or the one inside a folder); a broken file is a user error."""
    path = Path(path)
    if path.is_dir():
        path = path / PROJECT_FILENAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise UserError(f"no project file at {path}") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        backup = path.with_name(path.name + BACKUP_SUFFIX)
        keep = f"; the last good copy is kept as {backup.name}" if backup.is_file() else ""
        raise UserError(f"{path} is not a readable project file: {exc}{keep}") from exc
    return ProjectData.from_json(path.parent, data)


def save_project(project: ProjectData) -> Path:
    """Write the project atomically; the file it replaces is kept as ``…json.last-good`` if it was readable
    (a damaged file never overwrites the last good copy)."""
    from core.masks.exporter import readable_json

    path = project.path
    try:
        old = path.read_text(encoding="utf-8")
        json.loads(old)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        old = None
    if old is not None:
        atomic_write_text(path.with_name(path.name + BACKUP_SUFFIX), old)
    atomic_write_text(path, readable_json(project.to_json(), indent=2) + "\n")
    return path


def write_label_png(path: Path, labels: np.ndarray) -> None:
    """An 8-bit VOC palette PNG (255 = unlabelled), written atomically by the masks room's writer."""
    if labels.ndim != 2 or labels.dtype != np.uint8:
        raise ValueError("labels must be H×W uint8")
    masks.write_label_png(path, labels)


def read_label_png(path: Path, shape: tuple[int, int] | None = None) -> np.ndarray:
    try:
        with Image.open(path) as image:
            if image.mode not in ("P", "L"):
                raise UserError(f"{path.name} is not an 8-bit label PNG (mode {image.mode})")
            labels = np.asarray(image, dtype=np.uint8).copy()
    except (OSError, ValueError) as exc:
        raise UserError(f"{path} is not a readable label PNG: {exc}") from exc
    if shape is not None and labels.shape != tuple(shape):
        raise UserError(f"{path.name} is {labels.shape[1]}×{labels.shape[0]}, the image is {shape[1]}×{shape[0]}")
    return labels
