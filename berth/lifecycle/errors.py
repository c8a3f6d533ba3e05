"""The lifecycle domain's errors (the ECR API names each as its model does)."""
from __future__ import annotations

from ..registry.errors import RegistryError


class PolicyInvalid(RegistryError):
    """A policy text ECR would refuse; the message is ECR's detail of the first mistake."""
    code = "LIFECYCLE_POLICY_INVALID"


class PolicyNotFound(RegistryError):
    code = "LIFECYCLE_POLICY_NOT_FOUND"


class PreviewNotFound(RegistryError):
    code = "LIFECYCLE_PREVIEW_NOT_FOUND"


class PreviewInProgress(RegistryError):
    code = "LIFECYCLE_PREVIEW_IN_PROGRESS"
