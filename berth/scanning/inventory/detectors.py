"""Package detectors: pure functions from the bytes of one file found in a layer to the
packages it records. Paths are layer member paths without a leading "/" or "./"."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Callable

from packageurl import PackageURL

from . import java, npm, rpm
from berth.scanning.packages import (
    COMPOSER, GEM, OS, PYTHON, DetectorError, Package, database_text)

OS_MAX_BYTES = 64 * 1024 * 1024
METADATA_MAX_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Detector:
    """``wants(path)`` says whether ``parse(path, data)`` reads that member; files larger than
    ``max_bytes`` are not read. ``parse`` raises only ``DetectorError``, whatever the bytes."""
    name: str
    wants: Callable[[str], bool]
    parse: Callable[[str, bytes], list[Package]]
    max_bytes: int


def _purl(type_: str, name: str, version: str, namespace: str | None = None,
          qualifiers: dict[str, str] | None = None) -> str:
    try:
        return PackageURL(type=type_, namespace=namespace, name=name, version=version,
                          qualifiers=qualifiers).to_string()
    except (ValueError, TypeError) as exc:  # TypeError: names packageurl reduces to nothing
        raise DetectorError(f"no package URL for {name!r}: {exc}") from None


def _stanzas(text: str) -> list[dict[str, str]]:
    """Blank-line separated stanzas of ``Field:value`` lines (dpkg, apk). Continuation lines
    (leading whitespace) are skipped: no field read here spans lines."""
    stanzas: list[dict[str, str]] = []
    fields: dict[str, str] = {}
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line or line.isspace():
            if fields:
                stanzas.append(fields)
                fields = {}
            continue
        if line[0] in " \t":
            if not fields:
                raise DetectorError(f"line {lineno}: continuation line without a field")
            continue
        key, found, value = line.partition(":")
        if not found or not key or " " in key or "\t" in key:
            raise DetectorError(f"line {lineno}: not a field")
        fields[key] = value.strip()
    if fields:
        stanzas.append(fields)
    return stanzas


def _json(data: bytes) -> object:
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:  # RecursionError: deeply nested arrays
        raise DetectorError(f"invalid JSON: {type(exc).__name__}") from None


def _str(value: object) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None


# -- dpkg ---------------------------------------------------------------------------------
_DPKG_STATUS = "var/lib/dpkg/status"
_DPKG_STATUS_D = "var/lib/dpkg/status.d/"


def _dpkg_wants(path: str) -> bool:
    if path == _DPKG_STATUS:
        return True
    if not path.startswith(_DPKG_STATUS_D):
        return False
    rest = path[len(_DPKG_STATUS_D):]
    # distroless keeps "<pkg>.md5sums" lists next to the control files
    return bool(rest) and "/" not in rest and not rest.endswith(".md5sums")


def _dpkg_installed(fields: dict[str, str], status_d: bool) -> bool:
    status = fields.get("Status")
    if status is None:
        return status_d  # distroless control files have no Status: they are installed
    words = status.split()
    return len(words) >= 3 and words[2] == "installed"


def _dpkg_source(fields: dict[str, str], name: str, version: str) -> tuple[str | None, str | None]:
    # "Source: glibc (2.36-9+deb12u4)" when the source version differs from the binary's
    source = fields.get("Source", "")
    src_name, _, rest = source.partition(" ")
    src_version = rest.strip().removeprefix("(").removesuffix(")").strip()
    return (src_name if src_name and src_name != name else None,
            src_version if src_version and src_version != version else None)


def _dpkg_parse(path: str, data: bytes) -> list[Package]:
    status_d = path != _DPKG_STATUS
    packages = []
    for fields in _stanzas(database_text(data)):
        name = fields.get("Package")
        if not name:
            raise DetectorError("a stanza has no Package")
        if not _dpkg_installed(fields, status_d):
            continue
        version = fields.get("Version")
        if not version:
            raise DetectorError(f"package {name!r} has no Version")
        arch = fields.get("Architecture") or None
        src_name, src_version = _dpkg_source(fields, name, version)
        purl = _purl("deb", name.lower(), version, "debian", {"arch": arch} if arch else None)
        packages.append(Package("Debian", name, version, purl, path, OS, src_name, src_version,
                                arch))
    return packages


# -- apk ----------------------------------------------------------------------------------
_APK_INSTALLED = "lib/apk/db/installed"


def _apk_wants(path: str) -> bool:
    return path == _APK_INSTALLED


def _apk_parse(path: str, data: bytes) -> list[Package]:
    packages = []
    for fields in _stanzas(database_text(data)):
        if any(len(key) != 1 for key in fields):
            raise DetectorError("not an apk database: keys are single letters")
        name, version = fields.get("P"), fields.get("V")
        if not name or not version:
            raise DetectorError(f"package {name!r} has no name or version")
        arch = fields.get("A") or None
        origin = fields.get("o") or None
        purl = _purl("apk", name.lower(), version, "alpine", {"arch": arch} if arch else None)
        packages.append(Package("Alpine", name, version, purl, path, OS,
                                origin if origin != name else None, None, arch))
    return packages


# -- Python -------------------------------------------------------------------------------
_PYTHON_SUFFIXES = (".dist-info/METADATA", ".egg-info/PKG-INFO", ".egg-info")


def _python_wants(path: str) -> bool:
    # "*.egg-info" is a PKG-INFO file when distutils wrote it (callers pass regular files)
    return path.endswith(_PYTHON_SUFFIXES)


def _rfc822_headers(text: str) -> dict[str, str]:
    """The header block of a core metadata file; it ends at the first line that is not a
    header (a blank line, normally), as ``email.parser`` would end it."""
    headers: dict[str, str] = {}
    for line in text.split("\n"):
        if line[:1] in (" ", "\t"):
            continue
        key, found, value = line.partition(":")
        if not found or not key or " " in key:
            break
        headers.setdefault(key.lower(), value.strip())
    return headers


def _python_parse(path: str, data: bytes) -> list[Package]:
    headers = _rfc822_headers(database_text(data))
    name, version = headers.get("name"), headers.get("version")
    if not name or not version:
        raise DetectorError("no Name or Version header")
    purl = _purl("pypi", name.lower().replace("_", "-"), version)
    return [Package("PyPI", name, version, purl, path, PYTHON)]


# -- RubyGems -----------------------------------------------------------------------------
# [ \t] rather than \s: \s under re.M spans lines, quadratic on blank-line floods
_GEM_FIELD = re.compile(r"""^[ \t]*\w+\.(name|version)[ \t]*=[ \t]*["']([^"'\n]+)["']""", re.M)
_GEM_VERSION = re.compile(r"-(?=\d)")


def _gem_wants(path: str) -> bool:
    if not path.endswith(".gemspec"):
        return False
    # installed specs live in specifications/, default gems in specifications/default/
    directory = "/" + path.rpartition("/")[0]
    return directory.endswith(("/specifications", "/specifications/default"))


def _gem_parse(path: str, data: bytes) -> list[Package]:
    fields: dict[str, str] = {}
    for key, value in _GEM_FIELD.findall(database_text(data)):
        fields.setdefault(key, value.strip())
    # "<name>-<version>[-<platform>].gemspec": the version starts at the first "-<digit>"
    stem = path.rpartition("/")[2].removesuffix(".gemspec")
    split = _GEM_VERSION.search(stem)
    name = fields.get("name") or (split and stem[:split.start()])
    version = fields.get("version") or (split and stem[split.end():].split("-")[0])
    if not name or not version:
        raise DetectorError("no gem name or version")
    return [Package("RubyGems", name, version, _purl("gem", name, version), path, GEM)]


# -- Composer -----------------------------------------------------------------------------
def _composer_wants(path: str) -> bool:
    return path == "composer/installed.json" or path.endswith("/composer/installed.json")


def _composer_entries(document: object) -> list:
    if isinstance(document, dict):  # Composer 2: {"packages": [...], "dev": ...}
        document = document.get("packages")
    if not isinstance(document, list):  # Composer 1: a bare list
        raise DetectorError("installed.json has no package list")
    return document


def _composer_parse(path: str, data: bytes) -> list[Package]:
    packages = []
    for entry in _composer_entries(_json(data)):
        if not isinstance(entry, dict):
            raise DetectorError("an installed.json entry is not an object")
        name, version = _str(entry.get("name")), _str(entry.get("version"))
        if not name or not version:
            continue
        vendor, _, bare = name.lower().partition("/")
        if not vendor or not bare or "/" in bare:
            continue  # Packagist names are exactly "vendor/name"
        purl = _purl("composer", bare, version, vendor)
        packages.append(Package("Packagist", name, version, purl, path, COMPOSER))
    return packages


# -- Maven --------------------------------------------------------------------------------
# -- registry -----------------------------------------------------------------------------
DPKG = Detector("dpkg", _dpkg_wants, _dpkg_parse, OS_MAX_BYTES)
APK = Detector("apk", _apk_wants, _apk_parse, OS_MAX_BYTES)
PYTHON_METADATA = Detector("python", _python_wants, _python_parse, METADATA_MAX_BYTES)
NPM = Detector("npm", npm.installed_wants, npm.installed_parse, METADATA_MAX_BYTES)
NPM_LOCK = Detector("npm-lock", npm.lock_wants, npm.lock_parse, npm.LOCK_MAX_BYTES)
GEMSPEC = Detector("gemspec", _gem_wants, _gem_parse, METADATA_MAX_BYTES)
COMPOSER_INSTALLED = Detector("composer", _composer_wants, _composer_parse, METADATA_MAX_BYTES)
POM_PROPERTIES = Detector("maven", java.pom_wants, java.pom_parse, METADATA_MAX_BYTES)
JAVA_ARCHIVE = Detector("jar", java.archive_wants, java.archive_parse, java.MAX_ARCHIVE)
RPM = Detector("rpm", rpm.wants, rpm.parse, OS_MAX_BYTES)

DETECTORS_OS: tuple[Detector, ...] = (DPKG, APK, RPM)
DETECTORS_LANGUAGE: tuple[Detector, ...] = (
    PYTHON_METADATA, NPM, NPM_LOCK, GEMSPEC, COMPOSER_INSTALLED, POM_PROPERTIES, JAVA_ARCHIVE)
_ALL = DETECTORS_OS + DETECTORS_LANGUAGE

# Every path any detector wants ends with one of these (or is in status.d): one C-level
# check rejects the millions of other members before any detector runs.
_OS_SUFFIXES = ("/status", "/installed", "/rpmdb.sqlite", "/Packages")
_ALL_SUFFIXES = _OS_SUFFIXES + _PYTHON_SUFFIXES + (
    "/package.json", *npm.LOCK_FILES, ".gemspec", "/installed.json", "/pom.properties",
    *java.ARCHIVES)


def detector_for(path: str, language: bool) -> Detector | None:
    """The detector that reads member ``path`` (a regular file): OS package databases
    always, language package metadata too when ``language``."""
    if path.endswith(_ALL_SUFFIXES if language else _OS_SUFFIXES):
        for detector in _ALL if language else DETECTORS_OS:
            if detector.wants(path):
                return detector
        return None
    if path.startswith(_DPKG_STATUS_D) and _dpkg_wants(path):
        return DPKG
    return None
