"""Speed of the tool on this machine (see core/cli/bench_speed.py); prints JSON, optional --json FILE.

    .venv/bin/python bench/bench_speed.py [--device cpu|cuda] [--model default|efficientnet|CKPT]
                                          [--images N] [--threads N] [--quick] [--json speed.json]

Same as ``zs3 bench speed``; CPU results go to docs/benchmarks-speed.md.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.cli.main import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["bench", "speed", *sys.argv[1:]]))
