"""What an ECR API call may touch: the registry it addresses (``registryId``, else the
caller's own, in the region of its signature) and whether the caller may perform the
operation's action there. Handlers call ``admit`` first, then the domain."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

from ...iam.authorization import AccessDenied
from ...iam.service import UnknownRegistry
from ...iam.tenancy import RegistryAddress
from ...observability import metrics
from ...quotas.rates import Throttled
from ...registry.registry import Registry
from .caller import ApiCaller, iam
from .endpoint import ApiCall
from .errors import EcrApiError, access_denied, model_error


@dataclass(frozen=True)
class Target:
    address: RegistryAddress
    registry_id: int
    registry: Registry  # the domain services of that registry

    @property
    def registry_id_text(self) -> str:
        """What ECR calls ``registryId``: the account id."""
        return self.address.account_id


def condition_keys(call: ApiCall, **extra) -> dict:
    request = call.request
    keys = {"aws:SourceIp": request.client.host if request.client else None,
            "aws:SecureTransport": request.scope.get("scheme") == "https"}
    keys.update(extra)
    return keys


def admit(call: ApiCall, action: str, repository: str | None = None,
          keys: dict | None = None) -> Target:
    """Authorize ``action`` (``ecr:...``) on ``repository`` (or the registry) of the registry
    the call addresses. A registry of another account that does not exist answers as one the
    caller may not use. In the handler's thread (the endpoint runs plain handlers in one)."""
    address, action = _addressed(call, action)
    with _refusals(call, action, address, repository):
        registry_id = iam(call.request).authorize(call.caller.identity, action, address,
                                                  repository, keys or condition_keys(call))
    return _target(call, address, registry_id)


async def admit_async(call: ApiCall, action: str, repository: str | None = None) -> Target:
    """``admit`` for a coroutine handler (one that streams through the domain's async entry
    points): the authorization is IAM's to run inline or in a thread."""
    address, action = _addressed(call, action)
    with _refusals(call, action, address, repository):
        registry_id = await iam(call.request).aio.authorize(
            call.caller.identity, action, address, repository, condition_keys(call))
    return _target(call, address, registry_id)


def _addressed(call: ApiCall, action):
    caller: ApiCaller = call.caller
    account = call.params.get("registryId") or caller.identity.account_id
    address = RegistryAddress(account, caller.region)
    if address.is_public:  # ECR Public's calls: its actions are ecr-public:...
        action = (address.action(action) if isinstance(action, str)
                  else tuple(map(address.action, action)))
    return address, action


@contextmanager
def _refusals(call: ApiCall, action, address: RegistryAddress, repository: str | None):
    """IAM's refusals as ECR words them."""
    try:
        yield
    except AccessDenied as exc:
        metrics.refused("ecr", metrics.denial_reason(exc.message))
        raise access_denied(exc.message) from None
    except Throttled as exc:
        metrics.refused("ecr", "throttled")
        raise EcrApiError("ThrottlingException", exc.message) from None
    except UnknownRegistry:
        metrics.refused("ecr", "unknown_registry")
        resource = address.repository_arn(repository or "*")
        raise access_denied(f"User: {call.caller.identity.principal.arn} is not authorized to "
                            f"perform: {action} on resource: {resource}") from None


def _target(call: ApiCall, address: RegistryAddress, registry_id: int) -> Target:
    registry = call.request.app.state.registry.scoped(registry_id)
    target = Target(address, registry_id, registry)
    call.context["registry"] = target.registry_id_text
    return target


def registry_host(call: ApiCall, address: RegistryAddress) -> str:
    """``host[:port]`` at which the client reaches the registry at ``address``: the host it
    reached this call at when that is plain and the registry its own (what a plain host
    addresses), else the registry's host name with the port the client reached."""
    request = call.request
    tenancy = iam(request).tenancy
    reached = request.headers.get("host")
    if reached and tenancy.address_of(reached) is None and address == call.caller.own_registry:
        return reached
    port = request.url.port
    return address.host(tenancy.domain) + (f":{port}" if port else "")


def repository_not_found(target: Target, name: str):
    return model_error("RepositoryNotFoundException",
                       f"The repository with name '{name}' does not exist in the registry with "
                       f"id '{target.registry_id_text}'")
