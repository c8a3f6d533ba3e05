"""The admin operations on storage: RunGarbageCollection (administrator account only: it
sweeps every account's storage, walking the storage too; Skipped if a sweep is running
already) and GetStorageUsage (an account's, or every account's for
the administrator offline)."""
from __future__ import annotations

from ...gc import GarbageCollector
from ...registry.registry import Registry
from ...registry.usage import storage_usage
from .errors import validation_error
from .operations import Params, account_root, operation


@operation("RunGarbageCollection", "berth:RunGarbageCollection", {"DryRun": False}, None,
           storage=True)
def run_garbage_collection(registry: Registry, p: Params) -> dict:
    dry_run = p.get("DryRun", "false").lower()
    if dry_run not in ("true", "false"):
        raise validation_error("DryRun must be true or false")
    collector = GarbageCollector(registry.db, registry.driver, registry.grace_seconds)
    report = collector.sweep(dry_run=dry_run == "true")
    return {"DryRun": report.dry_run, "GraceSeconds": registry.grace_seconds,
            "LinksRemoved": report.links_unlinked, "ObjectsDeleted": report.objects_deleted,
            "BytesFreed": report.bytes_freed, "OrphansFound": report.orphans_found,
            "OrphanBytes": report.orphan_bytes, "OrphanUploads": report.orphan_uploads,
            "Seconds": report.seconds,
            "Skipped": report.skipped}


@operation("GetStorageUsage", "berth:GetStorageUsage", {"AccountId": False}, account_root,
           storage=True)
def get_storage_usage(registry: Registry, p: Params) -> dict:
    return {"Registries": [{
        "AccountId": found.account_id, "Region": found.region,
        "Objects": found.total.objects, "Bytes": found.total.bytes,
        "Repositories": [{"RepositoryName": name, "Objects": usage.objects,
                          "Bytes": usage.bytes}
                         for name, usage in found.repositories.items()]}
        for found in storage_usage(registry.db, p.get("AccountId"))]}
