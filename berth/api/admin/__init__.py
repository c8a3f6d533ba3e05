"""The admin API (``POST /admin``): accounts, users, access keys and identity policies over
HTTP, for ``berth admin --endpoint-url``. Modules: ``operations`` (what each does, shared with
the offline CLI), ``access`` (who may), ``endpoint`` (the route), ``client`` (the caller)."""
from .endpoint import admin_route
from .operations import OPERATIONS, TARGET_PREFIX

__all__ = ["OPERATIONS", "TARGET_PREFIX", "admin_route"]
