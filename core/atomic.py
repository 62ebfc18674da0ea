"""Atomic file writes: a reader (or a crash) never sees a half-written output file.

Every file the tool produces goes through here: temp file in the same folder, fsync, rename.
"""
from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator

from core.errors import UserError


def _read_umask() -> int:
    # os.umask can only be read by setting it; done once at import, before any worker thread exists.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: Mode of new output files: what a plain open() would give (mkstemp alone would make them 0600).
_NEW_FILE_MODE = 0o666 & ~_read_umask()
#: Failures that mean "this place cannot take the file" (full disk, quota, read-only medium, name
#: too long, no permission): the user's to fix, so a one-line ``UserError`` instead of a traceback.
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG, errno.ENAMETOOLONG,
                           errno.EACCES, errno.EPERM})
#: Bytes in one file name on the usual Linux, macOS and Windows file systems.
NAME_MAX = 255


def ensure_writable_dir(folder: str | os.PathLike) -> Path:
    """Create ``folder`` if needed and check that we may write into it."""
    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create output folder {path}: {exc.strerror or exc}") from exc
    if not path.is_dir():
        raise UserError(f"output path {path} exists and is not a folder")
    if not os.access(path, os.W_OK | os.X_OK):
        raise UserError(f"output folder {path} is not writable")
    return path


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", encoding: str | None = None) -> Iterator[IO]:
    """Open a temporary sibling of ``path``; on clean exit fsync and rename it over ``path``.

    On an exception (Ctrl-C included) the temporary file is removed and ``path`` is untouched; a full
    disk, a read-only folder or a name the file system refuses becomes a one-line ``UserError``.
    """
    target = Path(path)
    ensure_writable_dir(target.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(target.name), suffix=".tmp", dir=target.parent)
    except OSError as exc:
        if exc.errno in _WRITE_ERRNOS:
            raise _write_error(target, exc) from exc
        raise
    try:
        try:
            mode_bits = target.stat().st_mode & 0o7777  # replacing a file keeps its permissions
        except FileNotFoundError:
            mode_bits = _NEW_FILE_MODE
        os.chmod(tmp, mode_bits)
        if "b" in mode:
            handle = os.fdopen(fd, mode)
        else:
            handle = os.fdopen(fd, mode, encoding=encoding or "utf-8", newline="")
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.errno in _WRITE_ERRNOS:
            raise _write_error(target, exc) from exc
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w") as handle:
        handle.write(text)


def _temp_prefix(name: str) -> str:
    """``.<name>.``, shortened so that the temporary name still fits when ``name`` is near the limit."""
    room = NAME_MAX - len(".") - len(".") - 8 - len(".tmp")  # mkstemp adds 8 random characters
    return f".{os.fsdecode(os.fsencode(name)[:room])}."


def _write_error(target: Path, exc: OSError) -> UserError:
    if exc.errno == errno.ENAMETOOLONG:
        return UserError(f"cannot write {target.name[:40]}…: the file name is too long for this file system")
    return UserError(f"cannot write {target}: {exc.strerror or exc} (nothing was half-written)")


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; not supported on every platform/filesystem.
    with contextlib.suppress(OSError):
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
