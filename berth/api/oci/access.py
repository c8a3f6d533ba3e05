"""The registry's gate: every OCI route names the ECR actions it needs; a request gets in
with a registry token (HTTP Basic, user AWS) whose identity may perform them on the
repository of the registry its Host addresses: the one a registry host name names, or for a
plain host (an IP address, ``localhost``, ...) the caller's own in its token's region."""
from __future__ import annotations

import functools
from typing import Awaitable, Callable, TypeVar

from starlette.requests import Request
from starlette.responses import Response

from ...iam import presigned
from ...iam.authorization import AccessDenied
from ...iam.service import Admission, Iam, Unauthenticated, UnknownRegistry
from ...iam.tenancy import RegistryAddress
from ...observability import metrics
from ...observability.context import note_caller
from ...pullthrough.errors import ImportNeedsPermission
from ...registry.errors import NameUnknown
from ...registry.repositories import CreationNeedsPermission
from ...quotas.rates import Throttled
from ...registry.references import validate_name
from . import public
from .errors import error_response

Handler = Callable[[Request], Awaitable[Response]]
T = TypeVar("T")

# Actions per route and method. A monolithic upload (POST with ?digest=) does all three.
MANIFEST = {"GET": ("ecr:BatchGetImage",), "HEAD": ("ecr:BatchGetImage",),
            "PUT": ("ecr:PutImage",), "DELETE": ("ecr:BatchDeleteImage",)}
BLOB = {"GET": ("ecr:GetDownloadUrlForLayer",), "HEAD": ("ecr:BatchCheckLayerAvailability",),
        "DELETE": ("ecr:BatchDeleteImage",)}
UPLOAD_START = {"POST": ("ecr:InitiateLayerUpload",)}
MONOLITHIC = ("ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload")
UPLOAD = {"GET": ("ecr:UploadLayerPart",), "PATCH": ("ecr:UploadLayerPart",),
          "DELETE": ("ecr:UploadLayerPart",), "PUT": ("ecr:CompleteLayerUpload",)}
TAGS = {"GET": ("ecr:ListImages",)}
# The catalog is filtered repository by repository (ecr:DescribeRepositories) by its handler.
CATALOG = {"GET": ()}
REFERRERS = {"GET": ("ecr:ListImageReferrers",)}
CATALOG_ACTION = "ecr:DescribeRepositories"
MOUNT_SOURCE_ACTION = "ecr:GetDownloadUrlForLayer"
CREATE_ACTION = "ecr:CreateRepository"  # also needed by a push that makes its repository
IMPORT_ACTION = "ecr:BatchImportUpstreamImage"  # a pull through a cache that imports


def iam(request: Request) -> Iam:
    return request.app.state.iam


def condition_keys(request: Request) -> dict:
    # The scope's scheme, not request.url's: building the URL costs more than the rest.
    return {"aws:SourceIp": request.client.host if request.client else None,
            "aws:SecureTransport": request.scope.get("scheme") == "https"}


async def address(request: Request) -> RegistryAddress | None:
    """The registry the Host names; None for a plain host (known once the caller is)."""
    gate = iam(request)
    found = gate.tenancy.address_of(request.headers.get("host"))
    if found is not None and not gate.tenancy.serves(found):
        # Who asks comes first: strangers learn nothing, not even which regions exist.
        await gate.aio.authenticate(request.headers.get("authorization"))
        raise NameUnknown("no registry is served at this host name")
    return found


def guarded(actions: dict[str, tuple[str, ...]] | None, handler: Handler) -> Handler:
    """``handler`` behind the gate. ``actions`` None: any authenticated caller (the base
    endpoint); otherwise the route's repository and each action of the method."""
    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        try:
            await _admit(request, actions)
            return await handler(request)  # which may ask for more (a push that creates)
        except Unauthenticated as exc:
            metrics.refused("oci", "unauthenticated")
            return unauthorized(request, str(exc))
        except AccessDenied as exc:
            metrics.refused("oci", metrics.denial_reason(exc.message))
            note_caller(request.scope, exc.principal_arn)
            if exc.address is not None:  # a plain host's: known only now
                request.state.address = exc.address
            return error_response(403, "DENIED", exc.message)
        except UnknownRegistry as exc:
            metrics.refused("oci", "unknown_registry")
            return error_response(404, "NAME_UNKNOWN", str(exc))
        except Throttled as exc:
            metrics.refused("oci", "throttled")
            return error_response(429, "TOOMANYREQUESTS", exc.message,
                                  headers={"Retry-After": exc.retry_after_header})
    return endpoint


