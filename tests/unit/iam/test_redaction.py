"""Cutting credentials out of error messages: whole values, their tokens and the halves of
their key=value pairs, but not the protocol's own words nor the rest of the message."""
from __future__ import annotations

from berth.iam.redaction import PLACEHOLDER, credentials_in, scrubbed, without_credentials
from berth.iam.sigv4 import IncompleteSignature

TOKEN = "v1.eyJrIjoiQUtJQSJ9.bWFjLW9mLXRoZS10b2tlbg"
SIGNATURE = "0123456789abcdef" * 4


def test_a_quoted_header_is_cut_whole_and_by_token():
    header = f"AWS4-HMAC-SHA256 Credential=AKIAKEY/20260101/us-east-1/ecr/aws4_request, " \
             f"Signature={SIGNATURE}"
    message = ("Authorization header requires 'SignedHeaders' parameter. "
               f"Authorization={header}")
    assert without_credentials(message, [header]) == (
        f"Authorization header requires 'SignedHeaders' parameter. Authorization={PLACEHOLDER}")
    assert without_credentials(f"got '{SIGNATURE}'", [header]) == f"got '{PLACEHOLDER}'"
    assert without_credentials("bad 'AKIAKEY/20260101/us-east-1/ecr/aws4_request'",
                               [header]) == f"bad '{PLACEHOLDER}'"


def test_the_protocols_words_and_short_pieces_stay():
    header = f"Basic {TOKEN}, x=1"
    message = "use Basic or AWS4-HMAC-SHA256 with a Credential and a Signature: x=1"
    assert without_credentials(message, [header]) == message


def test_base64_padding_does_not_shield_a_token():
    header = "Basic QVdTOnNlY3JldC10b2tlbg=="
    message = "'QVdTOnNlY3JldC10b2tlbg' not a valid key=value pair"
    assert "QVdT" not in without_credentials(message, [header])


def test_nothing_to_cut_leaves_the_message():
    assert without_credentials("Missing Authentication Token", []) == (
        "Missing Authentication Token")
    assert without_credentials("Missing Authentication Token", ["  "]) == (
        "Missing Authentication Token")


def test_credentials_of_a_request():
    headers = [(b"host", b"example"), (b"Authorization", f"Bearer {TOKEN}".encode()),
               (b"x-amz-security-token", b"session-token")]
    query = [("X-Amz-Signature", SIGNATURE), ("page", "2")]
    assert credentials_in(headers, query) == [f"Bearer {TOKEN}", "session-token", SIGNATURE]


def test_a_sigv4_error_keeps_its_class_and_code():
    exc = scrubbed(IncompleteSignature(f"'{TOKEN}' not a valid key=value pair"), [TOKEN])
    assert isinstance(exc, IncompleteSignature)
    assert exc.message == str(exc) == f"'{PLACEHOLDER}' not a valid key=value pair"
    assert exc.body() == {"__type": "IncompleteSignatureException", "message": exc.message}
