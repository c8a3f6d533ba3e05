"""The distribution an image is built on: its os-release file (os-release(5)), and the name
OSV gives that distribution's release, under which its advisories are filed."""
from __future__ import annotations

import re

from ..packages import Distro

OS_RELEASE_PATHS = ("etc/os-release", "usr/lib/os-release")

_ESCAPED = re.compile(r"""\\([\\$`"'])""")


def _os_release_value(raw: str) -> str:
    # shell quoting as os-release(5) allows: '...' is literal, "..." and bare values
    # unescape \\ \$ \` \" \'; an unbalanced quote is tolerated
    quote = raw[:1]
    if quote in ("'", '"'):
        raw = raw[1:-1] if len(raw) >= 2 and raw[-1] == quote else raw[1:]
        if quote == "'":
            return raw
    return _ESCAPED.sub(r"\1", raw)


def parse_os_release(data: bytes) -> Distro | None:
    """The distribution an os-release file names, or None without an ID."""
    values: dict[str, str] = {}
    for line in data.decode("utf-8", errors="replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, found, raw = line.partition("=")
        if found and key.isidentifier():
            values[key] = _os_release_value(raw.strip())
    distro_id = values.get("ID", "").lower()
    return Distro(distro_id, values.get("VERSION_ID", ""),
                  values.get("PRETTY_NAME", "")) if distro_id else None


_RELEASE = re.compile(r"(\d+)(?:\.(\d+))?", re.ASCII)


def _ubuntu(distro: Distro, major: str, minor: str | None) -> str | None:
    if minor is None:
        return None
    minor = minor.zfill(2)
    # OSV's Ubuntu ecosystem requires ":LTS" on LTS releases ("Ubuntu:22.04:LTS");
    # LTS releases are the April ones of even years.
    lts = (minor == "04" and int(major) % 2 == 0) or "LTS" in distro.pretty_name
    return f"Ubuntu:{major}.{minor}" + (":LTS" if lts else "")


# Rolling distributions: one stream, no release in OSV's ecosystem name.
_ROLLING = {"wolfi": "Wolfi", "chainguard": "Chainguard",
            "opensuse-tumbleweed": "openSUSE:Tumbleweed"}
# Releases named by the whole VERSION_ID ("Photon OS:5.0", "openSUSE:Leap 15.5").
_WHOLE_RELEASE = {"photon": "Photon OS:", "mageia": "Mageia:", "opensuse-leap": "openSUSE:Leap "}
# Releases named by the major version ("Rocky Linux:9").
_MAJOR_RELEASE = {"debian": "Debian:", "rocky": "Rocky Linux:", "almalinux": "AlmaLinux:"}


def osv_ecosystem(distro: Distro) -> str | None:
    """OSV's ecosystem name for a distribution release ("Debian:12", "Alpine:v3.19",
    "Ubuntu:22.04:LTS", "Rocky Linux:9", "Photon OS:5.0", "SUSE:Linux Enterprise Server 15
    SP5", "Wolfi"), None for others (Amazon Linux and RHEL: no OSV ecosystem Berth can name)."""
    if distro.id in _ROLLING:
        return _ROLLING[distro.id]
    match = _RELEASE.match(distro.version_id)
    if not match:
        return None
    major, minor = match.group(1), match.group(2)
    if distro.id in _MAJOR_RELEASE:
        return _MAJOR_RELEASE[distro.id] + major
    if distro.id in _WHOLE_RELEASE:
        return _WHOLE_RELEASE[distro.id] + match.group(0)
    if distro.id == "alpine":
        return f"Alpine:v{major}.{minor}" if minor is not None else None
    if distro.id == "ubuntu":
        return _ubuntu(distro, major, minor)
    if distro.id == "sles" and distro.pretty_name.startswith("SUSE "):
        return "SUSE:" + distro.pretty_name.removeprefix("SUSE ")  # its product, as SUSE names it
    return None
