"""Choosing and configuring the S3 driver from settings (no S3 needed: presigning is local)."""
from urllib.parse import parse_qs, urlparse

import pytest

from berth.config import Settings, load_settings
from berth.storage.blobs import FilesystemDriver, open_driver
from berth.storage.blobs.s3 import S3Driver, parse_url

ENDPOINT = "http://127.0.0.1:9"  # nothing listens: any request would fail


@pytest.fixture
def aws_env(monkeypatch):
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_REGION",
                 "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")


def _open(**settings) -> S3Driver:
    driver = open_driver(Settings(**settings))
    assert isinstance(driver, S3Driver)
    return driver


@pytest.mark.parametrize("url, bucket, prefix", [
    ("s3://bucket", "bucket", ""),
    ("s3://bucket/", "bucket", ""),
    ("s3://bucket/berth", "bucket", "berth/"),
    ("s3://bucket/a/b/", "bucket", "a/b/"),
])
def test_urls(url, bucket, prefix):
    assert parse_url(url) == (bucket, prefix)


@pytest.mark.parametrize("url", [
    "s3:///prefix", "s3://user@bucket/p", "s3://bucket:9000/p", "s3://bucket/p?x=1",
    "s3://bucket/a/../b", "s3://bucket/a//b",
])
def test_bad_urls_refused(url):
    with pytest.raises(ValueError):
        parse_url(url)


def test_unknown_schemes_are_errors_not_fallbacks():
    for url in ("gs://bucket/p", "http://host/p", "S4://bucket"):
        with pytest.raises(ValueError, match="unsupported blob storage URL"):
            open_driver(Settings(storage=url))


def test_filesystem_still_chosen_by_path_and_file_url(tmp_path):
    assert isinstance(open_driver(Settings(storage=str(tmp_path / "a"))), FilesystemDriver)
    assert isinstance(open_driver(Settings(storage=(tmp_path / "b").as_uri())), FilesystemDriver)


def test_settings_reach_the_client(aws_env):
    driver = _open(storage="s3://bucket/berth", s3_endpoint_url=ENDPOINT, s3_region="eu-west-1",
                   s3_part_size=16 * 1024 * 1024)
    assert (driver.bucket, driver.prefix) == ("bucket", "berth/")
    assert driver.uploads.part_size == 16 * 1024 * 1024
    assert driver.uploads.root == "berth/uploads/"
    assert driver.s3.meta.endpoint_url == ENDPOINT
    assert driver.s3.meta.region_name == "eu-west-1"
    assert driver.s3.meta.config.max_pool_connections >= 40  # anyio's thread pool


def test_endpoint_and_region_from_the_usual_aws_variables(aws_env, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", ENDPOINT)
    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    driver = open_driver(load_settings(flags={}, env={"BERTH_STORAGE": "s3://bucket/p"}))
    assert driver.s3.meta.endpoint_url == ENDPOINT
    assert driver.s3.meta.region_name == "ap-south-1"
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ca-central-1")
    assert open_driver(Settings(storage="s3://b")).s3.meta.region_name == "ca-central-1"
    url = driver.redirect_url("sha256/ab/abcd", 60)
    assert url.startswith(f"{ENDPOINT}/bucket/p/data/sha256/ab/abcd?")  # path style


def test_redirects_are_presigned_gets_unless_off(aws_env):
    url = _open(storage="s3://bucket/p", s3_endpoint_url=ENDPOINT).redirect_url(
        "sha256/ab/abcd", 600)
    parsed = urlparse(url)
    assert f"{parsed.scheme}://{parsed.netloc}" == ENDPOINT
    assert parsed.path == "/bucket/p/data/sha256/ab/abcd"
    query = parse_qs(parsed.query)
    assert query["X-Amz-Expires"] == ["600"] and query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Credential"][0].startswith("AKIDEXAMPLE/")
    assert "wJalrXUtnFEMI" not in url
    for mode in ("auto", "on"):
        assert _open(storage="s3://b", s3_endpoint_url=ENDPOINT,
                     storage_redirect=mode).redirect_url("sha256/ab/abcd", 60)
    off = _open(storage="s3://b", s3_endpoint_url=ENDPOINT, storage_redirect="off")
    assert off.redirect_url("sha256/ab/abcd", 60) is None


def test_bad_options_refused(aws_env):
    with pytest.raises(ValueError, match="storage_redirect"):
        open_driver(Settings(storage="s3://b", storage_redirect="sometimes"))
    for size in (5 * 1024 * 1024 - 1, 5 * 1024 ** 3 + 1):
        with pytest.raises(ValueError, match="part size"):
            open_driver(Settings(storage="s3://b", s3_part_size=size))


def test_invalid_keys_and_upload_ids_refused_before_any_request(aws_env):
    driver = _open(storage="s3://b", s3_endpoint_url=ENDPOINT)
    for key in ("", "/abs", "a/../b"):
        with pytest.raises(ValueError):
            driver.redirect_url(key, 60)
    for upload_id in ("", "a/b", ".hidden"):
        with pytest.raises(ValueError):
            driver.upload_start(upload_id)
