"""ECR Public's image and layer operations: the ECR front-end's handlers (the domain the
OCI routes use), and DescribeImageTags."""
from __future__ import annotations

from datetime import datetime, timezone

from ..ecr import images, layers, paging
from ..ecr.access import admit
from ..ecr.endpoint import ApiCall

DEFAULT_PAGE = 100


def describe_image_tags(call: ApiCall) -> dict:
    """Each tag with its image, in the order ListImages has them."""
    name = call.params["repositoryName"]
    target = admit(call, "ecr:DescribeImageTags", name)
    service = target.registry.images
    after = paging.cursor(call, name, "TAGGED", pair=True)
    ids, more = service.list_ids(name, "TAGGED",
                                 tuple(after) if after else None,
                                 call.params.get("maxResults", DEFAULT_PAGE), "ACTIVE")
    details = {d.digest: d for d in service.describe(
        name, [images.ImageId(i.digest, None) for i in {i.digest: i for i in ids}.values()])}
    tagged = service.tagged_at(name, [i.tag for i in ids])
    token = paging.token(call, name, "TAGGED", [ids[-1].digest, ids[-1].tag]) if more else None
    return {"imageTagDetails": [_tag_detail(i.tag, details[i.digest], tagged.get(i.tag))
                                for i in ids], "nextToken": token}


def _tag_detail(tag: str, d, tagged_at: float | None) -> dict:
    pushed = datetime.fromtimestamp(d.pushed_at, timezone.utc)
    created = datetime.fromtimestamp(tagged_at, timezone.utc) if tagged_at else pushed
    return {"imageTag": tag, "createdAt": created,
            "imageDetail": {"imageDigest": d.digest, "imageSizeInBytes": d.total_size,
                            "imagePushedAt": pushed, "imageManifestMediaType": d.media_type,
                            "artifactMediaType": d.artifact_type}}


OPERATIONS = {
    "DescribeImages": images.describe_images,
    "DescribeImageTags": describe_image_tags,
    "PutImage": images.put_image,
    "BatchDeleteImage": images.batch_delete_image,
    "BatchCheckLayerAvailability": layers.batch_check_layer_availability,
    "InitiateLayerUpload": layers.initiate_layer_upload,
    "UploadLayerPart": layers.upload_layer_part,
    "CompleteLayerUpload": layers.complete_layer_upload,
}
