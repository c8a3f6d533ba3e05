"""ECR image operations: ListImages, DescribeImages, BatchGetImage, PutImage,
BatchDeleteImage, ListImageReferrers -- over the domain the OCI routes use."""
from __future__ import annotations

import json

from ...registry import errors as e
from ...concurrency import blocking
from ...registry.images import (DigestMismatch, ImageDetail, ImageExists, ImageId,
                                ImageNotFound, ImageService, LayersMissing, MediaTypeMissing)
from ...registry.references import Digest
from . import paging
from .access import Target, admit, repository_not_found
from .endpoint import ApiCall
from .errors import EcrApiError, invalid_parameter, model_error

DEFAULT_PAGE = 100


async def list_images(call: ApiCall) -> dict:
    target, name = await _admit(call)
    status = (call.params.get("filter") or {}).get("tagStatus", "ANY")
    after = paging.cursor(call, name, status, pair=True)
    ids, more = await _run(target, name, _service(target).list_ids, name, status,
                           tuple(after) if after else None, _limit(call))
    token = paging.token(call, name, status, [ids[-1].digest, ids[-1].tag or ""]) if more else None
    return {"imageIds": [_image_id(i) for i in ids], "nextToken": token}


async def describe_images(call: ApiCall) -> dict:
    target, name = await _admit(call)
    service = _service(target)
    ids = call.params.get("imageIds")
    if ids:
        if "maxResults" in call.params or "nextToken" in call.params:
            raise invalid_parameter("maxResults and nextToken cannot be used with imageIds")
        details, token = await _run(target, name, service.describe, name, _ids(ids)), None
    else:
        status = (call.params.get("filter") or {}).get("tagStatus", "ANY")
        details, more = await _run(target, name, service.describe_page, name, status,
                                   paging.cursor(call, name, status), _limit(call))
        token = paging.token(call, name, status, details[-1].digest) if more else None
    return {"imageDetails": [_detail(target, name, d) for d in details], "nextToken": token}


async def batch_get_image(call: ApiCall) -> dict:
    target, name = await _admit(call)
    try:
        images, failures = await _service(target).batch_get(
            name, _ids(call.params["imageIds"]), call.params.get("acceptedMediaTypes"))
    except e.RegistryError as exc:
        raise _error(target, name, exc) from None
    return {"images": [{"registryId": target.registry_id_text, "repositoryName": name,
                        "imageId": _image_id(i), "imageManifest": content.decode("utf-8"),
                        "imageManifestMediaType": media_type}
                       for i, media_type, content in images],
            "failures": [_failure(f) for f in failures]}


async def put_image(call: ApiCall) -> dict:
    target, name = await _admit(call)
    p = call.params
    digest, media_type = await _run(
        target, name, _service(target).put, name, p["imageManifest"].encode("utf-8"),
        p.get("imageManifestMediaType"), p.get("imageTag"), p.get("imageDigest"),
        tag=p.get("imageTag"))
    return {"image": {"registryId": target.registry_id_text, "repositoryName": name,
                      "imageId": {"imageDigest": digest, "imageTag": p.get("imageTag")},
                      "imageManifest": p["imageManifest"],
                      "imageManifestMediaType": media_type}}


async def batch_delete_image(call: ApiCall) -> dict:
    target, name = await _admit(call)
    deleted, failures = await _run(target, name, _service(target).batch_delete, name,
                                   _ids(call.params["imageIds"]))
    return {"imageIds": [_image_id(i) for i in deleted],
            "failures": [_failure(f) for f in failures]}


async def list_image_referrers(call: ApiCall) -> dict:
    target, name = await _admit(call)
    subject = call.params["subjectId"]["imageDigest"]
    try:
        subject = str(Digest.parse(subject))
    except e.DigestInvalid:
        raise invalid_parameter(f"Invalid parameter at 'subjectId.imageDigest': {subject!r} is "
                                "not a valid digest") from None
    types = (call.params.get("filter") or {}).get("artifactTypes") or []
    after = paging.cursor(call, name, subject)
    page, more = await _run(target, name, _service(target).referrers, name, subject, types,
                            after, call.params.get("maxResults", 50))
    token = paging.token(call, name, subject, page[-1].digest) if more else None
    return {"referrers": [{"digest": r.digest, "mediaType": r.media_type,
                           "artifactType": r.artifact_type, "size": r.size,
                           "annotations": json.loads(r.annotations) if r.annotations else None,
                           "artifactStatus": "ACTIVE"} for r in page],
            "nextToken": token}


