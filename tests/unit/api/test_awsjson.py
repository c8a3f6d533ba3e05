"""The AWS JSON 1.1 body: a number no Python int can be made of (more than 4,300 digits) or
no float holds is a client error, for the ECR and the admin API alike."""
from __future__ import annotations

import pytest

from berth.api.awsjson import AwsJsonError, decode


@pytest.mark.parametrize("number", ["9" * 4301, "1" + "0" * 100000, "-" + "9" * 5000])
def test_a_number_too_long_for_int_is_a_serialization_error(number):
    with pytest.raises(AwsJsonError) as caught:
        decode(('{"maxResults": ' + number + "}").encode())
    assert (caught.value.code, caught.value.status) == ("SerializationException", 400)


def test_numbers_within_the_limit_decode():
    assert decode(('{"n": ' + "9" * 4300 + "}").encode()) == {"n": int("9" * 4300)}


def test_a_number_of_thousands_of_digits_is_a_plain_serialization_error():
    with pytest.raises(AwsJsonError) as caught:
        decode(b'{"maxResults": ' + b"9" * 5000 + b"}")
    assert caught.value.code == "SerializationException"
    assert "int_max_str_digits" not in caught.value.message  # no interpreter internals
