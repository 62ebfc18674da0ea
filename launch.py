#!/usr/bin/env python3
"""``python launch.py [PATH] [--classes "a,b"]``: start the GUI from a source checkout."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from app.main import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
