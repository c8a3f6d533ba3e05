"""Handler results shaped into an operation's JSON output: exactly the modeled members (None and
unmodeled keys dropped, so internal fields never leak), timestamps as epoch seconds, blobs as
base64 -- what botocore's JSON parser expects.

Each output shape is compiled once into nested emitter functions: a 1,000-image
DescribeImages page is 11,000 members, and walking the model per value cost more than the
query that found them. Scalars that JSON takes as they are get no emitter at all.
"""
from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from datetime import datetime, timezone

from botocore.model import OperationModel, Shape

Emitter = Callable[[object], object]


def shape_output(operation_model: OperationModel, data: Mapping | None) -> dict:
    shape = operation_model.output_shape
    if shape is None or data is None:
        return {}
    return _compiled(shape)(data)


def _compiled(shape: Shape) -> Emitter:
    """The emitter of a shape, built on first use; shapes are per-process model objects."""
    cache = _CACHE.get(id(shape))
    if cache is None or cache[0] is not shape:
        cache = _CACHE[id(shape)] = (shape, _build(shape, {}))
    return cache[1]


_CACHE: dict[int, tuple[Shape, Emitter]] = {}


def _build(shape: Shape, building: dict[str, Emitter]) -> Emitter | None:
    """None for scalars passed through as they are. ``building`` breaks recursive shapes."""
    kind = shape.type_name
    if kind == "structure":
        return _structure(shape, building)
    if kind == "list":
        return _list(_build(shape.member, building))
    if kind == "map":
        return _map(_build(shape.value, building))
    if kind == "timestamp":
        return _timestamp
    if kind == "blob":
        return _blob
    return None


def _structure(shape: Shape, building: dict[str, Emitter]) -> Emitter:
    if shape.name in building:  # recursive: look the finished emitter up at call time
        return lambda value: building[shape.name](value)
    allowed = frozenset(shape.members)
    converters: list[tuple[str, Emitter]] = []

    def emit(value: Mapping) -> dict:
        out = {k: v for k, v in value.items() if v is not None and k in allowed}
        for name, convert in converters:
            if name in out:
                out[name] = convert(out[name])
        return out

    building[shape.name] = emit
    for name, member in shape.members.items():
        convert = _build(member, building)
        if convert is not None:
            converters.append((name, convert))
    return emit


def _list(convert: Emitter | None) -> Emitter:
    if convert is None:
        return lambda value: [item for item in value if item is not None]
    return lambda value: [convert(item) for item in value if item is not None]


def _map(convert: Emitter | None) -> Emitter:
    if convert is None:
        return lambda value: {k: v for k, v in value.items() if v is not None}
    return lambda value: {k: convert(v) for k, v in value.items() if v is not None}


def _timestamp(value: object) -> object:
    """Epoch seconds; handlers may give them as numbers already (cheapest for long lists)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:  # naive datetimes are UTC throughout berth
            value = value.replace(tzinfo=timezone.utc)
        return value.timestamp()
    return value


def _blob(value: object) -> str:
    raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    return base64.b64encode(raw).decode("ascii")
