"""ECR image operations: ListImages, DescribeImages, BatchGetImage, PutImage,
BatchDeleteImage, ListImageReferrers -- over the domain the OCI routes use."""
from __future__ import annotations

import json

from ...registry import errors as e
from ...registry.images.service import ImageDetail, ImageId, ImageService
from ...registry.references import Digest
from . import paging
from .access import Target, admit
from .endpoint import ApiCall
from .errors import invalid_parameter

DEFAULT_PAGE = 100


def list_images(call: ApiCall) -> dict:
    target, name = _admit(call)
    status, image_status = _filter(call)
    scope = f"{status}/{image_status}"
    after = paging.cursor(call, name, scope, pair=True)
    ids, more = _service(target).list_ids(name, status, tuple(after) if after else None,
                                          _limit(call), image_status)
    token = paging.token(call, name, scope, [ids[-1].digest, ids[-1].tag or ""]) if more else None
    return {"imageIds": [_image_id(i) for i in ids], "nextToken": token}


def describe_images(call: ApiCall) -> dict:
    target, name = _admit(call)
    service = _service(target)
    ids = call.params.get("imageIds")
    if ids:
        if "maxResults" in call.params or "nextToken" in call.params:
            raise invalid_parameter("maxResults and nextToken cannot be used with imageIds")
        details, token = service.describe(name, _ids(ids)), None
    else:
        status, image_status = _filter(call)
        scope = f"{status}/{image_status}"
        details, more = service.describe_page(name, status,
                                              paging.cursor(call, name, scope), _limit(call),
                                              image_status)
        token = paging.token(call, name, scope, details[-1].digest) if more else None
    scans = target.registry.scanning.summaries(name, [d.digest for d in details])
    return {"imageDetails": [_detail(target, name, d, scans.get(d.digest)) for d in details],
            "nextToken": token}


def batch_get_image(call: ApiCall) -> dict:
    target, name = _admit(call)
    images, failures = _service(target).batch_get(
        name, _ids(call.params["imageIds"]), call.params.get("acceptedMediaTypes"),
        call.caller.identity.principal.arn)
    return {"images": [{"registryId": target.registry_id_text, "repositoryName": name,
                        "imageId": _image_id(i), "imageManifest": content.decode("utf-8"),
                        "imageManifestMediaType": media_type}
                       for i, media_type, content in images],
            "failures": [_failure(f) for f in failures]}


def put_image(call: ApiCall) -> dict:
    target, name = _admit(call)
    p = call.params
    digest, media_type = _service(target).put(
        name, p["imageManifest"].encode("utf-8"),
        p.get("imageManifestMediaType"), p.get("imageTag"), p.get("imageDigest"),
        call.caller.identity.access_key_id)
    return {"image": {"registryId": target.registry_id_text, "repositoryName": name,
                      "imageId": {"imageDigest": digest, "imageTag": p.get("imageTag")},
                      "imageManifest": p["imageManifest"],
                      "imageManifestMediaType": media_type}}


def batch_delete_image(call: ApiCall) -> dict:
    target, name = _admit(call)
    deleted, failures = _service(target).batch_delete(name,
                                   _ids(call.params["imageIds"]))
    return {"imageIds": [_image_id(i) for i in deleted],
            "failures": [_failure(f) for f in failures]}


def list_image_referrers(call: ApiCall) -> dict:
    target, name = _admit(call)
    subject = call.params["subjectId"]["imageDigest"]
    try:
        subject = str(Digest.parse(subject))
    except e.DigestInvalid:
        raise invalid_parameter(f"Invalid parameter at 'subjectId.imageDigest': {subject!r} is "
                                "not a valid digest") from None
    given = call.params.get("filter") or {}
    types, status = given.get("artifactTypes") or [], given.get("artifactStatus", "ACTIVE")
    scope = f"{subject}/{status}"
    after = paging.cursor(call, name, scope)
    page, more = _service(target).referrers(name, subject, types,
                                            after, call.params.get("maxResults", 50), status)
    token = paging.token(call, name, scope, page[-1].digest) if more else None
    return {"referrers": [{"digest": r.digest, "mediaType": r.media_type,
                           "artifactType": r.artifact_type, "size": r.size,
                           "annotations": json.loads(r.annotations) if r.annotations else None,
                           "artifactStatus": r.image_status} for r in page],
            "nextToken": token}


# -- shared -----------------------------------------------------------------------------------
def _admit(call: ApiCall) -> tuple[Target, str]:
    name = call.params["repositoryName"]
    return admit(call, f"ecr:{call.operation}", name), name


def _service(target: Target) -> ImageService:
    return target.registry.images


def _ids(raw: list[dict]) -> list[ImageId]:
    return [ImageId(i.get("imageDigest"), i.get("imageTag")) for i in raw]


def _image_id(image_id: ImageId) -> dict:
    return {"imageDigest": image_id.digest, "imageTag": image_id.tag}


def _failure(failure) -> dict:
    return {"imageId": _image_id(failure.image_id), "failureCode": failure.code,
            "failureReason": failure.reason}


def _detail(target: Target, name: str, d: ImageDetail, scan=None) -> dict:
    found = {"registryId": target.registry_id_text, "repositoryName": name,
            "imageDigest": d.digest, "imageTags": d.tags or None,
            # Epoch seconds as they are: what the output wants, without a datetime per image.
            "imageSizeInBytes": d.total_size, "imagePushedAt": d.pushed_at,
            "lastRecordedPullTime": d.last_pulled_at,
            "imageManifestMediaType": d.media_type, "artifactMediaType": d.artifact_type,
            "subjectManifestDigest": d.subject, "imageStatus": d.status,
            "lastArchivedAt": d.last_archived_at, "lastActivatedAt": d.last_activated_at}
    if scan is not None:
        found["imageScanStatus"] = {"status": scan.status, "description": scan.description}
        if scan.has_findings:
            found["imageScanFindingsSummary"] = {
                "imageScanCompletedAt": scan.completed_at,
                "vulnerabilitySourceUpdatedAt": scan.source_updated_at,
                "findingSeverityCounts": scan.counts}
    return found


def _filter(call: ApiCall) -> tuple[str, str]:
    """(tag status, image status): ANY, and ACTIVE images only, unless the filter says."""
    given = call.params.get("filter") or {}
    return given.get("tagStatus", "ANY"), given.get("imageStatus", "ACTIVE")


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
