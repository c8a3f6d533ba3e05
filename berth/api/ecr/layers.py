"""ECR layer operations: BatchCheckLayerAvailability, InitiateLayerUpload, UploadLayerPart,
CompleteLayerUpload, GetDownloadUrlForLayer -- the same uploads and blobs as the OCI routes."""
from __future__ import annotations

from ...iam import presigned
from ...observability.context import note_redirected_bytes
from ...registry import errors as e
from ...registry.blobs.bodies import Chunk
from ...registry.references import Digest
from .access import Target, admit, admit_async, registry_host
from .caller import iam
from .endpoint import ApiCall
from .errors import invalid_parameter, model_error
from .translation import bad_part

PART_SIZE = 10 * 1024 * 1024  # advisory, what ECR answers


def batch_check_layer_availability(call: ApiCall) -> dict:
    target, name = _admit(call)
    layers, failures = [], []
    for raw in call.params["layerDigests"]:
        try:
            digest = Digest.parse(raw)
        except e.DigestInvalid:
            failures.append(_layer_failure(raw, "InvalidLayerDigest", "Invalid layer digest"))
            continue
        try:
            size = target.registry.blobs.stat(name, digest)
        except e.BlobUnknown:
            failures.append(_layer_failure(raw, "MissingLayerDigest", "Could not find layer"))
        else:
            layers.append({"layerDigest": raw, "layerAvailability": "AVAILABLE",
                           "layerSize": size})
    return {"layers": layers, "failures": failures}


def initiate_layer_upload(call: ApiCall) -> dict:
    target, name = _admit(call)
    target.registry.images.exists(name)  # ECR never creates a repository on these calls
    upload_id = target.registry.uploads.start(name)
    return {"uploadId": upload_id, "partSize": PART_SIZE}


# The two that stream bytes through the domain's async entry points are coroutines.
async def upload_layer_part(call: ApiCall) -> dict:
    target, name = await _admit_async(call)
    p, upload_id = call.params, call.params["uploadId"]
    data, first, last = p["layerPartBlob"], p["partFirstByte"], p["partLastByte"]
    if last - first + 1 != len(data):
        raise bad_part(first, last, f"the part carries {len(data)} bytes")
    size = await target.registry.uploads.append(name, upload_id, _once(data),
                                                Chunk(start=first, length=len(data)),
                                                as_layer=True)
    return {"registryId": target.registry_id_text, "repositoryName": name,
            "uploadId": upload_id, "lastByteReceived": size - 1}


async def complete_layer_upload(call: ApiCall) -> dict:
    target, name = await _admit_async(call)
    upload_id, digests = call.params["uploadId"], call.params["layerDigests"]
    if len(digests) != 1:
        raise invalid_parameter("Exactly one layer digest is expected per upload")
    try:
        digest = Digest.parse(digests[0])
    except e.DigestInvalid:
        raise model_error("InvalidLayerException",
                          f"The layer digest '{digests[0]}' is not valid") from None
    await target.registry.uploads.complete(name, upload_id, digest, as_layer=True)
    return {"registryId": target.registry_id_text, "repositoryName": name,
            "uploadId": upload_id, "layerDigest": str(digest)}


def get_download_url_for_layer(call: ApiCall) -> dict:
    target, name = _admit(call)
    raw = call.params["layerDigest"]
    try:
        digest = Digest.parse(raw)
    except e.DigestInvalid:
        raise invalid_parameter(f"Invalid parameter at 'layerDigest': '{raw}' is not a valid "
                                "digest") from None
    where = (f"the repository with name '{name}' in the registry with id "
             f"'{target.registry_id_text}'")
    referenced = target.registry.images.layer_referenced(name, digest)
    if not referenced:
        raise model_error("LayerInaccessibleException", (
            f"The layer with digest {digest} in {where} is not associated with an image"))
    # No URL that a disabled key would refuse: KeyUnavailable answers KmsException.
    blob = target.registry.blobs.find_readable(name, digest)
    url = target.registry.blobs.redirect_url(blob, presigned.LIFETIME_SECONDS)
    if url:  # the storage sends the layer: data transfer out all the same (usage counts it)
        note_redirected_bytes(call.request.scope, blob.size)
    return {"downloadUrl": url or _presigned_url(call, target, name, digest),
            "layerDigest": str(digest)}


# -- shared -----------------------------------------------------------------------------------
def _admit(call: ApiCall) -> tuple[Target, str]:
    name = call.params["repositoryName"]
    return admit(call, f"ecr:{call.operation}", name), name


async def _admit_async(call: ApiCall) -> tuple[Target, str]:
    name = call.params["repositoryName"]
    return await admit_async(call, f"ecr:{call.operation}", name), name


async def _once(data: bytes):
    yield data


def _presigned_url(call: ApiCall, target: Target, name: str, digest: Digest) -> str:
    path = f"/v2/{name}/blobs/{digest}"
    query = presigned.sign(iam(call.request), target.address, path,
                           call.caller.identity.access_key_id)
    host = registry_host(call, target.address)
    return f"{call.request.url.scheme}://{host}{path}?{query}"


def _layer_failure(digest: str, code: str, reason: str) -> dict:
    return {"layerDigest": digest, "failureCode": code, "failureReason": reason}


OPERATIONS = {
    "BatchCheckLayerAvailability": batch_check_layer_availability,
    "InitiateLayerUpload": initiate_layer_upload,
    "UploadLayerPart": upload_layer_part,
    "CompleteLayerUpload": complete_layer_upload,
    "GetDownloadUrlForLayer": get_download_url_for_layer,
}
