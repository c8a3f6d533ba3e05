"""Java: Maven's ``pom.properties`` (groupId, artifactId, version), found as a file in a layer
or inside Java archives (.jar, .war, .ear), and inside the archives those bundle (Spring
Boot's BOOT-INF/lib, a war's WEB-INF/lib), one level deep. Archives are read from memory,
bounded: members' declared sizes are checked before anything is unpacked."""
from __future__ import annotations

import io
import zipfile

from packageurl import PackageURL

from ..packages import JAR, DetectorError, Package

ARCHIVES = (".jar", ".war", ".ear")
MAX_ARCHIVE = 64 << 20
MAX_NESTED = 32 << 20
MAX_PROPERTIES = 1 << 20
MAX_MEMBERS = 200_000


def pom_wants(path: str) -> bool:
    if not path.endswith("/pom.properties"):
        return False
    parts = path.split("/")
    return len(parts) >= 5 and parts[-4] == "maven" and parts[-5] == "META-INF"


def _properties(text: str) -> dict[str, str]:
    """Java properties, single-line entries only (pom.properties never continues lines)."""
    props: dict[str, str] = {}
    for line in text.split("\n"):
        line = line.strip()
        if not line or line[0] in "#!":
            continue
        key, _, value = line.partition("=") if "=" in line else line.partition(":")
        props.setdefault(key.strip(), value.strip())
    return props


def pom_parse(path: str, data: bytes, reported_as: str | None = None) -> list[Package]:
    if b"\x00" in data:
        raise DetectorError("binary data")
    props = _properties(data.decode("utf-8", errors="replace"))
    parts = path.split("/")
    group = props.get("groupId") or (parts[-3] if len(parts) >= 3 else "")
    artifact = props.get("artifactId") or (parts[-2] if len(parts) >= 2 else "")
    version = props.get("version")
    if not group or not artifact or not version:
        raise DetectorError("no groupId, artifactId or version")
    try:
        purl = PackageURL(type="maven", namespace=group, name=artifact,
                          version=version).to_string()
    except (ValueError, TypeError) as exc:
        raise DetectorError(f"no package URL for {artifact!r}: {exc}") from None
    return [Package("Maven", f"{group}:{artifact}", version, purl, reported_as or path, JAR)]


def archive_wants(path: str) -> bool:
    return path.endswith(ARCHIVES)


def archive_parse(path: str, data: bytes) -> list[Package]:
    """The Maven packages an archive (and the archives it bundles) holds."""
    try:
        return _archive(path, data, nested=True)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError,
            NotImplementedError) as exc:
        if isinstance(exc, DetectorError):
            raise
        raise DetectorError(f"not a readable Java archive: {exc}") from None


def _archive(path: str, data: bytes, nested: bool) -> list[Package]:
    found: list[Package] = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = archive.infolist()
        if len(members) > MAX_MEMBERS:
            raise DetectorError(f"more than {MAX_MEMBERS} entries")
        for member in members:
            name = member.filename
            if pom_wants(name) and member.file_size <= MAX_PROPERTIES:
                try:
                    found += pom_parse(name, archive.read(member), reported_as=path)
                except DetectorError:
                    continue  # one odd pom.properties does not hide the rest
            elif nested and name.endswith(ARCHIVES) and member.file_size <= MAX_NESTED:
                inner = archive.read(member)
                try:
                    found += _archive(f"{path}/{name}", inner, nested=False)
                except (zipfile.BadZipFile, DetectorError):
                    continue
    return _unique(found)


def _unique(found: list[Package]) -> list[Package]:
    seen: dict[tuple[str, str, str], Package] = {}
    for package in found:
        seen.setdefault((package.name, package.version, package.path), package)
    return list(seen.values())
