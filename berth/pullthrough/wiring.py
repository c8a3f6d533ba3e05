"""Wiring the pull-through cache: its credentials are secrets of the secret store (sealed with
the deployment's master key), resolved each time a rule's upstream client is made."""
from __future__ import annotations

from ..config import Settings
from ..jobs.queue import JobQueue
from ..registry.registry import Registry
from ..secrets.models import SecretNotFound, SecretUnreadable
from .cache import PullThrough
from .errors import CredentialUnusable


def open_pullthrough(registry: Registry, settings: Settings) -> PullThrough:
    store = registry.secrets

    def secrets(arn: str) -> dict:
        try:
            return store.resolve(arn)
        except SecretNotFound:
            raise CredentialUnusable(f"The secret {arn} does not exist", "not_found") from None
        except SecretUnreadable:
            raise CredentialUnusable(f"The secret {arn} cannot be decrypted",
                                     "undecryptable") from None
    return PullThrough(registry, secrets, JobQueue(registry.db),
                       settings.pullthrough_refresh_seconds,
                       settings.pullthrough_timeout_seconds,
                       settings.pullthrough_ca_file or None)
