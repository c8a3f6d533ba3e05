"""The ECR operations Berth serves, behind the JSON 1.1 endpoint."""
from __future__ import annotations

from starlette.routing import Route

from .authorization_token import get_authorization_token
from .caller import authenticate
from .endpoint import make_endpoint

OPERATIONS = {
    "GetAuthorizationToken": get_authorization_token,
}


def ecr_route() -> Route:
    return make_endpoint(OPERATIONS, authenticate)
