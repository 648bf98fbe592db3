"""Disk space held in reserve beyond the end of a file HDF5 is writing.

When a write of HDF5's fails for lack of space its metadata cache stays dirty: the file
cannot be closed, and the library state of the whole process is damaged (later opens
of the same file crash). So a writer keeps :data:`RESERVE` bytes allocated past the
end of its file (Linux ``fallocate`` with ``FALLOC_FL_KEEP_SIZE``: the size does not
change) and renews the reserve before each write; a full disk then shows up as a
failed reservation, before HDF5 writes anything, and what HDF5 needs to finish the
file (the end record, the final metadata) lies inside the reserve.
"""

from __future__ import annotations

import ctypes
import errno
import os
from typing import Any

RESERVE = 2 * 2**20
_KEEP_SIZE, _PUNCH_HOLE = 0x01, 0x02
_libc = ctypes.CDLL(None, use_errno=True)
_fallocate: Any = getattr(_libc, "fallocate", None)  # None where libc lacks it
if _fallocate is not None:
    _fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]


class SpaceReserve:
    """Keeps free space allocated past the end of the file at ``path``; where the file
    system cannot reserve space (no ``fallocate``), it checks the free space instead."""

    def __init__(self, path: str):
        self.fd = os.open(path, os.O_WRONLY)
        self.supported = _fallocate is not None

    def ensure(self, extra: int = 0) -> None:
        """Hold ``RESERVE + extra`` bytes past the end; OSError(ENOSPC) if the disk lacks them."""
        size = os.fstat(self.fd).st_size
        need = RESERVE + int(extra)
        if self.supported:
            if _fallocate(self.fd, _KEEP_SIZE, size, need) == 0:
                return
            err = ctypes.get_errno()
            if err not in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                raise OSError(err, os.strerror(err))
            self.supported = False
        st = os.fstatvfs(self.fd)
        if st.f_bavail * st.f_frsize < need:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def release(self) -> None:
        """Give the reserved blocks back and close."""
        if self.fd < 0:
            return
        try:
            if self.supported:
                size = os.fstat(self.fd).st_size
                _fallocate(self.fd, _KEEP_SIZE | _PUNCH_HOLE, size, RESERVE * 64)
        finally:
            os.close(self.fd)
            self.fd = -1


def free_bytes(folder: str) -> int:
    st = os.statvfs(folder)
    return st.f_bavail * st.f_frsize
