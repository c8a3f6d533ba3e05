"""``berth admin quotas``: service quotas (ECR's, with ECR's defaults): ``put NAME VALUE`` and
``delete NAME`` for one account (``--account``) or, without it, the whole deployment; ``list
--account`` shows an account's values and where each comes from. Names: RegisteredRepositories,
ImagesPerRepository, MaximumLayerSizeMiB, and Rate:<action> (requests per second per principal
of BatchGetImage, GetDownloadUrlForLayer, BatchCheckLayerAvailability, InitiateLayerUpload,
UploadLayerPart, CompleteLayerUpload, PutImage, GetAuthorizationToken). Each command is (help,
admin operation, arguments, parameters)."""
from __future__ import annotations

HELP = "service quotas: ECR's limits per deployment and per account"

_SCOPE = (("--account",), {"metavar": "ID", "help": "one account's (default: the whole "
                           "deployment's)"})
_NAME = (("name",), {"metavar": "NAME", "help": "the quota, e.g. ImagesPerRepository"})

COMMANDS = {
    "put": ("set a quota (administrator account only)", "PutServiceQuota",
            (_SCOPE, _NAME, (("value",), {"metavar": "VALUE", "help": "a whole number"})),
            lambda a: {"AccountId": a.account, "QuotaName": a.name, "Value": a.value}),
    "delete": ("drop an override: the deployment's value or ECR's default applies again",
               "DeleteServiceQuota", (_SCOPE, _NAME),
               lambda a: {"AccountId": a.account, "QuotaName": a.name}),
    "list": ("an account's quotas and where each value comes from", "ListServiceQuotas",
             ((("--account",), {"required": True, "metavar": "ID"}),),
             lambda a: {"AccountId": a.account}),
}
