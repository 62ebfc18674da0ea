"""Run the CPU benchmarks one after another and print their JSON together (``make bench``).

Each benchmark runs in its own process so that one's caches and threads do not flatter the next.
The GPU benchmark (bench_gpu_deeplab.py) is left out: run it by hand on a CUDA machine.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHES = {
    "embeddings": [sys.executable, "-m", "bench.bench_embeddings"],
    "nanodet": [sys.executable, "bench/bench_nanodet.py"],
    "session": [sys.executable, "bench/bench_session.py"],
    "speed": [sys.executable, "bench/bench_speed.py"],
    "synthetic": [sys.executable, "bench/bench_synthetic.py"],
}


def last_json_object(text: str) -> dict:
    """The benchmarks may log before their result; the result is the last JSON object printed."""
    start = text.rfind("\n{")
    return json.loads(text[start + 1 if start >= 0 else 0:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=sorted(BENCHES), action="append", help="run only these (repeatable)")
    parser.add_argument("--quick", action="store_true", help="synthetic and speed benchmarks in their quick (smoke) modes")
    args = parser.parse_args()
    results: dict = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "loadavg_1m": os.getloadavg()[0]},
    }
    for name in args.only or BENCHES:
        command = BENCHES[name] + (["--quick"] if name in ("synthetic", "speed") and args.quick else [])
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            results[name] = {"error": done.stderr.strip().splitlines()[-1:] or ["failed"]}
            continue
        results[name] = last_json_object(done.stdout)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
