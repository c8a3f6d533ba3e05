"""An image's inventory: its layers' inventories applied in order, as a container runtime
stacks them: a layer's whiteouts delete what the layers below it hold at that path (or
under it), an opaque directory everything below it under that directory, and a file in an
upper layer replaces the same path below (a newer package database wins). A lock file's
packages give way to the packages installed beside it."""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..packages import Distro, Package
from .distro import OS_RELEASE_PATHS
from .layers import LayerInventory
from .npm import LOCK_FILES


@dataclass(frozen=True)
class ImageInventory:
    packages: list[Package]
    distro: Distro | None


def _ancestors(path: str):
    yield path
    while "/" in path:
        path = path.rpartition("/")[0]
        yield path


def _deleted(path: str, whiteouts: set[str], opaque: set[str]) -> bool:
    parents = list(_ancestors(path))
    return (any(p in whiteouts for p in parents)
            or any(p in opaque for p in parents[1:]) or ("" in opaque))


def merge(layers: list[tuple[str, LayerInventory]]) -> ImageInventory:
    """``layers``: (digest, inventory) from the lowest layer up."""
    files: dict[str, list[Package]] = {}
    distros: dict[str, Distro] = {}
    for digest, layer in layers:
        whiteouts, opaque = set(layer.whiteouts), set(layer.opaque)
        if whiteouts or opaque:
            for held in (files, distros):
                for path in [p for p in held if _deleted(p, whiteouts, opaque)]:
                    del held[path]
        for path, found in layer.files.items():
            files[path] = [p if p.layer == digest else replace(p, layer=digest) for p in found]
        distros.update(layer.distros)
    _installed_win(files)
    distro = next((distros[p] for p in OS_RELEASE_PATHS if p in distros), None)
    return ImageInventory([p for path in sorted(files) for p in files[path]], distro)


def _installed_win(files: dict[str, list[Package]]) -> None:
    """Drop a lock file's packages where packages are installed beside it (in its
    directory's node_modules): those are what runs, a lock file may be stale or partial."""
    for lock in [p for p in files if p.rpartition("/")[2] in LOCK_FILES]:
        base = lock.rpartition("/")[0]
        installed = f"{base}/node_modules/" if base else "node_modules/"
        if any(p.startswith(installed) and files[p] for p in files):
            del files[lock]
