"""Reading what OCI requests carry: names, digests, ranges, bodies, pagination."""
from __future__ import annotations

import contextlib
import re

from starlette.requests import Request

from ...registry.blobs.bodies import Body, Chunk
from ...registry.errors import ManifestTooLarge, PaginationInvalid, RangeInvalid, SizeInvalid
from ...registry.references import Digest, validate_name
from ...registry.registry import Registry
from ..http.bodies import request_body

# Offsets of at most 19 digits (int64, as Distribution reads them): int() is never handed
# thousands of digits, which it refuses with ValueError.
_CONTENT_RANGE = re.compile(r"(?:bytes[ =])?(\d{1,19})-(\d{1,19})")
_N_DIGITS = 19
_SHOWN = 32  # characters of a bad n quoted back


def registry(request: Request) -> Registry:
    """The services of the registry the admitted request addresses."""
    return request.state.registry


def name(request: Request) -> str:
    """The repository's name in its registry (a public one's without the alias before it)."""
    return getattr(request.state, "repository_name", None) or validate_name(
        request.path_params["name"])


def route_name(request: Request) -> str:
    """The name as the request's path has it, for the paths sent back (Location, Link)."""
    return request.path_params["name"]


def mount_source(request: Request, source: str) -> str | None:
    """The repository a mount's ``from`` names in the request's registry: for a public one,
    a name under the same alias (None: another registry's, which is not mounted from)."""
    alias = getattr(request.state, "public_alias", None)
    if alias is None:
        return source
    prefix, _, rest = source.partition("/")
    return rest if prefix == alias and rest else None


def digest(value: str | None) -> Digest:
    return Digest.parse(value or "")


def content_length(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    if not raw.isdigit():
        raise SizeInvalid(f"invalid Content-Length {raw!r}")
    return int(raw)


def has_body(request: Request) -> bool:
    length = content_length(request)
    return bool(length) or (length is None and "transfer-encoding" in request.headers)


def chunk(request: Request) -> Chunk:
    """The Content-Range of a chunked PATCH (start and length), checked against Content-Length."""
    length = content_length(request)
    raw = request.headers.get("content-range")
    if raw is None:
        return Chunk(length=length)
    match = _CONTENT_RANGE.fullmatch(raw.strip())
    if not match:
        raise RangeInvalid(f"invalid Content-Range {raw!r}")
    start, end = int(match.group(1)), int(match.group(2))
    if end < start:
        raise RangeInvalid(f"invalid Content-Range {raw!r}")
    if length is not None and length != end - start + 1:
        raise RangeInvalid(f"Content-Range {raw!r} does not match Content-Length {length}")
    return Chunk(start=start, length=end - start + 1)


def body(request: Request) -> Body:
    return request_body(request)


async def read_limited(request: Request, limit: int) -> bytes:
    """The whole body, refusing more than ``limit`` bytes before reading them all."""
    length = content_length(request)
    if length is not None and length > limit:
        raise ManifestTooLarge(f"body is {length} bytes, the limit is {limit}")
    data = bytearray()
    async with contextlib.aclosing(request_body(request)) as body:  # idle ones given up on
        async for part in body:
            data += part
            if len(data) > limit:
                raise ManifestTooLarge(f"body exceeds the limit of {limit} bytes")
    return bytes(data)


def page(request: Request) -> tuple[int | None, str | None]:
    raw_n = request.query_params.get("n")
    n = None
    if raw_n is not None:
        digits = raw_n.lstrip("0")
        # Bounded before int(): Python refuses (ValueError) more than 4,300 digits. What
        # Distribution reads (strconv.Atoi: int64) is up to 19; the domain bounds it further.
        if not (raw_n.isascii() and raw_n.isdigit()) or len(digits) > _N_DIGITS:
            shown = raw_n if len(raw_n) <= _SHOWN else raw_n[:_SHOWN] + "..."
            raise PaginationInvalid(f"invalid n {shown!r}", {"n": shown})
        n = int(digits or "0")
    return n, request.query_params.get("last") or None


def accepted_types(request: Request) -> list[str]:
    values = request.headers.getlist("accept")
    return [part.split(";")[0].strip() for v in values for part in v.split(",") if part.strip()]
