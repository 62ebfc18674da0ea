"""Makes ``masks_helpers`` importable: with --import-mode=importlib test folders are not packages."""
import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
