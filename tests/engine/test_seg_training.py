"""Step 1 at scale: the reference's 10× head learning rate, resumable states, the loader default."""
from __future__ import annotations

import pytest
import torch

from core.data.seen_only import SeenOnly
from core.data.synthetic import SyntheticScenes
from core.zs3 import pipeline as P
from core.zs3.step1_seg import param_groups
from core.zs3.steps_synthetic import TinySegNet

UNSEEN = [4, 9]


def _data():
    return SeenOnly(SyntheticScenes(12, size=32, seed=1), UNSEEN, workers=1)


def _config(**kw):
    kw = {"iterations": 4, **kw}
    return P.SegTrainConfig(batch_size=2, lr=0.05, crop_size=32, base_size=32, scale=(1.0, 1.0), **kw)


def test_head_learns_ten_times_faster_than_the_backbone():
    model = TinySegNet(13, width=16)
    groups = param_groups(model, 10.0)
    backbone = {id(p) for p in model.backbone.parameters()}
    assert [g["mult"] for g in groups] == [1.0, 10.0]
    assert {id(p) for p in groups[0]["params"]} == backbone
    assert id(model.classifier.weight) in {id(p) for p in groups[1]["params"]}
    states = []
    P.train_segmentation(model, _data(), _config(iterations=2, checkpoint_every=1), unseen_ids=UNSEEN,
                         on_checkpoint=states.append)
    used = [g["lr"] for g in states[0]["optimizer"]["param_groups"]]  # the first step's rates
    assert used == pytest.approx([0.05, 0.5])


def test_resume_continues_where_the_state_was_taken():
    torch.manual_seed(0)
    model = TinySegNet(13, width=16)
    initial_unseen = model.classifier.weight.detach()[UNSEEN].clone()
    states = []
    P.train_segmentation(model, _data(), _config(checkpoint_every=2), unseen_ids=UNSEEN,
                         on_checkpoint=lambda s: states.append(_round_trip(s)))  # written out at once, as the CLI does
    assert len(states) == 1  # at iteration 2 only: the final model is the output, not a state
    state = torch.load(states[0], weights_only=True)
    assert state["iteration"] == 2
    steps = []
    resumed = TinySegNet(13, width=16)  # fresh weights: everything must come from the state
    P.train_segmentation(resumed, _data(), _config(checkpoint_every=2), unseen_ids=UNSEEN, resume=state,
                         progress=lambda f, m: steps.append(f))
    assert steps == [0.75, 1.0]  # iterations 3 and 4 only
    assert torch.equal(resumed.classifier.weight.detach()[UNSEEN], initial_unseen)  # never trained, as before
    assert not torch.equal(resumed.classifier.weight.detach(), state["model"]["classifier.weight"])


def _round_trip(state):
    import io

    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return buf


def test_cli_resume_without_a_state_is_one_line_error(tmp_path, capsys):
    from core.cli.main import main
    from core.data.synthetic import write_synthetic_folder

    root = write_synthetic_folder(tmp_path / "data", {"train": 6}, size=32, seed=2)
    out = tmp_path / "seg.pth"
    argv = ["train", "seg", "--dataset", "folder", "--root", str(root), "--unseen", "blue", "--backbone", "tiny",
            "--iterations", "3", "--batch-size", "2", "--crop-size", "32", "--base-size", "32", "--device", "cpu",
            "--checkpoint-every", "2", "--out", str(out)]
    assert main([*argv, "--resume"]) == 2
    err = capsys.readouterr().err
    assert "nothing to resume" in err and len(err.strip().splitlines()) == 1
    assert main(argv) == 0
    assert out.is_file() and not (tmp_path / "seg.pth.resume").exists()  # finished runs leave no state


@pytest.mark.parametrize("device, expected", [("cpu", 0), ("cuda:0", None)])
def test_workers_default_follows_the_device(device, expected):
    import argparse
    import os

    from core.cli.cmd_train import _workers

    got = _workers(argparse.Namespace(workers=None), device)
    assert got == (expected if expected is not None else min(8, os.cpu_count() or 1))
    assert _workers(argparse.Namespace(workers=3), device) == 3
