import base64
import hashlib
import hmac
import json
import os
import time

import pytest

from berth.keys.master import MasterKey, MasterKeyError
from berth.iam.tokens import TokenError, TokenService
from berth.storage.metadata import migrate
from berth.storage.metadata import registries as registry_rows
from berth.storage.metadata.database import Database

KEY_ID = "AKIAEXAMPLEEXAMPLE00"
NOW = 1_700_000_000.0


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _claims(token: str) -> dict:
    body = token.rpartition(".")[0]
    return json.loads(_unb64(body[len("v1."):]))


def _with_claims(token: str, **changes) -> str:
    """The token with its claims changed and its old MAC kept."""
    body, _, mac = token.rpartition(".")
    claims = {**_claims(token), **changes}
    return "v1." + _b64(json.dumps(claims, separators=(",", ":")).encode()) + "." + mac


def _signing_keys(db: Database) -> list:
    with db.read() as tx:
        return tx.all(registry_rows._signing_keys(False))


def test_mint_and_verify(tokens):
    token, expires = tokens.mint(KEY_ID, now=NOW)
    assert token.startswith("v1.")
    assert expires == NOW + 3600
    claims = tokens.verify(token, now=NOW + 1)
    assert claims.access_key_id == KEY_ID
    assert claims.issued_at == pytest.approx(NOW, abs=1e-3)
    assert claims.expires_at == pytest.approx(NOW + 3600, abs=1e-3)


def test_a_token_names_the_region_it_was_minted_in(tokens):
    """What a plain host addresses with it: the caller's registry in that region."""
    token, _ = tokens.mint(KEY_ID, now=NOW, region="eu-west-1")
    assert tokens.verify(token, now=NOW).region == "eu-west-1"
    assert _claims(token)["r"] == "eu-west-1"
    with pytest.raises(TokenError, match="signature"):
        tokens.verify(_with_claims(token, r="us-east-1"), now=NOW)
    older, _ = tokens.mint(KEY_ID, now=NOW)  # as tokens were minted before they named one
    assert "r" not in _claims(older) and tokens.verify(older, now=NOW).region is None


def test_tokens_are_unique(tokens):
    assert tokens.mint(KEY_ID, now=NOW)[0] != tokens.mint(KEY_ID, now=NOW)[0]


def test_default_clock(tokens):
    token, expires = tokens.mint(KEY_ID)
    assert time.time() < expires <= time.time() + 3600
    assert tokens.verify(token).access_key_id == KEY_ID


def test_expiry(tokens):
    token, expires = tokens.mint(KEY_ID, now=NOW)
    tokens.verify(token, now=expires - 0.01)
    with pytest.raises(TokenError, match="expired"):
        tokens.verify(token, now=expires)
    with pytest.raises(TokenError, match="expired"):
        tokens.verify(token, now=expires + 86400)


def test_lifetime_is_the_configured_one(db, master, tokens):
    short = TokenService(db, master, lifetime_seconds=60)
    token, expires = short.mint(KEY_ID, now=NOW)
    assert expires == NOW + 60
    with pytest.raises(TokenError, match="expired"):
        tokens.verify(token, now=NOW + 61)  # the lifetime travels in the token


def test_verifies_on_another_node(db, master, tokens):
    """A token minted on one node verifies on another with the same database and key."""
    token, _ = tokens.mint(KEY_ID, now=NOW)
    other = TokenService(db, master, 3600)
    assert other.verify(token, now=NOW).access_key_id == KEY_ID


def test_tampered_claims_do_not_verify(tokens):
    token, _ = tokens.mint(KEY_ID, now=NOW)
    for changes in ({"k": "AKIAOTHEROTHEROTHER0"}, {"e": NOW + 10**9}, {"i": NOW + 100}):
        with pytest.raises(TokenError, match="signature"):
            tokens.verify(_with_claims(token, **changes), now=NOW)


def test_tampered_mac_does_not_verify(tokens):
    token, _ = tokens.mint(KEY_ID, now=NOW)
    body, _, mac = token.rpartition(".")
    flipped = ("B" if mac[0] == "A" else "A") + mac[1:]
    for bad_mac in (flipped, mac[:-4], mac + "AAAA", "", _b64(os.urandom(32))):
        with pytest.raises(TokenError):
            tokens.verify(f"{body}.{bad_mac}", now=NOW)


def test_tampered_body_bytes_do_not_verify(tokens):
    token, _ = tokens.mint(KEY_ID, now=NOW)
    body, _, mac = token.rpartition(".")
    i = len("v1.") + 5
    tampered = body[:i] + ("B" if body[i] == "A" else "A") + body[i + 1:]
    with pytest.raises(TokenError):
        tokens.verify(f"{tampered}.{mac}", now=NOW)


