"""``berth admin events``: webhook targets (``targets put|list|delete``) and their deliveries
(``deliveries [--target] [--dead]``, ``deliveries replay``). Each command is (help, admin
operation, arguments, parameters); names with a space are nested commands."""
from __future__ import annotations

import argparse

from ..api.admin.errors import AdminError

HELP = "event notifications: webhook targets and their deliveries"

_ACCOUNT = (("--account",), {"metavar": "ID",
                             "help": "the account's 12-digit id (online: default yours)"})
_NAME = (("name",), {"metavar": "NAME", "help": "the target's name"})
_TARGET = (("--target",), {"metavar": "NAME", "help": "one target's deliveries only"})


def _pattern(a: argparse.Namespace) -> str | None:
    if a.pattern is not None and a.pattern_file is not None:
        raise AdminError("ValidationError", "give at most one of --pattern and --pattern-file")
    if a.pattern_file is not None:
        with open(a.pattern_file, encoding="utf-8") as fh:
            return fh.read()
    return a.pattern


def _secret(a: argparse.Namespace) -> str | None:
    # From a file, never the command line (process listings and shell history show it).
    if a.secret_file is None:
        return None
    with open(a.secret_file, encoding="utf-8") as fh:
        return fh.read().strip()


def _put(a: argparse.Namespace) -> dict:
    return {"AccountId": a.account, "Name": a.name, "Url": a.url,
            "EventPattern": _pattern(a), "Secret": _secret(a)}


COMMANDS = {
    "targets put": (
        "create or replace a webhook target", "PutEventTarget",
        (_ACCOUNT, _NAME, (("--url",), {"required": True, "help": "http(s) URL to POST to"}),
         (("--pattern",), {"metavar": "JSON", "help": "EventBridge event pattern (default "
                           "{\"source\": [\"aws.ecr\"]})"}),
         (("--pattern-file",), {"metavar": "PATH", "help": "... read from a file"}),
         (("--secret-file",), {"metavar": "PATH", "help": "a file holding the secret that "
                               "signs deliveries (X-Berth-Signature-256)"})),
        _put),
    "targets list": ("list webhook targets", "ListEventTargets", (_ACCOUNT,),
                     lambda a: {"AccountId": a.account}),
    "targets delete": ("delete a target and its queued deliveries", "DeleteEventTarget",
                       (_ACCOUNT, _NAME), lambda a: {"AccountId": a.account, "Name": a.name}),
    "deliveries": (
        "list deliveries, newest first", "ListEventDeliveries",
        (_ACCOUNT, _TARGET, (("--dead",), {"action": "store_true",
                                          "help": "dead-lettered deliveries only"}),
         (("--max-results",), {"type": int, "default": 100, "metavar": "N"})),
        lambda a: {"AccountId": a.account, "TargetName": a.target,
                   "Dead": "true" if a.dead else "false", "MaxResults": str(a.max_results)}),
    "deliveries replay": (
        "send dead deliveries again (all of the account's or the target's, or those named)",
        "ReplayEventDeliveries",
        (_ACCOUNT, _TARGET, (("--id",), {"dest": "ids", "action": "append",
                                        "metavar": "DELIVERY_ID"})),
        lambda a: {"AccountId": a.account, "TargetName": a.target,
                   "DeliveryIds": ",".join(a.ids) if a.ids else None}),
}
