"""First start: the administrator account with a root access key written to a file only its
owner can read, the token signing key, and the default registry."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable

from ..storage.metadata import identities as identity_rows
from ..storage.metadata import registries as registry_rows
from ..storage.metadata.database import Database, Tx
from .identities import AccessKey, Account, IdentityService
from .tokens import TokenService

log = logging.getLogger("berth.iam")

ADMIN_ACCOUNT_NAME = "admin"
CREDENTIALS_PROFILE = "berth-admin"
BOOTSTRAP_LOCK = 0x6265727468  # "berth"


def bootstrap(db: Database, identities: IdentityService, tokens: TokenService,
              admin_account_id: str, credentials_path: Path,
              first_start: Callable[[Tx, Account], None] | None = None
              ) -> tuple[Account, bool]:
    """The administrator account, and whether it was made now (the first start), when
    ``first_start`` also runs, in the same transaction. Idempotent; safe to run from several
    processes at once (the database serialises)."""
    created: AccessKey | None = None
    with db.write() as tx:
        tx.serialise(BOOTSTRAP_LOCK)  # nodes starting together on one empty database
        row = identity_rows.find_account(tx, "admin", True)
        if row is None:
            account = identities.create_account(
                ADMIN_ACCOUNT_NAME, admin_account_id or None, is_admin=True, tx=tx)
            created = identities.create_access_key(account.id, tx=tx)
            if first_start is not None:
                first_start(tx, account)
        else:
            account = Account(*row)
        tokens.ensure_signing_key(tx)
    tokens.check_master_key()
    if created is not None:
        write_credentials(credentials_path, created)
        log.info("created the administrator account %s; its access key is in %s (readable "
                 "only by its owner; the secret is not shown anywhere else)",
                 account.id, credentials_path)
    return account, created is not None


def adopt_orphans(db: Database, default_registry: int) -> None:
    """Repositories from before accounts existed join the default registry."""
    with db.write() as tx:
        adopted = registry_rows.adopt_orphans(tx, default_registry)
    if adopted:
        log.info("moved %d repositories and uploads into the default registry", adopted)


def write_credentials(path: Path, key: AccessKey) -> None:
    """An AWS shared-credentials file (so ``AWS_SHARED_CREDENTIALS_FILE=<path> aws --profile
    berth-admin ...`` works), created 0600 and renamed into place whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.urandom(8).hex()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f"# Berth administrator: root of account {key.account_id}\n"
                 f"[{CREDENTIALS_PROFILE}]\n"
                 f"aws_access_key_id = {key.id}\n"
                 f"aws_secret_access_key = {key.secret}\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(temp, path)
