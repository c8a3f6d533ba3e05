"""The admin operations on usage and cost: GetUsageReport (an account's, authorized like
GetStorageUsage; every account's offline) and RecordUsageSample (the administrator account's:
take today's storage sample now, as the daily job does)."""
from __future__ import annotations

from ...registry.registry import Registry
from ...usage.report import UsageReportError, parse_day
from .errors import validation_error
from .operations import Params, account_root, operation


@operation("GetUsageReport", "berth:GetUsageReport",
           {"AccountId": False, "From": True, "To": True, "GroupBy": False}, account_root,
           storage=True)
def get_usage_report(registry: Registry, p: Params) -> dict:
    try:
        return registry.usage_report(parse_day(p["From"], "From"), parse_day(p["To"], "To"),
                                     p.get("GroupBy", "repository"), p.get("AccountId"))
    except UsageReportError as exc:
        raise validation_error(str(exc)) from None


@operation("RecordUsageSample", "berth:RecordUsageSample", {}, None, storage=True)
def record_usage_sample(registry: Registry, p: Params) -> dict:
    return {"Repositories": registry.sample_storage()}
