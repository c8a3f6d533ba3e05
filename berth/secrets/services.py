"""Managing secrets per account and region (values sealed with the master key, bound to their
row, never returned) and opening one by ARN for the pull-through cache."""
from __future__ import annotations

import json
import secrets as random  # the standard library's, not this package
import string
import time

from ..keys.master import MasterKey, MasterKeyError
from ..storage.metadata import secrets as rows
from ..storage.metadata.database import Database
from .models import (
    Secret,
    SecretNotFound,
    SecretUnreadable,
    check_name,
    check_value,
    parse_arn,
)

SUFFIX_ALPHABET = string.ascii_letters + string.digits


def value_context(account: str, region: str, name: str) -> str:
    return f"secret:{account}:{region}:{name}"


def new_suffix() -> str:
    return "".join(random.choice(SUFFIX_ALPHABET) for _ in range(6))


class SecretService:
    def __init__(self, db: Database, master: MasterKey):
        self.db = db
        self.master = master

    def put(self, account: str, region: str, name: str, value: str) -> Secret:
        """Create or replace the secret ``name`` (a replacement keeps its ARN)."""
        check_name(name)
        sealed = self.master.seal(check_value(name, value), value_context(account, region, name))
        now = time.time()
        with self.db.write() as tx:
            rows.put(tx, {"account_id": account, "region": region, "name": name,
                          "suffix": new_suffix(), "value": sealed, "created_at": now,
                          "updated_at": now})
            return Secret.from_row(rows.described(tx, account, region, name)[0])

    def list(self, account: str, region: str) -> list[Secret]:
        with self.db.read() as tx:
            return [Secret.from_row(r) for r in rows.described(tx, account, region)]

    def delete(self, account: str, region: str, name: str) -> None:
        with self.db.write() as tx:
            if not rows.remove(tx, account, region, name):
                raise SecretNotFound(f"secret {name!r} does not exist")

    def resolve(self, arn: str) -> dict:
        """The value of the secret ``arn`` names (full, or partial without the suffix)."""
        region, account, name, suffix = parse_arn(arn)
        with self.db.read() as tx:
            found = rows.sealed(tx, account, region, name)
        if found is None or suffix not in (None, found.suffix):
            raise SecretNotFound(f"secret {arn} does not exist")
        try:
            opened = self.master.open(found.value, value_context(account, region, name))
            return json.loads(opened)
        except (MasterKeyError, ValueError):
            raise SecretUnreadable(f"secret {arn} cannot be decrypted") from None
