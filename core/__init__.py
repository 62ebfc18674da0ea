"""zs3-annotator engine: ZS3Net zero-shot semantic segmentation, Qt-free.

Nothing under ``core`` may import Qt: the GUI (``app``) and the CLI share this engine,
and the engine must run in worker threads, scripts and CI without a display.
"""
from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("zs3-annotator")
except _metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.1.0"
