"""Where public repositories are pulled from, as this call's client reaches the server:
``<host>:<public_port>`` when the deployment has a public port, else ``public.<domain>``."""
from __future__ import annotations

from ...concurrency import blocking
from ...iam.tenancy import public_host
from ...public.models import PublicRegistry
from ..ecr.caller import iam
from ..ecr.endpoint import ApiCall


def public_base(call: ApiCall) -> str:
    request = call.request
    port = request.app.state.settings.public_port
    if port:
        return f"{request.url.hostname}:{port}"
    reached = request.url.port
    return public_host(iam(request).tenancy.domain) + (f":{reached}" if reached else "")


async def registry_of(call: ApiCall, account_id: str) -> PublicRegistry:
    """The account's public registry (made, with its default alias, on first use)."""
    return await blocking(call.request.app.state.registry.public_registries.ensure, account_id)


async def repository_uri(call: ApiCall, account_id: str, name: str) -> str:
    registry = await registry_of(call, account_id)
    return f"{public_base(call)}/{registry.alias}/{name}"
