"""evaluate_default on a two-image copy of resources/eval: the table's structure and a real cat IoU."""
from __future__ import annotations

import json
import math

from core.session.evaluation import evaluate_default, format_results


def test_evaluate_two_images(tmp_path, make_session, eval_pair):
    from core.session import SessionConfig

    folder = eval_pair
    out = tmp_path / "r.json"
    res = evaluate_default(folder, unseen_names=["cup"], json_path=out, settings=("seen", "unseen", "conse_direct"),
                           device="cpu", config=SessionConfig(input_side=192, gmmn_steps=30, classifier_iter=20))
    assert res["classes"] == ["background", "cat", "cup"]
    assert json.loads(out.read_text())["classes"] == res["classes"]
    for setting in ("seen", "unseen", "conse_direct"):
        assert set(res[setting]["per_class"]) == {"background", "cat", "cup"}
        assert 0 <= res[setting]["miou"] <= 1
    assert res["unseen"]["per_class"]["cat"] > 0.3  # zero labels: the cat is found
    assert res["seen"]["unseen_ids"] == [1, 2] or 2 in res["seen"]["unseen_ids"]
    table = format_results(res)
    assert "| cat (imagenet" in table and "conse_direct" in table and "names* |" in table
    assert not math.isnan(res["unseen"]["unseen_miou"])


def test_labelme_background_name_is_background(eval_pair):
    """labelme names background ``_background_``: its pixels are scored as background, not ignored."""
    import numpy as np

    from core.masks import read_label_png
    from core.session.evaluation import load_labelled_folder

    names = (eval_pair / "class_names.txt").read_text().splitlines()
    (eval_pair / "class_names.txt").write_text("\n".join(["_background_", *names[1:]]) + "\n")
    classes, items = load_labelled_folder(eval_pair)
    assert classes == ["background", "cat", "cup"]
    for path, gt in items:
        raw = read_label_png(eval_pair / "SegmentationClass" / f"{path.stem}.png")
        assert np.array_equal(gt == 0, raw == 0) and (gt == 0).any()
