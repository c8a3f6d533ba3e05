"""The console's routes. A repository's name holds slashes: its pages anchor on the fixed
segment after it."""
from __future__ import annotations

from starlette.routing import Route

from . import images, lifecycle, pages, usage

_REPO = "/console/repositories/{name:path}"


def console_routes() -> list[Route]:
    return [
        Route("/console", pages.home), Route("/console/", pages.home),
        Route("/console/sign-in", pages.sign_in_form, methods=["GET"]),
        Route("/console/sign-in", pages.sign_in, methods=["POST"]),
        Route("/console/sign-out", pages.sign_out, methods=["POST"]),
        Route("/console/usage", usage.usage, methods=["GET"]),
        Route("/console/repositories", pages.repositories, methods=["GET"]),
        Route("/console/repositories", pages.create_repository, methods=["POST"]),
        Route(_REPO + "/policy", pages.policy, methods=["GET", "POST"]),
        Route(_REPO + "/images/delete", pages.delete_image, methods=["POST"]),
        Route(_REPO + "/images/{digest}", images.image, methods=["GET"]),
        Route(_REPO + "/mutability", pages.tag_mutability, methods=["POST"]),
        Route(_REPO + "/lifecycle", lifecycle.lifecycle, methods=["GET", "POST"]),
        Route(_REPO + "/tags/delete", pages.delete_tag, methods=["POST"]),
        Route(_REPO + "/delete", pages.delete_repository, methods=["POST"]),
        Route(_REPO, pages.repository, methods=["GET"]),
    ]
