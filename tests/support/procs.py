"""Running external client tools with timeouts and failure messages that include their output."""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Mapping, Sequence

import pytest

DEFAULT_TIMEOUT = 180


def require_binary(path_or_name: str) -> str:
    """Return the absolute path of a tool, failing (never skipping) the test when it is missing."""
    if os.path.isabs(path_or_name):
        found = path_or_name if os.access(path_or_name, os.X_OK) else None
    else:
        found = shutil.which(path_or_name)
    if not found:
        pytest.fail(
            f"required tool {path_or_name!r} is not installed; run scripts/install-system-deps.sh",
            pytrace=False,
        )
    return found


def _tail(text: str, limit: int = 6000) -> str:
    return text if len(text) <= limit else "...[truncated]...\n" + text[-limit:]


def run(
    cmd: Sequence[str | os.PathLike],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    input: bytes | None = None,
    check: bool = True,
    text: bool = True,
) -> subprocess.CompletedProcess:
    """Run a command; on non-zero exit (when check) or timeout, fail with the command, stdout and stderr."""
    argv = [os.fspath(c) for c in cmd]
    full_env = None if env is None else {**os.environ, **env}
    shown = shlex.join(argv)
    try:
        proc = subprocess.run(
            argv,
            env=full_env,
            cwd=cwd,
            input=input if not text or input is None else input.decode(),
            capture_output=True,
            timeout=timeout,
            text=text,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        pytest.fail(
            f"command timed out after {timeout}s: {shown}\n--- stdout ---\n{_tail(out)}\n--- stderr ---\n{_tail(err)}"
        )
    if check and proc.returncode != 0:
        out = proc.stdout if text else proc.stdout.decode(errors="replace")
        err = proc.stderr if text else proc.stderr.decode(errors="replace")
        pytest.fail(
            f"command failed with exit code {proc.returncode}: {shown}\n"
            f"--- stdout ---\n{_tail(out)}\n--- stderr ---\n{_tail(err)}"
        )
    return proc
