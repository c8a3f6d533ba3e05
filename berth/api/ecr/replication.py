"""ECR's replication operations: PutReplicationConfiguration, DescribeRegistry (which shows the
rules), DescribeImageReplicationStatus and the backfills (berth.replication holds the rules
and the engine)."""
from __future__ import annotations

from ...registry.images.service import ImageId
from ...replication.backfill import Backfill, Backfills
from ...replication.configuration import (
    Configuration,
    Destination,
    ReplicationConfigurations,
    Rule,
)
from . import paging
from .access import Target, admit
from .caller import iam
from .endpoint import ApiCall


def _configurations(target: Target) -> ReplicationConfigurations:
    return target.registry.replication


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


def put_replication_configuration(call: ApiCall) -> dict:
    wanted = _configuration_in(call.params["replicationConfiguration"])
    target = admit(call, "ecr:PutReplicationConfiguration")
    regions = tuple(iam(call.request).tenancy.regions)
    stored = _configurations(target).put(wanted, target.registry_id_text,
                                         target.address.region, regions)
    return {"replicationConfiguration": _configuration_out(stored)}


def describe_registry(call: ApiCall) -> dict:
    target = admit(call, "ecr:DescribeRegistry")
    found = _configurations(target).get()
    return {"registryId": target.registry_id_text,
            "replicationConfiguration": _configuration_out(found)}


def describe_image_replication_status(call: ApiCall) -> dict:
    name, given = call.params["repositoryName"], call.params["imageId"]
    target = admit(call, "ecr:DescribeImageReplicationStatus", name)
    [image] = target.registry.images.describe(
        name, [ImageId(given.get("imageDigest"), given.get("imageTag"))])
    found = _configurations(target).statuses(name, image.digest)
    return {"repositoryName": name, "imageId": given, "replicationStatuses": [
        {"region": region, "registryId": account, "status": status,
         **({"failureCode": failure} if failure else {})}
        for region, account, status, failure in found]}


def _backfill_out(b: Backfill, summary: bool = False) -> dict:
    out = {"replicationBackfillId": b.id, "destination": {
        "region": b.destination.region, "registryId": b.destination.registry_id},
        "status": b.status, "startedAt": b.started_at}
    if summary:
        out["progress"] = {"totalReplicationCount": b.total,
                           "completedReplicationCount": b.completed,
                           "failedReplicationCount": b.failed,
                           "failureCodes": list(b.failure_codes)}
        if b.ended_at is not None:
            out["endedAt"] = b.ended_at
        if b.failure_code:
            out["failureCode"] = b.failure_code
    return out


def start_replication_backfill(call: ApiCall) -> dict:
    given = call.params["destination"]
    target = admit(call, "ecr:StartReplicationBackfill")
    made = Backfills(target.registry).start(Destination(given["region"], given["registryId"]))
    return {"registryId": target.registry_id_text, **_backfill_out(made)}


def stop_replication_backfill(call: ApiCall) -> dict:
    target = admit(call, "ecr:StopReplicationBackfill")
    stopped = Backfills(target.registry).stop(call.params["replicationBackfillId"])
    return {"registryId": target.registry_id_text, **_backfill_out(stopped)}


def list_replication_backfills(call: ApiCall) -> dict:
    target = admit(call, "ecr:ListReplicationBackfills")
    scope = target.registry_id_text
    after = paging.cursor(call, "", scope)
    found = Backfills(target.registry).list()
    start = 0 if after is None else next(
        (i + 1 for i, b in enumerate(found) if b.id == after), len(found))
    limit = call.params.get("maxResults", 50)
    page = found[start:start + limit]
    answer = {"registryId": scope, "backfills": [_backfill_out(b, True) for b in page]}
    if start + limit < len(found):
        answer["nextToken"] = paging.token(call, "", scope, page[-1].id)
    return answer


def describe_replication_backfill_results(call: ApiCall) -> dict:
    p = call.params
    target = admit(call, "ecr:DescribeReplicationBackfillResults")
    backfills = Backfills(target.registry)
    found = backfills.get(p["replicationBackfillId"])
    scope = f"{found.id}:{p.get('resultStatusFilter') or ''}"
    after = int(paging.cursor(call, "", scope) or 0)
    limit = p.get("maxResults", 1000)
    rows = backfills.results(found, p.get("resultStatusFilter"), after, limit)
    answer = {"registryId": target.registry_id_text, **_backfill_out(found, True),
              "results": [{"repositoryName": r.repository,
                           "imageId": {"imageDigest": r.digest,
                                       **({"imageTag": r.tag} if r.tag else {})},
                           "status": r.status,
                           **({"failureCode": r.failure_code} if r.failure_code else {})}
                          for r in rows[:limit]]}
    if len(rows) > limit:
        answer["nextToken"] = paging.token(call, "", scope, str(rows[limit - 1].id))
    return answer


OPERATIONS = {
    "PutReplicationConfiguration": put_replication_configuration,
    "DescribeRegistry": describe_registry,
    "DescribeImageReplicationStatus": describe_image_replication_status,
    "StartReplicationBackfill": start_replication_backfill,
    "StopReplicationBackfill": stop_replication_backfill,
    "ListReplicationBackfills": list_replication_backfills,
    "DescribeReplicationBackfillResults": describe_replication_backfill_results,
}
