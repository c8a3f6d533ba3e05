"""The console's usage page: the account's storage (standard and archive) and transfer by
repository, or by the value of a resource tag (cost allocation), over the last days, with a
bar chart drawn on the server (SVG: no script). The numbers are Berth's usage report
(GetUsageReport), authorized as the admin API authorizes it."""
from __future__ import annotations

from datetime import date, timedelta

from starlette.requests import Request
from starlette.responses import Response

from ..web.pages import page
from .calls import ConsoleError, admin_call, region_of
from .session import signed_in

PERIODS = (7, 30, 90)
BAR_WIDTH = 600  # pixels of the longest bar


def _bars(groups: list[dict], days: int) -> list[dict]:
    """Each group's label, figures and bar lengths (standard and archive storage side by
    side on one scale, transfer out on its own)."""
    top_storage = max((g["StorageByteDays"] + g["ArchiveStorageByteDays"] for g in groups),
                      default=0) or 1
    top_out = max((g["BytesTransferredOutside"] for g in groups), default=0) or 1
    return [{"label": g.get("RepositoryName") or g["Group"], "gb_months": g["GbMonths"],
             "average_bytes": g["StorageByteDays"] // days,
             "archive_gb_months": g["ArchiveGbMonths"],
             "archive_average_bytes": g["ArchiveStorageByteDays"] // days,
             "bytes_out": g["BytesTransferredOutside"], "cost": g.get("Cost"),
             "storage_px": round(BAR_WIDTH * g["StorageByteDays"] / top_storage),
             "archive_px": round(BAR_WIDTH * g["ArchiveStorageByteDays"] / top_storage),
             "out_px": round(BAR_WIDTH * g["BytesTransferredOutside"] / top_out)}
            for g in groups]


@signed_in
async def usage(request: Request) -> Response:
    days = request.query_params.get("days", "30")
    days = int(days) if days.isdigit() and int(days) in PERIODS else 30
    tag = request.query_params.get("tag", "").strip()[:128]
    last = date.today()
    context = {"session": request.state.console, "region": region_of(request),
               "regions": request.app.state.iam.tenancy.regions, "days": days, "tag": tag,
               "periods": PERIODS}
    try:
        report = await admin_call(request, "GetUsageReport", {
            "From": (last - timedelta(days=days - 1)).isoformat(), "To": last.isoformat(),
            "GroupBy": f"tag:{tag}" if tag else "repository"})
    except ConsoleError as exc:
        return page("console/error.html", 403, **context, message=exc.message)
    return page("console/usage.html", **context, report=report,
                bars=_bars(report["Groups"], days))
