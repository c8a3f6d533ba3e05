"""Blob uploads: POST (session, monolithic, mount), PATCH, PUT, GET and DELETE."""
from __future__ import annotations

import contextlib

from starlette.requests import Request
from starlette.responses import Response

from ...observability import metrics
from ..http.admission import BodyGate
from ...registry.errors import DigestInvalid
from ...registry.references import validate_name
from . import requests as rq
from .access import MOUNT_SOURCE_ACTION, creating, may


def _session(name: str, upload_id: str, size: int, status: int) -> Response:
    return Response(status_code=status, headers={
        "Location": f"/v2/{name}/blobs/uploads/{upload_id}",
        "Range": f"0-{max(size - 1, 0)}",
        "Docker-Upload-UUID": upload_id,
        "Content-Length": "0",
    })


def _admitted(request: Request):
    """A place for this request's body among the caller's and its address's (429 if none)."""
    gate: BodyGate = request.app.state.body_gate
    caller = request.state.caller
    return _counted(gate.admit(caller.principal.arn or caller.access_key_id,
                               request.client.host if request.client else ""))


@contextlib.contextmanager
def _counted(admission):
    with admission, metrics.uploading("oci"):  # counted once admitted
        yield


def _created(name: str, digest) -> Response:
    return Response(status_code=201, headers={
        "Location": f"/v2/{name}/blobs/{digest}",
        "Docker-Content-Digest": str(digest),
        "Content-Length": "0",
    })


async def start_upload(request: Request) -> Response:
    """The push's first write: the repository is made here if it is missing and may be."""
    return await creating(request, lambda may_create: _start(request, may_create))


async def _start(request: Request, may_create: bool) -> Response:
    reg, name, query = rq.registry(request), rq.name(request), request.query_params
    if "mount" in query:
        digest = rq.digest(query["mount"])
        source = query.get("from")
        # A source the caller may not read is treated as lacking the blob: a plain upload
        # session follows, as the spec has it for a mount that cannot be done.
        source = source and rq.mount_source(request, source)
        if (source and await may(request, MOUNT_SOURCE_ACTION, validate_name(source))
                and await reg.blobs.mount_async(name, digest, source, may_create)):
            return _created(rq.route_name(request), digest)
    elif "digest" in query:
        digest = rq.digest(query["digest"])
        with _admitted(request):
            await reg.uploads.upload_whole(name, digest, rq.body(request), rq.chunk(request),
                                           may_create)
        return _created(rq.route_name(request), digest)
    upload_id = await reg.uploads.start_async(name, may_create)
    return _session(rq.route_name(request), upload_id, 0, 202)


async def upload_status(request: Request) -> Response:
    reg, name, upload_id = rq.registry(request), rq.name(request), request.path_params["uuid"]
    size = await reg.uploads.status_async(name, upload_id)
    return _session(rq.route_name(request), upload_id, size, 204)


async def patch_upload(request: Request) -> Response:
    reg, name, upload_id = rq.registry(request), rq.name(request), request.path_params["uuid"]
    with _admitted(request):
        size = await reg.uploads.append(name, upload_id, rq.body(request), rq.chunk(request))
    return _session(rq.route_name(request), upload_id, size, 202)


async def finish_upload(request: Request) -> Response:
    reg, name, upload_id = rq.registry(request), rq.name(request), request.path_params["uuid"]
    if "digest" not in request.query_params:
        raise DigestInvalid("the digest query parameter is required to complete an upload")
    digest = rq.digest(request.query_params["digest"])
    if not rq.has_body(request):
        await reg.uploads.complete(name, upload_id, digest, None, rq.chunk(request))
        return _created(rq.route_name(request), digest)
    with _admitted(request):
        await reg.uploads.complete(name, upload_id, digest, rq.body(request), rq.chunk(request))
    return _created(rq.route_name(request), digest)


async def cancel_upload(request: Request) -> Response:
    reg, name, upload_id = rq.registry(request), rq.name(request), request.path_params["uuid"]
    await reg.uploads.cancel_async(name, upload_id)
    return Response(status_code=204)
