"""Error bodies, headers and statuses as AWS JSON 1.1 sends them."""
from __future__ import annotations

import json
import uuid

import pytest

from berth.api.ecr import errors, model
from berth.api.ecr.errors import EcrApiError, model_error


def test_rendered_error_has_type_message_and_aws_headers():
    request_id = str(uuid.uuid4())
    response = errors.render(model_error("RepositoryNotFoundException", "no such repo"),
                             request_id)
    assert response.status_code == 400
    assert json.loads(response.body) == {"__type": "RepositoryNotFoundException",
                                         "message": "no such repo"}
    assert response.headers["content-type"] == "application/x-amz-json-1.1"
    assert response.headers["x-amzn-requestid"] == request_id
    assert response.headers["x-amzn-errortype"] == "RepositoryNotFoundException"


def test_server_exception_is_the_models_fault_and_500():
    error = errors.server_error()
    assert (error.code, error.status) == ("ServerException", 500)
    assert errors.render(error, "r").status_code == 500


def test_every_modeled_exception_is_400_except_the_fault():
    statuses = model.exception_statuses()
    assert len(statuses) >= 30
    assert {code for code, status in statuses.items() if status != 400} == {"ServerException"}
    for code in statuses:
        assert model_error(code).status == statuses[code]


def test_unknown_codes_are_refused():
    with pytest.raises(ValueError):
        model_error("RepositoryNotFound")


@pytest.mark.parametrize("factory, code", [
    (errors.invalid_parameter, "InvalidParameterException"),
    (errors.serialization_error, "SerializationException"),
    (errors.unknown_operation, "UnknownOperationException"),
    (errors.access_denied, "AccessDeniedException"),
])
def test_protocol_errors_are_400(factory, code):
    error = factory("why")
    assert (error.code, error.message, error.status) == (code, "why", 400)
    assert error.body() == {"__type": code, "message": "why"}


def test_handlers_may_raise_any_code_they_like():
    error = EcrApiError("ThrottlingException", "slow down", 400)
    assert errors.render(error, "r").headers["x-amzn-errortype"] == "ThrottlingException"
