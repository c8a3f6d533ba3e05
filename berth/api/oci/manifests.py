"""PUT/GET/HEAD/DELETE /v2/<name>/manifests/<reference>."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from . import requests as rq
from .access import creating, importing


async def get_manifest(request: Request) -> Response:
    reg, name = rq.registry(request), rq.name(request)
    head = request.method == "HEAD"
    cache = request.app.state.pullthrough
    found = await importing(request, lambda may_import: cache.manifest(
        reg, name, request.path_params["reference"], rq.accepted_types(request),
        with_content=not head, record_pull=not head,
        principal=request.state.caller.principal.arn or "", may_import=may_import))
    headers = {"Docker-Content-Digest": found.digest, "ETag": f'"{found.digest}"',
               "Content-Length": str(found.size)}
    return Response(found.content if not head else None, headers=headers,
                    media_type=found.media_type)


async def put_manifest(request: Request) -> Response:
    reg, name, reference = rq.registry(request), rq.name(request), request.path_params[
        "reference"]
    body = await rq.read_limited(request, reg.manifests.max_bytes)
    content_type = request.headers.get("content-type")
    pusher = request.state.caller.access_key_id
    result = await creating(request, lambda may_create: reg.manifests.put_async(
        name, reference, body, content_type, may_create=may_create, pusher=pusher))
    headers = {"Location": f"/v2/{rq.route_name(request)}/manifests/{result.digest}",
               "Docker-Content-Digest": str(result.digest), "Content-Length": "0"}
    if result.subject:
        headers["OCI-Subject"] = str(result.subject)
    return Response(status_code=201, headers=headers)


async def delete_manifest(request: Request) -> Response:
    reg, name = rq.registry(request), rq.name(request)
    await reg.manifests.delete_async(name, request.path_params["reference"])
    return Response(status_code=202)
