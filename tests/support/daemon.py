"""A background process whose output goes to a log file, stopped by its own pid/process group."""
from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Mapping, Sequence


class Daemon:
    def __init__(self, argv: Sequence[str | os.PathLike], log_path: Path, env: Mapping[str, str] | None = None,
                 cwd: Path | None = None):
        self.argv = [os.fspath(a) for a in argv]
        self.log_path = Path(log_path)
        self.env = None if env is None else {**os.environ, **env}
        self.cwd = cwd
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Daemon":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"$ {' '.join(self.argv)}\n".encode())
            log.flush()
            # Own session, so stop() can signal exactly the group this process created.
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=self.env, cwd=self.cwd, start_new_session=True)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def log_text(self, limit: int = 20000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "<no log file>"
        return text if len(text) <= limit else "...[truncated]...\n" + text[-limit:]

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM, wait, then SIGKILL the process group this daemon started."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # leftovers in the group we created, if any
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
