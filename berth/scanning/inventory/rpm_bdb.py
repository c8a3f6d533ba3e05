"""RPM databases in the Berkeley DB format (RHEL/CentOS 7 and 8, Amazon Linux 2, SLES 12/15):
``var/lib/rpm/Packages``, a hash database whose values are the packages' header blobs. Read
from its bytes, page by page, as a read-only reader needs (rpm's own bdb_ro does the same):
hash pages list key/value items; a header is too big for a page, so its value points to a
chain of overflow pages."""
from __future__ import annotations

import struct

from ..packages import DetectorError

HASH_MAGIC = 0x061561
HASH_META = 8
HASH_PAGES = (2, 13)          # unsorted (before BDB 4.6) and sorted hash pages
OVERFLOW = 7
OFFPAGE = 3                   # a hash item whose data lives in overflow pages
PAGE_HEADER = 26
PAGE_SIZES = {512 << i for i in range(8)}
MAX_VALUE = 64 << 20


def headers(data: bytes) -> list[bytes]:
    """Every value (rpm header blob) of a Berkeley DB hash database."""
    order, page_size, last = _meta(data)
    found = []
    for number in range(1, last + 1):
        page = data[number * page_size:(number + 1) * page_size]
        if len(page) < PAGE_HEADER or page[25] not in HASH_PAGES:
            continue
        entries, = struct.unpack_from(order + "H", page, 20)
        for index in range(1, entries, 2):  # keys at even indexes, values at odd ones
            offset, = struct.unpack_from(order + "H", page, PAGE_HEADER + 2 * index)
            if offset + 12 <= len(page) and page[offset] == OFFPAGE:
                start, length = struct.unpack_from(order + "II", page, offset + 4)
                found.append(_overflow(data, order, page_size, start, length))
    return [blob for blob in found if blob]


def _meta(data: bytes) -> tuple[str, int, int]:
    for order in ("<", ">"):
        if len(data) >= 512 and struct.unpack_from(order + "I", data, 12)[0] == HASH_MAGIC:
            page_size, = struct.unpack_from(order + "I", data, 20)
            last, = struct.unpack_from(order + "I", data, 32)
            if page_size not in PAGE_SIZES or data[25] != HASH_META:
                raise DetectorError("not an rpm Berkeley DB database: bad metadata page")
            return order, page_size, min(last, len(data) // page_size - 1)
    raise DetectorError("not an rpm Berkeley DB database: no hash magic")


def _overflow(data: bytes, order: str, page_size: int, number: int, length: int) -> bytes:
    """The value stored in the overflow chain starting at page ``number``."""
    if length > MAX_VALUE:
        return b""
    parts, size, seen = [], 0, set()
    while number and number not in seen and size < length:
        seen.add(number)  # a loop in a damaged chain ends here
        page = data[number * page_size:(number + 1) * page_size]
        if len(page) < PAGE_HEADER or page[25] != OVERFLOW:
            return b""
        next_page, = struct.unpack_from(order + "I", page, 16)
        used, = struct.unpack_from(order + "H", page, 22)
        parts.append(page[PAGE_HEADER:PAGE_HEADER + used])
        size += used
        number = next_page
    value = b"".join(parts)
    return value[:length] if len(value) >= length else b""
