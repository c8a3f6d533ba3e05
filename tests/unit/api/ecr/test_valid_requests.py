"""The validator never rejects a valid request: for every ECR operation, requests built from
the model and put into JSON by botocore's own serializer, as a real client would send them."""
from __future__ import annotations

import json

import pytest
from botocore.serialize import create_serializer
from botocore.validate import validate_parameters
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from berth.api.ecr import model
from berth.api.ecr.validation import validate_input

from .support import instances, minimal_instance

OPERATIONS = sorted(model.service_model().operation_names)


def _as_sent(operation, params) -> object:
    """The JSON body botocore puts on the wire for these params, decoded."""
    validate_parameters(params, operation.input_shape)  # the client agrees they are valid
    body = create_serializer("json").serialize_to_request(params, operation)["body"]
    return json.loads(body or b"{}")


def test_the_model_has_every_operation_we_expect():
    assert len(OPERATIONS) >= 40
    assert {"GetAuthorizationToken", "PutImage", "BatchGetImage", "UploadLayerPart",
            "CreateRepository", "DescribeImages"} <= set(OPERATIONS)


@pytest.mark.parametrize("name", OPERATIONS)
def test_a_minimal_request_is_accepted_unchanged(name):
    operation = model.operation_model(name)
    params = minimal_instance(operation.input_shape) if operation.input_shape else {}
    assert validate_input(operation, _as_sent(operation, params)) == params


# One test over all operations: generating strings from the model's regexes is slow.
@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_any_valid_request_is_accepted_unchanged(data):
    operation = model.operation_model(data.draw(st.sampled_from(OPERATIONS), label="operation"))
    params = data.draw(instances(operation.input_shape)) if operation.input_shape else {}
    assert validate_input(operation, _as_sent(operation, params)) == params
