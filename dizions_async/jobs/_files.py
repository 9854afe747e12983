"""Files that hold personal data: created ``0600`` whatever the umask, never through a link.

Exports, their ``PATH.part`` files and migration journals hold records of people; a
world-readable file (``0644`` under the usual umask) would show them to every user of the
machine. A ``.part`` file is opened ``O_CREAT | O_EXCL | O_NOFOLLOW``: a symlink planted at
its name is refused, never followed, so another user cannot make an export overwrite a
file of theirs choosing. (``tempfile``'s spooled files are ``0600`` already.)
"""

from __future__ import annotations

import contextlib
import os
import stat
from typing import IO

__all__ = ["PRIVATE_MODE", "open_part", "private_file"]

#: Read and write for the owner only.
PRIVATE_MODE = 0o600
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_EXCLUSIVE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | getattr(os, "O_BINARY", 0)


def _own_regular_file(st: os.stat_result) -> bool:
    getuid = getattr(os, "getuid", None)
    return stat.S_ISREG(st.st_mode) and (getuid is None or st.st_uid == getuid())


def _private(fd: int) -> None:
    # The mode given to os.open is cut by the umask; set it exactly.
    if hasattr(os, "fchmod"):
        os.fchmod(fd, PRIVATE_MODE)


def open_part(part: str) -> IO[bytes]:
    """Create ``part`` afresh for writing, ``0600``, refusing to follow a link.

    A stale ``part`` left by a crashed run is removed first, but only if it is a regular
    file owned by this user.

    Raises:
        FileExistsError: something else is at ``part`` (a symlink, a directory, another
            user's file); it is left alone.
        OSError: the file cannot be created.
    """
    try:
        fd = os.open(part, _EXCLUSIVE, PRIVATE_MODE)
    except FileExistsError:
        if not _own_regular_file(os.lstat(part)):
            raise FileExistsError(
                f"{part} exists and is not a regular file of yours (a symlink?); "
                "refusing to write through it: remove it and run again"
            ) from None
        os.remove(part)
        fd = os.open(part, _EXCLUSIVE, PRIVATE_MODE)
    try:
        _private(fd)
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        raise


def private_file(path: str) -> None:
    """Make sure ``path`` exists as a ``0600`` regular file (a journal, before SQLite opens it).

    A missing file is created empty (SQLite takes an empty file for a new database, and
    gives its ``-wal`` and ``-shm`` files the same mode); an existing regular file of this
    user is narrowed to ``0600``; anything else is left to SQLite, which reports it.

    Raises:
        OSError: the file cannot be created (a symlink at ``path`` is not followed).
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, PRIVATE_MODE)
    except FileExistsError:
        with contextlib.suppress(OSError):
            if _own_regular_file(os.lstat(path)):
                os.chmod(path, PRIVATE_MODE)
        return
    try:
        _private(fd)
    finally:
        os.close(fd)
