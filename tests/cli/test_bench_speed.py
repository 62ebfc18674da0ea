"""`zs3 bench speed --quick`: the JSON contract (timings are the benchmark's business, not a test's)."""
from __future__ import annotations

import json

import pytest

from core.cli.main import main

KEYS = ("features_s", "refit_s", "predict_cached_s", "segment_images_per_s", "segment_in_process_images_per_s",
        "gmmn_step_batched_ms",
        "gmmn_step_loop_ms", "peak_rss_mb", "baseline_features_s", "baseline_predict_cached_s",
        "baseline_segment_images_per_s")


def test_bench_speed_quick_writes_one_json_with_every_figure(tmp_path, capsys):
    out = tmp_path / "speed.json"
    assert main(["bench", "speed", "--quick", "--device", "cpu", "--model", "efficientnet", "--json", str(out)]) == 0
    written = json.loads(out.read_text())
    printed = json.loads(capsys.readouterr().out)
    assert printed == written
    for key in KEYS:
        assert isinstance(written[key], (int, float)) and written[key] > 0, key
    assert written["device"] == "cpu" and written["model"] == "efficientnet" and written["torch_threads"] >= 1
    assert written["segment_images"] == 2
    # the batched and the per-class GMMN step compute the same gradient for all 20 classes
    assert written["gmmn_classes"] == 20 and written["gmmn_step_same_gradient"] is True


@pytest.mark.parametrize("argv, words", [
    (["--model", "no-such-model.pth"], "no such model"),
    (["--images", "0"], "at least 1"),
])
def test_bench_speed_bad_arguments_exit_2(argv, words, capsys):
    assert main(["bench", "speed", *argv]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and words in lines[0]
