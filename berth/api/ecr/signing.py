"""ECR's managed signing operations: the registry's signing configuration
(Put/Get/DeleteSigningConfiguration) and an image's signing status per profile
(DescribeImageSigningStatus). What they mean is berth.signing's."""
from __future__ import annotations

from ...concurrency import blocking
from ...registry.images.service import ImageId
from .access import admit
from .endpoint import ApiCall


async def put_signing_configuration(call: ApiCall) -> dict:
    target = await admit(call, "ecr:PutSigningConfiguration")
    rules = call.params["signingConfiguration"].get("rules") or []
    config = await blocking(target.registry.signing.configuration.put, rules)
    return {"signingConfiguration": config.to_json()}


async def get_signing_configuration(call: ApiCall) -> dict:
    target = await admit(call, "ecr:GetSigningConfiguration")
    config = await blocking(target.registry.signing.configuration.get)
    return {"registryId": target.registry_id_text, "signingConfiguration": config.to_json()}


async def delete_signing_configuration(call: ApiCall) -> dict:
    target = await admit(call, "ecr:DeleteSigningConfiguration")
    config = await blocking(target.registry.signing.configuration.delete)
    return {"registryId": target.registry_id_text, "signingConfiguration": config.to_json()}


async def describe_image_signing_status(call: ApiCall) -> dict:
    name = call.params["repositoryName"]
    target = await admit(call, "ecr:DescribeImageSigningStatus", name)
    given = call.params["imageId"]
    digest, statuses = await blocking(target.registry.signing.statuses, name,
                                      ImageId(given.get("imageDigest"), given.get("imageTag")))
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
