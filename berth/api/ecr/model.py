"""botocore's ECR service model (``ecr/2015-09-21/service-2.json``), our spec. Loaded on first
use and cached: importing this module does no work."""
from __future__ import annotations

import functools

from botocore.loaders import create_loader
from botocore.model import OperationModel, ServiceModel

SERVICE = "ecr"
API_VERSION = "2015-09-21"


@functools.cache
def _model_data() -> dict:
    return create_loader().load_service_model(SERVICE, "service-2", API_VERSION)


@functools.cache
def service_model() -> ServiceModel:
    return ServiceModel(_model_data(), service_name=SERVICE)


def target_prefix() -> str:
    """What comes before ``.<Operation>`` in X-Amz-Target."""
    return service_model().metadata["targetPrefix"]


@functools.cache
def operation_names() -> frozenset[str]:
    return frozenset(service_model().operation_names)


def operation_model(name: str) -> OperationModel:
    """The named operation's model; KeyError when the model has no such operation."""
    if name not in operation_names():
        raise KeyError(name)
    return service_model().operation_model(name)


@functools.cache
def exception_statuses() -> dict[str, int]:
    """HTTP status of each error shape the model declares: its ``error.httpStatusCode`` when
    given, else 500 for faults (ServerException) and 400 for everything else."""
    # The raw shapes: botocore's Shape objects do not expose "fault".
    statuses = {}
    for name, shape in _model_data()["shapes"].items():
        if shape.get("exception"):
            declared = shape.get("error", {}).get("httpStatusCode")
            statuses[name] = declared or (500 if shape.get("fault") else 400)
    return statuses
