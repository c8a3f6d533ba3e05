"""OpenID Connect federation: identity providers per account (an issuer URL, the audiences
its tokens may name, pinned certificate thumbprints or its keys given outright), and
AssumeRoleWithWebIdentity: a token the role's account trusts the issuer of, verified
(berth/iam/jwks.py), becomes a session of the role if the role's trust policy admits the
provider's principal with the token's ``aud`` and ``sub`` (conditions on
``<issuer host/path>:aud`` etc., as IAM has them). Session tags and a source identity come
from the token's ``https://aws.amazon.com/tags`` and ``.../source_identity`` claims; the trust
policy must then allow sts:TagSession (sts:SetSourceIdentity) too."""
from __future__ import annotations

import ipaddress
import json
import re
import time
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from ..storage.metadata import federation as rows
from ..storage.metadata import registries as registry_rows
from ..storage.metadata.database import Database
from .authentication import Caller
from .identities import IdentityError
from .jwks import FederationError, Jwks, key_set
from .policy import Principal
from .roles import ROLE_ARN
from .sessions import AssumedRole, Request, SessionService

IAM_GENERATION = registry_rows.IAM_GENERATION
CLIENT_IDS_MAX, THUMBPRINTS_MAX, PROVIDERS_MAX = 100, 5, 100  # IAM's limits
_THUMBPRINT = re.compile(r"[0-9a-fA-F]{40}")
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
LEEWAY = 60  # seconds of clock skew allowed between the issuer and Berth
ACTION = "sts:AssumeRoleWithWebIdentity"
TAGS_CLAIM = "https://aws.amazon.com/tags"
SOURCE_IDENTITY_CLAIM = "https://aws.amazon.com/source_identity"
TAG_KEY_MAX, TAG_VALUE_MAX, SOURCE_IDENTITY_MAX = 128, 256, 64  # STS's character limits


@dataclass(frozen=True)
class Provider:
    account_id: str
    url: str  # host[:port][/path]: how IAM names it (ARN, condition keys)
    scheme: str
    client_ids: tuple[str, ...]
    thumbprints: tuple[str, ...]
    jwks: str | None
    created_at: float

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:oidc-provider/{self.url}"

    @property
    def issuer(self) -> str:
        return f"{self.scheme}://{self.url}"

    @classmethod
    def from_row(cls, row) -> "Provider":
        return cls(row.account_id, row.url, row.scheme, tuple(json.loads(row.client_ids)),
                   tuple(json.loads(row.thumbprints)), row.jwks, row.created_at)


def _invalid(message: str) -> IdentityError:
    return IdentityError("ValidationError", message)


