"""Synthetic zero-shot benchmark (see core/zs3/steps_synthetic.py); prints JSON, optional --json FILE.

    .venv/bin/python bench/bench_synthetic.py [--quick] [--json results.json] [--seed 0] [--threads 1]

Same as ``zs3 bench synthetic``; results go to docs/benchmarks.md.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.cli.main import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["bench", "synthetic", *sys.argv[1:]]))
