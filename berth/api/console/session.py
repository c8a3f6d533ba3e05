"""The console's session cookie (HttpOnly, SameSite=Strict, Secure under TLS, the console's
path only), the sign-in form's CSRF cookie, and the guard of every page: a page needs an open
session, and a form post its session's CSRF token from a page of this origin."""
from __future__ import annotations

import functools
import hmac
import secrets
from typing import Awaitable, Callable
from urllib.parse import parse_qsl, quote, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ...iam.console import ConsoleSession, ConsoleSessions
from ..web.pages import page
from .calls import region_of

COOKIE = "berth_console"
LOGIN_COOKIE = "berth_console_login"  # the sign-in form's CSRF token (no session yet)
PATH = "/console"
MAX_FORM = 256 * 1024  # a repository policy (10,240 characters) escaped, with room

Handler = Callable[[Request], Awaitable[Response]]


def sessions(request: Request) -> ConsoleSessions:
    return ConsoleSessions(request.app.state.iam)


async def read_form(request: Request) -> dict[str, str]:
    """A form post's fields (urlencoded, as the console's forms send them; at most MAX_FORM
    bytes, else none)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            return {}
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return {}
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def set_cookie(response: Response, request: Request, name: str, value: str,
               max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path=PATH, httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")


def clear_cookie(response: Response, request: Request, name: str) -> None:
    set_cookie(response, request, name, "", 0)


def login_token(request: Request) -> str:
    return request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(32)


def same_origin(request: Request) -> bool:
    """A form post from a page of this server (Origin, else Referer; a browser sends one)."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin:
        return False
    parts = urlsplit(origin)
    return (parts.scheme, parts.netloc) == (request.url.scheme, request.url.netloc)


def checked(expected: str, given: object) -> bool:
    return isinstance(given, str) and hmac.compare_digest(expected.encode(), given.encode())


def signed_in(handler: Handler) -> Handler:
    """``handler`` for a signed-in principal (request.state.console); else to sign in."""
    @functools.wraps(handler)
    async def guarded(request: Request) -> Response:
        token = request.cookies.get(COOKIE)
        session: ConsoleSession | None = None
        if token:
            session = await sessions(request).resume_async(token)
        if session is None:
            back = quote(request.url.path + ("?" + request.url.query if request.url.query
                                             else ""))
            return RedirectResponse(f"{PATH}/sign-in?next={back}", status_code=303)
        request.state.console = session
        if request.method == "POST":
            form = await read_form(request)
            request.state.form = form
            if not (same_origin(request) and checked(session.csrf, form.get("csrf"))):
                return page("console/error.html", 403, session=session,
                            region=region_of(request),
                            regions=request.app.state.iam.tenancy.regions,
                            message="The form was not sent from this console (CSRF check "
                                    "failed). Reload the page and try again.")
        return await handler(request)
    return guarded
