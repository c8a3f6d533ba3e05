"""What a scan finds in an image: packages, each read from one file of one layer, and the
distribution the image is built on."""
from __future__ import annotations

from dataclasses import dataclass

# ECR's enhanced findings name the package manager (Amazon Inspector's values).
OS, PYTHON, NODE, GO, CARGO, JAR, GEM, COMPOSER = (
    "OS", "PYTHONPKG", "NODEPKG", "GOBINARY", "CARGO", "JAR", "GEMSPEC", "COMPOSER")


@dataclass(frozen=True)
class Package:
    """A package as its manager records it. ``ecosystem`` is OSV's ecosystem name without a
    release ("Debian", "Alpine", "PyPI", "npm", "Go", "crates.io", "Maven", "RubyGems",
    "Packagist"); OS advisories name source packages, hence ``source_name`` and
    ``source_version`` (None when they equal the binary's). ``path`` is the file it was read
    from, ``layer`` the digest of the layer that file came from (set by the layer walker)."""
    ecosystem: str
    name: str
    version: str
    purl: str
    path: str
    manager: str
    source_name: str | None = None
    source_version: str | None = None
    arch: str | None = None
    layer: str = ""

    def to_json(self) -> dict:
        # by hand: dataclasses.asdict deep-copies, and rematches render thousands of these
        found = {"ecosystem": self.ecosystem, "name": self.name, "version": self.version,
                 "purl": self.purl, "path": self.path, "manager": self.manager,
                 "layer": self.layer}
        for key in ("source_name", "source_version", "arch"):
            if getattr(self, key) is not None:
                found[key] = getattr(self, key)
        return found

    @classmethod
    def from_json(cls, data: dict) -> "Package":
        return cls(**data)


@dataclass(frozen=True)
class Distro:
    """The distribution an image is built on, from ``os-release``: ``id`` ("debian",
    "alpine", "ubuntu", ...), ``version_id`` ("12", "3.19.1"), ``pretty_name``."""
    id: str
    version_id: str
    pretty_name: str = ""


class DetectorError(ValueError):
    """A package database that cannot be read (corrupt, truncated, not what its name says)."""


def database_text(data: bytes) -> str:
    """A package database's text: a NUL means this is not one (or it is corrupt)."""
    if b"\x00" in data:
        raise DetectorError("binary data")
    return data.decode("utf-8", errors="replace")
