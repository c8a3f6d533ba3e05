"""Where public repositories are pulled from, as this call's client reaches the server:
``<host>:<public_port>`` when the deployment has a public port, else ``public.<domain>``."""
from __future__ import annotations

from ...public.models import PublicRegistry
from ..ecr.endpoint import ApiCall
from ..oci import public as oci_public


def public_base(call: ApiCall) -> str:
    return oci_public.public_base(call.request)


def gallery_base(call: ApiCall) -> str:
    """The gallery's URL as this call's client reaches the server."""
    url = call.request.url
    return f"{url.scheme}://{url.netloc}/gallery"


def registry_of(call: ApiCall, account_id: str) -> PublicRegistry:
    """The account's public registry (made, with its default alias, on first use)."""
    return call.request.app.state.registry.public_registries.ensure(account_id)

