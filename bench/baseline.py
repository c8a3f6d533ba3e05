"""Berth as it was at another git revision, run beside this tree in the same invocation: the
revision is checked out once into a worktree under the workdir, and its server imports berth
from there (PYTHONPATH), with this venv's packages."""
from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def checkout(workdir: Path, revision: str) -> Path:
    tree = workdir / f"baseline-{revision.replace('/', '_')}"
    if not tree.exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet",
                        str(tree), revision], check=True)
    return tree


def remove(tree: Path) -> None:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                   check=False)


def env(tree: Path) -> dict[str, str]:
    return {"PYTHONPATH": str(tree)}
