"""The admin operations on lifecycle policies (administrator account only): RunLifecyclePolicies
(one repository's policy now, or every policy that is due) and PreviewLifecyclePolicy (what a
repository's policy, or a given one, would do on a date: now or in the future)."""
from __future__ import annotations

import time
from datetime import datetime, timezone

from ...lifecycle.run import RunReport
from ...registry.registry import Registry
from .errors import validation_error
from .operations import Params, operation
from .registries import WHERE, registry_of
from .shapes import timestamp

def _as_of(text: str | None) -> float:
    if text is None:
        return time.time()
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise validation_error(f"AsOf {text!r} is not a date (YYYY-MM-DD or ISO 8601)") from None
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()


def _report(report: RunReport) -> dict:
    return {"RepositoryName": report.repository, "Expired": report.expired,
            "Transitioned": report.transitioned, "ManifestsDeleted": report.deleted,
            "Changed": report.changed}


@operation("RunLifecyclePolicies", "berth:RunLifecyclePolicies",
           {**WHERE, "RepositoryName": False}, None, storage=True)
def run_lifecycle_policies(registry: Registry, p: Params) -> dict:
    if "RepositoryName" in p:
        reports = [registry_of(registry, p).lifecycle.run(p["RepositoryName"])]
    else:  # every policy, whichever registry, that has not run since now
        reports = registry.run_due_lifecycle_policies(0.0)
    return {"Repositories": [_report(r) for r in reports]}


@operation("PreviewLifecyclePolicy", "berth:PreviewLifecyclePolicy",
           {**WHERE, "RepositoryName": True, "AsOf": False, "LifecyclePolicyText": False},
           None, storage=True)
def preview_lifecycle_policy(registry: Registry, p: Params) -> dict:
    as_of = _as_of(p.get("AsOf"))
    text, verdicts = registry_of(registry, p).lifecycle.evaluate(
        p["RepositoryName"], p.get("LifecyclePolicyText"), as_of)
    results = [{"ImageDigest": v.image.digest, "ImageTags": list(v.image.tags),
                "ImagePushedAt": timestamp(v.image.pushed_at), "Action": v.action.upper(),
                "AppliedRulePriority": v.rule.priority,
                "StorageClass": v.image.storage_class.upper()} for v in verdicts]
    return {"RepositoryName": p["RepositoryName"], "AsOf": timestamp(as_of),
            "LifecyclePolicyText": text, "Results": results,
            "ExpiringImageTotalCount": sum(r["Action"] == "EXPIRE" for r in results),
            "TransitioningImageTotalCount": sum(r["Action"] == "TRANSITION" for r in results)}
