"""The simulated annotator (zs3 bench annotate) and what it relies on: dots placed where the model is
most wrong, thin strokes that still train, painted pixels that keep their class."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import torch

from core.session.annotate import AnnotateConfig, next_dot, paint_dot, run_annotate

from .conftest import ROOT, SIDE


def test_next_dot_is_the_centre_of_the_largest_wrong_region():
    gt = np.zeros((60, 80), np.uint8)
    gt[10:50, 30:70] = 2  # a 40×40 object the prediction misses
    gt[0:5, 0:5] = 1  # a small miss elsewhere
    gt[55:, :] = 255  # ignored band: never a dot there
    pred = np.zeros_like(gt)
    painted = np.full_like(gt, 255)
    y, x, cls = next_dot(pred, gt, painted, radius=4)
    assert cls == 2 and abs(y - 29.5) <= 1 and abs(x - 49.5) <= 1
    paint_dot(painted, gt, (y, x, cls), radius=4)
    assert set(np.unique(painted)) == {2, 255} and (painted == 2).sum() == 49
    # once painted, that spot is not chosen again; with nothing wrong left there is no dot
    assert next_dot(pred, gt, painted, 4)[:2] != (y, x)
    assert next_dot(gt, gt, painted, 4) is None


def test_a_one_pixel_stroke_becomes_training_pixels(make_session, small_images):
    session = make_session()
    cat = small_images / "cat_chelsea.jpg"
    session.add_images([cat])
    session.set_classes(["cat"])
    from core.images import load_image

    h, w = load_image(cat).shape[:2]
    mask = np.full((h, w), 255, np.uint8)
    mask[h // 2, w // 3: 2 * w // 3] = 1  # one pixel thin, thinner than a 14-px feature cell
    mask[2, :] = 0
    session.add_labels(cat, mask)
    report = session.fit()
    assert "cat" in report.seen and report.real_rows >= int((mask != 255).sum()) // 2
    pred = session.predict(cat)
    assert (pred.labels[mask == 1] == 1).all() and (pred.confidence[mask == 1] == 1).all()
    assert (pred.labels[mask == 0] == 0).all()


def test_dots_raise_miou_on_real_photos(eval_pair):
    from core.session import PriorConfig, SessionConfig

    cfg = SessionConfig(input_side=SIDE, prior=PriorConfig(enabled=False), gmmn_file=None, classifier_iter=30)
    result = run_annotate(eval_pair, None, config=AnnotateConfig(radius=8, rounds=3), session_config=cfg,
                          device="cpu")
    by = result["miou_by_dots"]
    assert set(by) == {"0", "1", "2", "3"} and result["classes"] == ["background", "cat", "cup"]
    assert by["3"] > by["0"] + 0.2  # from all-background to a usable mask in three dots per image
    assert result["per_class_by_dots"]["3"]["cat"] > 0.5


def test_cli_writes_the_documented_json(eval_pair, tmp_path):
    out = tmp_path / "annotate.json"
    proc = subprocess.run([sys.executable, "-m", "core.cli.main", "bench", "annotate", "--data", str(eval_pair),
                           "--classes", "cat,cup", "--rounds", "1", "--device", "cpu", "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert {"miou_by_dots", "per_class_by_dots", "seconds_per_round", "model"} <= set(data)
    assert set(data["miou_by_dots"]) == {"0", "1"} and data["model"] == "default"
    bad = subprocess.run([sys.executable, "-m", "core.cli.main", "bench", "annotate", "--data", str(eval_pair),
                          "--classes", "giraffe"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "giraffe" in bad.stderr and "Traceback" not in bad.stderr


def test_local_vote_favours_the_class_painted_nearby_in_feature_space(make_session, small_images):
    from core.images import load_image

    session = make_session()
    session.config.local_weight = 1.0
    cat = small_images / "cat_chelsea.jpg"
    session.add_images([cat])
    session.set_classes(["cat"])
    h, w = load_image(cat).shape[:2]
    mask = np.full((h, w), 255, np.uint8)
    mask[h // 2 - 3: h // 2 + 3, w // 2 - 3: w // 2 + 3] = 1  # a dot on the cat
    mask[:4, :4] = 0  # a dot of background in a corner
    feats = session.features(cat)
    assert not session._local_evidence(cat, feats, 2).any()  # nothing painted yet: no local evidence
    session.add_labels(cat, mask)
    vote = session._local_evidence(cat, feats, 2)
    gh, gw = feats.features.shape[-2:]
    assert vote.shape == (2, gh, gw) and torch.allclose(vote.exp().sum(0), torch.ones(gh, gw), atol=1e-4)
    assert vote[1, gh // 2, gw // 2] > vote[0, gh // 2, gw // 2]  # the cat's own cell votes cat
    assert vote[0, 0, 0] > vote[1, 0, 0]  # the corner votes background


def test_several_seeds_report_their_mean_and_keep_each_run():
    from core.cli.bench_annotate import mean_of_runs

    runs = [{"model": "default", "miou_by_dots": {"0": 0.2, "8": 0.6}, "seconds_per_round": 1.0,
             "per_class_by_dots": {"8": {"background": 0.9, "cat": 0.3}}},
            {"model": "default", "miou_by_dots": {"0": 0.4, "8": 0.8}, "seconds_per_round": 3.0,
             "per_class_by_dots": {"8": {"background": 0.7, "cat": 0.9}}}]
    out = mean_of_runs(runs, [0, 1])
    assert out["miou_by_dots"] == {"0": 0.3, "8": 0.7} and out["seconds_per_round"] == 2.0
    assert out["per_class_by_dots"]["8"] == {"background": 0.8, "cat": 0.6}
    assert out["by_seed"] == {"0": {"0": 0.2, "8": 0.6}, "1": {"0": 0.4, "8": 0.8}} and out["seeds"] == [0, 1]
    assert runs[0]["miou_by_dots"] == {"0": 0.2, "8": 0.6}  # the runs themselves are untouched


def test_cli_refuses_bad_seeds(eval_pair, capsys):
    from core.cli.main import main

    assert main(["bench", "annotate", "--data", str(eval_pair), "--seeds", "a,b"]) == 2
    err = capsys.readouterr().err
    assert "--seeds" in err and len(err.strip().splitlines()) == 1
