"""The gate of public registries (ECR Public's): ``/v2/<alias>/<repository>/...`` on the
public host name or port. Anyone may pull, with no credentials, at a limited rate; pushes
need a registry token (Bearer, from ``/token/``, or Basic) whose identity may do the
``ecr-public:`` actions. Clients learn the token flow from the 401 on ``/v2/``, as docker,
podman and skopeo do from public.ecr.aws."""
from __future__ import annotations

import binascii

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ...iam.authentication import Caller, Unauthenticated, basic_token
from ...iam.policy import Principal
from ...iam.service import Iam, UnknownRegistry
from ...iam.tenancy import PUBLIC, RegistryAddress, public_host
from ...registry.references import validate_name
from .errors import error_response

# Reading a public repository needs no permission: what these actions do, anyone may.
PULL_ACTIONS = frozenset({"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
                          "ecr:BatchCheckLayerAvailability", "ecr:ListImages",
                          "ecr:ListImageReferrers"})
ANONYMOUS = Caller(Principal("anonymous"), "", (), False)
# What /token/ gives a client without credentials: it stands for no one.
ANONYMOUS_TOKEN = "anonymous"


def iam(request: Request) -> Iam:
    return request.app.state.iam


def addressed(request: Request) -> bool:
    """Whether the request came to the public registries: their port or host name."""
    port = request.app.state.settings.public_port
    server = request.scope.get("server")
    if port and server and server[1] == port:
        return True
    return iam(request).tenancy.is_public_host(request.headers.get("host"))


def _token(authorization: str | None) -> str | None:
    """The registry token a request carries (Bearer or Basic), None for no one."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer":
        token = value.strip()
        return None if token == ANONYMOUS_TOKEN else token
    return basic_token(authorization)


async def caller(request: Request, required: bool) -> Caller:
    """Who calls: the token's identity, or ANONYMOUS (Unauthenticated if ``required``)."""
    token = _token(request.headers.get("authorization"))
    if token is None:
        if required:
            raise Unauthenticated("authentication required")
        return ANONYMOUS
    gate = iam(request)
    return await gate.aio.authenticate_token(token)


async def admit(request: Request, wanted: tuple[str, ...], keys: dict) -> None:
    """Admit a request on a repository (``wanted``: the ECR actions of its route)."""
    name = request.path_params["name"]
    alias, _, repository = name.partition("/")
    registries = request.app.state.registry.public_registries
    account = await registries.account_of_async(alias) if repository else None
    if not account or not repository:
        raise UnknownRegistry(f"no public registry has the alias {alias!r}")
    where, gate = RegistryAddress(account, PUBLIC), iam(request)
    pulling = all(action in PULL_ACTIONS for action in wanted)
    who = await caller(request, required=not pulling)
    validate_name(repository)
    if pulling:
        if request.method == "GET" and "/manifests/" in request.scope["path"]:
            limiter = request.app.state.public_pulls
            anonymous = who is ANONYMOUS
            limiter.take(anonymous, (keys["aws:SourceIp"] or "") if anonymous
                         else who.account_id)
        registry_id = await gate.aio.listed_registry(where)
        if registry_id is None:
            raise UnknownRegistry(f"no public registry has the alias {alias!r}")
    else:
        registry_id = await gate.aio.authorize(who, tuple(map(where.action, wanted)), where,
                                               repository, keys)
    request.state.caller, request.state.address = who, where
    request.state.repository_name, request.state.public_alias = repository, alias
    request.state.registry = request.app.state.registry.scoped(registry_id)


def public_base(request: Request) -> str:
    """``host[:port]`` where this request's client reaches the public registries: the host it
    reached with the public port when the deployment has one, else ``public.<domain>``."""
    port = request.app.state.settings.public_port
    if port:
        return f"{request.url.hostname}:{port}"
    reached = request.url.port
    return public_host(iam(request).tenancy.domain) + (f":{reached}" if reached else "")


def challenge(request: Request, message: str) -> Response:
    """The 401 that starts the token flow (ECR Public's: Bearer, realm /token/)."""
    host = request.headers.get("host") or "localhost"
    realm = f"{request.url.scheme}://{host}/token/"
    service = public_host(iam(request).tenancy.domain)
    return error_response(401, "UNAUTHORIZED", message, headers={
        "WWW-Authenticate": f'Bearer realm="{realm}",service="{service}",scope="aws"'})


async def token(request: Request) -> Response:
    """``GET /token/``: a bearer token for the public registries. With Basic credentials
    (user AWS, a token from either GetAuthorizationToken) that token, once checked; without,
    an anonymous one that can only pull."""
    if not addressed(request):
        return error_response(404, "NAME_UNKNOWN", "no token service at this host")
    header = request.headers.get("authorization")
    if not header:
        return JSONResponse({"token": ANONYMOUS_TOKEN, "access_token": ANONYMOUS_TOKEN})
    try:
        value = basic_token(header)
        await caller(request, required=True)
    except (Unauthenticated, binascii.Error) as exc:
        return challenge(request, str(exc))
    return JSONResponse({"token": value, "access_token": value})

