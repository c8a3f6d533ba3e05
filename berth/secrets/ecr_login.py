"""Logging in to an ECR-speaking registry (Amazon ECR, another Berth) with an access key, as
``aws ecr get-login-password`` does: the ECR API's GetAuthorizationToken, signed with the key,
gives a registry password (user AWS) that lasts hours; it is fetched again before it ends."""
from __future__ import annotations

import base64
import threading
import time

RENEW_BEFORE = 300.0  # seconds before its expiry a password is replaced


class EcrLogin:
    def __init__(self, endpoint: str | None, region: str, key: tuple[str, str]):
        self.endpoint, self.region, self._key = endpoint, region, key
        self._password: tuple[str, float] | None = None
        self._lock = threading.Lock()
        self._client = None

    def client(self):
        """The ECR API client, signed with the key (errors as botocore raises them); made
        once (botocore's clients are thread-safe)."""
        with self._lock:
            if self._client is None:
                self._client = self._make()
            return self._client

    def _make(self):
        from botocore.config import Config  # a client's machinery: loaded on first use
        from botocore.session import get_session

        return get_session().create_client(
            "ecr", region_name=self.region, endpoint_url=self.endpoint,
            aws_access_key_id=self._key[0], aws_secret_access_key=self._key[1],
            config=Config(retries={"max_attempts": 2, "mode": "standard"},
                          connect_timeout=10, read_timeout=60))

    def credentials(self, renew: bool = False) -> tuple[str, str]:
        """(user, password) for the registry's HTTP Basic authentication (``renew``: a new
        one, the one held having been refused)."""
        with self._lock:
            cached = self._password
        if renew or cached is None or cached[1] < time.time() + RENEW_BEFORE:
            data = self.client().get_authorization_token()["authorizationData"][0]
            cached = (base64.b64decode(data["authorizationToken"]).decode(),
                      data["expiresAt"].timestamp())
            with self._lock:
                self._password = cached
        user, _, password = cached[0].partition(":")
        return user, password
