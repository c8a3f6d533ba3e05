"""npm packages: those installed (``node_modules/**/package.json``) and those a project's lock
file pins (``package-lock.json`` and ``npm-shrinkwrap.json`` of lockfile versions 1 to 3,
``yarn.lock`` of Yarn 1 and of Yarn 2+, ``pnpm-lock.yaml`` of lockfile versions 5 to 9).

Dependencies a lock file marks as development-only are not reported (as Trivy does): images
ship without them. Where packages are installed beside a lock file, the installed ones are
the truth and the lock file's are dropped (``berth.scanning.inventory.image``). Lock files
are read as text, line by line where they are not JSON: no YAML is evaluated."""
from __future__ import annotations

import re

import orjson
from packageurl import PackageURL

from ..packages import NODE, DetectorError, Package, database_text

LOCK_FILES = ("package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml")
# A 14 MiB package-lock.json (45,000 packages) peaks at ~80 MiB more while parsed.
LOCK_MAX_BYTES = 16 * 1024 * 1024
# A registry version (semver, perhaps with a prerelease or build): not a URL, path or tag.
_VERSION = re.compile(r"\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]*)?")


def package(name: object, version: object, path: str, pinned: bool = True) -> Package | None:
    """The npm package ``name``@``version`` read from ``path``, or None where the name is
    not valid or, for a lock file's (``pinned``), the version is not one the registry could
    have served (a git URL, a local path)."""
    if not isinstance(name, str) or not isinstance(version, str):
        return None
    name, version = name.strip(), version.strip()
    if not name or not version or (pinned and not _VERSION.fullmatch(version)):
        return None
    scope, _, bare = name.partition("/") if name.startswith("@") else ("", "", name)
    if not bare or "/" in bare or scope == "@":
        return None
    try:
        purl = PackageURL(type="npm", namespace=scope or None, name=bare,
                          version=version).to_string()
    except (ValueError, TypeError):
        return None
    return Package("npm", name, version, purl, path, NODE)


# -- installed: node_modules/<name>/package.json ------------------------------------------
def installed_wants(path: str) -> bool:
    if not path.endswith("/package.json"):
        return False
    parts = path.split("/")
    if len(parts) < 3 or parts[-2][:1] in ("@", ".", ""):
        return False
    return parts[-3] == "node_modules" or (
        len(parts) >= 4 and parts[-3][:1] == "@" and parts[-4] == "node_modules")


def installed_parse(path: str, data: bytes) -> list[Package]:
    manifest = _document(data, "package.json")
    # No name or version: test fixtures and private workspace stubs shipped in node_modules.
    found = package(manifest.get("name"), manifest.get("version"), path, pinned=False)
    return [found] if found else []


# -- lock files ---------------------------------------------------------------------------
def lock_wants(path: str) -> bool:
    """A project's lock file; not one a package ships inside node_modules (nor npm's own
    record of node_modules, ``node_modules/.package-lock.json``: the installed packages are
    read themselves)."""
    name = path.rpartition("/")[2]
    return name in LOCK_FILES and "node_modules/" not in path


def lock_parse(path: str, data: bytes) -> list[Package]:
    name = path.rpartition("/")[2]
    if name == "yarn.lock":
        found = _yarn(database_text(data), path)
    elif name == "pnpm-lock.yaml":
        found = _pnpm(database_text(data), path)
    else:
        found = _package_lock(_document(data, name), path)
    unique = {(p.name, p.version): p for p in found if p is not None}
    return [unique[key] for key in sorted(unique)]


def _package_lock(lock: dict, path: str) -> list[Package | None]:
    packages = lock.get("packages")
    if isinstance(packages, dict):  # lockfile versions 2 and 3
        return [package(entry.get("name") or key.rpartition("node_modules/")[2],
                        entry.get("version"), path)
                for key, entry in packages.items()
                if "node_modules/" in key and isinstance(entry, dict)
                and not entry.get("dev") and not entry.get("link")]
    found: list[Package | None] = []
    pending = [lock.get("dependencies")]  # lockfile version 1: nested by dependency
    while pending:
        level = pending.pop()
        if not isinstance(level, dict):
            continue
        for key, entry in level.items():
            if isinstance(entry, dict) and not entry.get("dev"):
                found.append(package(key, entry.get("version"), path))
                pending.append(entry.get("dependencies"))
    return found


def _yarn_name(spec: str) -> str | None:
    """The registry package a descriptor resolves to: "lodash@^4", Yarn 2's
    "@types/node@npm:^20", an alias's target ("cjs@npm:string-width@^4"); None for one
    resolved elsewhere (workspace:, link:, file:, patch:, git and GitHub, tarball URLs)."""
    at = spec.find("@", 1)
    if at < 0:
        return None
    name, wanted = spec[:at], spec[at + 1:]
    if wanted.startswith("npm:"):
        target = wanted[4:]
        return target[:target.find("@", 1)] if target.find("@", 1) > 0 else name
    return None if ":" in wanted or "/" in wanted else name


def _yarn(text: str, path: str) -> list[Package | None]:
    """Entries start at column 0 ("lodash@^4.17.0, lodash@^4.17.20:"); their ``version``
    line is indented ('version "4.17.21"' in Yarn 1, "version: 4.17.21" in Yarn 2+)."""
    found: list[Package | None] = []
    name = None
    for line in text.splitlines():
        if line[:1] not in ("", " ", "#"):
            first = line.rstrip(":").split(",")[0].strip().strip('"')
            name = _yarn_name(first)
        elif name and line.startswith("  version"):
            version = line[len("  version"):].lstrip(":").strip().strip('"')
            found.append(package(name, version, path))
            name = None
    return found


_PNPM_VERSION = re.compile(r"""^lockfileVersion:\s*['"]?(\d+)""", re.M)


def _pnpm(text: str, path: str) -> list[Package | None]:
    """The keys of the top-level ``packages:`` map, at an indent of two: "/lodash/4.17.21"
    (versions 5), "/lodash@4.17.21" (6), "lodash@4.17.21" (9), peers in "_..." or "(...)"
    after the version; a "dev: true" below a key marks it development-only (5 and 6)."""
    version = _PNPM_VERSION.search(text)
    slashed = version is not None and int(version.group(1)) < 6
    entries: dict[str, bool] = {}  # key: development-only
    key, inside = None, False
    for line in text.splitlines():
        if line[:1] not in ("", " ", "#"):
            inside, key = line.rstrip() == "packages:", None
        elif inside and line.startswith("  ") and line[2:3] not in (" ", "#", ""):
            key = line.strip().rstrip(":").strip("'\"")
            entries[key] = False
        elif inside and key and line.strip() == "dev: true":
            entries[key] = True
    return [_pnpm_package(key, slashed, path) for key, dev in entries.items() if not dev]


def _pnpm_package(key: str, slashed: bool, path: str) -> Package | None:
    key = key.lstrip("/").split("(")[0]
    if slashed:
        name, _, version = key.rpartition("/")
        version = version.split("_")[0]
    else:
        at = key.find("@", 1)
        name, version = (key[:at], key[at + 1:]) if at > 0 else (key, "")
    return package(name, version, path)


def _document(data: bytes, what: str) -> dict:
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise DetectorError(f"{what}: invalid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise DetectorError(f"{what} is not an object")
    return document
