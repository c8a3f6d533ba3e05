"""ECR's managed signing operations: the registry's signing configuration
(Put/Get/DeleteSigningConfiguration) and an image's signing status per profile
(DescribeImageSigningStatus). What they mean is berth.signing's."""
from __future__ import annotations

from ...registry.images.service import ImageId
from .access import admit
from .endpoint import ApiCall


def put_signing_configuration(call: ApiCall) -> dict:
    target = admit(call, "ecr:PutSigningConfiguration")
    rules = call.params["signingConfiguration"].get("rules") or []
    config = target.registry.signing.configuration.put(rules)
    return {"signingConfiguration": config.to_json()}


def get_signing_configuration(call: ApiCall) -> dict:
    target = admit(call, "ecr:GetSigningConfiguration")
    config = target.registry.signing.configuration.get()
    return {"registryId": target.registry_id_text, "signingConfiguration": config.to_json()}


def delete_signing_configuration(call: ApiCall) -> dict:
    target = admit(call, "ecr:DeleteSigningConfiguration")
    config = target.registry.signing.configuration.delete()
    return {"registryId": target.registry_id_text, "signingConfiguration": config.to_json()}


def describe_image_signing_status(call: ApiCall) -> dict:
    name = call.params["repositoryName"]
    target = admit(call, "ecr:DescribeImageSigningStatus", name)
    given = call.params["imageId"]
    digest, statuses = target.registry.signing.statuses(
        name, ImageId(given.get("imageDigest"), given.get("imageTag")))
    image_id = {"imageDigest": digest}
    if given.get("imageTag"):
        image_id["imageTag"] = given["imageTag"]
    return {"repositoryName": name, "imageId": image_id, "registryId": target.registry_id_text,
            "signingStatuses": [s.to_json() for s in statuses]}


OPERATIONS = {
    "PutSigningConfiguration": put_signing_configuration,
    "GetSigningConfiguration": get_signing_configuration,
    "DeleteSigningConfiguration": delete_signing_configuration,
    "DescribeImageSigningStatus": describe_image_signing_status,
}
