"""ECR's replication operations: PutReplicationConfiguration, and DescribeRegistry, which shows
the configuration (berth.replication holds the rules and, as it lands, the engine)."""
from __future__ import annotations

from ...concurrency import blocking
from ...registry.images.service import ImageId
from ...replication.configuration import (
    Configuration,
    Destination,
    ReplicationConfigurations,
    Rule,
    statuses,
)
from .access import Target, admit
from .caller import iam
from .endpoint import ApiCall


def _configurations(target: Target) -> ReplicationConfigurations:
    return ReplicationConfigurations(target.registry.db, target.registry_id)


def _configuration_in(given: dict) -> Configuration:
    return Configuration(tuple(
        Rule(tuple(Destination(d["region"], d["registryId"]) for d in rule["destinations"]),
             tuple(f["filter"] for f in rule.get("repositoryFilters") or ()),
             (rule.get("deleteReplication") or {}).get("enabled"))
        for rule in given["rules"]))


def _configuration_out(configuration: Configuration) -> dict:
    rules = []
    for rule in configuration.rules:
        out: dict = {"destinations": [{"region": d.region, "registryId": d.registry_id}
                                      for d in rule.destinations]}
        if rule.prefixes:
            out["repositoryFilters"] = [{"filter": p, "filterType": "PREFIX_MATCH"}
                                        for p in rule.prefixes]
        if rule.delete_replication is not None:
            out["deleteReplication"] = {"enabled": rule.delete_replication}
        rules.append(out)
    return {"rules": rules}


async def put_replication_configuration(call: ApiCall) -> dict:
    wanted = _configuration_in(call.params["replicationConfiguration"])
    target = await admit(call, "ecr:PutReplicationConfiguration")
    regions = tuple(iam(call.request).tenancy.regions)
    stored = await blocking(_configurations(target).put, wanted, target.registry_id_text,
                            target.address.region, regions)
    return {"replicationConfiguration": _configuration_out(stored)}


async def describe_registry(call: ApiCall) -> dict:
    target = await admit(call, "ecr:DescribeRegistry")
    found = await blocking(_configurations(target).get)
    return {"registryId": target.registry_id_text,
            "replicationConfiguration": _configuration_out(found)}


async def describe_image_replication_status(call: ApiCall) -> dict:
    name, given = call.params["repositoryName"], call.params["imageId"]
    target = await admit(call, "ecr:DescribeImageReplicationStatus", name)
    [image] = await blocking(target.registry.images.describe, name,
                             [ImageId(given.get("imageDigest"), given.get("imageTag"))])
    found = await blocking(statuses, target.registry.db, target.registry_id, name,
                           image.digest)
    return {"repositoryName": name, "imageId": given, "replicationStatuses": [
        {"region": region, "registryId": account, "status": status,
         **({"failureCode": failure} if failure else {})}
        for region, account, status, failure in found]}


OPERATIONS = {
    "PutReplicationConfiguration": put_replication_configuration,
    "DescribeRegistry": describe_registry,
    "DescribeImageReplicationStatus": describe_image_replication_status,
}
