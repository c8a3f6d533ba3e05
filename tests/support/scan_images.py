"""Image contents for scanning tests: this Debian machine's own os-release and dpkg database
(dpkg-query as the oracle of what it holds), real old wheels installed as pip installs them
(downloaded from PyPI, unpacked into site-packages), npm packages, a Spring Boot jar, and
small OSV advisories for the ecosystems the shared data lacks (Debian, npm, Maven)."""
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


def host_debian() -> tuple[dict[str, bytes], str]:
    """This Debian machine's own os-release and dpkg database (a real one, hundreds of
    packages), and the OSV ecosystem of its release ("Debian:12")."""
    os_release = Path("/etc/os-release").read_bytes()
    fields = dict(line.split("=", 1) for line in os_release.decode().splitlines() if "=" in line)
    assert fields.get("ID") == "debian", "the tests run on Debian"
    version = fields["VERSION_ID"].strip('"')
    return ({"etc/os-release": os_release,
             "var/lib/dpkg/status": Path("/var/lib/dpkg/status").read_bytes()},
            f"Debian:{version}")


def installed_from(source: str) -> tuple[set[str], str]:
    """dpkg-query's word on this machine: the installed binary packages built from the
    source package ``source``, and that source's version."""
    out = subprocess.run(["dpkg-query", "-W", "-f", "${binary:Package} ${source:Package} "
                          "${source:Version} ${db:Status-Abbrev}\n"], check=True,
                         capture_output=True, text=True).stdout
    rows = [line.split() for line in out.splitlines()]
    found = [(r[0].split(":")[0], r[2]) for r in rows
             if len(r) >= 4 and r[1] == source and r[3].startswith("ii")]
    assert found, f"no package built from {source} is installed here"
    return {name for name, _ in found}, found[0][1]


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