# -- shared -----------------------------------------------------------------------------------
async def _admit(call: ApiCall) -> tuple[Target, str]:
    name = call.params["repositoryName"]
    return await admit(call, f"ecr:{call.operation}", name), name


def _service(target: Target) -> ImageService:
    return target.registry.images


async def _run(target: Target, name: str, func, *args, tag: str | None = None):
    try:
        return await blocking(func, *args)
    except e.RegistryError as exc:
        raise _error(target, name, exc, tag) from None


def _error(target: Target, name: str, exc: e.RegistryError,
           tag: str | None = None) -> EcrApiError:
    where = f"the repository with name '{name}' in the registry with id '{target.registry_id_text}'"
    if isinstance(exc, e.NameUnknown):
        return repository_not_found(target, name)
    if isinstance(exc, ImageNotFound):
        i = exc.image_id
        return model_error("ImageNotFoundException", (
            f"The image with imageId {{imageDigest:'{i.digest or 'null'}', imageTag:"
            f"'{i.tag or 'null'}'}} does not exist within {where}"))
    if isinstance(exc, e.TagImmutable):
        return model_error("ImageTagAlreadyExistsException", (
            f"The image tag '{tag}' already exists in the '{name}' repository and cannot be overwritten because the "
            "repository is immutable."))
    if isinstance(exc, ImageExists):
        return model_error("ImageAlreadyExistsException", (
            f"Image with digest '{exc.detail['digest']}' and tag '{exc.detail['tag'] or 'null'}' "
            f"already exists in the repository with name '{name}' in registry with id "
            f"'{target.registry_id_text}'"))
    if isinstance(exc, DigestMismatch):
        return model_error("ImageDigestDoesNotMatchException", (
            f"The image digest '{exc.given}' does not match the digest '{exc.actual}' of the "
            "image manifest"))
    if isinstance(exc, LayersMissing):
        return _missing(exc, where)
    if isinstance(exc, MediaTypeMissing):
        return invalid_parameter(exc.message)
    return invalid_parameter(f"Invalid parameter: {exc.message}")


def _missing(exc: LayersMissing, where: str) -> EcrApiError:
    listed = "[" + ", ".join(exc.digests) + "]"
    if exc.children:
        return model_error("ReferencedImagesNotFoundException", (
            f"Images with digests '{listed}' required for pushing image into {where} do not "
            "exist"))
    return model_error("LayersNotFoundException", (
        f"Layers with digests '{listed}' required for pushing image into {where} do not exist"))


def _ids(raw: list[dict]) -> list[ImageId]:
    return [ImageId(i.get("imageDigest"), i.get("imageTag")) for i in raw]


def _image_id(image_id: ImageId) -> dict:
    return {"imageDigest": image_id.digest, "imageTag": image_id.tag}


def _failure(failure) -> dict:
    return {"imageId": _image_id(failure.image_id), "failureCode": failure.code,
            "failureReason": failure.reason}


def _detail(target: Target, name: str, d: ImageDetail) -> dict:
    return {"registryId": target.registry_id_text, "repositoryName": name,
            "imageDigest": d.digest, "imageTags": d.tags or None,
            # Epoch seconds as they are: what the output wants, without a datetime per image.
            "imageSizeInBytes": d.total_size, "imagePushedAt": d.pushed_at,
            "lastRecordedPullTime": d.last_pulled_at,
            "imageManifestMediaType": d.media_type, "artifactMediaType": d.artifact_type,
            "subjectManifestDigest": d.subject, "imageStatus": "ACTIVE"}


def _limit(call: ApiCall) -> int:
    return call.params.get("maxResults", DEFAULT_PAGE)


OPERATIONS = {
    "ListImages": list_images,
    "DescribeImages": describe_images,
    "BatchGetImage": batch_get_image,
    "PutImage": put_image,
    "BatchDeleteImage": batch_delete_image,
    "ListImageReferrers": list_image_referrers,
}
