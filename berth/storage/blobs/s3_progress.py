"""The S3 driver's upload state: what is acknowledged of an upload, as stored with it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .base import UploadState


@dataclass(frozen=True)
class Progress:
    """What the driver state says: the multipart upload, its parts, the tail."""
    mpu: str = ""                              # object name of the multipart upload
    mpu_id: str = ""                           # S3's UploadId
    parts: tuple[tuple[str, int], ...] = ()    # (ETag, size) of parts 1..n
    tail: str = ""
    tail_size: int = 0

    @property
    def parts_size(self) -> int:
        return sum(size for _, size in self.parts)

    @property
    def size(self) -> int:
        return self.parts_size + self.tail_size

    @classmethod
    def load(cls, state: UploadState) -> "Progress":
        return cls(mpu=state.get("mpu", ""), mpu_id=state.get("mpu_id", ""),
                   parts=tuple((etag, int(size)) for etag, size in state.get("parts", ())),
                   tail=state.get("tail", ""), tail_size=int(state.get("tail_size", 0)))

    def dump(self) -> UploadState:
        state: dict[str, Any] = {}
        if self.mpu_id:
            state.update(mpu=self.mpu, mpu_id=self.mpu_id, parts=[list(p) for p in self.parts])
        if self.tail:
            state.update(tail=self.tail, tail_size=self.tail_size)
        return state


def checked(state: UploadState, size: int) -> Progress:
    """The state's progress, which must hold exactly ``size`` bytes."""
    progress = Progress.load(state)
    if size != progress.size:
        raise ValueError(f"upload state holds {progress.size} bytes, not {size}")
    return progress
