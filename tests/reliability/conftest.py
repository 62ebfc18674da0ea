"""Makes ``make_corpus`` importable: with --import-mode=importlib test folders are not packages."""
import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)


import pytest  # noqa: E402

from core.device import torch_threads  # noqa: E402


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One intra-op thread, as in tests/session: two oversubscribe a shared 2-core machine."""
    with torch_threads(1):
        yield
