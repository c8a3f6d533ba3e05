"""Admin API errors as AWS JSON 1.1 services send them: ``{"__type": code, "message": ...}``.

One exception type, ``AdminError``, for the server (rendered as a response) and the client
(raised from a response); ``translate`` maps the domain's exceptions onto it."""
from __future__ import annotations

from ...iam.authorization import AccessDenied
from ...iam.identities import IdentityError
from ...iam.jwks import FederationError
from ...iam.policy import PolicyError
from ...keys import KeyServiceError
from ...notifications.models import NotificationError
from ...quotas.models import QuotaInvalid
from ...registry.errors import ManifestUnknown, NameUnknown, RegistryError
from ...secrets.models import SecretError
from ...registry.errors import StorageFull
from ..awsjson import AwsJsonError

# IAM's statuses for its own codes; anything else a client got wrong is a 400.
_IDENTITY_STATUS = {"NoSuchEntity": 404, "EntityAlreadyExists": 409}

# The protocol's error: one class for both AWS-style APIs, server and client side.
AdminError = AwsJsonError


def validation_error(message: str) -> AdminError:
    return AdminError("ValidationError", message)


# What ``translate`` knows: the domain's refusals (anything else is a fault).
DOMAIN_ERRORS = (AdminError, IdentityError, PolicyError, KeyServiceError, NotificationError,
                 SecretError, FederationError, QuotaInvalid, RegistryError)
# Registry and signing refusals, by code; anything else of theirs is a ValidationError.
_REGISTRY_ERRORS = {"PROFILE_NOT_FOUND": ("ResourceNotFoundException", 404),
                    "PROFILE_EXISTS": ("ConflictException", 409),
                    "ALIAS_TAKEN": ("ConflictException", 409)}


def translate(exc: Exception) -> AdminError | None:
    """The AdminError for a domain exception, or None for one that is not the client's fault."""
    if isinstance(exc, AdminError):
        return exc
    if isinstance(exc, IdentityError):
        return AdminError(exc.code, exc.message, _IDENTITY_STATUS.get(exc.code, 400))
    if isinstance(exc, PolicyError):
        return AdminError("MalformedPolicyDocument", str(exc))
    if isinstance(exc, AccessDenied):
        return AdminError("AccessDeniedException", exc.message)
    if isinstance(exc, FederationError):
        return AdminError(exc.code, exc.message)
    if isinstance(exc, QuotaInvalid):
        return AdminError("ValidationError", exc.message)
    if isinstance(exc, (KeyServiceError, NotificationError, SecretError)):
        return AdminError(exc.code, exc.message, exc.status)
    if isinstance(exc, NameUnknown):
        return AdminError("RepositoryNotFoundException", exc.message)
    if isinstance(exc, ManifestUnknown):
        return AdminError("ImageNotFoundException", exc.message)
    if isinstance(exc, RegistryError):
        code, status = _REGISTRY_ERRORS.get(exc.code, ("ValidationError", 400))
        return AdminError(code, exc.message, status)
    if isinstance(exc, StorageFull):  # a refusal, not a fault: nothing was stored
        return AdminError("LimitExceededException", "The registry's storage is full "
                          f"({exc.storage}: {exc.reason}): nothing was stored.", 400)
    return None
