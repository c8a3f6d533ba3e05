"""The admin API's operations: those of the modules listed here, by name."""
from __future__ import annotations

from types import ModuleType

from ...iam.service import Iam
from . import (
    audit_operations,
    federation_operations,
    key_operations,
    lifecycle_operations,
    login_profile_operations,
    notification_operations,
    operations,
    public_operations,
    quota_operations,
    role_operations,
    scanning_operations,
    secret_operations,
    signing_operations,
    site_operations,
    storage_operations,
    usage_operations,
)
from .operations import Operation, validate


def _collect(*modules: ModuleType) -> dict[str, Operation]:
    found = (getattr(value, "admin_operation", None) for module in modules
             for value in vars(module).values())
    return {op.name: op for op in found if op is not None}


OPERATIONS = _collect(operations, key_operations, storage_operations, usage_operations,
                      notification_operations, lifecycle_operations, audit_operations,
                      scanning_operations, secret_operations, site_operations, role_operations,
                      federation_operations, quota_operations, signing_operations,
                      public_operations, login_profile_operations)


def execute(iam: Iam, name: str, params: object, registry=None) -> dict:
    """Run an operation without authorization (the offline CLI owns the database anyway);
    storage operations need the ``registry``."""
    op = OPERATIONS[name]
    return op.handler(registry if op.storage else iam, validate(op, params))
