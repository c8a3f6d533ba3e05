"""Who calls the ECR API: a SigV4 signature made with an access key Berth knows, in a region
it serves. The region of the credential scope is the region the call addresses."""
from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from ...iam.authentication import Caller
from ...iam.service import Iam
from ...iam.sigv4 import verify_request
from ...iam.tenancy import RegistryAddress
from ...registry.concurrency import quick_read


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

    def verify():
        with gate.db.read() as tx:
            entries = gate.cache.entries(tx)
            return verify_request(
                request.method, request.scope["raw_path"], request.scope["query_string"],
                request.headers.raw, body=body, service="ecr",
                lookup_secret=lambda key_id: gate.authenticator.secret(tx, entries, key_id),
                allowed_regions=gate.tenancy.regions)

    # A read on a warm cache: inline where the database makes that cheaper than a thread hop.
    verified = await quick_read(gate.db.inline_reads, verify)
    return ApiCaller(verified.identity, verified.region)
