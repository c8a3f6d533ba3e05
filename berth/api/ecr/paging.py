"""One nextToken scheme for every paged ECR operation: opaque to clients, bound to the
operation, the repository (or registry) and the filter it came from, carrying the domain's
cursor (a string or a list of strings)."""
from __future__ import annotations

import base64
import binascii
import json

from .endpoint import ApiCall
from .errors import invalid_parameter


def token(call: ApiCall, name: str, scope: str, cursor) -> str:
    raw = json.dumps([call.operation, name, scope, cursor], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode()


def cursor(call: ApiCall, name: str, scope: str, pair: bool = False):
    """The cursor the request's nextToken carries (None without one); InvalidParameter if it
    is not one this operation gave for this repository and filter."""
    given = call.params.get("nextToken")
    if given is None:
        return None
    try:
        operation, repository, their_scope, found = json.loads(base64.urlsafe_b64decode(given))
        valid = (operation, repository, their_scope) == (call.operation, name, scope)
    except (ValueError, TypeError, binascii.Error):
        valid = False
    if not valid or not _shape(found, pair):
        raise invalid_parameter("Invalid parameter at 'nextToken' failed to satisfy constraint: "
                                "'The nextToken is not valid for this request'")
    return found


def prefixed_page(call: ApiCall, registry: str, prefixes: list[str] | None, items: list,
                  page_max: int) -> tuple[list, str | None]:
    """A page of ``items`` (sorted by their ``key``: a prefix) listed for ``prefixes`` (None:
    all), after the request's nextToken, and the next page's token (None at the end)."""
    scope = f"{registry}:{','.join(sorted(prefixes or ()))}"
    after = cursor(call, "", scope) or ""
    limit = min(call.params.get("maxResults", page_max), page_max)
    rest = [item for item in items if item.key > after]
    if len(rest) <= limit:
        return rest, None
    return rest[:limit], token(call, "", scope, rest[limit - 1].key)


def _shape(found, pair: bool) -> bool:
    if pair:
        return (isinstance(found, list) and len(found) == 2
                and all(isinstance(c, str) for c in found))
    return isinstance(found, str)
