"""ECR operations: (filled in by its owner)."""
from __future__ import annotations

OPERATIONS: dict = {}
