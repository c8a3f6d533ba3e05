import pytest

from berth.storage.blobs import FilesystemDriver
from berth.storage.blobs.encrypted import EncryptedDriver

from .fake_keyring import FakeKeyring
from .key_ref_driver import KeyRefDriver


def _filesystem(tmp_path):
    return FilesystemDriver(tmp_path / "blobs")


def _encrypted_filesystem(tmp_path):
    # The contract's keys under a key ref: the suite runs through encryption.
    keyring = FakeKeyring("aes256")
    return KeyRefDriver(EncryptedDriver(_filesystem(tmp_path), keyring), "aes256")


# Every driver is listed here; the contract suite runs against each.
DRIVERS = {"filesystem": _filesystem, "encrypted-filesystem": _encrypted_filesystem}


@pytest.fixture(params=sorted(DRIVERS))
def driver(request, tmp_path):
    drv = DRIVERS[request.param](tmp_path)
    yield drv
    drv.close()
