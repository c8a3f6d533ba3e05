"""Berth's key store: key-encryption keys (the deployment's, and KMS-style customer keys per
account and region) that wrap the data keys blob encryption uses (envelope encryption)."""
from .models import (
                     Key,
                     KeyDisabled,
                     KeyNotFound,
                     KeyServiceError,
                     KeySpec,
                     KeyUnsupported,
                     parse_key_spec,
)
from .service import KeyService
from .store import KeyStore
from .wiring import Keys, open_keys

__all__ = ["Key", "KeyDisabled", "KeyNotFound", "KeyService", "KeyServiceError", "KeySpec",
           "KeyStore", "KeyUnsupported", "Keys", "open_keys", "parse_key_spec"]
