"""Wrapped data keys: bound to their key ref and version, tamper-evident."""
import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from berth.keys import envelope


def test_round_trip_names_the_version():
    kek, data_key = AESGCM(os.urandom(32)), os.urandom(32)
    wrapped = envelope.wrap(kek, "kms-x", 7, data_key)
    assert envelope.version_of(wrapped) == 7
    assert envelope.unwrap(kek, "kms-x", wrapped) == data_key
    assert data_key not in wrapped


@pytest.mark.parametrize("damage", [
    lambda w: w[:-1],                                  # truncated
    lambda w: w[:-1] + bytes([w[-1] ^ 1]),             # altered tag
    lambda w: b"\x02" + w[1:],                         # unknown format
    lambda w: w[:1] + (8).to_bytes(4, "big") + w[5:],  # another version claimed
])
def test_damaged_wrapped_keys_do_not_open(damage):
    kek = AESGCM(os.urandom(32))
    wrapped = envelope.wrap(kek, "aes256", 7, os.urandom(32))
    with pytest.raises(envelope.WrappedKeyInvalid):
        envelope.unwrap(kek, "aes256", damage(wrapped))


def test_a_wrapped_key_is_bound_to_its_key_ref():
    kek = AESGCM(os.urandom(32))
    wrapped = envelope.wrap(kek, "kms-a", 1, os.urandom(32))
    with pytest.raises(envelope.WrappedKeyInvalid):
        envelope.unwrap(kek, "kms-b", wrapped)
