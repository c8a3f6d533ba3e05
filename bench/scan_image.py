"""What bench/scanning.py scans and matches against: a Debian-based image built from this
machine's dpkg database (layer 1, padded with incompressible file data) and a site-packages of
old Python packages with a few node_modules (layer 2); synthetic OSV advisories for the host's
Debian release; and a pool of stored layer inventories for the rematch of many images."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import random
import tarfile
from dataclasses import dataclass
from pathlib import Path

from berth.scanning.inventory.detectors import _dpkg_parse, _npm_parse, _python_parse

try:
    from berth.scanning.inventory.distro import osv_ecosystem, parse_os_release
except ImportError:  # before the distribution's code had a module of its own
    from berth.scanning.inventory.detectors import osv_ecosystem, parse_os_release
from berth.scanning.inventory.layers import LayerInventory
from berth.scanning.packages import Distro, Package

DPKG_STATUS = Path("/var/lib/dpkg/status")
OS_RELEASE = Path("/etc/os-release")
SITE = "usr/local/lib/python3.11/site-packages"
APP = "srv/app"

# Popular Python packages, versions oldest first: layer 2 of the scanned image holds the oldest
# of each (what an old, unmaintained image carries), the rematch pool a mix leaning new.
PYTHON = {
    "requests": ["2.19.1", "2.25.1", "2.31.0", "2.32.3"],
    "Django": ["2.0", "3.2.4", "4.2.16", "5.1.2"],
    "urllib3": ["1.23", "1.26.5", "2.0.7", "2.2.3"],
    "Jinja2": ["2.10", "2.11.3", "3.1.2", "3.1.4"],
    "PyYAML": ["5.1", "5.3.1", "6.0.1", "6.0.2"],
    "Flask": ["0.12", "1.1.2", "2.3.3", "3.0.3"],
    "Werkzeug": ["0.14", "1.0.1", "2.3.7", "3.0.6"],
    "Pillow": ["6.0.0", "8.2.0", "9.5.0", "10.4.0"],
    "cryptography": ["2.3", "3.3.2", "41.0.3", "43.0.1"],
    "paramiko": ["2.4.1", "2.10.1", "3.4.0"],
    "lxml": ["4.2.0", "4.6.2", "4.9.3", "5.3.0"],
    "numpy": ["1.16.0", "1.21.0", "1.26.4", "2.1.2"],
    "SQLAlchemy": ["1.2.0", "1.3.24", "2.0.35"],
    "psycopg2": ["2.7", "2.8.6", "2.9.9"],
    "celery": ["4.1.0", "5.2.7", "5.4.0"],
    "tornado": ["5.0", "6.1", "6.4.1"],
    "aiohttp": ["3.5.0", "3.8.1", "3.9.5", "3.10.10"],
    "pyOpenSSL": ["17.5.0", "20.0.1", "24.2.1"],
    "certifi": ["2018.4.16", "2022.12.7", "2024.8.30"],
    "idna": ["2.7", "3.4", "3.10"],
    "setuptools": ["39.0.1", "58.1.0", "65.5.0", "75.1.0"],
    "pip": ["18.0", "21.2.4", "23.0.1", "24.2"],
    "wheel": ["0.31.0", "0.37.1", "0.44.0"],
    "Markdown": ["2.6", "3.3.4", "3.7"],
    "bleach": ["2.1", "3.3.0", "6.1.0"],
    "gunicorn": ["19.9.0", "20.1.0", "23.0.0"],
    "Twisted": ["18.4.0", "22.4.0", "24.7.0"],
    "PyJWT": ["1.6.0", "2.3.0", "2.9.0"],
    "httplib2": ["0.11.3", "0.19.0", "0.22.0"],
    "Babel": ["2.6.0", "2.9.0", "2.16.0"],
    "mistune": ["0.8", "2.0.4", "3.0.2"],
    "Pygments": ["2.2.0", "2.7.4", "2.18.0"],
    "protobuf": ["3.6.0", "3.20.1", "5.28.2"],
    "six": ["1.11.0", "1.16.0"],
    "python-dateutil": ["2.7.3", "2.9.0"],
    "pytz": ["2018.5", "2024.2"],
    "MarkupSafe": ["1.0", "2.1.5"],
    "click": ["6.7", "8.1.7"],
    "itsdangerous": ["0.24", "2.2.0"],
    "chardet": ["3.0.4", "5.2.0"],
    "redis": ["2.10.6", "4.5.5", "5.1.1"],
    "boto3": ["1.7.0", "1.35.40"],
    "botocore": ["1.10.0", "1.35.40"],
    "rsa": ["3.4.2", "4.9"],
    "pyasn1": ["0.4.2", "0.6.1"],
    "waitress": ["1.1.0", "3.0.0"],
    "scipy": ["1.1.0", "1.14.1"],
    "pandas": ["0.23.0", "2.2.3"],
}
SCANNED_PYTHON = 32  # the first 32 of PYTHON, at their oldest versions, in layer 2
NPM = {"lodash": "4.17.4", "express": "4.15.0", "minimist": "1.2.0", "axios": "0.18.0",
       "moment": "2.19.0", "jquery": "3.3.1"}
NPM_POOL = {"lodash": ["4.17.4", "4.17.21"], "express": ["4.15.0", "4.21.1"],
            "minimist": ["1.2.0", "1.2.8"], "axios": ["0.18.0", "1.7.7"],
            "moment": ["2.19.0", "2.30.1"], "jquery": ["3.3.1", "3.7.1"],
            "debug": ["2.6.8", "4.3.7"], "qs": ["6.5.1", "6.13.0"],
            "semver": ["5.4.1", "7.6.3"], "ws": ["5.1.1", "8.18.0"]}


# -- the host's packages --------------------------------------------------------------------
def host_status(limit: int = 0) -> bytes:
    """This machine's dpkg status file; with ``limit``, its first ``limit`` stanzas."""
    data = DPKG_STATUS.read_bytes()
    if not limit:
        return data
    stanzas = [s for s in data.decode().split("\n\n") if s.strip()]
    return ("\n\n".join(stanzas[:limit]) + "\n").encode()


