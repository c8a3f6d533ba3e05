"""Keeping a request's credentials out of what the AWS-style APIs answer and log: SigV4
errors are cut as ``berth.iam.redaction`` does before either endpoint renders them."""
from __future__ import annotations

import functools
from typing import Awaitable, Callable, TypeVar

from starlette.requests import Request

from ..iam.redaction import credentials_in, scrubbed
from ..iam.sigv4 import SigV4Error

T = TypeVar("T")


def scrubbing(verify: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """``verify(request, ...)`` whose SigV4 errors quote none of the request's credentials."""
    @functools.wraps(verify)
    async def verified(request: Request, *args) -> T:
        try:
            return await verify(request, *args)
        except SigV4Error as exc:
            raise scrubbed(exc, credentials_in(request.headers.raw,
                                               request.query_params.multi_items())) from None
    return verified
