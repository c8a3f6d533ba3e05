"""Reading pagination numbers: ``n`` of any length answers 200 or 400
PAGINATION_NUMBER_INVALID, never a 500 (Python's int() refuses more than 4,300 digits), and
a bad one is quoted back bounded."""
from __future__ import annotations

import pytest

from .support import assert_error

LISTINGS = ["/v2/_catalog", "/v2/library/app/tags/list"]


@pytest.fixture
def listed(oci):
    image = oci.push_image("library/app", None)
    for tag in ("a", "b", "c"):
        assert oci.put_manifest("library/app", tag, image.body).status_code == 201
    return oci


@pytest.mark.parametrize("path", LISTINGS)
@pytest.mark.parametrize("n", ["9" * 4301, "1" + "0" * 5000, "9" * 20, "18446744073709551616"])
def test_a_number_too_long_is_invalid(listed, path, n):
    response = listed.get(f"{path}?n={n}")
    assert_error(response, 400, "PAGINATION_NUMBER_INVALID")
    assert len(response.text) < 1000  # the number is not quoted back whole


@pytest.mark.parametrize("path", LISTINGS)
def test_nineteen_digits_reach_the_domain_bound(listed, path):
    response = listed.get(f"{path}?n={'9' * 19}")
    assert_error(response, 400, "PAGINATION_NUMBER_INVALID")
    assert "between 0 and" in response.text


@pytest.mark.parametrize("path", LISTINGS)
def test_leading_zeros_do_not_count(listed, path):
    response = listed.get(f"{path}?n={'0' * 5000}1")
    assert response.status_code == 200, response.text[:300]
    body = response.json()
    assert len(body["repositories"] if path.endswith("_catalog") else body["tags"]) == 1


@pytest.mark.parametrize("path", LISTINGS)
def test_a_long_bad_number_is_quoted_back_bounded(listed, path):
    response = listed.get(f"{path}?n={'x' * 5000}")
    assert_error(response, 400, "PAGINATION_NUMBER_INVALID")
    assert "x" * 32 + "..." in response.text and "x" * 33 not in response.text