def host_distro() -> tuple[bytes, Distro, str]:
    """(os-release bytes, distro, OSV ecosystem) of this machine."""
    data = OS_RELEASE.read_bytes()
    distro = parse_os_release(data)
    ecosystem = osv_ecosystem(distro) if distro else None
    if ecosystem is None:
        raise SystemExit(f"this machine's os-release names no distribution OSV knows: {distro}")
    return data, distro, ecosystem


def host_packages() -> list[Package]:
    return _dpkg_parse("var/lib/dpkg/status", DPKG_STATUS.read_bytes())


def essential(status: bytes) -> set[str]:
    """Names of the packages every image of the distribution has (Essential or required)."""
    names = set()
    for stanza in status.decode().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.split("\n")
                      if ": " in line and not line[:1].isspace())
        if fields.get("Essential") == "yes" or fields.get("Priority") == "required":
            names.add(fields.get("Package", ""))
    return names


@dataclass(frozen=True)
class Host:
    """This machine as layer 1 of the scanned image carries it."""
    os_release: bytes
    distro: Distro
    ecosystem: str          # the distribution's OSV ecosystem
    status: bytes           # the dpkg status file (its first --os-packages stanzas)
    packages: list[Package]  # parsed from ``status``
    required: set[str]      # names of the essential and required packages

    @property
    def required_sources(self) -> list[str]:
        return sorted({p.source_name or p.name for p in self.packages if p.name in self.required})


def describe_host(limit: int = 0) -> Host:
    """This machine's distribution and packages; with ``limit``, its first ``limit`` stanzas."""
    os_release, distro, ecosystem = host_distro()
    status = host_status(limit)
    return Host(os_release, distro, ecosystem, status,
                _dpkg_parse("var/lib/dpkg/status", status), essential(status))


# -- advisories -----------------------------------------------------------------------------
STRONG = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
MEDIUM = "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:L/A:N"


