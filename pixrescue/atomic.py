"""Writing a file so that it is either wholly there or not changed at all."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomically(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write`` with a binary stream on a temporary file in ``path``'s
    folder, then rename it over ``path``; on any error nothing is left behind
    and ``path`` is as it was.  The file gets the permissions a new file gets
    (the umask), not the 0600 of a temporary one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A short temporary name in the target's folder: any name the file system
    # accepts for the target works (a name near its 255-byte limit included).
    handle, temporary = tempfile.mkstemp(prefix=".pxr-", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    return path
