"""botocore's service models of the two ECR APIs, our spec: ECR's (``ecr/2015-09-21``) and
ECR Public's (``ecr-public/2020-10-30``). Loaded on first use and cached: importing this
module does no work."""
from __future__ import annotations

import functools

from botocore.loaders import create_loader
from botocore.model import OperationModel, ServiceModel


class Service:
    def __init__(self, name: str, api_version: str):
        self.name, self.api_version = name, api_version

    @functools.cached_property
    def data(self) -> dict:
        return create_loader().load_service_model(self.name, "service-2", self.api_version)

    @functools.cached_property
    def model(self) -> ServiceModel:
        return ServiceModel(self.data, service_name=self.name)

    @property
    def target_prefix(self) -> str:
        """What comes before ``.<Operation>`` in X-Amz-Target."""
        return self.model.metadata["targetPrefix"]

    @functools.cached_property
    def operation_names(self) -> frozenset[str]:
        return frozenset(self.model.operation_names)

    def operation_model(self, name: str) -> OperationModel:
        """The named operation's model; KeyError when the model has no such operation."""
        if name not in self.operation_names:
            raise KeyError(name)
        return self.model.operation_model(name)

    @functools.cached_property
    def exception_statuses(self) -> dict[str, int]:
        """HTTP status of each error shape the model declares: its ``error.httpStatusCode``
        when given, else 500 for faults (ServerException) and 400 for everything else."""
        # The raw shapes: botocore's Shape objects do not expose "fault".
        statuses = {}
        for name, shape in self.data["shapes"].items():
            if shape.get("exception"):
                declared = shape.get("error", {}).get("httpStatusCode")
                statuses[name] = declared or (500 if shape.get("fault") else 400)
        return statuses


ECR = Service("ecr", "2015-09-21")
ECR_PUBLIC = Service("ecr-public", "2020-10-30")


def service_model() -> ServiceModel:
    return ECR.model


def target_prefix() -> str:
    return ECR.target_prefix


def operation_names() -> frozenset[str]:
    return ECR.operation_names


def operation_model(name: str) -> OperationModel:
    return ECR.operation_model(name)


@functools.cache
def exception_statuses() -> dict[str, int]:
    """The errors either API declares, with their statuses (the two agree on shared names)."""
    return {**ECR_PUBLIC.exception_statuses, **ECR.exception_statuses}
