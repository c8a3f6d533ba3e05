"""shape_output: only modeled members, None dropped, timestamps and blobs encoded for JSON."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from botocore.parsers import create_parser

from berth.api.ecr import model
from berth.api.ecr.serialize import shape_output

from .support import synthetic_operation

OP = synthetic_operation()


def test_unmodeled_members_and_nones_are_dropped_recursively():
    data = {"name": "ab", "secret": "s3cr3t", "count": None,
            "items": [{"name": "xy", "internal_id": 7, "names": None}, None],
            "nested": {"inner": {"items": [], "cursor": "x"}, "other": 1}}
    assert shape_output(OP, data) == {"name": "ab", "items": [{"name": "xy"}],
                                      "nested": {"inner": {"items": []}}}


def test_timestamps_become_epoch_seconds():
    aware = datetime(2026, 1, 2, 3, 4, 5, 250000, tzinfo=timezone(timedelta(hours=2)))
    naive_utc = datetime(1970, 1, 1, 0, 1)
    out = shape_output(OP, {"when": aware, "items": [{"name": "ab", "when": naive_utc}]})
    assert out["when"] == aware.timestamp() == 1767315845.25
    assert out["items"][0]["when"] == 60.0
    assert shape_output(OP, {"when": 12})["when"] == 12


def test_blobs_become_base64():
    assert shape_output(OP, {"data": b"\x00\xff", "items": [{"data": bytearray(b"hi")}]}) == {
        "data": "AP8=", "items": [{"data": "aGk="}]}
    assert shape_output(OP, {"data": "hi"}) == {"data": "aGk="}


def test_maps_and_scalars_pass_through():
    data = {"labels": {"ab": "ALPHA", "cd": None}, "flag": False, "count": 0, "ratio": 0.5}
    assert shape_output(OP, data) == {"labels": {"ab": "ALPHA"}, "flag": False, "count": 0,
                                      "ratio": 0.5}


def test_no_data_is_an_empty_object():
    assert shape_output(OP, None) == {}
    assert shape_output(OP, {}) == {}


def test_botocore_reads_what_we_write():
    operation = model.operation_model("GetAuthorizationToken")
    expires = datetime(2026, 1, 2, 15, 0, tzinfo=timezone.utc)
    data = {"authorizationData": [{"authorizationToken": "QVdTOnNlY3JldA==",
                                   "expiresAt": expires, "proxyEndpoint": "https://x",
                                   "internal": True}]}
    body = json.dumps(shape_output(operation, data)).encode()
    parsed = create_parser("json").parse(
        {"body": body, "headers": {}, "status_code": 200}, operation.output_shape)
    [entry] = parsed["authorizationData"]
    assert entry["expiresAt"] == expires
    assert entry["proxyEndpoint"] == "https://x" and "internal" not in entry
