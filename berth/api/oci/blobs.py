"""GET/HEAD/DELETE /v2/<name>/blobs/<digest>."""
from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ...observability.context import note_redirected_bytes
from ...pullthrough.fetch import Fetch
from ..http.responses import ChunksResponse, SendfileResponse, sends_in_thread
from . import requests as rq
from .access import importing
from .errors import error_response

REDIRECT_SECONDS = 20 * 60
# At most 19 digits each: a longer range is no valid one (served whole, as RFC 9110 has it
# for a Range the server does not understand), and int() never sees thousands of digits.
_RANGE = re.compile(r"bytes=(\d{0,19})-(\d{0,19})")


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None | str:
    """(start, end inclusive), None for the whole blob, or "unsatisfiable"."""
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip())
    if not match or (not match.group(1) and not match.group(2)):
        return None  # multi-range and other forms: serve the whole blob
    first, last = match.groups()
    if size == 0:
        return "unsatisfiable"  # no range of an empty representation exists
    if not first:
        suffix = int(last)
        if suffix == 0:
            return "unsatisfiable"
        return max(size - suffix, 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        return "unsatisfiable"
    return start, end


async def get_blob(request: Request) -> Response:
    reg, name, cache = rq.registry(request), rq.name(request), request.app.state.pullthrough
    blob = await importing(request, lambda may_import: cache.blob(
        reg, name, request.path_params["digest"], may_import,
        client=request.method != "HEAD"))
    if isinstance(blob, Fetch):  # fetched from the cache's upstream as it is stored
        return StreamingResponse(blob.chunks(), headers={
            "Docker-Content-Digest": str(blob.digest), "Content-Length": str(blob.size),
            "ETag": f'"{blob.digest}"'}, media_type="application/octet-stream")
    digest, size = blob.digest, blob.size
    headers = {"Docker-Content-Digest": str(digest), "Accept-Ranges": "bytes",
               "ETag": f'"{digest}"', "Cache-Control": "max-age=31536000"}
    span = _byte_range(request.headers.get("range"), size)
    if span == "unsatisfiable":
        return error_response(416, "BLOB_UNKNOWN", "requested range not satisfiable",
                              headers={"Content-Range": f"bytes */{size}"})
    start, end = span if span else (0, size - 1)
    length = max(end - start + 1, 0)
    headers["Content-Length"] = str(length)
    status = 200
    if span:
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers,
                        media_type="application/octet-stream")
    redirect = reg.blobs.redirect_url(blob, REDIRECT_SECONDS)
    if redirect:  # object storage serves the bytes itself (never blobs Berth encrypts)
        # The client follows with its Range, if any: the span is what it pulls from there,
        # data transfer out of the registry's storage all the same (usage counts it).
        note_redirected_bytes(request.scope, length)
        return Response(status_code=307, headers={"Location": redirect,
                                                  "Docker-Content-Digest": str(digest)})
    if length and sends_in_thread(request):  # bytes sent by a worker thread, not the loop
        source = await reg.blobs.sendable(blob, start, length)
        if isinstance(source, int):
            return SendfileResponse(source, start, length, status, headers,
                                    "application/octet-stream")
        return ChunksResponse(source, status, headers, "application/octet-stream")
    chunks = await reg.blobs.read_async(blob, start, length)
    return StreamingResponse(chunks, status_code=status, headers=headers,
                             media_type="application/octet-stream")


async def delete_blob(request: Request) -> Response:
    reg, name, digest = rq.registry(request), rq.name(request), rq.digest(
        request.path_params["digest"])
    await reg.blobs.unlink_async(name, digest)
    return Response(status_code=202, headers={"Docker-Content-Digest": str(digest)})
