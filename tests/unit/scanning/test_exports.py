"""SBOM purls of OS packages once the distribution is known: its id as namespace, a distro
qualifier (a dpkg database reads the same on Debian and Ubuntu); language packages and images
without a known distribution are left as they are."""
from berth.scanning.exports import with_distro
from berth.scanning.inventory.image import ImageInventory
from berth.scanning.packages import OS, PYTHON, Distro, Package

SSL = Package("Debian", "libssl3", "3.0.2-0ubuntu1.10", "pkg:deb/debian/libssl3@3.0.2-0ubuntu1.10"
              "?arch=amd64", "var/lib/dpkg/status", OS, "openssl")
REQUESTS = Package("PyPI", "requests", "2.19.1", "pkg:pypi/requests@2.19.1", "x/METADATA", PYTHON)


def test_os_packages_take_the_distribution_as_namespace_and_qualifier():
    found = with_distro(ImageInventory([SSL, REQUESTS], Distro("ubuntu", "22.04")))
    assert [p.purl for p in found.packages] == [
        "pkg:deb/ubuntu/libssl3@3.0.2-0ubuntu1.10?arch=amd64&distro=ubuntu-22.04",
        "pkg:pypi/requests@2.19.1"]
    assert found.packages[0].source_name == "openssl"


def test_without_a_distribution_nothing_changes():
    inventory = ImageInventory([SSL], None)
    assert with_distro(inventory) is inventory