def split_issuer(url: str, loopback_http: bool = False) -> tuple[str, str]:
    """(scheme, host/path) of an issuer URL: https, or (``loopback_http``) http for an issuer
    on this machine (tests, a laptop); no query, no fragment; a trailing / does not count."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.query \
            or parts.fragment or len(url) > 255:
        raise _invalid(f"Invalid Open ID Connect Provider URL: {url!r}")
    if parts.scheme == "http" and not (loopback_http and _loopback(parts.hostname)):
        raise _invalid("An OpenID Connect provider URL must use https")
    return parts.scheme, (parts.netloc + parts.path).rstrip("/")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ProviderService:
    def __init__(self, db: Database, jwks: Jwks, loopback_issuers: bool = False):
        self.db, self.jwks = db, jwks
        self.loopback_issuers = loopback_issuers  # BERTH_OIDC_LOOPBACK_ISSUERS

    def create(self, account_id: str, url: str, client_ids=(), thumbprints=(),
               jwks: str | None = None) -> Provider:
        scheme, name = split_issuer(url, self.loopback_issuers)
        _check_lists(client_ids, thumbprints)
        if jwks is not None:
            key_set(jwks)  # refused now, not at the first token
        provider = Provider(account_id, name, scheme, tuple(client_ids),
                            tuple(t.lower() for t in thumbprints), jwks, time.time())
        with self.db.write() as tx:
            if rows.find_provider(tx, account_id, name) is not None:
                raise IdentityError("EntityAlreadyExists", f"Provider with url {url} already "
                                    "exists.")
            if len(rows.list_providers(tx, account_id)) >= PROVIDERS_MAX:
                raise IdentityError("LimitExceeded", "Cannot exceed quota for "
                                    f"OpenIdConnectProvidersPerAccount: {PROVIDERS_MAX}")
            rows.insert_provider(tx, {**provider.__dict__,
                                      "client_ids": json.dumps(provider.client_ids),
                                      "thumbprints": json.dumps(provider.thumbprints)})
            registry_rows.bump(tx, IAM_GENERATION)
        return provider

    def list(self, account_id: str) -> list[Provider]:
        with self.db.read() as tx:
            return [Provider.from_row(row) for row in rows.list_providers(tx, account_id)]

    def get(self, arn: str, account_id: str | None = None) -> Provider:
        """The provider the ARN names; with ``account_id``, only if it is that account's (an
        ARN of another account's is not found there, as in IAM)."""
        owner, url = _arn_parts(arn, account_id)
        with self.db.read() as tx:
            row = rows.find_provider(tx, owner, url)
        if row is None:
            raise _no_provider(arn)
        return Provider.from_row(row)

    def delete(self, arn: str, account_id: str | None = None) -> None:
        owner, url = _arn_parts(arn, account_id)
        with self.db.write() as tx:
            if not rows.delete_provider(tx, owner, url):
                raise _no_provider(arn)
            registry_rows.bump(tx, IAM_GENERATION)

    def assume_role(self, sessions: SessionService, request: Request,
                    token: str) -> tuple[AssumedRole, Provider, dict]:
        """AssumeRoleWithWebIdentity: (the session, the provider, the token's claims)."""
        found = ROLE_ARN.fullmatch(request.role_arn)
        if found is None:
            raise FederationError("ValidationError", f"{request.role_arn} is invalid")
        provider, claims = self.verify(found.group(1), token)
        audience = claims.get("azp") or _first(claims["aud"])
        keys = {f"{provider.url}:aud": audience, f"{provider.url}:sub": claims["sub"],
                f"{provider.url}:amr": claims.get("amr"),
                "aws:FederatedProvider": provider.arn}
        caller = Caller(Principal("federated-user", provider.account_id, provider.arn), "",
                        (), False)
        request = replace(request, **token_session(claims))
        assumed = sessions.assume_role(caller, request, ACTION, keys)
        return assumed, provider, {**claims, "aud": audience}

    def verify(self, account_id: str, token: str) -> tuple[Provider, dict]:
        """The provider of ``account_id`` that issued the token, and its verified claims."""
        import jwt  # on the first web identity token (see jwks)

        try:
            header = jwt.get_unverified_header(token)
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except jwt.PyJWTError:
            raise FederationError("InvalidIdentityToken", "The web identity token is not a "
                                  "well-formed JWT") from None
        provider = self._provider_of(account_id, issuer)
        if header.get("alg") not in ALGORITHMS:
            raise FederationError("InvalidIdentityToken", f"The token's algorithm "
                                  f"{header.get('alg')!r} is not accepted")
        key = self.jwks.key(provider, header.get("kid"), header["alg"])
        try:
            claims = jwt.decode(token, key, algorithms=[header["alg"]],
                                audience=list(provider.client_ids), issuer=issuer,
                                leeway=LEEWAY, options={"require": ["exp", "iss", "sub",
                                                                    "aud"]})
        except jwt.ExpiredSignatureError:
            raise FederationError("ExpiredTokenException", "Token expired: the web identity "
                                  "token is past its expiry") from None
        except jwt.InvalidAudienceError:
            raise FederationError("InvalidIdentityToken", "Incorrect token audience") from None
        except jwt.PyJWTError as exc:
            raise FederationError("InvalidIdentityToken", f"The web identity token was "
                                  f"refused: {exc}") from None
        return provider, claims

    def _provider_of(self, account_id: str, issuer) -> Provider:
        try:
            scheme, url = split_issuer(issuer if isinstance(issuer, str) else "", True)
        except IdentityError:
            raise FederationError("InvalidIdentityToken", "The token's issuer is not an "
                                  "OpenID Connect provider URL") from None
        with self.db.read() as tx:
            row = rows.find_provider(tx, account_id, url)
        if row is None or row.scheme != scheme:
            raise FederationError("InvalidIdentityToken", f"No OpenIDConnect provider found "
                                  f"in your account for {issuer}")
        return Provider.from_row(row)