def test_wrong_prefix(tokens):
    token, _ = tokens.mint(KEY_ID, now=NOW)
    for prefix in ("v2.", "V1.", "", "x"):
        with pytest.raises(TokenError, match="not a registry token"):
            tokens.verify(prefix + token[len("v1."):], now=NOW)


@pytest.mark.parametrize("token", [
    "", ".", "garbage", "v1.", "v1..", "v1.abc", "v1.!!!.???", "v1.e30.AAAA",
    "v1." + _b64(b"[1,2,3]") + ".AAAA",
    "v1." + _b64(b'"text"') + ".AAAA",
    "v1." + _b64(b"null") + ".AAAA",
    "v1." + _b64(b"\xff\xfe") + ".AAAA",
    "v1." + _b64(json.dumps({"k": 1, "s": "x", "i": 0, "e": 1}).encode()) + ".AAAA",
    "v1." + _b64(json.dumps({"k": "AKIA", "s": ["x"], "i": 0, "e": 1}).encode()) + ".AAAA",
    "v1." + _b64(json.dumps({"k": "AKIA", "s": "x", "i": "soon", "e": 1}).encode()) + ".AAAA",
    "v1." + _b64(json.dumps({"k": "AKIA", "s": "x", "i": 0, "e": None}).encode()) + ".AAAA",
    "v1." + _b64(json.dumps({"k": "AKIA", "s": "x", "i": 0, "e": 1}).encode()) + ".A",
    "v1." + _b64(json.dumps({"k": "AKIA", "s": "x", "i": 0, "e": 1}).encode()) + ".é",
])
def test_garbage_is_a_token_error(tokens, token):
    with pytest.raises(TokenError):
        tokens.verify(token, now=NOW)


def test_unknown_signing_key(tokens):
    """A token signed by a key this database does not have (forged, or from another
    deployment) does not verify."""
    secret = os.urandom(32)
    claims = {"k": KEY_ID, "s": "feedfacefeedface", "i": NOW, "e": NOW + 3600, "n": "00"}
    body = "v1." + _b64(json.dumps(claims).encode())
    forged = body + "." + _b64(hmac.new(secret, body.encode(), hashlib.sha256).digest())
    with pytest.raises(TokenError, match="signature"):
        tokens.verify(forged, now=NOW)


def test_token_of_another_deployment(tokens, tmp_path, master):
    other_db = Database(f"sqlite:///{tmp_path / 'other.db'}")
    migrate.upgrade(other_db)
    try:
        other = TokenService(other_db, master, 3600)
        with other_db.write() as tx:
            other.ensure_signing_key(tx)
        token, _ = other.mint(KEY_ID, now=NOW)
        with pytest.raises(TokenError):
            tokens.verify(token, now=NOW)
    finally:
        other_db.dispose()


def test_signing_key_is_stored_sealed(db, master, tokens):
    (row,) = _signing_keys(db)
    token, _ = tokens.mint(KEY_ID, now=NOW)
    secret = master.open(bytes(row.secret), f"token-signing-key:{row.id}")
    body, _, mac = token.rpartition(".")
    assert _unb64(mac) == hmac.new(secret, body.encode(), hashlib.sha256).digest()
    assert secret not in bytes(row.secret)


def test_ensure_signing_key_is_idempotent(db, tokens):
    with db.write() as tx:
        tokens.ensure_signing_key(tx)
    assert len(_signing_keys(db)) == 1


def test_mint_without_signing_key(db, master):
    with pytest.raises(RuntimeError, match="signing key"):
        TokenService(db, master, 3600).mint(KEY_ID)


def test_rotation(db, master, tokens):
    old_token, _ = tokens.mint(KEY_ID, now=NOW)
    old_key = _claims(old_token)["s"]
    new_key = tokens.rotate()
    assert new_key != old_key
    assert len(_signing_keys(db)) == 2
    new_token, _ = tokens.mint(KEY_ID, now=NOW)
    assert _claims(new_token)["s"] == new_key
    assert tokens.verify(old_token, now=NOW).access_key_id == KEY_ID
    assert tokens.verify(new_token, now=NOW).access_key_id == KEY_ID
    # A node that has not cached either key reads both from the database.
    fresh = TokenService(db, master, 3600)
    assert fresh.verify(old_token, now=NOW).access_key_id == KEY_ID
    assert fresh.verify(new_token, now=NOW).access_key_id == KEY_ID
    # and a node that already signed with the old key switches to the new one.
    assert _claims(fresh.mint(KEY_ID, now=NOW)[0])["s"] == new_key


def test_check_master_key(db, master, tokens):
    tokens.check_master_key()
    TokenService(db, master, 3600).check_master_key()
    with pytest.raises(MasterKeyError):
        TokenService(db, MasterKey(os.urandom(32)), 3600).check_master_key()


def test_check_master_key_on_an_empty_database(db):
    TokenService(db, MasterKey(os.urandom(32)), 3600).check_master_key()
