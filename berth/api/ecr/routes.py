"""The ECR operations Berth serves, behind the JSON 1.1 endpoint. Each module lists its own."""
from __future__ import annotations

from starlette.routing import Route

from ..credentials import scrubbing
from . import (
    creation_templates,
    images,
    layers,
    lifecycle,
    policies,
    pull_exclusions,
    pullthrough,
    registry_settings,
    replication,
    repositories,
    scanning,
    signing,
)
from .authorization_token import get_authorization_token
from .caller import authenticate
from .endpoint import make_endpoint

OPERATIONS = {
    "GetAuthorizationToken": get_authorization_token,
    **repositories.OPERATIONS,
    **images.OPERATIONS,
    **layers.OPERATIONS,
    **policies.OPERATIONS,
    **lifecycle.OPERATIONS,
    **pull_exclusions.OPERATIONS,
    **registry_settings.OPERATIONS,
    **scanning.OPERATIONS,
    **creation_templates.OPERATIONS,
    **replication.OPERATIONS,
    **pullthrough.OPERATIONS,
    **signing.OPERATIONS,
}


def ecr_route() -> Route:
    return make_endpoint(OPERATIONS, scrubbing(authenticate))
