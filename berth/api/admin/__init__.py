"""The admin API (``POST /admin``): accounts, users, access keys, identity policies and
encryption keys, garbage collection and storage usage over HTTP, for ``berth admin
--endpoint-url``. Modules: ``operations`` (what each does, shared with the offline CLI;
``key_operations`` and ``storage_operations`` add the encryption keys' and the storage's),
``table`` (the operations served, by name), ``access`` (who may), ``endpoint`` (the route)."""
from .endpoint import admin_route
from .operations import TARGET_PREFIX
from .table import OPERATIONS

__all__ = ["OPERATIONS", "TARGET_PREFIX", "admin_route"]
