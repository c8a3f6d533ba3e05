"""Quota values and checks. A quota's value is the account's override, else the deployment's,
else ECR's default; the checks run inside the transaction that would go past it, so that
nothing past a quota is ever stored (the transaction ends without a write)."""
from __future__ import annotations

import threading
import time
import weakref
import zlib

from ..storage.metadata import quotas as rows
from ..storage.metadata import registries as registry_rows
from ..storage.metadata import tags as tag_rows
from ..storage.metadata.database import Database, Tx
from ..storage.metadata.generation_cache import GenerationCache, cached
from .models import QUOTAS, QuotaExceeded, QuotaInvalid

GENERATION = "quotas"  # bumped by every override: processes re-read the values they cache
QUOTA_LOCK = 0x71756F74 << 32  # "quot": the advisory locks of counts checked against quotas
NEAR = 64  # images short of the quota from which concurrent pushes are serialised
DEPLOYMENT = rows.DEPLOYMENT


# The values and a registry's account, kept per database while its quotas generation stands
# still (one indexed read per check instead of three): an override made on any node counts
# at once.
_CACHES: "weakref.WeakKeyDictionary[Database, GenerationCache]" = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def _entries(tx: Tx) -> dict:
    with _LOCK:
        cache = _CACHES.get(tx.database)
        if cache is None:
            cache = _CACHES[tx.database] = GenerationCache(GENERATION)
    return cache.entries(tx)


def values(tx: Tx, account_id: str) -> dict[str, int]:
    """Every quota's value for the account: its override, the deployment's, or the default."""
    return cached(_entries(tx), ("values", account_id), lambda: _load(tx, account_id))


def _load(tx: Tx, account_id: str) -> dict[str, int]:
    found = {(scope, name): v for scope, name, v in rows.overrides(tx, account_id)}
    return {name: found.get((account_id, name), found.get((DEPLOYMENT, name), quota.default))
            for name, quota in QUOTAS.items()}


def registry_values(tx: Tx, registry_id: int) -> tuple[str, dict[str, int]]:
    """The registry's account and its quota values."""
    entries = _entries(tx)
    account = cached(entries, ("account", registry_id),
                     lambda: rows.registry_account(tx, registry_id))
    return account, cached(entries, ("values", account), lambda: _load(tx, account))


def registry_value(tx: Tx, registry_id: int, name: str) -> int:
    """One of the registry's quota values (``name`` one of QUOTAS)."""
    return registry_values(tx, registry_id)[1][name]


def _serialise(tx: Tx, kind: str, key) -> None:
    """Wait for other transactions counting the same thing (PostgreSQL: concurrent writers
    would each count without the other's row; SQLite's writes are serial already)."""
    tx.serialise(QUOTA_LOCK + zlib.crc32(f"{kind}:{key}".encode()))


def check_repositories(tx: Tx, registry_id: int) -> None:
    """Before a repository is made in the registry."""
    account, limits = registry_values(tx, registry_id)
    limit = limits["RegisteredRepositories"]
    _serialise(tx, "repositories", registry_id)
    if rows.count_repositories(tx, registry_id, limit) >= limit:
        raise QuotaExceeded(f"The repository quota of the registry with id '{account}' "
                            f"({limit} repositories) has been reached", "RegisteredRepositories")


def check_images(tx: Tx, registry_id: int, repo_id: int, repository: str) -> None:
    """After an image was added to the repository, in the same transaction."""
    limit = registry_value(tx, registry_id, "ImagesPerRepository")
    if rows.count_images(tx, repo_id, limit + 1) + NEAR <= limit:
        return  # far from it: concurrent pushes cannot pass it together
    _serialise(tx, "images", repo_id)
    if rows.count_images(tx, repo_id, limit + 1) > limit:
        raise QuotaExceeded(f"The repository '{repository}' has reached its image quota "
                            f"({limit} images): delete images, or raise the quota",
                            "ImagesPerRepository")


