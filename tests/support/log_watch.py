"""Daemon log files whose new output is attached to the report of a failing test."""
from __future__ import annotations

from pathlib import Path

MAX_CHARS = 15000


class LogWatch:
    def __init__(self) -> None:
        self._sources: dict[str, Path] = {}
        self._marks: dict[str, int] = {}

    def add(self, name: str, path: Path) -> None:
        self._sources[name] = Path(path)
        self._marks.setdefault(name, 0)

    def remove(self, name: str) -> None:
        self._sources.pop(name, None)
        self._marks.pop(name, None)

    def mark(self) -> None:
        """Remember where each log ends now; later failures show only what came after."""
        for name, path in self._sources.items():
            self._marks[name] = path.stat().st_size if path.exists() else 0

    def sections(self) -> list[tuple[str, str]]:
        out = []
        for name, path in self._sources.items():
            try:
                with open(path, "rb") as fh:
                    fh.seek(self._marks.get(name, 0))
                    text = fh.read().decode(errors="replace")
            except FileNotFoundError:
                text = "<log file missing>"
            if len(text) > MAX_CHARS:
                text = f"...[{len(text) - MAX_CHARS} chars cut]...\n" + text[-MAX_CHARS:]
            out.append((f"{name} log ({path})", text or "<nothing logged during this test>"))
        return out


LOGS = LogWatch()