def debian_advisory(n: int, ecosystem: str, source: str, fixed: str, modified: str,
                    vector: str | None) -> dict:
    cve = f"CVE-2099-{10000 + n}"
    record = {
        "schema_version": "1.6.0", "id": f"DEBIAN-{cve}", "modified": modified,
        "published": "2099-01-01T00:00:00Z", "aliases": [cve],
        "summary": f"{source}: a flaw written for berth's scanning benchmark",
        "details": (f"A synthetic advisory against the {source} source package of "
                    f"{ecosystem}, fixed in {fixed}. " * 4).strip(),
        "affected": [{"package": {"ecosystem": ecosystem, "name": source},
                      "ranges": [{"type": "ECOSYSTEM",
                                  "events": [{"introduced": "0"}, {"fixed": fixed}]}],
                      "ecosystem_specific": {"urgency": "medium"}}],
        "references": [{"type": "ADVISORY",
                        "url": f"https://security-tracker.debian.org/tracker/{cve}"}]}
    if vector:
        record["severity"] = [{"type": "CVSS_V3", "score": vector}]
    return record


def source_versions(packages: list[Package]) -> dict[str, str]:
    """Each source package of ``packages`` and its version (the highest its binaries name)."""
    from univers.versions import DebianVersion
    found: dict[str, str] = {}
    for p in packages:
        name, version = p.source_name or p.name, p.source_version or p.version
        if name not in found or DebianVersion(version) > DebianVersion(found[name]):
            found[name] = version
    return found


def debian_advisories(ecosystem: str, packages: list[Package], count: int, must: set[str],
                      seed: int = 7) -> list[dict]:
    """``count`` advisories, one per source package (``must`` ones among them, the rest
    chosen at random), each fixed past the installed version: every one matches."""
    sources = source_versions(packages)
    rng = random.Random(seed)
    chosen = sorted(must & set(sources))[:count]
    rest = sorted(set(sources) - set(chosen))
    chosen += rng.sample(rest, max(0, min(count - len(chosen), len(rest))))
    return [debian_advisory(i, ecosystem, src, f"{sources[src]}+bench1",
                            "2099-01-02T00:00:00Z", (STRONG, MEDIUM, None)[i % 3])
            for i, src in enumerate(sorted(chosen))]


