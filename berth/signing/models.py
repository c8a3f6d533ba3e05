"""Signing profiles as Berth keeps them, their ARNs (AWS Signer's form, which ECR's signing
configuration names), and the signing domain's errors."""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..registry.errors import RegistryError

ACTIVE, DISABLED, REVOKED = "Active", "Disabled", "Revoked"
NAME = re.compile(r"[a-zA-Z0-9_]{2,64}")
ARN = re.compile(r"arn:aws(?:-[a-z]+)*:signer:([a-z0-9-]+):([0-9]{12}):/signing-profiles/"
                 r"([a-zA-Z0-9_]{2,})")
DEFAULT_VALIDITY_DAYS = 365 * 2     # of a profile's certificate
DEFAULT_SIGNATURE_DAYS = 0          # of a signature: 0 = no io.cncf.notary.expiry


def profile_arn(region: str, account_id: str, name: str) -> str:
    return f"arn:aws:signer:{region}:{account_id}:/signing-profiles/{name}"


def parse_arn(arn: str) -> tuple[str, str, str] | None:
    """(region, account id, name) of a signing profile ARN; None if it is not one."""
    found = ARN.fullmatch(arn)
    return found.groups() if found else None


class SigningError(RegistryError):
    code = "SIGNING_ERROR"


class ChainInvalid(SigningError):
    """A certificate chain (or key) the Notary Project's rules refuse."""
    code = "CHAIN_INVALID"


class ProfileInvalid(SigningError):
    code = "PROFILE_INVALID"


class ProfileExists(SigningError):
    code = "PROFILE_EXISTS"


class ProfileNotFound(SigningError):
    code = "PROFILE_NOT_FOUND"


class SigningConfigurationInvalid(SigningError):
    code = "SIGNING_CONFIGURATION_INVALID"


class SigningConfigurationNotFound(SigningError):
    code = "SIGNING_CONFIGURATION_NOT_FOUND"


@dataclass(frozen=True)
class Profile:
    id: str
    account_id: str
    region: str
    name: str
    chain: str                 # PEM, the leaf first
    imported: bool
    status: str
    validity_seconds: int      # of each signature (0: none given)
    created_at: float
    revoked_at: float | None

    @property
    def arn(self) -> str:
        return profile_arn(self.region, self.account_id, self.name)

    @property
    def active(self) -> bool:
        """It signs (a disabled profile does not, for now; a revoked one never again)."""
        return self.status == ACTIVE

    @property
    def trusted(self) -> bool:
        """What it signed verifies (anything but revoked)."""
        return self.status != REVOKED

    @classmethod
    def from_row(cls, row) -> "Profile":
        return cls(row.id, row.account_id, row.region, row.name, row.chain, bool(row.imported),
                   row.status, row.validity_seconds, row.created_at, row.revoked_at)
