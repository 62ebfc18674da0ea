"""`torchrun --nproc_per_node 2 -m core.cli.main segment …`: two gloo ranks on CPU, one output folder,
identical file by file to a single-process run (label PNG bytes; JSON up to time stamps and ids)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cli_helpers import assert_same_outputs

from core.cli.main import main

REPO = Path(__file__).resolve().parents[2]
ARGS = ["--input-side", "128", "--device", "cpu", "--classes", "cat,cup", "--format", "voc,coco"]


def torchrun(*argv, nproc: int = 2) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    return subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
         "-m", "core.cli.main", *argv],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )


def test_two_ranks_write_what_one_process_writes(photos, tmp_path, capsys):
    single, ranked = tmp_path / "single", tmp_path / "ranked"
    assert main(["segment", str(photos), "--out", str(single), *ARGS]) == 0
    capsys.readouterr()

    proc = torchrun("segment", str(photos), "--out", str(ranked), *ARGS)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "(rank 0/2)" in proc.stderr and "(rank 1/2)" in proc.stderr
    assert "4 image(s) in the set" in proc.stderr
    assert_same_outputs(ranked, single)
    records = [json.loads(p.read_text()) for p in (ranked / ".zs3_parts" / "images").glob("*.json")]
    assert len(records) == 4 and all(r["complete"] for r in records)

    # resumed under torchrun: every rank finds its images done and nothing is rewritten
    before = {p: p.stat().st_mtime_ns for p in (ranked / "SegmentationClass").glob("*.png")}
    proc = torchrun("segment", str(photos), "--out", str(ranked), *ARGS)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.count("already done") == 2 and "wrote 0 image(s)" in proc.stderr
    assert {p: p.stat().st_mtime_ns for p in before} == before


def test_shard_flag_under_torchrun_is_refused(photos, tmp_path):
    proc = torchrun("segment", str(photos), "--out", str(tmp_path / "o"), "--shard", "0/2", *ARGS)
    assert proc.returncode != 0
    assert "--shard and torchrun both split the input" in proc.stderr
    assert "zs3 segment: error: --shard and torchrun" in proc.stderr  # one line per rank, exit 2
    assert "core/cli/shards.py" not in proc.stderr  # torchrun reports the failed ranks; we raise no traceback
