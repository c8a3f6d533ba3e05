"""Which key seals a repository's blobs, chosen once when the repository is made (ECR cannot
change a repository's encryption): its *key ref* prefixes every blob key the domain computes
for it, so one digest under two keys is two objects and deduplication holds within a key.

AES256 (the default, and every repository a push creates) is the deployment's key, or no
key at all when the storage encrypts at rest itself; KMS and KMS_DSSE name a customer key of
the registry's account and region, or get the account's managed default key (aws/ecr)."""
from __future__ import annotations

from dataclasses import dataclass

from ...keys import KeyNotFound, Keys, parse_key_spec
from ...storage.blobs.keyring import DEPLOYMENT_KEY
from ...storage.metadata import keys as key_rows
from ...storage.metadata.database import Tx
from ..errors import RegistryError, SettingInvalid

AES256 = "AES256"  # the default encryption type


class KmsKeyUnusable(RegistryError):
    """The KMS key a new repository names cannot be used; ``kms_error`` says why as KMS
    would (NotFoundException, DisabledException)."""

    def __init__(self, message: str, kms_error: str):
        super().__init__(message, {"kmsError": kms_error})
        self.kms_error = kms_error


@dataclass(frozen=True)
class Encryption:
    keys: Keys | None = None       # None: no key store (KMS repositories cannot be made)
    storage_encrypted: bool = False

    @property
    def default_ref(self) -> str:
        """The key ref of AES256 repositories."""
        return "" if self.storage_encrypted else DEPLOYMENT_KEY

    def choose(self, tx: Tx, registry_id: int, encryption_type: str,
               kms_key: str | None) -> tuple[str, str | None]:
        """(key ref, the KMS key's ARN or None) for a new repository. Raises SettingInvalid
        or KmsKeyUnusable; may make the managed default key (``tx`` writes)."""
        if encryption_type == AES256:
            return self.default_ref, None
        location = None if self.keys is None else key_rows.registry_location(tx, registry_id)
        if location is None:
            raise SettingInvalid("KMS encryption is not available in this registry.")
        account, region = location
        try:
            if kms_key is None:
                key = self.keys.service.managed_default(tx, account, region)
            else:
                spec = parse_key_spec(kms_key, account, region)
                if spec.region != region:
                    raise SettingInvalid(f"The KMS key '{kms_key}' must be in the same Region "
                                         f"as the repository ({region}).")
                if spec.account_id != account:  # another account's keys are not for us
                    raise KeyNotFound(f"Key '{spec.arn}' does not exist in account {account}")
                key = self.keys.service.find(tx, spec)
        except KeyNotFound as exc:
            raise KmsKeyUnusable(exc.message, "NotFoundException") from None
        if not key.enabled:
            raise KmsKeyUnusable(f"The KMS key {key.arn} is disabled", "DisabledException")
        return key.ref, key.arn

    def check(self, key_ref: str) -> None:
        """Raise KeyUnavailable (berth.storage.blobs.keyring) unless data under ``key_ref``
        may be read and written now: pushes are refused at their start and completion."""
        if key_ref and self.keys is not None:
            self.keys.store.require_usable(key_ref)
