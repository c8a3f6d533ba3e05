"""The one error the policy language raises for a document it cannot accept."""
from __future__ import annotations


class PolicyError(ValueError):
    """A malformed or invalid policy document.

    ``str(error)`` is ``"<where>: <what>"``, e.g.
    ``Statement[1].Condition.StringEquals.aws:username: value must be ...``; ``path`` and
    ``detail`` hold the two halves (``path`` is empty when the whole document is at fault).
    """

    def __init__(self, message: str, *, path: str = "", detail: str | None = None):
        super().__init__(message)
        self.message = message
        self.path = path
        self.detail = detail if detail is not None else message

    @classmethod
    def at(cls, path: str, detail: str) -> "PolicyError":
        return cls(f"{path}: {detail}" if path else detail, path=path, detail=detail)