async def _admit(request: Request, actions: dict[str, tuple[str, ...]] | None) -> None:
    gate, header = iam(request), request.headers.get("authorization")
    if public.addressed(request):
        await _admit_public(request, actions)
        return
    if actions is None:
        request.state.caller = await gate.aio.authenticate(header)
        return
    where = await address(request)
    if where is not None:  # known before the caller is: a refusal's record names it
        request.state.address = where
    repository = request.path_params.get("name")
    if actions is BLOB and presigned.carries_signature(request.query_params):
        # A GetDownloadUrlForLayer URL stands in for the Authorization header.
        admission = await gate.aio.admit_presigned(
            request.method, where, request.url.path, request.query_params,
            validate_name(repository), condition_keys(request))
        _admitted(request, admission)
        return
    wanted = _wanted(request, actions)
    if wanted:
        admission = await gate.aio.admit(header, wanted, where, repository,
                                         condition_keys(request), validate_name)
    else:  # the catalog, filtered by its handler: of no registry, it lists nothing
        admission = await gate.aio.admit_listing(header, where)
    _admitted(request, admission)


async def _admit_public(request: Request, actions: dict[str, tuple[str, ...]] | None) -> None:
    if actions is None:  # /v2/: tells a client without a token to fetch one
        request.state.caller = await public.caller(request, required=True)
        return
    if actions is CATALOG:
        raise UnknownRegistry("public registries have no catalog: see the gallery")
    await public.admit(request, _wanted(request, actions), condition_keys(request))


def _wanted(request: Request, actions: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    # Starlette answers HEAD on every GET route: it needs what GET needs.
    wanted = actions[request.method if request.method in actions else "GET"]
    if request.method == "POST" and "digest" in request.query_params:
        wanted = MONOLITHIC
    return wanted


def _admitted(request: Request, admission: Admission) -> None:
    request.state.caller = admission.caller
    request.state.address = admission.address
    request.state.registry = None if admission.registry_id is None else (
        request.app.state.registry.scoped(admission.registry_id))


def unauthorized(request: Request, message: str) -> Response:
    if public.addressed(request):
        return public.challenge(request, message)
    host = request.headers.get("host") or "localhost"
    realm = f"{request.url.scheme}://{host}/"
    return error_response(401, "UNAUTHORIZED", message, headers={
        "WWW-Authenticate": f'Basic realm="{realm}",service="ecr.amazonaws.com"'})


async def may(request: Request, action: str, repository: str) -> bool:
    """Whether the admitted caller may also do ``action`` on another repository of the same
    registry (the source of a cross-repository mount)."""
    gate, address = iam(request), request.state.address
    if address.is_public:  # anyone may read a public repository
        if action in public.PULL_ACTIONS:
            return True
        action = address.action(action)
    return await gate.aio.permits(request.state.caller, action, address,
                                  request.state.registry.registry_id, repository,
                                  condition_keys(request))


async def creating(request: Request, push: Callable[[bool], Awaitable[T]]) -> T:
    """``push(may_create)``, first without leave to make the repository; if it would make
    it (a CREATE_ON_PUSH template covers the name), again once the caller is also allowed
    ecr:CreateRepository on it (AccessDenied, IAM's refusal, otherwise). Pushes to existing
    repositories, nearly all, cost no more."""
    try:
        return await push(False)
    except CreationNeedsPermission:
        gate, name = iam(request), request.path_params["name"]
        await gate.aio.require(request.state.caller, CREATE_ACTION, request.state.address,
                               request.state.registry.registry_id, name,
                               condition_keys(request))
        return await push(True)


async def importing(request: Request, pull: Callable[[bool | None], Awaitable[T]]) -> T:
    """``pull(may_import)`` through the registry's pull-through cache: first not knowing
    whether the caller may import from the upstream (most pulls never ask); if serving needs
    an import, again once that is known: required (ecr:BatchImportUpstreamImage, and
    ecr:CreateRepository for a repository it makes) when nothing cached can stand in,
    otherwise only asked (a cached tag due for its refresh is served as it is without)."""
    try:
        return await pull(None)
    except ImportNeedsPermission as exc:
        actions = (IMPORT_ACTION, CREATE_ACTION) if exc.create else (IMPORT_ACTION,)
        name = request.path_params["name"]
        if exc.cached:
            return await pull(await may(request, IMPORT_ACTION, name))
        gate = iam(request)
        for action in actions:
            await gate.aio.require(request.state.caller, action, request.state.address,
                                   request.state.registry.registry_id, name,
                                   condition_keys(request))
        return await pull(True)
