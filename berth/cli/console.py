"""``berth admin console-passwords``: users' console passwords (IAM's login profiles):
``create``, ``update`` (the password is read from standard input, one line: never from the
command line, where other users of the machine could read it) and ``delete``. Each command
is (help, admin operation, arguments, parameters)."""
from __future__ import annotations

import sys

HELP = "users' console passwords (sign in to /console as account, user and password)"

_ACCOUNT = (("--account",), {"required": True, "metavar": "ID"})
_USER = (("--user",), {"required": True, "metavar": "NAME"})


def _with_password(a) -> dict:
    password = sys.stdin.readline().rstrip("\r\n")
    return {"AccountId": a.account, "UserName": a.user, "Password": password}


COMMANDS = {
    "create": ("give a user a console password (read from standard input)",
               "CreateLoginProfile", (_ACCOUNT, _USER), _with_password),
    "update": ("change a user's console password (read from standard input)",
               "UpdateLoginProfile", (_ACCOUNT, _USER), _with_password),
    "delete": ("take a user's console password away (its console sessions end)",
               "DeleteLoginProfile", (_ACCOUNT, _USER),
               lambda a: {"AccountId": a.account, "UserName": a.user}),
}
