import pytest

from berth.storage.blobs import FilesystemDriver


def _filesystem(tmp_path):
    return FilesystemDriver(tmp_path / "blobs")


# Every driver is listed here; the contract suite runs against each.
DRIVERS = {"filesystem": _filesystem}


@pytest.fixture(params=sorted(DRIVERS))
def driver(request, tmp_path):
    drv = DRIVERS[request.param](tmp_path)
    yield drv
    drv.close()
