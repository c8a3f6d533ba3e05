"""The pull-through cache's domain errors; the front-ends translate them (OCI: statuses in
berth/api/oci/errors.py; ECR: berth/api/ecr/translation.py)."""
from __future__ import annotations

from ..registry.errors import RegistryError, SettingInvalid


class RuleInvalid(SettingInvalid):
    """A rule ECR would refuse (InvalidParameterException)."""


class RuleExists(RegistryError):
    code = "DENIED"


class RuleNotFound(RegistryError):
    code = "NAME_UNKNOWN"


class TooManyRules(RegistryError):
    code = "DENIED"


class UnsupportedUpstream(RegistryError):
    code = "UNSUPPORTED"


class CredentialUnusable(RegistryError):
    """The rule's secret: ``reason`` is "not_found", "no_access" or "undecryptable"."""
    code = "DENIED"

    def __init__(self, message: str, reason: str):
        super().__init__(message, {"reason": reason})
        self.reason = reason


class ImportNeedsPermission(RegistryError):
    """Serving this pull would import from the upstream (and, with ``create``, make the
    repository): whether the caller may is the front-end's to decide, then ask again."""
    code = "DENIED"

    def __init__(self, message: str, create: bool, cached: bool):
        super().__init__(message)
        self.create = create  # the repository would be made
        self.cached = cached  # something cached can be served without it


class UpstreamUnavailable(RegistryError):
    """The upstream could not be reached or failed, and nothing cached can stand in."""
    code = "UNAVAILABLE"


class UpstreamThrottled(RegistryError):
    code = "TOOMANYREQUESTS"
