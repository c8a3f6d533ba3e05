"""Image contents for scanning tests: a Debian base (os-release and a dpkg database), real
old wheels installed as pip installs them (downloaded from PyPI, unpacked into
site-packages), npm packages, and small OSV advisories for the ecosystems the shared data
lacks (Debian, npm)."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

SITE = "usr/local/lib/python3.11/site-packages"
STRONG = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"   # 9.8 CRITICAL
MEDIUM = "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:L/A:N"   # 4.2 MEDIUM


def debian_base(packages: list[tuple[str, str, str | None]]) -> dict[str, bytes]:
    """os-release of Debian 12 and a dpkg status listing (name, version, source) packages."""
    stanzas = []
    for name, version, source in packages:
        lines = [f"Package: {name}", "Status: install ok installed", "Priority: optional",
                 "Architecture: amd64", f"Version: {version}"]
        if source:
            lines.insert(4, f"Source: {source}")
        lines.append(f"Description: {name} for berth's scanning tests")
        stanzas.append("\n".join(lines))
    os_release = ('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n'
                  'VERSION_ID="12"\nVERSION="12 (bookworm)"\nID=debian\n')
    return {"etc/os-release": os_release.encode(),
            "var/lib/dpkg/status": ("\n\n".join(stanzas) + "\n").encode()}


def wheels(requirements: list[str], workdir: Path) -> dict[str, bytes]:
    """The files of these pinned wheels, installed into site-packages as pip lays them out."""
    target = workdir / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                    "--only-binary=:all:", "-d", str(target), *requirements], check=True,
                   timeout=300, capture_output=True)
    files: dict[str, bytes] = {}
    for wheel in sorted(target.glob("*.whl")):
        with zipfile.ZipFile(wheel) as archive:
            for name in archive.namelist():
                if not name.endswith("/"):
                    files[f"{SITE}/{name}"] = archive.read(name)
    return files


def npm_package(name: str, version: str, app: str = "srv/app") -> dict[str, bytes]:
    return {f"{app}/node_modules/{name}/package.json": json.dumps(
        {"name": name, "version": version, "main": "index.js"}).encode(),
        f"{app}/node_modules/{name}/index.js": b"module.exports = {};\n"}


def advisory(vuln_id: str, ecosystem: str, package: str, fixed: str | None,
             vector: str | None = STRONG, aliases: tuple[str, ...] = (),
             modified: str = "2026-11-01T00:00:00Z") -> dict:
    events = [{"introduced": "0"}] + ([{"fixed": fixed}] if fixed else [])
    record = {"schema_version": "1.6.0", "id": vuln_id, "modified": modified,
              "published": "2026-10-01T00:00:00Z", "aliases": list(aliases),
              "summary": f"{package}: a flaw written for berth's scanning tests",
              "details": f"A test advisory against {package} before {fixed}.",
              "affected": [{"package": {"ecosystem": ecosystem, "name": package},
                            "ranges": [{"type": "ECOSYSTEM", "events": events}]}],
              "references": [{"type": "WEB", "url": f"https://example.test/{vuln_id}"}]}
    if vector:
        record["severity"] = [{"type": "CVSS_V3", "score": vector}]
    return record


def write_advisories(folder: Path, records: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for record in records:
        (folder / f"{record['id']}.json").write_text(json.dumps(record))
    return folder


def _jar(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\n")
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _pom(coordinates: str) -> dict[str, bytes]:
    group, artifact, version = coordinates.split(":")
    return {f"META-INF/maven/{group}/{artifact}/pom.properties":
            f"version={version}\ngroupId={group}\nartifactId={artifact}\n".encode()}


def spring_boot_jar(app: str, libraries: list[str]) -> bytes:
    """A Spring Boot application jar bundling ``libraries`` (group:artifact:version) in
    BOOT-INF/lib, each a jar with Maven's pom.properties, as the Maven build leaves them."""
    bundled = {f"BOOT-INF/lib/{c.split(':')[1]}-{c.split(':')[2]}.jar": _jar(_pom(c))
               for c in libraries}
    return _jar({**_pom(app), **bundled})
