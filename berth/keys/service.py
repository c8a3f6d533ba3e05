"""Managing customer keys: create, list, describe, disable, enable and rotate, per account and
region; and finding the key a repository names. Every change bumps the "keys" generation in
its own transaction, which is how every node's key store learns of it."""
from __future__ import annotations

import contextlib
import uuid

from ..storage.metadata import identities as identity_rows
from ..storage.metadata import keys as rows
from ..storage.metadata.database import Database, Tx
from .master import MasterKey
from .material import add_version
from .models import (
    MANAGED_ALIAS,
    Key,
    KeyNotFound,
    KeyServiceError,
    KeySpec,
    KeyUnsupported,
    parse_key_spec,
)

MAX_DESCRIPTION = 8192  # what KMS allows


class KeyService:
    def __init__(self, db: Database, master: MasterKey):
        self.db = db
        self.master = master

    def create(self, account_id: str, region: str, description: str = "") -> Key:
        if len(description) > MAX_DESCRIPTION:
            raise KeyServiceError(f"The description is longer than {MAX_DESCRIPTION} "
                                  "characters")
        with self.db.write() as tx:
            if identity_rows.find_account(tx, "id", account_id) is None:
                raise KeyNotFound(f"Account {account_id} does not exist")
            return self._create(tx, account_id, region, None, description)

    def _create(self, tx: Tx, account_id: str, region: str, alias: str | None,
                description: str) -> Key:
        key_id = str(uuid.uuid4())
        rows.insert_key(tx, key_id, account_id, region, alias, description)
        add_version(tx, self.master, key_id, 1)
        rows.bump_keys(tx)
        return Key.from_row(rows.key(tx, key_id))

    def list(self, account_id: str, region: str | None = None) -> list[Key]:
        with self.db.read() as tx:
            return [Key.from_row(row) for row in rows.keys_of(tx, account_id, region)]

    def describe(self, account_id: str, region: str, key: str) -> Key:
        with self.db.read() as tx:
            return self.find(tx, parse_key_spec(key, account_id, region))

    def set_enabled(self, account_id: str, region: str, key: str, enabled: bool) -> Key:
        """Disabling makes the data under the key unreadable (on every node, from its next
        use of the key) until it is enabled again."""
        with self.db.write() as tx:
            found = self.find(tx, parse_key_spec(key, account_id, region))
            if found.managed:
                raise KeyUnsupported(f"{found.arn} is an AWS managed key: it cannot be "
                                     f"{'enabled' if enabled else 'disabled'}")
            rows.set_enabled(tx, found.id, enabled)
            rows.bump_keys(tx)
            return Key.from_row(rows.key(tx, found.id))

    def rotate(self, account_id: str, region: str, key: str) -> Key:
        """A new version wraps new data keys; the old ones stay to unwrap older data."""
        with self.db.write() as tx:
            found = self.find(tx, parse_key_spec(key, account_id, region))
            version = found.version + 1
            while not add_version(tx, self.master, found.id, version):
                version += 1  # a concurrent rotation took that number
            rows.bump_keys(tx)
            return Key.from_row(rows.key(tx, found.id))

    # -- inside a caller's transaction -----------------------------------------------------
    def find(self, tx: Tx, spec: KeySpec) -> Key:
        """The key ``spec`` names, or KeyNotFound. The managed key is found by its alias
        only once it has been made."""
        row = (rows.key(tx, spec.key_id) if spec.key_id is not None
               else rows.key_by_alias(tx, spec.account_id, spec.region, spec.alias))
        if row is None or (row.account_id, row.region) != (spec.account_id, spec.region):
            what = "Key" if spec.key_id is not None else "Alias"
            raise KeyNotFound(f"{what} '{spec.arn}' does not exist")
        return Key.from_row(row)

    def managed_default(self, tx: Tx, account_id: str, region: str) -> Key:
        """The account's managed key for the registry (alias aws/ecr) in the region, made on
        first use. ``tx`` must be a write transaction."""
        spec = KeySpec(account_id, region, alias=MANAGED_ALIAS)
        with contextlib.suppress(KeyNotFound):
            return self.find(tx, spec)
        key_id = str(uuid.uuid4())
        if rows.insert_key(tx, key_id, account_id, region, MANAGED_ALIAS,
                           "Default key that protects my ECR repositories when no other "
                           "key is defined"):
            add_version(tx, self.master, key_id, 1)
            rows.bump_keys(tx)
        return self.find(tx, spec)  # ours, or the one a concurrent writer made first