def write_records(folder: Path, records: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for record in records:
        (folder / f"{record['id']}.json").write_text(json.dumps(record))
    return folder


# -- the scanned image ----------------------------------------------------------------------
def python_metadata(name: str, version: str) -> dict[str, bytes]:
    info = f"{SITE}/{name.replace('-', '_')}-{version}.dist-info"
    metadata = (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                f"Summary: {name} as an old image carries it\nLicense: UNKNOWN\n\n"
                f"{name} {version}\n")
    return {f"{info}/METADATA": metadata.encode(), f"{info}/WHEEL":
            b"Wheel-Version: 1.0\nGenerator: bdist_wheel\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
            f"{info}/INSTALLER": b"pip\n",
            f"{info}/RECORD": f"{info}/METADATA,,\n".encode(),
            f"{SITE}/{name.lower().replace('-', '_')}/__init__.py":
            f"__version__ = {version!r}\n".encode()}


def npm_package(name: str, version: str) -> dict[str, bytes]:
    return {f"{APP}/node_modules/{name}/package.json":
            json.dumps({"name": name, "version": version, "main": "index.js"}).encode(),
            f"{APP}/node_modules/{name}/index.js": b"module.exports = {};\n"}


def app_files() -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for name in list(PYTHON)[:SCANNED_PYTHON]:
        files.update(python_metadata(name, PYTHON[name][0]))
    for name, version in NPM.items():
        files.update(npm_package(name, version))
    files[f"{APP}/main.py"] = b"import requests\nprint(requests.get('http://x').status_code)\n"
    return files


class _Hashing(io.RawIOBase):
    """Hashes what the tar writer writes (the diff id) on its way to the gzip stream."""

    def __init__(self, target):
        self.target, self.sha = target, hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.sha.update(data)
        return self.target.write(data)


@dataclass(frozen=True)
class Layer:
    path: Path
    digest: str     # of the gzip stream
    diff_id: str    # of the tar
    size: int
    members: int


def write_layer(path: Path, files: dict[str, bytes], filler_bytes: int = 0,
                filler_files: int = 0, seed: int = 1) -> Layer:
    """A gzip'd tar of ``files`` plus ``filler_bytes`` of random bytes in about
    ``filler_files`` files (incompressible: the layer is as large as its data)."""
    rng = random.Random(seed)
    members = 0
    with open(path, "wb") as out, gzip.GzipFile(fileobj=out, mode="wb", compresslevel=1,
                                                mtime=0) as gz:
        hashing = _Hashing(gz)
        with tarfile.open(fileobj=hashing, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            dirs: set[str] = set()

            def add(name: str, data: bytes) -> None:
                nonlocal members
                parts = name.split("/")
                for i in range(1, len(parts)):
                    d = "/".join(parts[:i])
                    if d not in dirs:
                        dirs.add(d)
                        info = tarfile.TarInfo(d)
                        info.type, info.mode = tarfile.DIRTYPE, 0o755
                        tar.addfile(info)
                        members += 1
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.mtime = len(data), 0o644, 1_700_000_000
                tar.addfile(info, io.BytesIO(data))
                members += 1

            for name, data in files.items():
                add(name, data)
            if filler_bytes:
                mean = max(1, filler_bytes // max(1, filler_files))
                left, i = filler_bytes, 0
                while left > 0:
                    size = min(left, rng.randint(mean // 8, 2 * mean - mean // 8))
                    add(f"usr/share/bench/{i // 100:03d}/blob-{i:05d}.bin", os.urandom(size))
                    left -= size
                    i += 1
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            sha.update(chunk)
    return Layer(path, f"sha256:{sha.hexdigest()}", f"sha256:{hashing.sha.hexdigest()}",
                 path.stat().st_size, members)


def image_config(diff_ids: list[str]) -> bytes:
    return json.dumps({"architecture": "amd64", "os": "linux",
                       "config": {"Cmd": ["python3", "/srv/app/main.py"]},
                       "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()


def image_manifest(config: bytes, layers: list[tuple[str, int]],
                   annotations: dict[str, str] | None = None) -> bytes:
    doc = {
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": "sha256:" + hashlib.sha256(config).hexdigest(),
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": d, "size": s} for d, s in layers]}
    if annotations:
        doc["annotations"] = annotations
    return json.dumps(doc).encode()


# -- the rematch pool -----------------------------------------------------------------------
@dataclass(frozen=True)
class PoolLayer:
    digest: str
    kind: str       # base | python | npm | app
    content: bytes  # LayerInventory.dumps()
    packages: int


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def layer_pool(size: int, os_release: bytes, packages: list[Package], must: set[str],
               seed: int = 11) -> list[PoolLayer]:
    """``size`` layer inventories: 5% Debian bases (the essential packages and a random
    80-400 of the host's others), 55% Python site-packages (5-30 packages), 20% node_modules,
    20% application layers with no package."""
    rng = random.Random(seed)
    distro = parse_os_release(os_release)
    required = [p for p in packages if p.name in must]
    others = [p for p in packages if p.name not in must]
    pool = []
    for i in range(size):
        share = i / size
        inv = LayerInventory()
        if share < 0.05:
            kind = "base"
            chosen = required + rng.sample(others, min(len(others), rng.randint(80, 400)))
            chosen.sort(key=lambda p: p.name)
            inv.files["var/lib/dpkg/status"] = chosen
            inv.distros["etc/os-release"] = distro
        elif share < 0.60:
            kind = "python"
            for name in rng.sample(sorted(PYTHON), rng.randint(5, 30)):
                versions = PYTHON[name]
                version = versions[-1] if rng.random() < 0.5 else rng.choice(versions)
                path = f"{SITE}/{name.replace('-', '_')}-{version}.dist-info/METADATA"
                inv.files[path] = _python_parse(path, python_metadata(name, version)[path])
        elif share < 0.80:
            kind = "npm"
            for name in rng.sample(sorted(NPM_POOL), rng.randint(3, len(NPM_POOL))):
                version = rng.choice(NPM_POOL[name])
                path = f"{APP}/node_modules/{name}/package.json"
                inv.files[path] = _npm_parse(path, npm_package(name, version)[path])
        else:
            kind = "app"
        count = sum(len(v) for v in inv.files.values())
        pool.append(PoolLayer(_digest(f"pool-layer-{i}"), kind, inv.dumps(), count))
    return pool


def pool_image(rng: random.Random, pool: list[PoolLayer]) -> list[str]:
    """The layers of one image: a base, then one to three of Python, npm or app layers."""
    bases = [p for p in pool if p.kind == "base"]
    rest = [p for p in pool if p.kind != "base"]
    return [rng.choice(bases).digest] + [p.digest for p in rng.sample(rest, rng.randint(1, 3))]
