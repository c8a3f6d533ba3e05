"""``berth admin public-registry``: an account's public registry (ECR Public's): ``get``
shows its alias (made on first use), ``set-alias`` gives it another one (2 to 50 lowercase
letters, digits and single separators, free). Each command is (help, admin operation,
arguments, parameters)."""
from __future__ import annotations

HELP = "public registries (ECR Public): an account's alias"

_ACCOUNT = (("--account",), {"required": True, "metavar": "ID"})

COMMANDS = {
    "get": ("the account's public registry and its alias", "GetPublicRegistry", (_ACCOUNT,),
            lambda a: {"AccountId": a.account}),
    "set-alias": ("give the account's public registry another alias",
                  "PutPublicRegistryAlias",
                  (_ACCOUNT, (("alias",), {"metavar": "ALIAS", "help": "the new alias"})),
                  lambda a: {"AccountId": a.account, "Alias": a.alias}),
}
