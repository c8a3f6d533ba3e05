"""Other registries' endpoints, as settings name them: a host name (https), or
``http(s)://host[:port]`` with no path."""
from __future__ import annotations

import re

_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*"
                   r"[A-Za-z0-9])?)*(:[0-9]{1,5})?")


def split_url(url: str) -> tuple[str, str] | None:
    """(scheme, host[:port]) of an upstream's URL: a host name (https), or http(s)://host
    with no path; None if it is not one."""
    scheme, given, rest = url.partition("://")
    if not given:
        scheme, rest = "https", url
    rest = rest[:-1] if given and rest.endswith("/") else rest
    if scheme not in ("http", "https") or not _HOST.fullmatch(rest):
        return None
    port = rest.partition(":")[2]
    return (scheme, rest) if not port or 0 < int(port) < 65536 else None
