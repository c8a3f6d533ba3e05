"""``berth admin replication-sites``: other Berth deployments a registry replicates to
(``put|list|delete``; ``--region`` picks the registry's region, default the default region).
A site's access key is a secret put first with ``berth admin secrets put NAME --secret-file``
(``{"accessKeyId": ..., "secretAccessKey": ...}``). Each command is (help, admin operation,
arguments, parameters)."""
from __future__ import annotations

import argparse

HELP = "replication sites: other Berth deployments as replication destinations"

_ACCOUNT = (("--account",), {"required": True, "metavar": "ID",
                             "help": "the replicating registry's account"})
_REGISTRY_ID = (("registry_id",), {"metavar": "REGISTRY_ID",
                                   "help": "the account id of the site's registry (what "
                                   "replication rules name as registryId)"})


def _where(a: argparse.Namespace, **more) -> dict:
    return {"AccountId": a.account, "Region": a.region, **more}


COMMANDS = {
    "put": (
        "add or replace a site", "PutReplicationSite",
        (_ACCOUNT, _REGISTRY_ID,
         (("--endpoint",), {"required": True, "metavar": "URL",
                            "help": "the site's endpoint, http(s)://host[:port]"}),
         (("--secret-arn",), {"required": True, "metavar": "ARN",
                              "help": "the secret holding the site's access key"})),
        lambda a: _where(a, RegistryId=a.registry_id, Endpoint=a.endpoint,
                         SecretArn=a.secret_arn)),
    "list": ("list sites", "ListReplicationSites", (_ACCOUNT,), _where),
    "delete": ("delete a site", "DeleteReplicationSite", (_ACCOUNT, _REGISTRY_ID),
               lambda a: _where(a, RegistryId=a.registry_id)),
}
