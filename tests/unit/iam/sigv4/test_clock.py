"""The clock: five minutes either way for the header form, X-Amz-Expires for presigned URLs."""
from __future__ import annotations

from datetime import timedelta

import pytest

from .signing import NOW, ecr, minutes, presign

SECOND = timedelta(seconds=1)


@pytest.mark.parametrize("age", [minutes(0), minutes(4) + 59 * SECOND, minutes(5)])
def test_a_request_signed_up_to_five_minutes_ago_is_accepted(age):
    ecr(at=NOW - age).verify()


@pytest.mark.parametrize("lead", [minutes(4) + 59 * SECOND, minutes(5)])
def test_a_request_signed_up_to_five_minutes_ahead_is_accepted(lead):
    ecr(at=NOW + lead).verify()


def test_a_request_signed_just_over_five_minutes_ago_is_refused():
    error = ecr(at=NOW - minutes(5) - SECOND).rejection()
    assert (error.code, error.message, error.http_status) == (
        "InvalidSignatureException",
        "Signature expired: 20261122T115459Z is now earlier than 20261122T115500Z "
        "(20261122T120000Z - 5 min.)", 400)


def test_a_request_signed_just_over_five_minutes_ahead_is_refused():
    error = ecr(at=NOW + minutes(5) + SECOND).rejection()
    assert (error.code, error.message) == (
        "InvalidSignatureException",
        "Signature not yet current: 20261122T120501Z is still later than 20261122T120500Z "
        "(20261122T120000Z + 5 min.)")


def test_sub_second_server_time_counts():
    request = ecr(at=NOW - minutes(5))
    request.verify(now=NOW)
    assert request.rejection(now=NOW + timedelta(microseconds=1)).message.startswith(
        "Signature expired: 20261122T115500Z is now earlier than")


def test_the_window_is_configurable():
    request = ecr(at=NOW - minutes(10))
    request.verify(max_skew=minutes(15))
    assert request.rejection(max_skew=timedelta(seconds=90)).message == (
        "Signature expired: 20261122T115000Z is now earlier than 20261122T115830Z "
        "(20261122T120000Z - 90 sec.)")


def test_a_date_header_is_held_to_the_same_window():
    ecr(date_header=True, at=NOW - minutes(5)).verify()
    assert ecr(date_header=True, at=NOW - minutes(6)).rejection().message.startswith(
        "Signature expired: 20261122T115400Z")


def test_a_presigned_url_is_good_until_its_expiry():
    request = presign(expires=3600)
    request.verify(now=NOW + minutes(60))
    error = request.rejection(now=NOW + minutes(60) + SECOND)
    assert (error.code, error.message) == (
        "InvalidSignatureException",
        "Signature expired: 20261122T120000Z is now earlier than 20261122T120001Z "
        "(20261122T130001Z - 60 min.)")


def test_a_presigned_url_may_live_a_week():
    request = presign(expires=7 * 24 * 3600)
    request.verify(now=NOW + timedelta(days=7))
    assert request.rejection(now=NOW + timedelta(days=7, seconds=1)).message.endswith(
        " - 10080 min.)")


def test_a_short_presigned_url_is_not_stretched_to_the_skew_window():
    request = presign(expires=30)
    request.verify(now=NOW + 30 * SECOND)
    assert request.rejection(now=NOW + 31 * SECOND).message == (
        "Signature expired: 20261122T120000Z is now earlier than 20261122T120001Z "
        "(20261122T120031Z - 30 sec.)")


def test_a_presigned_url_from_the_future_is_refused():
    error = presign(at=NOW + minutes(6)).rejection()
    assert error.message == (
        "Signature not yet current: 20261122T120600Z is still later than 20261122T120500Z "
        "(20261122T120000Z + 5 min.)")


def test_a_presigned_url_without_expires_gets_the_skew_window():
    request = presign()
    query = b"&".join(p for p in request.query.split(b"&") if not p.startswith(b"X-Amz-Expires="))
    # Dropping X-Amz-Expires breaks the signature, so judge the clock alone: it comes first.
    stripped = request.replace(query=query)
    assert stripped.rejection(now=NOW + minutes(4)).message.startswith("The request signature")
    assert stripped.rejection(now=NOW + minutes(6)).message.startswith("Signature expired: ")


@pytest.mark.parametrize("value, message", [
    ("604801", "X-Amz-Expires must be less than a week (in seconds); that is, the given "
               "X-Amz-Expires must be less than 604800 seconds"),
    ("9" * 5000, "X-Amz-Expires must be less than a week (in seconds); that is, the given "
                 "X-Amz-Expires must be less than 604800 seconds"),
    ("-1", "X-Amz-Expires must be non-negative"),
    ("1h", "X-Amz-Expires should be a number"),
    ("", "X-Amz-Expires should be a number"),
    (" 60", "X-Amz-Expires should be a number"),
])
def test_a_malformed_expiry_is_refused(value, message):
    request = presign(expires=60)
    tampered = request.replace(
        query=request.query.replace(b"X-Amz-Expires=60", f"X-Amz-Expires={value}".encode()))
    error = tampered.rejection()
    assert (error.code, error.message) == ("IncompleteSignatureException", message)


def test_an_expiry_with_leading_zeros_is_a_number():
    request = presign(expires=60)
    tampered = request.replace(
        query=request.query.replace(b"X-Amz-Expires=60", b"X-Amz-Expires=0000060"))
    # Parsed as 60 seconds (the clock passes); the signature covers the spelling.
    assert tampered.rejection(now=NOW).message.startswith("The request signature")
    assert tampered.rejection(now=NOW + minutes(2)).message.startswith("Signature expired")
