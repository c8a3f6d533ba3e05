"""The admin operations on usage and cost: GetUsageReport (an account's, authorized like
GetStorageUsage; every account's offline) and RecordUsageSample (the administrator account's:
take today's storage sample now, as the daily job does)."""
from __future__ import annotations

from ...registry.registry import Registry
from ...usage.report import Pricing, UsageReportError, parse_day, usage_report
from ...usage.sampling import sample_storage
from .errors import validation_error
from .operations import Params, account_root, operation


def pricing_of(registry: Registry) -> Pricing:
    """The deployment's prices, which the app factory sets on its registry (none: no cost)."""
    return getattr(registry, "usage_pricing", None) or Pricing()


@operation("GetUsageReport", "berth:GetUsageReport",
           {"AccountId": False, "From": True, "To": True, "GroupBy": False}, account_root,
           storage=True)
def get_usage_report(registry: Registry, p: Params) -> dict:
    try:
        return usage_report(registry.db, parse_day(p["From"], "From"), parse_day(p["To"], "To"),
                            p.get("GroupBy", "repository"), p.get("AccountId"),
                            pricing_of(registry))
    except UsageReportError as exc:
        raise validation_error(str(exc)) from None


@operation("RecordUsageSample", "berth:RecordUsageSample", {}, None, storage=True)
def record_usage_sample(registry: Registry, p: Params) -> dict:
    return {"Repositories": sample_storage(registry.db)}
