"""Side information inside an ordinary JPEG: the APP11 segments that
``pixrescue compress`` writes and ``pixrescue fix`` reads.

Any JPEG decoder skips application segments, so the file shows the same
picture everywhere.  Each segment (marker 0xFFEB) holds::

    b"PIXRESCUE-SI\\0"  version (1 byte)  index (1 byte)  count (1 byte)  chunk

and the chunks of segments 0..count-1, in that order, make one record::

    name length (1 byte)  model name (ASCII)
    width, height (4 bytes each)  grid columns, grid rows (2 bytes each)  symbols (1 byte)
    checksum of the JPEG data (16 bytes)
    payload length (4 bytes)  CRC-32 of the payload (4 bytes)  payload

(big-endian).  The grid has one symbol per 16x16 block (sides rounded up);
the payload is the range-coded symbols (``tasks/side_info.py``).

The checksum is the first 16 bytes of the SHA-256 of the JPEG's quantization
tables, frame header, Huffman tables and scans: every segment of the file but
the application segments and comments, and the entropy-coded data, which is
the quantized DCT coefficients.  It changes when a platform re-compresses
the picture (the coefficients change), and not when a tool strips or adds
metadata.  A lossless re-coding with other Huffman tables (``jpegtran
-optimize``) keeps the coefficients but changes their coding, and with it the
checksum: the side information is then not trusted and the picture is
restored blindly, which is the safe side.

Reading never trusts a declared size: a record is refused, before anything is
allocated from it, when its picture is larger than a JPEG can be, its grid
does not fit its picture, or its payload is longer than the grid can need or
than the bytes that are there.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass

MARKER = 0xFFEB  # APP11
SIGNATURE = b"PIXRESCUE-SI\0"
VERSION = 1
CHUNK = 65_000  # record bytes per segment (a segment holds at most 65,533 after its length)
BLOCK = 16  # pixels per symbol, on each side
MAX_SIDE = 65_535  # what a JPEG frame header can declare
MAX_NAME = 64
MAX_SEGMENTS = 255
_FIXED = struct.Struct(">IIHHB")
_SIZES = struct.Struct(">II")
CHECKSUM_BYTES = 16


class SideInfoError(ValueError):
    """Side information that cannot be read or trusted; the message is one line."""


@dataclass(frozen=True)
class SideRecord:
    """What the segments carry."""

    model: str
    width: int
    height: int
    columns: int
    rows: int
    symbols: int
    checksum: bytes
    payload: bytes


@dataclass(frozen=True)
class SideInfo:
    """What a JPEG file holds of side information (``JpegInfo.side_info``)."""

    size: int  # bytes the segments take in the file, markers and lengths included
    record: SideRecord | None = None  # None when it could not be read
    problem: str | None = None  # why it cannot be used; None: usable as far as the file goes

    @property
    def usable(self) -> bool:
        return self.record is not None and self.problem is None


def grid(width: int, height: int) -> tuple[int, int]:
    """(columns, rows) of the symbol grid of a ``width`` x ``height`` picture."""
    return -(-width // BLOCK), -(-height // BLOCK)


def max_payload(columns: int, rows: int) -> int:
    """The most bytes the range coder can need for a grid (16 bits per symbol at worst, and its flush)."""
    return 2 * columns * rows + 64


def segments(record: SideRecord) -> list[bytes]:
    """The APP11 segments (marker and length included) that carry ``record``."""
    name = record.model.encode("ascii")
    if not 0 < len(name) <= MAX_NAME:
        raise SideInfoError(f"model name of {len(name)} bytes (1-{MAX_NAME})")
    if len(record.checksum) != CHECKSUM_BYTES:
        raise SideInfoError("checksum must be 16 bytes")
    body = (bytes([len(name)]) + name
            + _FIXED.pack(record.width, record.height, record.columns, record.rows, record.symbols)
            + record.checksum + _SIZES.pack(len(record.payload), zlib.crc32(record.payload)) + record.payload)
    chunks = [body[i:i + CHUNK] for i in range(0, len(body), CHUNK)]
    if len(chunks) > MAX_SEGMENTS:
        raise SideInfoError(f"side information of {len(body):,} bytes needs more than {MAX_SEGMENTS} segments")
    out = []
    for index, chunk in enumerate(chunks):
        payload = SIGNATURE + bytes([VERSION, index, len(chunks)]) + chunk
        out.append(struct.pack(">HH", MARKER, len(payload) + 2) + payload)
    return out


def is_side_info(segment: bytes) -> bool:
    """Whether an APP11 segment's data (after its length) is pixrescue's."""
    return segment.startswith(SIGNATURE)


def parse(datas: list[bytes]) -> SideRecord:
    """The record carried by the data of pixrescue's APP11 segments (after their
    lengths, in file order); SideInfoError (one line) when it is damaged,
    incomplete or declares sizes that cannot be."""
    chunks = []
    count = None
    for position, data in enumerate(datas):
        head = len(SIGNATURE)
        if len(data) < head + 3:
            raise SideInfoError("a segment is cut short")
        version, index, total = data[head], data[head + 1], data[head + 2]
        if version != VERSION:
            raise SideInfoError(f"version {version} (this pixrescue reads version {VERSION})")
        count = total if count is None else count
        if total != count or index != position or total == 0:
            raise SideInfoError(f"segment {index} of {total} where segment {position} of {count} was due")
        chunks.append(data[head + 3:])
    if count is None or len(chunks) != count:
        raise SideInfoError(f"{len(chunks)} of its {count} segments are in the file")
    body = b"".join(chunks)
    try:
        name_length = body[0]
        name = body[1:1 + name_length].decode("ascii")
        at = 1 + name_length
        width, height, columns, rows, symbols = _FIXED.unpack_from(body, at)
        at += _FIXED.size
        checksum = body[at:at + CHECKSUM_BYTES]
        at += CHECKSUM_BYTES
        length, crc = _SIZES.unpack_from(body, at)
        at += _SIZES.size
    except (IndexError, struct.error, UnicodeDecodeError):
        raise SideInfoError("its header is cut short or not ASCII") from None
    if not 0 < name_length <= MAX_NAME or not name.isprintable():
        raise SideInfoError("its model name is empty, too long or not printable")
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise SideInfoError(f"it declares a {width}x{height} picture")
    if (columns, rows) != grid(width, height):
        raise SideInfoError(f"it declares a {columns}x{rows} grid for a {width}x{height} picture")
    if not 2 <= symbols <= 256:
        raise SideInfoError(f"it declares {symbols} symbols")
    if length > max_payload(columns, rows):
        raise SideInfoError(f"it declares a payload of {length:,} bytes, more than its grid can need")
    payload = body[at:]
    if len(payload) != length:
        raise SideInfoError(f"its payload is {len(payload):,} bytes where {length:,} were declared")
    if zlib.crc32(payload) != crc:
        raise SideInfoError("its payload is corrupted (CRC-32 mismatch)")
    return SideRecord(name, width, height, columns, rows, symbols, bytes(checksum), bytes(payload))


def _segment_end(data: bytes, at: int) -> int:
    if at + 4 > len(data):
        raise SideInfoError("the JPEG data is cut short")
    length = struct.unpack_from(">H", data, at + 2)[0]
    if length < 2 or at + 2 + length > len(data):
        raise SideInfoError("a JPEG segment runs past the end of the file")
    return at + 2 + length


def _scan_end(data: bytes, at: int) -> int:
    """Where the entropy-coded data starting at ``at`` ends: at the next marker
    that is neither a stuffed 0xFF00 nor a restart marker."""
    while True:
        at = data.find(b"\xff", at)
        if at < 0 or at + 1 >= len(data):
            raise SideInfoError("the JPEG data is cut short (no end of image)")
        following = data[at + 1]
        if following == 0 or 0xD0 <= following <= 0xD7 or following == 0xFF:
            at += 1 if following == 0xFF else 2
            continue
        return at


def _walk(data: bytes):
    """(marker, start, end) of every segment of a JPEG file up to its end-of-image
    marker; the entropy-coded data after a scan header comes as marker 0."""
    if not data.startswith(b"\xff\xd8"):
        raise SideInfoError("not a JPEG file")
    at = 2
    while True:
        if at + 2 > len(data) or data[at] != 0xFF:
            raise SideInfoError("the JPEG data is cut short or damaged")
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker == 0xD9:
            return
        end = _segment_end(data, at)
        yield marker, at, end
        at = end
        if marker == 0xDA:  # start of scan: the coded coefficients follow
            end = _scan_end(data, at)
            yield 0, at, end
            at = end


def coefficient_checksum(data: bytes) -> bytes:
    """16 bytes that identify a JPEG's coded coefficients and the tables they are
    read with (everything but application segments and comments)."""
    digest = hashlib.sha256()
    for marker, start, end in _walk(data):
        if not (0xE0 <= marker <= 0xEF or marker == 0xFE):
            digest.update(data[start:end])
    return digest.digest()[:CHECKSUM_BYTES]


def insert(data: bytes, extra: list[bytes]) -> bytes:
    """The JPEG file ``data`` with the segments ``extra`` after its leading
    application segments (JFIF, EXIF, ICC), before its tables."""
    at = 2
    for marker, start, end in _walk(data):
        if not 0xE0 <= marker <= 0xEF:
            at = start
            break
        at = end
    return data[:at] + b"".join(extra) + data[at:]


def side_info_datas(data: bytes) -> list[bytes]:
    """The data (after their lengths) of pixrescue's side-information segments of a JPEG file, in order."""
    return [data[start + 4:end] for marker, start, end in _walk(data)
            if marker == 0xEB and is_side_info(data[start + 4:end])]


def strip(data: bytes) -> bytes:
    """The JPEG file ``data`` without pixrescue's side-information segments."""
    parts, at = [data[:2]], 2
    for marker, start, end in _walk(data):
        if marker == 0xEB and is_side_info(data[start + 4:end]):
            parts.append(data[at:start])
            at = end
    parts.append(data[at:])
    return b"".join(parts)


def read(datas: list[bytes], file_bytes: bytes | None) -> SideInfo:
    """What the data of a file's pixrescue APP11 segments (after their lengths)
    says, checked against the file's JPEG data (``file_bytes``, None: unchecked)."""
    size = sum(len(d) + 4 for d in datas)
    try:
        record = parse(datas)
    except SideInfoError as exc:
        return SideInfo(size, None, f"its side information is damaged ({exc})")
    if file_bytes is not None:
        try:
            same = coefficient_checksum(file_bytes) == record.checksum
        except SideInfoError as exc:
            return SideInfo(size, record, f"its JPEG data cannot be checked ({exc})")
        if not same:
            return SideInfo(size, record, "its JPEG data changed since the side information was written "
                                          "(re-compressed or edited)")
    return SideInfo(size, record)
