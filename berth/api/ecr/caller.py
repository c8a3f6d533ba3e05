"""Who calls the ECR API: a SigV4 signature made with an access key Berth knows, in a region
it serves. The region of the credential scope is the region the call addresses."""
from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from ...concurrency import quick_read
from ...iam.authentication import Caller
from ...iam.replay import changes_state
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
    # A read on a warm cache: inline where the database makes that cheaper than a thread hop;
    # a call that changes state also writes (its signature is used up): never on the loop.
    inline = gate.db.inline_reads and not changes_state(request.headers.get("x-amz-target"))
    verified = await quick_read(inline, verify_signature, gate, request, body, "ecr",
                                gate.tenancy.regions)
    return ApiCaller(verified.identity, verified.region)
