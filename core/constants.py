"""Values every layer agrees on; imported, never re-declared."""
from __future__ import annotations

#: label value of a pixel that carries no class (unlabelled, boundary, doubtful): never trained on,
#: never scored. The VOC convention, also what every reader and writer of label maps uses.
IGNORE = 255
