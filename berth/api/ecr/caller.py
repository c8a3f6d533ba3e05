"""Who calls the ECR API: a SigV4 signature made with an access key Berth knows, in a region
it serves. The region of the credential scope is the region the call addresses."""
from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from ...iam.authentication import Caller
from ...iam.service import Iam
from ...iam.tenancy import RegistryAddress
from ..awsjson import verify_signature


@dataclass(frozen=True)
class ApiCaller:
    identity: Caller
    region: str

    @property
    def own_registry(self) -> RegistryAddress:
        return RegistryAddress(self.identity.account_id, self.region)


def iam(request: Request) -> Iam:
    return request.app.state.iam


async def authenticate(request: Request, body: bytes) -> ApiCaller:
    gate = iam(request)
    verified = await verify_signature(gate, request, body, "ecr", gate.tenancy.regions)
    return ApiCaller(verified.identity, verified.region)
