import pytest

from berth.storage.blobs import FilesystemDriver
from berth.storage.blobs.encrypted import EncryptedDriver
from berth.storage.blobs.metered import MeteredDriver

from .fake_keyring import FakeKeyring
from .key_ref_driver import KeyRefDriver


def _filesystem(tmp_path):
    return FilesystemDriver(tmp_path / "blobs")


_KEYRINGS: dict = {}  # one per test: every node of its deployment shares the keys


def _encrypted_filesystem(tmp_path):
    # The contract's keys under a key ref: the suite runs through encryption.
    keyring = _KEYRINGS.setdefault(tmp_path, FakeKeyring("aes256"))
    return KeyRefDriver(EncryptedDriver(_filesystem(tmp_path), keyring), "aes256")


def _metered_filesystem(tmp_path):
    return MeteredDriver(_filesystem(tmp_path))


def _s3(tmp_path, ceph):
    # Each test its own prefix in one bucket of the session's Ceph (tests/conftest.py).
    return ceph.driver(ceph.shared_bucket, f"{tmp_path.name}/")


# Every driver is listed here; the contract suite runs against each. A factory may be called
# more than once in a test: each call is another node over the same storage.
DRIVERS = {"filesystem": _filesystem, "encrypted-filesystem": _encrypted_filesystem,
           "metered-filesystem": _metered_filesystem, "s3": _s3}
# Drivers over a service: the fixture passed to their factory (started only when they run).
SERVICES = {"s3": "ceph"}


def _make(name, request, tmp_path):
    service = SERVICES.get(name)
    if service:
        return DRIVERS[name](tmp_path, request.getfixturevalue(service))
    return DRIVERS[name](tmp_path)


@pytest.fixture(params=sorted(DRIVERS))
def driver(request, tmp_path):
    drv = _make(request.param, request, tmp_path)
    yield drv
    drv.close()


@pytest.fixture
def other_node(request, driver, tmp_path):
    """Another instance of ``driver``'s kind over the same storage, as another node has."""
    drv = _make(request.node.callspec.params["driver"], request, tmp_path)
    yield drv
    drv.close()
