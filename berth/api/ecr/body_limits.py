"""The most bytes a valid request body of an ECR operation can have, from botocore's model:
the JSON encoding of its input shape with every string, list and blob at its modeled maximum
(every character escaped as \\uXXXX; ids, ARNs, tokens and lists the model leaves unbounded
at generous sizes). A body past it is refused before it is read whole, so a caller cannot
make the server read, hash and parse megabytes that no valid call carries."""
from __future__ import annotations

import functools
import math

from botocore.model import Shape

from . import model

# No body but UploadLayerPart's (a 20 MiB blob, base64-encoded) may be larger than this:
# the worst case of a few shapes (every tag key escaped, ...) is far above any real call.
CEILING = 8 * 1024 * 1024
# Strings and lists the model sets no maximum for (digests, ARNs, tokens; tag lists).
UNBOUNDED_STRING = 4096
UNBOUNDED_LIST = 256
# A JSON member's punctuation and whitespace around it, generously.
_SLACK = 16
_NUMBER_BYTES = {"integer": 12, "long": 21, "float": 32, "double": 32, "boolean": 5,
                 "timestamp": 40}


@functools.cache
def max_body_bytes(operation: str, service: model.Service = model.ECR) -> int:
    shape = service.operation_model(operation).input_shape
    bound = max(_bound(shape) if shape is not None else 2, 0) + 1024
    return max(bound if _carries_blob(shape) else min(bound, CEILING), 4096)


def _carries_blob(shape: Shape | None) -> bool:
    return shape is not None and any(m.type_name == "blob" for m in shape.members.values())


def _bound(shape: Shape) -> int:
    """Bytes of the largest JSON value of ``shape`` (the ECR model has no recursive shape)."""
    kind, meta = shape.type_name, shape.metadata
    if kind == "string":
        longest = meta.get("max") or max(map(len, meta.get("enum") or []), default=0)
        return 2 + 6 * (longest or UNBOUNDED_STRING)
    if kind == "blob":
        return 2 + 4 * math.ceil(meta.get("max", UNBOUNDED_STRING) / 3)
    if kind in _NUMBER_BYTES:
        return _NUMBER_BYTES[kind]
    count = meta.get("max", UNBOUNDED_LIST)
    if kind == "list":
        return 2 + count * (_bound(shape.member) + 1)
    if kind == "map":
        return 2 + count * (_bound(shape.key) + _bound(shape.value) + _SLACK)
    return 2 + sum(len(name) + _bound(member) + _SLACK
                   for name, member in shape.members.items())
