"""IAM's entry points for coroutines (the registry protocol's routes, streaming handlers).

IAM decides where each runs: its reads hit warm caches, so on a database whose reads are
cheaper than a hop to a thread (``Database.inline_reads``: SQLite) they run on the event loop;
anything that may write (a signature used up) or a slower database takes a thread."""
from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from ..concurrency import blocking
from . import presigned, signed_requests
from .authentication import Caller
from .sigv4 import VerifiedRequest
from .tenancy import RegistryAddress

if TYPE_CHECKING:
    from .service import Admission, Iam

T = TypeVar("T")


class AsyncIam:
    def __init__(self, iam: "Iam"):
        self._iam = iam
        self._inline = iam.db.inline_reads

    async def _read(self, func: Callable[..., T], *args: Any) -> T:
        return func(*args) if self._inline else await blocking(func, *args)

    async def authenticate(self, authorization: str | None) -> Caller:
        return await self._read(self._iam.authenticate, authorization)

    async def authenticate_token(self, token: str) -> Caller:
        return await self._read(self._iam.authenticate_token, token)

    async def admit(self, authorization: str | None, actions: str | Sequence[str],
                    address: RegistryAddress | None, repository: str | None,
                    keys: Mapping[str, Any] | None, validate: Callable[[str], Any]
                    ) -> "Admission":
        return await self._read(self._iam.admit, authorization, actions, address, repository,
                                keys, validate)

    async def admit_listing(self, authorization: str | None,
                            address: RegistryAddress | None) -> "Admission":
        return await self._read(self._iam.admit_listing, authorization, address)

    async def admit_presigned(self, method: str, address: RegistryAddress | None, path: str,
                              query: Mapping[str, str], repository: str,
                              keys: dict[str, Any] | None) -> "Admission":
        """A GetDownloadUrlForLayer URL standing in for the Authorization header."""
        return await self._read(presigned.admit, self._iam, method, address, path, query,
                                repository, keys)

    async def authorize(self, caller: Caller, actions: str | Sequence[str],
                        address: RegistryAddress, repository: str | None,
                        keys: Mapping[str, Any] | None) -> int:
        return await self._read(self._iam.authorize, caller, actions, address, repository,
                                keys)

    async def listed_registry(self, address: RegistryAddress) -> int | None:
        return await self._read(self._iam.listed_registry, address)

    async def permits(self, caller: Caller, action: str, address: RegistryAddress,
                      registry_id: int, repository: str | None,
                      keys: Mapping[str, Any] | None) -> bool:
        return await self._read(self._iam.permits, caller, action, address, registry_id,
                                repository, keys)

    async def require(self, caller: Caller, action: str, address: RegistryAddress,
                      registry_id: int, repository: str | None,
                      keys: Mapping[str, Any] | None) -> None:
        await self._read(self._iam.require, caller, action, address, registry_id, repository,
                         keys)

    async def verify(self, method: str, raw_path: bytes, query: bytes,
                     headers: Sequence[tuple[bytes, bytes]], body: bytes, service: str,
                     regions: Collection[str] | None, session_token: str | None,
                     once: bool) -> VerifiedRequest:
        """A SigV4-signed request (berth.iam.signed_requests); one used up (``once``) is a
        write: always in a thread."""
        args = (self._iam, method, raw_path, query, headers, body, service, regions,
                session_token, once)
        if once:
            return await blocking(signed_requests.verify, *args)
        return await self._read(signed_requests.verify, *args)
