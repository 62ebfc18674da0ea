"""Full-resolution output band by band: the same labels and confidence as the untiled tensor, on any band size."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from core.errors import CancelledError
from core.models.tiled_output import label_map, linear_taps, predict_full_resolution, upsample_rows
from core.models.upsample import RefineConfig, refine_at_guide, refine_probabilities

SIZE = (1100, 1500)  # a photo of 1.65 Mpx: large enough for many bands, small enough to stay fast


def _scene(seed: int = 0):
    """Logits on a 24×32 patch grid with smooth class regions, and a 336×448 guide with edges."""
    gen = torch.Generator().manual_seed(seed)
    logits = F.avg_pool2d(torch.randn(5, 24, 32, generator=gen)[None], 3, stride=1, padding=1)[0] * 6
    rng = np.random.default_rng(seed)
    guide = np.zeros((336, 448, 3), np.uint8)
    guide[:, :200] = (40, 90, 160)
    guide[120:, 250:] = (200, 180, 60)
    guide = np.clip(guide + rng.normal(0, 6, guide.shape), 0, 255).astype(np.uint8)
    return logits, guide


def _band_bytes(classes: int, rows: int) -> int:
    return 4 * classes * SIZE[1] * rows


def _agree(labels, conf, probs: torch.Tensor) -> None:
    """Equal to the untiled argmax wherever its top two classes differ by more than float rounding."""
    top2 = probs.topk(2, dim=0).values
    clear = (top2[0] - top2[1] > 1e-5).numpy()
    ref_conf, ref_labels = probs.max(0)
    assert clear.mean() > 0.99
    assert np.array_equal(labels[clear], ref_labels.numpy().astype(np.uint8)[clear])
    assert np.abs(conf - ref_conf.numpy()).max() < 1e-5


@pytest.mark.parametrize("rows", [1, 7, 64, 5000])
def test_refined_bands_equal_the_untiled_refined_probabilities(rows):
    logits, guide = _scene()
    config = RefineConfig()
    probs = refine_probabilities(logits, guide, SIZE, config)
    labels, conf = predict_full_resolution(logits, SIZE, guide, config)
    assert labels.shape == SIZE and labels.dtype == np.uint8 and conf.dtype == np.float32
    assert len(np.unique(labels)) >= 3  # a real scene, not one class everywhere
    tiled_labels, tiled_conf = label_map(refine_at_guide(logits, guide, config), SIZE, False,
                                         band_bytes=_band_bytes(5, rows))
    _agree(tiled_labels, tiled_conf, probs)
    _agree(labels, conf, probs)


def test_plain_bilinear_bands_equal_the_untiled_softmax():
    logits, _ = _scene(1)
    probs = F.interpolate(logits[None], size=SIZE, mode="bilinear", align_corners=False)[0].softmax(0)
    labels, conf = label_map(logits, SIZE, True, band_bytes=_band_bytes(5, 13))
    _agree(labels, conf, probs)
    assert (predict_full_resolution(logits, SIZE)[0] == labels).all()


@pytest.mark.parametrize("n_in,n_out", [(24, 1100), (336, 6000), (7, 3), (1, 5), (10, 10), (448, 449)])
def test_every_band_of_rows_equals_those_rows_of_f_interpolate(n_in, n_out):
    x = torch.rand(3, n_in, 9, generator=torch.Generator().manual_seed(n_out))
    ref = F.interpolate(x[None], size=(n_out, 31), mode="bilinear", align_corners=False)[0]
    taps = linear_taps(n_in, n_out)
    step = max(1, n_out // 5)
    for start in range(0, n_out, step):
        stop = min(n_out, start + step)
        band = upsample_rows(x, taps.part(start, stop), 31)
        assert torch.allclose(band, ref[:, start:stop], atol=2e-6, rtol=0)


def test_a_band_upsampled_on_its_own_would_not_match():
    """The check above can fail: interpolating each band's source rows to the band's height (the naive
    tiling, which ignores where the band sits in the photo) shifts the rows by up to half a source row."""
    x = torch.rand(3, 24, 9, generator=torch.Generator().manual_seed(0))
    ref = F.interpolate(x[None], size=(1100, 31), mode="bilinear", align_corners=False)[0]
    start, stop = 300, 400
    taps = linear_taps(24, 1100).part(start, stop)
    lo, hi = int(taps.i0[0]), int(taps.i1[-1]) + 1
    naive = F.interpolate(x[None, :, lo:hi], size=(stop - start, 31), mode="bilinear", align_corners=False)[0]
    assert (naive - ref[:, start:stop]).abs().max() > 1e-2
    assert (upsample_rows(x, taps, 31) - ref[:, start:stop]).abs().max() < 2e-6


def test_cancel_stops_between_bands():
    import threading

    cancel = threading.Event()
    cancel.set()
    with pytest.raises(CancelledError):
        label_map(torch.zeros(2, 4, 4), (50, 50), True, cancel=cancel)


def test_session_predict_equals_the_untiled_probabilities_and_keeps_painted_pixels(make_session, small_images):
    from core.constants import IGNORE

    image = sorted(small_images.glob("*.jpg"))[0]
    session = make_session()
    session.add_images([image])
    session.set_classes(["background", "cat"])
    pred = session.predict(image)
    probs = session.probabilities(image)
    _agree(pred.labels, pred.confidence, probs)
    session.config.edge_refine = False  # the path without a guide (also the efficientnet model's)
    plain = session.predict(image)
    _agree(plain.labels, plain.confidence, session.probabilities(image))
    assert not np.array_equal(plain.confidence, pred.confidence)  # the two paths really differ
    session.config.edge_refine = True
    painted = np.full(pred.labels.shape, IGNORE, np.uint8)
    painted[:10, :10] = 1 - pred.labels[:10, :10]  # the opposite of the prediction
    session.add_labels(image, painted)
    again = session.predict(image)
    assert (again.labels[:10, :10] == painted[:10, :10]).all()
    assert (again.confidence[:10, :10] == 1.0).all()
