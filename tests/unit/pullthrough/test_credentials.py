"""What a pull-through rule's secret gives its upstream client: a static registry login, or
a login to an ECR-speaking upstream made from an access key (its ECR API found from the
upstream's URL: the same endpoint for another Berth, ECR's own API for an ECR registry)."""
from __future__ import annotations

import pytest

from berth.pullthrough import cache

KEY = {"accessKeyId": "AKIAEXAMPLE", "secretAccessKey": "very-secret"}


class _Login:
    made: list = []

    def __init__(self, endpoint, region, key):
        self.args = (endpoint, region, key)
        _Login.made.append(self.args)

    def credentials(self, renew: bool = False):
        return ("AWS", f"password-{renew}")


@pytest.fixture(autouse=True)
def fake_login(monkeypatch):
    _Login.made = []
    monkeypatch.setattr(cache, "EcrLogin", _Login)


def test_no_secret_is_anonymous():
    assert cache.upstream_credentials("quay.io", None) is None


def test_a_registry_login_is_used_as_it_is():
    assert cache.upstream_credentials("registry-1.docker.io", {
        "username": "me", "accessToken": "t"}) == ("me", "t")


def test_another_berth_is_logged_in_to_at_its_own_endpoint():
    given = cache.upstream_credentials("http://127.0.0.1:5000", KEY)
    assert given() == ("AWS", "password-False") and given(True) == ("AWS", "password-True")
    assert _Login.made == [("http://127.0.0.1:5000", "us-east-1",
                            ("AKIAEXAMPLE", "very-secret"))]


def test_an_ecr_registry_is_logged_in_to_through_ecrs_api_in_its_region():
    cache.upstream_credentials("123456789012.dkr.ecr.eu-west-1.amazonaws.com", KEY)
    assert _Login.made == [(None, "eu-west-1", ("AKIAEXAMPLE", "very-secret"))]


def test_the_secret_may_name_the_region():
    cache.upstream_credentials("https://berth.example:5000", {**KEY, "region": "ap-south-1"})
    assert _Login.made == [("https://berth.example:5000", "ap-south-1",
                            ("AKIAEXAMPLE", "very-secret"))]
