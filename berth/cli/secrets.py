"""``berth admin secrets``: sealed secrets, such as the credentials a pull-through cache rule
names (``put|list|delete``; ``--region`` picks their region, default the default region).
Values come from files only, never the command line (process listings and shell history
show it). Each command is (help, admin operation, arguments, parameters)."""
from __future__ import annotations

import argparse
import json

from ..api.admin.errors import AdminError

HELP = "sealed secrets (pull-through cache credentials)"

_ACCOUNT = (("--account",), {"metavar": "ID",
                             "help": "the account's 12-digit id (online: default yours)"})
_NAME = (("name",), {"metavar": "NAME", "help": "the secret's name, e.g. "
                     "ecr-pullthroughcache/docker-hub"})


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as fh:
        return fh.read().strip()


def _value(a: argparse.Namespace) -> str:
    """The secret file's JSON, or ECR's credential JSON from --username and --token-file."""
    credential = a.username is not None or a.token_file is not None
    if (a.secret_file is not None) == credential:
        raise AdminError("ValidationError", "give either --secret-file, or --username with "
                         "--token-file")
    if a.secret_file is not None:
        return _read(a.secret_file)
    if a.username is None or a.token_file is None:
        raise AdminError("ValidationError", "--username and --token-file go together")
    return json.dumps({"username": a.username, "accessToken": _read(a.token_file)})


def _where(a: argparse.Namespace, **more) -> dict:
    return {"AccountId": a.account, "Region": a.region, **more}


COMMANDS = {
    "put": (
        "create or replace a secret (its ARN stays)", "PutSecret",
        (_ACCOUNT, _NAME,
         (("--secret-file",), {"metavar": "PATH", "help": "a file holding the value, a JSON "
                               "object"}),
         (("--username",), {"metavar": "USER", "help": "the upstream registry's user name "
                            "(with --token-file: ECR's pull-through cache credentials)"}),
         (("--token-file",), {"metavar": "PATH", "help": "a file holding its access token"})),
        lambda a: _where(a, Name=a.name, SecretString=_value(a))),
    "list": ("list secrets (names and ARNs, never values)", "ListSecrets", (_ACCOUNT,),
             _where),
    "delete": ("delete a secret", "DeleteSecret", (_ACCOUNT, _NAME),
               lambda a: _where(a, Name=a.name)),
}
