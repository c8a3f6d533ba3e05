"""boto3 clients for tests retry nothing but ThrottlingException, as boto3's default retries
do: Berth answers that to a signed change it received before, and botocore signs identical
calls within one second alike (it does not sign its invocation id), so the retry, signed at a
later second, is a new request. Every other error reaches the test at once."""
from __future__ import annotations

DELAY_SECONDS = 0.5
MAX_ATTEMPTS = 5


def retry_throttling(client):
    """``client`` (a boto3 client), retrying ThrottlingException."""
    client.meta.events.register("needs-retry", _delay)
    return client


def _delay(response, attempts, **_):
    if response is None or attempts >= MAX_ATTEMPTS:
        return None
    if response[1].get("Error", {}).get("Code") == "ThrottlingException":
        return DELAY_SECONDS
    return None
