"""Who calls ECR Public's API: a SigV4 signature for service ``ecr-public``, made in
us-east-1 (where ECR Public's API is) or a region served. Every call addresses the caller's
public registry."""
from __future__ import annotations

from starlette.requests import Request

from ...iam.tenancy import PUBLIC, PUBLIC_SERVICE_REGION
from ..awsjson import verify_signature
from ..ecr.caller import ApiCaller, iam

SERVICE = "ecr-public"


async def authenticate(request: Request, body: bytes) -> ApiCaller:
    gate = iam(request)
    regions = (*gate.tenancy.regions, PUBLIC_SERVICE_REGION)
    verified = await verify_signature(gate, request, body, SERVICE, regions)
    return ApiCaller(verified.identity, PUBLIC)
