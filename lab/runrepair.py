"""Clearing the mark HDF5 leaves in a file whose writer died while not in SWMR mode.

HDF5 (superblock version 2 and 3, ``libver="latest"``) records in the superblock's
*file consistency flags* that a process has the file open for writing (bit 0) and for
SWMR writing (bit 2). A process killed before closing leaves the flags set and HDF5
then refuses every open ("file is already open for write"). ``h5clear -s`` clears them;
:func:`clear_open_flags` does the same here: flags byte set to 0 and the superblock's
Jenkins lookup3 checksum recomputed (HDF5 file format specification, section II.A).
The end-of-file address is raised to the file's size when the file is longer, as
``h5clear --increment`` would, so that data written past the recorded end can be read.
"""

from __future__ import annotations

import os
import struct

SIGNATURE = b"\x89HDF\r\n\x1a\n"
_M = 0xFFFFFFFF


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _M


def lookup3(data: bytes, initval: int = 0) -> int:
    """Bob Jenkins' ``hashlittle`` (lookup3.c), the checksum HDF5 stores as H5_checksum_lookup3."""
    length = len(data)
    a = b = c = (0xDEADBEEF + length + initval) & _M
    i = 0
    while length - i > 12:
        a = (a + int.from_bytes(data[i : i + 4], "little")) & _M
        b = (b + int.from_bytes(data[i + 4 : i + 8], "little")) & _M
        c = (c + int.from_bytes(data[i + 8 : i + 12], "little")) & _M
        a = (a - c) & _M
        a ^= _rot(c, 4)
        c = (c + b) & _M
        b = (b - a) & _M
        b ^= _rot(a, 6)
        a = (a + c) & _M
        c = (c - b) & _M
        c ^= _rot(b, 8)
        b = (b + a) & _M
        a = (a - c) & _M
        a ^= _rot(c, 16)
        c = (c + b) & _M
        b = (b - a) & _M
        b ^= _rot(a, 19)
        a = (a + c) & _M
        c = (c - b) & _M
        c ^= _rot(b, 4)
        b = (b + a) & _M
        i += 12
    tail = data[i:] + bytes(12 - (length - i))
    if length - i == 0:
        return c
    a = (a + int.from_bytes(tail[0:4], "little")) & _M
    b = (b + int.from_bytes(tail[4:8], "little")) & _M
    c = (c + int.from_bytes(tail[8:12], "little")) & _M
    c ^= b
    c = (c - _rot(b, 14)) & _M
    a ^= c
    a = (a - _rot(c, 11)) & _M
    b ^= a
    b = (b - _rot(a, 25)) & _M
    c ^= b
    c = (c - _rot(b, 16)) & _M
    a ^= c
    a = (a - _rot(c, 4)) & _M
    b ^= a
    b = (b - _rot(a, 14)) & _M
    c ^= b
    c = (c - _rot(b, 24)) & _M
    return c


class RepairError(Exception):
    """A file this repair does not apply to; the message says why."""


def clear_open_flags(path: str) -> str:
    """Clear the consistency flags of ``path`` in place; returns what was done."""
    with open(path, "r+b") as f:
        head = f.read(64)
        if not head.startswith(SIGNATURE):
            raise RepairError("not an HDF5 file with its superblock at the start")
        version, off_size = head[8], head[9]
        if version not in (2, 3):
            raise RepairError(
                f"superblock version {version}: only files written with libver='latest' "
                "(versions 2 and 3, as run files are) carry the flags this repair clears"
            )
        if off_size != 8:
            raise RepairError(f"{off_size}-byte addresses: only 8-byte addresses are handled")
        end = 12 + 4 * off_size  # base, extension, end-of-file and root-group addresses
        body = bytearray(head[:end])
        if struct.unpack("<I", head[end : end + 4])[0] != lookup3(bytes(body)):
            raise RepairError("the superblock's checksum does not match: the file is damaged at its start")
        flags = body[11]
        eof = struct.unpack("<Q", body[28:36])[0]
        size = os.fstat(f.fileno()).st_size
        done = []
        if flags:
            body[11] = 0
            done.append(f"cleared the open-for-write flags (0x{flags:02x})")
        if size > eof:
            body[28:36] = struct.pack("<Q", size)
            done.append(f"raised the end of file from {eof:,} to {size:,} bytes")
        if not done:
            return "nothing to repair: the file is not marked open"
        f.seek(0)
        f.write(bytes(body) + struct.pack("<I", lookup3(bytes(body))))
    return "; ".join(done)
