"""The distribution an image is built on (berth.scanning.inventory.distro): os-release as
os-release(5) quotes it, and the name OSV files that distribution's advisories under."""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from berth.scanning.inventory.distro import OS_RELEASE_PATHS, osv_ecosystem, parse_os_release
from berth.scanning.packages import Distro

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("data, distro", [
    (b"""PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
ID=debian
""", Distro("debian", "12", "Debian GNU/Linux 12 (bookworm)")),
    (b"""# Alpine's os-release
ID=alpine
VERSION_ID=3.19.1

PRETTY_NAME='Alpine Linux v3.19'
  # indented comment
""", Distro("alpine", "3.19.1", "Alpine Linux v3.19")),
    (b'ID="ubuntu"\nVERSION_ID="22.04"\nPRETTY_NAME="Say \\"hi\\" \\$HOME"\nBAD LINE\n',
     Distro("ubuntu", "22.04", 'Say "hi" $HOME')),
    (b'ID="unbalanced\n', Distro("unbalanced", "", "")),
    (b"NAME=Nothing\n", None),
    (b"\x00\xff\xfe", None),
])
def test_parse_os_release(data, distro):
    assert parse_os_release(data) == distro
    assert OS_RELEASE_PATHS == ("etc/os-release", "usr/lib/os-release")


@pytest.mark.parametrize("distro, ecosystem", [
    (Distro("debian", "12"), "Debian:12"), (Distro("debian", "11"), "Debian:11"),
    (Distro("debian", ""), None),  # testing/sid have no VERSION_ID
    (Distro("alpine", "3.19.1"), "Alpine:v3.19"), (Distro("alpine", "3"), None),
    (Distro("alpine", "3.20.0_alpha20240329"), "Alpine:v3.20"),
    (Distro("ubuntu", "22.04", "Ubuntu 22.04.4 LTS"), "Ubuntu:22.04:LTS"),
    (Distro("ubuntu", "24.04"), "Ubuntu:24.04:LTS"), (Distro("ubuntu", "23.10"), "Ubuntu:23.10"),
    (Distro("ubuntu", "21.04"), "Ubuntu:21.04"),
    (Distro("rocky", "9.3"), "Rocky Linux:9"), (Distro("almalinux", "9.3"), "AlmaLinux:9"),
    (Distro("fedora", "39"), None), (Distro("arch", ""), None),
    (Distro("wolfi", "20230201", "Wolfi"), "Wolfi"), (Distro("chainguard", ""), "Chainguard"),
    (Distro("photon", "5.0", "VMware Photon OS/Linux"), "Photon OS:5.0"),
    (Distro("mageia", "9"), "Mageia:9"),
    (Distro("opensuse-leap", "15.5", "openSUSE Leap 15.5"), "openSUSE:Leap 15.5"),
    (Distro("opensuse-tumbleweed", "20240101"), "openSUSE:Tumbleweed"),
    (Distro("sles", "15.5", "SUSE Linux Enterprise Server 15 SP5"),
     "SUSE:Linux Enterprise Server 15 SP5"),
    (Distro("sles", "15.5", ""), None),
    (Distro("amzn", "2023"), None), (Distro("rhel", "9.3"), None),
])
def test_osv_ecosystem(distro, ecosystem):
    assert osv_ecosystem(distro) == ecosystem


@FUZZ
@given(st.binary(max_size=1024))
def test_fuzz_os_release(data):
    distro = parse_os_release(data)
    if distro is not None:
        found = osv_ecosystem(distro)
        assert found is None or ":" in found or found in ("Wolfi", "Chainguard")