def check_tags(tx: Tx, registry_id: int, repo_id: int, repository: str, digest: str) -> None:
    """After a tag was put on the image, in the same transaction."""
    limit = registry_value(tx, registry_id, "TagsPerImage")
    if not limit or tag_rows.count_for(tx, repo_id, digest) + NEAR <= limit:
        return  # far from it: concurrent tag pushes cannot pass it together
    _serialise(tx, "tags", f"{repo_id}:{digest}")
    if tag_rows.count_for(tx, repo_id, digest) > limit:
        raise QuotaExceeded(f"The image {digest} in the repository '{repository}' has reached "
                            f"its tag quota ({limit} tags): untag it, or raise the quota",
                            "TagsPerImage")


def check_parts(tx: Tx, registry_id: int, parts: int) -> None:
    """Before an ECR API layer part is added (``parts``: the upload's count with it)."""
    limit = registry_value(tx, registry_id, "LayerParts")
    if parts > limit:
        raise QuotaExceeded(f"The upload has reached its layer part quota ({limit} parts)",
                            "LayerParts")


def check_layer_size(tx: Tx, registry_id: int, size: int) -> None:
    limit = registry_value(tx, registry_id, "MaximumLayerSizeMiB")
    if size > limit * 1024 * 1024:
        raise QuotaExceeded(f"The layer is {size} bytes, past the layer size quota of "
                            f"{limit} MiB", "MaximumLayerSizeMiB")


class QuotaService:
    def __init__(self, db: Database):
        self.db = db

    def put(self, scope: str, name: str, new_value: int) -> None:
        """``scope``: an account id, or "*" for the whole deployment."""
        if name not in QUOTAS:
            raise QuotaInvalid(f"There is no quota named {name!r}: {', '.join(QUOTAS)}")
        if not isinstance(new_value, int) or not 0 <= new_value < 2 ** 63:
            raise QuotaInvalid(f"A quota's value is a whole number, not {new_value!r}")
        with self.db.write() as tx:
            rows.put(tx, scope, name, new_value, time.time())
            registry_rows.bump(tx, GENERATION)

    def delete(self, scope: str, name: str) -> bool:
        with self.db.write() as tx:
            removed = rows.remove(tx, scope, name)
            registry_rows.bump(tx, GENERATION)
        return removed

    def effective(self, account_id: str) -> list[dict]:
        """Every quota's value for the account, and where it comes from."""
        with self.db.read() as tx:
            found = {(scope, name): v for scope, name, v in
                     rows.overrides(tx, account_id)}
        shown = []
        for name, quota in QUOTAS.items():
            for scope, source in ((account_id, "account"), (DEPLOYMENT, "deployment")):
                if (scope, name) in found:
                    shown.append({"QuotaName": name, "Value": found[scope, name],
                                  "Source": source, "Default": quota.default})
                    break
            else:
                shown.append({"QuotaName": name, "Value": quota.default, "Source": "default",
                              "Default": quota.default})
        return shown


def check_storage(tx: Tx, registry_id: int, repo_id: int, repository: str) -> None:
    """After a blob was linked into the repository, in the same transaction: the storage
    quotas (bytes, each object once, as GetStorageUsage counts; 0: none) of the repository
    and of the account."""
    account, limits = registry_values(tx, registry_id)
    per_repository, per_account = limits["StorageBytesPerRepository"], \
        limits["StorageBytesPerAccount"]
    if per_repository:
        _serialise(tx, "repository-bytes", repo_id)
    if per_account:
        _serialise(tx, "account-bytes", account)
    if per_repository and rows.repository_bytes(tx, repo_id) > per_repository:
        raise QuotaExceeded(f"Storing this blob would take the repository '{repository}' past "
                            f"its storage quota of {per_repository} bytes",
                            "StorageBytesPerRepository")
    if per_account and rows.account_bytes(tx, account) > per_account:
        raise QuotaExceeded(f"Storing this blob would take the account {account} past its "
                            f"storage quota of {per_account} bytes", "StorageBytesPerAccount")
