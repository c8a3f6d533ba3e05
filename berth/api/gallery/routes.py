"""The gallery's pages: search, a registry by its alias, a repository; and logos. Every
page is what anyone may see (berth.public.gallery), rendered with no script. The pages are
plain functions: Starlette runs them in its thread pool."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...public.gallery import Gallery
from ...public.models import logo_type
from ..oci.public import public_base
from ..web.pages import SECURITY_HEADERS, page

PAGE = 25
TAGS_SHOWN = 50
MAX_QUERY = 200


def _gallery(request: Request) -> Gallery:
    state = request.app.state
    return Gallery(state.registry, state.registry.public_registries)


def _missing(message: str) -> Response:
    return page("gallery/missing.html", 404, message=message)


def search(request: Request) -> Response:
    query = request.query_params.get("q", "")[:MAX_QUERY]
    number = request.query_params.get("page", "0")
    number = int(number) if number.isdigit() and len(number) < 6 else 0
    results, total = _gallery(request).search(query, PAGE, number * PAGE)
    return page("gallery/search.html", query=query, results=results, total=total,
                page=number, more=(number + 1) * PAGE < total)


def registry_page(request: Request) -> Response:
    alias = request.path_params["alias"]
    found = _gallery(request).registry_page(alias)
    if found is None:
        return _missing(f"No public registry has the alias {alias}.")
    registry, repositories = found
    return page("gallery/registry.html", registry=registry, repositories=repositories,
                domain=request.app.state.iam.tenancy.domain)


def repository_page(request: Request) -> Response:
    alias, name = request.path_params["alias"], request.path_params["name"]
    view = _gallery(request).repository(alias, name, TAGS_SHOWN)
    if view is None:
        return _missing(f"No public repository {alias}/{name}.")
    return page("gallery/repository.html", view=view, base=public_base(request))


def logo(request: Request) -> Response:
    alias, name = request.path_params["alias"], request.path_params.get("name")
    found = _gallery(request).logo(alias, name)
    if not found:
        return Response(status_code=404, headers=SECURITY_HEADERS)
    return Response(found, media_type=logo_type(found), headers=SECURITY_HEADERS)


def gallery_routes() -> list[Route]:
    return [Route("/gallery", search), Route("/gallery/", search),
            Route("/gallery/_logo/{alias}", logo),
            Route("/gallery/_logo/{alias}/{name:path}", logo),
            Route("/gallery/{alias}", registry_page),
            Route("/gallery/{alias}/{name:path}", repository_page)]
