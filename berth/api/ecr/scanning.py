"""ECR's scanning operations: StartImageScan, DescribeImageScanFindings, and the registry's
scanning configuration (Put/GetRegistryScanningConfiguration,
BatchGetRepositoryScanningConfiguration). Scans, their findings and the configuration's
meaning are berth.scanning's."""
from __future__ import annotations

from ...registry.images.service import ImageId
from ...scanning.configuration import RepositoryScanning
from . import paging, scan_findings
from .access import Target, admit
from .endpoint import ApiCall

FINDINGS_PAGE = 100


def _asked(call: ApiCall) -> ImageId:
    given = call.params["imageId"]
    return ImageId(given.get("imageDigest"), given.get("imageTag"))


def _image_id(call: ApiCall, digest: str) -> dict:
    given = call.params["imageId"]
    return {"imageDigest": digest, "imageTag": given.get("imageTag")}


def start_image_scan(call: ApiCall) -> dict:
    name = call.params["repositoryName"]
    target = admit(call, "ecr:StartImageScan", name)
    digest = target.registry.scanning.start(name, _asked(call))
    return {"registryId": target.registry_id_text, "repositoryName": name,
            "imageId": _image_id(call, digest), "imageScanStatus": {"status": "IN_PROGRESS"}}


def describe_image_scan_findings(call: ApiCall) -> dict:
    name = call.params["repositoryName"]
    target = admit(call, "ecr:DescribeImageScanFindings", name)
    service = target.registry.scanning
    repo_id, state = service.result(name, _asked(call))
    answer = {"registryId": target.registry_id_text, "repositoryName": name,
              "imageId": _image_id(call, state.digest),
              "imageScanStatus": _status(state)}
    if not state.has_findings:
        return answer
    after = paging.cursor(call, name, state.digest) or ""
    limit = call.params.get("maxResults", FINDINGS_PAGE)
    rows = service.findings(repo_id, state.digest, after, limit + 1)
    findings = {"imageScanCompletedAt": state.completed_at,
                "vulnerabilitySourceUpdatedAt": state.source_updated_at,
                "findingSeverityCounts": state.counts}
    if state.scan_type == "ENHANCED":
        detail = (target.registry.images.describe(name,
                                                  [ImageId(state.digest, None)]))[0]
        findings["enhancedFindings"] = [
            scan_findings.enhanced(target, name, state.digest, detail.tags, detail.pushed_at, r)
            for r in rows[:limit]]
    else:
        findings["findings"] = [scan_findings.basic(r) for r in rows[:limit]]
    answer["imageScanFindings"] = findings
    if len(rows) > limit:
        answer["nextToken"] = paging.token(call, name, state.digest, rows[limit - 1].key)
    return answer


def _status(state) -> dict:
    status = {"status": state.status}
    if state.description:
        status["description"] = state.description
    return status


def put_registry_scanning_configuration(call: ApiCall) -> dict:
    target = admit(call, "ecr:PutRegistryScanningConfiguration")
    config = target.registry.scanning.configuration.put(
        call.params.get("scanType", "BASIC"), call.params.get("rules") or [])
    return {"registryScanningConfiguration": config.to_json()}


def get_registry_scanning_configuration(call: ApiCall) -> dict:
    target = admit(call, "ecr:GetRegistryScanningConfiguration")
    config = target.registry.scanning.configuration.get()
    return {"registryId": target.registry_id_text, "scanningConfiguration": config.to_json()}


def batch_get_repository_scanning_configuration(call: ApiCall) -> dict:
    names = call.params["repositoryNames"]
    # The action's resource is each repository (as IAM evaluates it): all of them or none.
    for name in names:
        target = admit(call, "ecr:BatchGetRepositoryScanningConfiguration", name)
    found, missing = target.registry.scanning.repositories(names)
    return {"scanningConfigurations": [_repository(target, n, s) for n, s in found],
            "failures": [{"repositoryName": n, "failureCode": "REPOSITORY_NOT_FOUND",
                          "failureReason": "REPOSITORY_NOT_FOUND"} for n in missing]}


def _repository(target: Target, name: str, scanning: RepositoryScanning) -> dict:
    return {"repositoryArn": target.address.repository_arn(name), "repositoryName": name,
            "scanOnPush": scanning.scan_on_push, "scanFrequency": scanning.frequency,
            "appliedScanFilters": [dict(f) for f in scanning.filters]}


OPERATIONS = {
    "StartImageScan": start_image_scan,
    "DescribeImageScanFindings": describe_image_scan_findings,
    "PutRegistryScanningConfiguration": put_registry_scanning_configuration,
    "GetRegistryScanningConfiguration": get_registry_scanning_configuration,
    "BatchGetRepositoryScanningConfiguration": batch_get_repository_scanning_configuration,
}
