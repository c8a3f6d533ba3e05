"""The body gate: places per principal and per address, given back however the body ends."""
from __future__ import annotations

import json

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from berth.api.ecr import make_endpoint
from berth.api.http.admission import BodyGate, TooManyRequests

from ..ecr.test_endpoint import TARGET, Fake


def test_places_per_principal_and_per_address():
    gate = BodyGate(per_principal=2, per_address=3)
    with gate.admit("alice", "10.0.0.1"), gate.admit("alice", "10.0.0.2"):
        with pytest.raises(TooManyRequests, match="alice"):
            with gate.admit("alice", "10.0.0.3"):
                pass
        with gate.admit("bob", "10.0.0.1"), gate.admit(None, "10.0.0.1"):
            with pytest.raises(TooManyRequests, match="10.0.0.1"):
                with gate.admit("carol", "10.0.0.1"):
                    pass
    assert gate.in_flight() == 0


def test_a_place_is_given_back_when_the_body_fails():
    gate = BodyGate(per_principal=1, per_address=1)
    with pytest.raises(RuntimeError):
        with gate.admit("alice", "10.0.0.1"):
            raise RuntimeError("client went away")
    with gate.admit("alice", "10.0.0.1"):
        assert gate.in_flight() == 1


def test_large_ecr_bodies_take_a_place_of_their_address():
    fake = Fake()
    app = Starlette(routes=[make_endpoint({"DescribeRepositories": fake.describe_repositories},
                                          fake.authenticate)])
    app.state.body_gate = gate = BodyGate(per_principal=10, per_address=1)
    # Past the inline size, within DescribeRepositories' bound: names written as \u escapes.
    name = '"' + "\\u0061" * 200 + '"'
    large = ('{"repositoryNames": [' + ",".join([name] * 100) + "]}").encode()
    assert 64 * 1024 < len(large) and json.loads(large)["repositoryNames"][0] == "a" * 200
    headers = {"Authorization": "good", "X-Amz-Target": TARGET + "DescribeRepositories"}
    with TestClient(app) as client:
        with gate.admit(None, "testclient"):  # the address's one place is taken
            refused = client.post("/", content=large, headers=headers)
            small = client.post("/", content=b"{}", headers=headers)  # needs no place
        assert refused.status_code == 400
        assert refused.json()["__type"] == "ThrottlingException"
        assert small.status_code == 200
        assert client.post("/", content=large, headers=headers).status_code == 200
