"""The admin operations on storage: garbage collection (administrator account only: it
sweeps every account's storage, walking the storage too; Skipped if a sweep is running
already), in one request (RunGarbageCollection) or, for a store too large to sweep within a
client's timeout, started as a job (StartGarbageCollection) and asked about until it is done
(GetGarbageCollection); and GetStorageUsage (an account's, or every account's for the
administrator offline)."""
from __future__ import annotations

from ...gc import Report, Run, collector_for, runs_for
from ...gc.runs import RETENTION_DAYS
from ...registry.registry import Registry
from .errors import AdminError, validation_error
from .operations import Params, account_root, operation
from .shapes import timestamp


@operation("RunGarbageCollection", "berth:RunGarbageCollection", {"DryRun": False}, None,
           storage=True)
def run_garbage_collection(registry: Registry, p: Params) -> dict:
    return _report(collector_for(registry).sweep(dry_run=_dry_run(p)))


@operation("StartGarbageCollection", "berth:StartGarbageCollection", {"DryRun": False}, None,
           storage=True)
def start_garbage_collection(registry: Registry, p: Params) -> dict:
    return _run(runs_for(registry).start(_dry_run(p)))


@operation("GetGarbageCollection", "berth:GetGarbageCollection",
           {"GarbageCollectionId": True}, None, storage=True)
def get_garbage_collection(registry: Registry, p: Params) -> dict:
    found = runs_for(registry).get(p["GarbageCollectionId"])
    if found is None:
        raise AdminError("ResourceNotFoundException", "no garbage collection "
                         f"{p['GarbageCollectionId']!r} (runs are kept {RETENTION_DAYS} "
                         "days)", 404)
    return _run(found)


def _report(found: Report) -> dict:
    """What a sweep did (or, dry, would do)."""
    return {"DryRun": found.dry_run, "GraceSeconds": found.grace_seconds,
            "LinksRemoved": found.links_unlinked, "ObjectsDeleted": found.objects_deleted,
            "BytesFreed": found.bytes_freed, "OrphansFound": found.orphans_found,
            "OrphanBytes": found.orphan_bytes, "OrphanUploads": found.orphan_uploads,
            "Seconds": found.seconds, "Skipped": found.skipped}


def _run(found: Run) -> dict:
    """A started run: the same keys every time, its report once COMPLETE."""
    return {"GarbageCollectionId": found.id, "Status": found.status, "DryRun": found.dry_run,
            "RequestedAt": timestamp(found.requested_at),
            "FinishedAt": None if found.finished_at is None else timestamp(found.finished_at),
            "FailureReason": found.failure,
            "Report": None if found.report is None else _report(found.report)}


def _dry_run(p: Params) -> bool:
    dry_run = p.get("DryRun", "false").lower()
    if dry_run not in ("true", "false"):
        raise validation_error("DryRun must be true or false")
    return dry_run == "true"


@operation("GetStorageUsage", "berth:GetStorageUsage", {"AccountId": False}, account_root,
           storage=True)
def get_storage_usage(registry: Registry, p: Params) -> dict:
    return {"Registries": [{
        "AccountId": found.account_id, "Region": found.region,
        "Objects": found.total.objects, "Bytes": found.total.bytes,
        "Repositories": [{"RepositoryName": name, "Objects": usage.objects,
                          "Bytes": usage.bytes}
                         for name, usage in found.repositories.items()]}
        for found in registry.storage_usage(p.get("AccountId"))]}
