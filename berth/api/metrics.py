"""``GET /metrics``: Prometheus' scrape of this node's workers.

On the API port it is authorized like the admin API's node-wide operations (garbage
collection): the caller must belong to the administrator account and be allowed
``berth:GetMetrics`` on its account (the administrator root is). SigV4 would suit Prometheus
badly, so a registry token (``aws ecr get-login-password``) is taken either as HTTP Basic
``AWS:<token>``, as docker sends it, or as ``Authorization: Bearer <token>``
(Prometheus' ``authorization.credentials_file``)."""
from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..iam.authentication import Caller, Unauthenticated, basic_token
from ..iam.authorization import AccessDenied, require
from ..iam.service import Iam
from ..observability import metrics as observed
from ..observability.prometheus import scrape, scrape_async

log = logging.getLogger("berth.api.metrics")

PATH = "/metrics"
ACTION = "berth:GetMetrics"


def metrics_route(path: str = PATH) -> Route:
    return Route(path, _metrics, methods=["GET"], name="metrics")


def token(header: str | None) -> str:
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return basic_token(header)


def authorize(iam: Iam, header: str | None) -> Caller:
    """Blocking. Raises Unauthenticated or AccessDenied."""
    return _may_read(iam.authenticate_token(token(header)))


def _may_read(caller: Caller) -> Caller:
    resource = f"arn:aws:iam::{caller.account_id}:root"
    if not caller.is_admin:
        # Metrics cover every tenant of the node: the administrator account's alone.
        raise AccessDenied(
            f"User: {caller.principal.arn} is not authorized to perform: {ACTION} on "
            f"resource: {resource} because only the administrator account may read the "
            "node's metrics", ACTION, resource)
    require(caller, ACTION, resource, resource_account=caller.account_id)
    return caller


def refusal(exc: Exception) -> tuple[int, str, str]:
    """Status, reason label and body of a refused scrape."""
    if isinstance(exc, Unauthenticated):
        return 401, "unauthenticated", str(exc)
    return 403, observed.denial_reason(exc.message), exc.message


async def _metrics(request: Request) -> Response:
    iam: Iam = request.app.state.iam
    try:
        _may_read(await iam.aio.authenticate_token(token(request.headers.get(
            "authorization"))))
    except (Unauthenticated, AccessDenied) as exc:
        status, reason, message = refusal(exc)
        observed.refused("metrics", reason)
        headers = {"WWW-Authenticate": 'Basic realm="berth"'} if status == 401 else None
        return Response(message + "\n", status, headers=headers, media_type="text/plain")
    body, content_type = await scrape_async(request.headers.get("accept"))
    return Response(body, headers={"Content-Type": content_type})


# -- the separate port (--metrics-port), served by a thread of the serving process ------

def start_server(settings, open_iam_for_scrapes):
    """Serve the scrape on ``settings.metrics_port`` from a thread; anonymous when
    ``settings.metrics_anonymous``, else authorized as on the API port (``open_iam_for_scrapes``
    opens the IAM on first need). Returns the server (``shutdown()`` stops it)."""
    import threading
    from wsgiref.simple_server import make_server

    from prometheus_client.exposition import ThreadingWSGIServer, _SilentHandler

    app = _WsgiScrape(settings.metrics_anonymous, open_iam_for_scrapes)
    server = make_server(settings.host, settings.metrics_port, app, ThreadingWSGIServer,
                         handler_class=_SilentHandler)
    threading.Thread(target=server.serve_forever, name="berth-metrics", daemon=True).start()
    return server


class _WsgiScrape:
    def __init__(self, anonymous: bool, open_iam_for_scrapes):
        self.anonymous = anonymous
        self._open = open_iam_for_scrapes
        self._iam: Iam | None = None

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") != PATH or environ.get("REQUEST_METHOD") not in ("GET",
                                                                                    "HEAD"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        if not self.anonymous:
            try:
                if self._iam is None:
                    self._iam = self._open()
                authorize(self._iam, environ.get("HTTP_AUTHORIZATION"))
            except (Unauthenticated, AccessDenied) as exc:
                status, reason, message = refusal(exc)
                observed.refused("metrics", reason)
                start_response(f"{status} {'Unauthorized' if status == 401 else 'Forbidden'}",
                               [("Content-Type", "text/plain")])
                return [message.encode() + b"\n"]
        body, content_type = scrape(environ.get("HTTP_ACCEPT"))
        start_response("200 OK", [("Content-Type", content_type)])
        return [body]
