"""berth/api's packages are front-ends: they parse, authorize and translate, and reach the
database only through the domain facades (berth.registry.registry.Registry, berth.iam.service.
Iam). So no module under berth/api imports berth.storage (storage's errors reach them as
the domain's: berth.registry.errors) or reads an attribute named ``db``; and handlers never choose threads: only the protocols' dispatchers (an endpoint that
runs a plain handler in a thread) and the HTTP machinery import berth.concurrency."""
from __future__ import annotations

import ast
from pathlib import Path

import berth

API = Path(berth.__file__).parent / "api"
STORAGE = "berth.storage"

CONCURRENCY = "berth.concurrency"
# Where a thread is chosen for a front-end: the dispatchers of the AWS-style protocols (one
# hop per call), the console's dispatcher of admin operations, and the HTTP machinery.
DISPATCHERS = {"ecr/endpoint.py", "admin/endpoint.py", "sts/endpoint.py", "console/calls.py",
               "http/protocol.py", "http/bodies.py"}


def _package(path: Path) -> list[str]:
    parts = ["berth", "api", *path.relative_to(API).with_suffix("").parts]
    return parts if path.name == "__init__.py" else parts[:-1]


def _imported(node: ast.ImportFrom, path: Path) -> list[str]:
    """The modules ``node`` may import (a name it imports may be a module too)."""
    package = _package(path)
    base = ".".join(package[:len(package) - node.level + 1]) if node.level else ""
    module = ".".join(part for part in (base, node.module or "") if part)
    return [module, *(f"{module}.{alias.name}" for alias in node.names)]


def _breaches(source: str, path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(source, str(path))):
        if isinstance(node, ast.Attribute) and node.attr == "db":
            found.append((node.lineno, ".db"))
        names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                 else _imported(node, path) if isinstance(node, ast.ImportFrom) else [])
        if any(name == STORAGE or name.startswith(STORAGE + ".") for name in names):
            found.append((node.lineno, f"imports {STORAGE}"))
    return sorted(found)


def _all_breaches() -> dict[str, list[tuple[int, str]]]:
    found = {path.relative_to(API).as_posix(): _breaches(path.read_text(), path)
             for path in sorted(API.rglob("*.py"))}
    return {name: breaches for name, breaches in found.items() if breaches}


def test_front_ends_reach_the_database_only_through_the_facades():
    assert _all_breaches() == {}


def _choosers() -> list[str]:
    found = []
    for path in sorted(API.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else _imported(node, path) if isinstance(node, ast.ImportFrom) else [])
            if any(name == CONCURRENCY or name.startswith(CONCURRENCY + ".")
                   for name in names):
                found.append(path.relative_to(API).as_posix())
    return sorted(set(found) - DISPATCHERS)


def test_handlers_never_choose_threads():
    assert _choosers() == []


def test_the_guard_sees_every_kind_of_breach():
    source = ("from ...storage.metadata import registries\n"
              "from ...storage import metadata\n"
              "import berth.storage.metadata.database\n"
              "from ...storage.blobs import BlobDriver\n"
              "def f(registry):\n"
              "    return registry.db\n")
    # As if it were berth/api/admin/example.py: three dots lead to berth.
    assert _breaches(source, API / "admin" / "example.py") == [
        (1, "imports berth.storage"), (2, "imports berth.storage"), (3, "imports berth.storage"),
        (4, "imports berth.storage"), (6, ".db")]