def token_session(claims: dict) -> dict:
    """The session tags, transitive tag keys and source identity a token's claims carry, as
    ``Request`` fields: ``{"principal_tags": {"Project": ["Automation"]}, "transitive_tag_keys":
    ["Project"]}`` under TAGS_CLAIM (each value a string or a one-string list)."""
    found: dict = {}
    tagging = claims.get(TAGS_CLAIM)
    if tagging is not None:
        if not isinstance(tagging, dict) or not isinstance(
                tagging.get("principal_tags", {}), dict):
            raise _bad_claim(f"{TAGS_CLAIM} is an object whose principal_tags is an object")
        found["tags"] = tuple((key, _tag_value(key, value))
                              for key, value in tagging.get("principal_tags", {}).items())
        transitive = tagging.get("transitive_tag_keys", [])
        if not isinstance(transitive, list) or not all(isinstance(k, str) for k in transitive):
            raise _bad_claim("transitive_tag_keys is a list of tag keys")
        found["transitive_tag_keys"] = tuple(transitive)
    source = claims.get(SOURCE_IDENTITY_CLAIM)
    if source is not None:
        if not isinstance(source, str) or not 2 <= len(source) <= SOURCE_IDENTITY_MAX:
            raise _bad_claim(f"{SOURCE_IDENTITY_CLAIM} is a string of 2 to "
                             f"{SOURCE_IDENTITY_MAX} characters")
        found["source_identity"] = source
    return found


def _tag_value(key, value) -> str:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(key, str) or not 1 <= len(key) <= TAG_KEY_MAX:
        raise _bad_claim(f"a session tag key is a string of 1 to {TAG_KEY_MAX} characters")
    if not isinstance(value, str) or len(value) > TAG_VALUE_MAX:
        raise _bad_claim(f"the session tag {key!r} has one value, a string of up to "
                         f"{TAG_VALUE_MAX} characters")
    return value


def _bad_claim(what: str) -> FederationError:
    return FederationError("InvalidIdentityToken", f"The web identity token's session claims "
                           f"are malformed: {what}")


def _check_lists(client_ids, thumbprints) -> None:
    if len(client_ids) > CLIENT_IDS_MAX or any(not 1 <= len(c) <= 255 for c in client_ids):
        raise _invalid(f"ClientIDList takes up to {CLIENT_IDS_MAX} ids of 1 to 255 "
                       "characters")
    if len(thumbprints) > THUMBPRINTS_MAX or not all(
            _THUMBPRINT.fullmatch(t) for t in thumbprints):
        raise _invalid(f"ThumbprintList takes up to {THUMBPRINTS_MAX} thumbprints of 40 hex "
                       "digits")


def _arn_parts(arn: str, account_id: str | None = None) -> tuple[str, str]:
    found = re.fullmatch(r"arn:aws:iam::(\d{12}):oidc-provider/(.+)", arn or "")
    if found is None:
        raise _invalid(f"Invalid OpenIDConnect provider ARN: {arn!r}")
    if account_id is not None and found.group(1) != account_id:
        raise _no_provider(arn)
    return found.group(1), found.group(2)


def _no_provider(arn: str) -> IdentityError:
    return IdentityError("NoSuchEntity", f"OpenIDConnect Provider not found for arn {arn}")


def _first(audience) -> str:
    return audience[0] if isinstance(audience, list) and audience else str(audience)
