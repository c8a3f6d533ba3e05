"""The S3 driver's committed blobs on Ceph's RADOS gateway, beyond the contract: ranges S3
treats specially, presigned redirects, readiness."""
import os
import uuid

import pytest
import requests
from botocore.exceptions import ClientError

from berth.storage.blobs import BlobNotFound

KEY = "sha256/ab/abcdef"


@pytest.fixture
def driver(ceph):
    """An S3 driver on its own prefix (in place of the contract's parametrized one)."""
    drv = ceph.driver(ceph.shared_bucket, f"s3-blobs-{uuid.uuid4().hex[:12]}/")
    yield drv
    drv.close()


def test_a_missing_blob_fails_at_the_call_not_midway(driver):
    with pytest.raises(BlobNotFound):
        driver.read(KEY)  # not only once iterated: the caller maps it to BLOB_UNKNOWN
    with pytest.raises(BlobNotFound):
        driver.read(KEY, 0, 0)


def test_empty_blobs_and_ranges_at_the_end(driver):
    driver.put(KEY, b"")
    assert driver.stat(KEY) == 0
    assert list(driver.read(KEY)) == [] and list(driver.read(KEY, 0, 0)) == []
    driver.put(KEY, b"0123456789")
    assert b"".join(driver.read(KEY, 10)) == b""
    assert b"".join(driver.read(KEY, 7)) == b"789"
    assert b"".join(driver.read(KEY, 3, 0)) == b""


def test_redirect_url_serves_the_blob_for_a_while(driver, ceph):
    data = os.urandom(300_000)
    driver.put(KEY, data)
    url = driver.redirect_url(KEY, 300)
    assert url.startswith(f"{ceph.endpoint_url}/{driver.bucket}/{driver.prefix}data/{KEY}?")
    assert requests.get(url, timeout=30).content == data
    ranged = requests.get(url, headers={"Range": "bytes=10-19"}, timeout=30)
    assert ranged.status_code == 206 and ranged.content == data[10:20]
    assert requests.get(url.split("?")[0], timeout=30).status_code == 403
    expired = driver.redirect_url(KEY, 1).replace("X-Amz-Expires=1", "X-Amz-Expires=2")
    assert requests.get(expired, timeout=30).status_code == 403  # the signature covers it


def test_no_redirects_when_off(ceph):
    drv = ceph.driver(ceph.shared_bucket, "off/", redirect=False)
    assert drv.redirect_url(KEY, 300) is None
    drv.close()


def test_check_needs_the_bucket(ceph, driver):
    driver.check()
    missing = ceph.driver("no-such-bucket-" + uuid.uuid4().hex[:8])
    with pytest.raises(ClientError):
        missing.check()
    missing.close()


def test_delete_is_idempotent_and_put_replaces(driver):
    driver.put(KEY, b"one")
    driver.put(KEY, b"two")
    assert b"".join(driver.read(KEY)) == b"two"
    driver.delete(KEY)
    driver.delete(KEY)
    assert driver.stat(KEY) is None
