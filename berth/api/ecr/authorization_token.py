"""GetAuthorizationToken: a 12-hour registry token for ``docker login -u AWS``."""
from __future__ import annotations

import base64
from datetime import datetime, timezone

from ...iam.authorization import AccessDenied, require
from ...iam.tenancy import RegistryAddress
from ...quotas.rates import Throttled
from .access import registry_host
from .caller import ApiCaller, iam
from .endpoint import ApiCall
from .errors import EcrApiError, access_denied

ACTION = "ecr:GetAuthorizationToken"


def get_authorization_token(call: ApiCall) -> dict:
    caller: ApiCaller = call.caller
    # The token names the signature's region: what a plain host addresses with it.
    encoded, expires = mint(call, ACTION, caller.region)
    # registryIds is deprecated in ECR: the token is the same for every registry.
    accounts = call.params.get("registryIds") or [caller.identity.account_id]
    return {"authorizationData": [{
        "authorizationToken": encoded,
        "expiresAt": datetime.fromtimestamp(expires, timezone.utc),
        "proxyEndpoint": proxy_endpoint(call, RegistryAddress(account, caller.region)),
    } for account in accounts]}


def mint(call: ApiCall, action: str, region: str | None) -> tuple[str, float]:
    """``base64(AWS:<token>)`` for the caller if it may do ``action``, and its expiry."""
    caller: ApiCaller = call.caller
    try:
        # Identity policies only: the action is on no resource that could carry a policy.
        require(caller.identity, action, "*")
    except AccessDenied as exc:
        raise access_denied(exc.message) from None
    gate = iam(call.request)
    try:
        gate.throttle(caller.identity, action)
    except Throttled as exc:
        raise EcrApiError("ThrottlingException", exc.message) from None
    token, expires = gate.tokens.mint(caller.identity.access_key_id,
                                      region=region, not_after=caller.identity.expires_at)
    return base64.b64encode(f"AWS:{token}".encode()).decode(), expires


def proxy_endpoint(call: ApiCall, address: RegistryAddress) -> str:
    """ECR's ``https://<account>.dkr.ecr.<region>.amazonaws.com``, with the scheme the client
    used and the host ``registry_host`` says it reaches the registry at."""
    return f"{call.request.url.scheme}://{registry_host(call, address)}"
