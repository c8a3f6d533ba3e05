"""A client of the admin API (what ``berth admin --endpoint-url`` uses): credentials from the
usual AWS sources via botocore, each request signed with SigV4, sent with urllib."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid

from ..api.admin.endpoint import PATH, SERVICE
from ..api.admin.errors import AdminError
from ..api.admin.operations import TARGET_PREFIX
from ..api.awsjson import CONTENT_TYPE


class AdminClient:
    def __init__(self, endpoint_url: str, profile: str | None = None,
                 region: str = "us-east-1", timeout: float = 30.0):
        # botocore only here: the offline CLI and the server do not need it.
        import botocore.exceptions
        import botocore.session

        try:
            credentials = botocore.session.Session(profile=profile).get_credentials()
        except botocore.exceptions.BotoCoreError as exc:
            raise AdminError("MissingCredentials", str(exc)) from None
        if credentials is None:
            raise AdminError("MissingCredentials", "no AWS credentials found: use --profile, "
                             "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or "
                             "AWS_SHARED_CREDENTIALS_FILE")
        self.url = endpoint_url.rstrip("/") + PATH
        self.credentials = credentials
        self.region = region
        self.timeout = timeout

    def call(self, operation: str, params: dict) -> dict:
        """The operation's result; raises AdminError for an error answer, OSError when the
        server cannot be reached."""
        request = self._signed(operation, json.dumps(params).encode())
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raise _error(exc.code, exc.read()) from None

    def _signed(self, operation: str, body: bytes) -> urllib.request.Request:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        # An id per call, signed: the server accepts a signed change once, and two identical
        # calls within one second would be signed alike (botocore does not sign its own id).
        request = AWSRequest(method="POST", url=self.url, data=body, headers={
            "Content-Type": CONTENT_TYPE, "X-Amz-Target": f"{TARGET_PREFIX}.{operation}",
            "amz-sdk-invocation-id": str(uuid.uuid4())})
        SigV4Auth(self.credentials, SERVICE, self.region).add_auth(request)
        return urllib.request.Request(self.url, data=body, method="POST",
                                      headers=dict(request.headers.items()))


def _error(status: int, body: bytes) -> AdminError:
    try:
        found = json.loads(body)
        return AdminError(str(found["__type"]), str(found.get("message", "")), status)
    except (ValueError, KeyError, TypeError):
        return AdminError("HttpError", f"the server answered HTTP {status}", status)
