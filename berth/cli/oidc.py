"""``berth admin oidc-providers``: the OpenID Connect issuers an account trusts, whose tokens
(a Kubernetes service account's, a CI system's) become role sessions through
AssumeRoleWithWebIdentity (``create|list|get|delete``). Keys are fetched from the issuer
(verified TLS, or ``--thumbprint`` pinning its certificate or a CA's of its chain), or given
with ``--jwks-file`` for an issuer Berth cannot reach. Each command is (help, admin operation,
arguments, parameters)."""
from __future__ import annotations

import argparse

HELP = "OpenID Connect identity providers (web identity federation)"

_ACCOUNT = (("--account",), {"required": True, "metavar": "ID",
                             "help": "the account's 12-digit id"})
_ARN = (("arn",), {"metavar": "ARN", "help": "the provider's ARN"})


def _read(path: str | None) -> str | None:
    if path is None:
        return None
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def _create(a: argparse.Namespace) -> dict:
    return {"AccountId": a.account, "Url": a.url, "ClientIDList": a.audience or [],
            "ThumbprintList": a.thumbprint or [], "JwksDocument": _read(a.jwks_file)}


COMMANDS = {
    "create": (
        "trust an issuer's tokens for the account's roles", "CreateOpenIDConnectProvider",
        (_ACCOUNT,
         (("--url",), {"required": True, "metavar": "URL",
                       "help": "the issuer (its tokens' iss), https://host[/path]"}),
         (("--audience",), {"action": "append", "metavar": "CLIENT_ID",
                            "help": "an audience (aud) its tokens may name (repeatable)"}),
         (("--thumbprint",), {"action": "append", "metavar": "SHA1",
                              "help": "pin the issuer's TLS certificate, or a CA "
                              "certificate of the chain it presents (AWS's top "
                              "intermediate): its SHA-1 fingerprint, 40 hex digits "
                              "(repeatable)"}),
         (("--jwks-file",), {"metavar": "PATH",
                             "help": "the issuer's keys (a JWKS), instead of fetching them"})),
        _create),
    "list": ("list an account's providers", "ListOpenIDConnectProviders", (_ACCOUNT,),
             lambda a: {"AccountId": a.account}),
    "get": ("show a provider", "GetOpenIDConnectProvider", (_ACCOUNT, _ARN),
            lambda a: {"AccountId": a.account, "OpenIDConnectProviderArn": a.arn}),
    "delete": ("delete a provider", "DeleteOpenIDConnectProvider", (_ACCOUNT, _ARN),
               lambda a: {"AccountId": a.account, "OpenIDConnectProviderArn": a.arn}),
}
