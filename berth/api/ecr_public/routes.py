"""The ECR Public operations Berth serves; the model's premium and entitlement operations
(a Marketplace seller's) are answered as ECR Public answers a call it does not support."""
from __future__ import annotations

from starlette.routing import Route

from ..credentials import scrubbing
from ..ecr.endpoint import ApiCall, make_endpoint
from ..ecr.errors import model_error
from ..ecr.model import ECR_PUBLIC
from . import images, registries, repositories
from .caller import authenticate

OPERATIONS = {**registries.OPERATIONS, **repositories.OPERATIONS, **images.OPERATIONS}


def unsupported(call: ApiCall) -> dict:
    raise model_error("UnsupportedCommandException",
                      f"The {call.operation} operation is not supported by this registry: it "
                      "has no premium repositories, entitlements or publisher reports.")


def ecr_public_route() -> Route:
    others = {name: unsupported for name in ECR_PUBLIC.operation_names - OPERATIONS.keys()}
    return make_endpoint({**OPERATIONS, **others}, scrubbing(authenticate),
                         service=ECR_PUBLIC)
