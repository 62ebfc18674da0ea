"""``core.package_files.package_file``: a file inside an installed wheel, or None."""
from __future__ import annotations

import PIL

from core.package_files import package_file


def test_a_file_of_an_installed_package_is_found_and_anything_else_is_none():
    path = package_file("PIL", "Image.py")
    assert path is not None and path.is_file() and path.parent.samefile(PIL.__path__[0])
    assert package_file("PIL", "no_such_file.onnx") is None
    assert package_file("PIL", ".") is None  # a folder is not a file
    assert package_file("no_such_package_zs3", "Image.py") is None
