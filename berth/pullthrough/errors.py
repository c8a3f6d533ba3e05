"""The pull-through cache's domain errors; the front-ends translate them (OCI: statuses in
berth/api/oci/errors.py; ECR: berth/api/ecr/translation.py)."""
from __future__ import annotations

from ..registry.errors import RegistryError, SettingInvalid


class RuleInvalid(SettingInvalid):
    """A rule ECR would refuse (InvalidParameterException)."""


class RuleExists(RegistryError):
    """A pull-through cache rule with that prefix exists."""


class RuleNotFound(RegistryError):
    """No pull-through cache rule has that prefix."""


class TooManyRules(RegistryError):
    """The registry has as many pull-through cache rules as it may."""


class UnsupportedUpstream(RegistryError):
    """An upstream registry URL the pull-through cache cannot use."""


class CredentialUnusable(RegistryError):
    """The rule's secret: ``reason`` is "not_found", "no_access" or "undecryptable"."""

    def __init__(self, message: str, reason: str):
        super().__init__(message, {"reason": reason})
        self.reason = reason


class ImportNeedsPermission(RegistryError):
    """Serving this pull would import from the upstream (and, with ``create``, make the
    repository): whether the caller may is the front-end's to decide, then ask again."""

    def __init__(self, message: str, create: bool, cached: bool):
        super().__init__(message)
        self.create = create  # the repository would be made
        self.cached = cached  # something cached can be served without it


class UpstreamUnavailable(RegistryError):
    """The upstream could not be reached or failed, and nothing cached can stand in."""


class UpstreamThrottled(RegistryError):
    """The upstream refused for its rate limit, and nothing cached can stand in."""
