"""Handler results shaped into an operation's JSON output: exactly the modeled members (None and
unmodeled keys dropped, so internal fields never leak), timestamps as epoch seconds, blobs as
base64 -- what botocore's JSON parser expects."""
from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import datetime, timezone

from botocore.model import OperationModel, Shape


def shape_output(operation_model: OperationModel, data: Mapping | None) -> dict:
    shape = operation_model.output_shape
    if shape is None or data is None:
        return {}
    return _structure(shape, data)


def _emit(shape: Shape, value: object) -> object:
    kind = shape.type_name
    if kind == "structure":
        return _structure(shape, value)
    if kind == "list":
        return [_emit(shape.member, item) for item in value if item is not None]
    if kind == "map":
        return {key: _emit(shape.value, item) for key, item in value.items() if item is not None}
    if kind == "timestamp" and isinstance(value, datetime):
        if value.tzinfo is None:  # naive datetimes are UTC throughout berth
            value = value.replace(tzinfo=timezone.utc)
        return value.timestamp()
    if kind == "blob":
        raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        return base64.b64encode(raw).decode("ascii")
    return value


def _structure(shape: Shape, value: Mapping) -> dict:
    members = shape.members
    return {name: _emit(members[name], item) for name, item in value.items()
            if name in members and item is not None}
