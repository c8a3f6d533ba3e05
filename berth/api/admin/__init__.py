"""The admin API (``POST /admin``): accounts, users, access keys, identity policies and
encryption keys over HTTP, for ``berth admin --endpoint-url``. Modules: ``operations`` (what
each does, shared with the offline CLI; ``key_operations`` adds the encryption keys'),
``access`` (who may), ``endpoint`` (the route), ``client`` (the caller)."""
from . import key_operations, storage_operations  # register their operations
from .endpoint import admin_route
from .operations import OPERATIONS, TARGET_PREFIX

__all__ = ["OPERATIONS", "TARGET_PREFIX", "admin_route", "key_operations",
           "storage_operations"]
