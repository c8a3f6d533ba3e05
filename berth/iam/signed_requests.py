"""A SigV4-signed request checked against the keys IAM knows (the AWS-style APIs' caller)."""
from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from . import replay
from .sigv4 import VerifiedRequest, verify_request

if TYPE_CHECKING:
    from .service import Iam


def verify(iam: "Iam", method: str, raw_path: bytes, query: bytes,
           headers: Sequence[tuple[bytes, bytes]], body: bytes, service: str,
           regions: Collection[str] | None, session_token: str | None,
           once: bool) -> VerifiedRequest:
    """The signature checked, the body signed (blocking: one read on a warm cache, and, when
    ``once``, a write: the signature is used up, as that of a call that changes state must
    be). ``.identity`` of the result is the ``Caller``. Raises ``SigV4Error``."""
    with iam.db.read() as tx:
        entries = iam.cache.entries(tx)
        verified = verify_request(
            method, raw_path, query, headers, body=body, service=service,
            allowed_regions=regions,
            lookup_secret=lambda key_id: iam.authenticator.secret(tx, entries, key_id,
                                                                  session_token))
    if once:
        replay.ledger(iam.db).claim(verified)
    return verified
