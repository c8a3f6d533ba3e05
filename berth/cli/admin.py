"""``berth admin``: accounts, users, access keys, identity policies, encryption keys
(KMS-style, ``keys``; access keys are ``access-keys``) and the token signing key.

Offline (the default) it works on the data directory or database, with the settings flags of
``berth serve``; with ``--endpoint-url`` it works online through a server's admin API, signing
with an access key from the usual AWS sources. Both run the same operations and print the
same JSON document on stdout; errors go to stderr with exit status 1."""
from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
from dataclasses import dataclass
from typing import Callable

from sqlalchemy.exc import SQLAlchemyError

from ..api.admin.errors import DOMAIN_ERRORS, AdminError, translate
from ..config import Settings
from ..iam.service import UnknownRegistry
from ..keys.master import MasterKeyError
from ..storage.metadata import migrate
from ..storage.metadata.database import Database
from . import audit, console, events, gc, oidc, public, quotas, roles, secrets, signing, sites
from . import usage

ROTATE = "RotateSigningKey"  # offline only: not an admin API operation


@dataclass(frozen=True)
class Command:
    help: str
    operation: str | Callable[[argparse.Namespace], str]  # a function: chosen by the flags
    arguments: tuple[tuple[tuple[str, ...], dict], ...]
    params: Callable[[argparse.Namespace], dict]


def _arg(*flags: str, **options) -> tuple[tuple[str, ...], dict]:
    return flags, options


_ACCOUNT = _arg("--account", required=True, metavar="ID", help="the account's 12-digit id")
_USER = _arg("--user", required=True, metavar="NAME", help="the user's name")
_KEY_USER = _arg("--user", metavar="NAME", help="the user's name (default: the account root)")
_POLICY = _arg("--name", required=True, metavar="POLICY", help="the policy's name")
_KEY_ID = _arg("key_id", metavar="KEY_ID")


def _status(status: str) -> Command:
    verb = "activate" if status == "Active" else "deactivate"
    return Command(f"{verb} an access key", "UpdateAccessKey", (_ACCOUNT, _KEY_ID),
                   lambda a: {"AccountId": a.account, "AccessKeyId": a.key_id,
                              "Status": status})


def _kms(operation: str, help: str, *arguments) -> Command:
    """A command on an account's encryption keys; --region picks the keys' region (default:
    the deployment's default region; online it also signs the request)."""
    def params(a: argparse.Namespace) -> dict:
        found = {"AccountId": a.account, "Region": a.region}
        for name, member in (("key_id", "KeyId"), ("description", "Description")):
            if hasattr(a, name):
                found[member] = getattr(a, name)
        return found
    return Command(help, operation, (_ACCOUNT, *arguments), params)


_LIFECYCLE_ACCOUNT = _arg("--account", metavar="ID",
                          help="the registry's account (default: the default registry's)")


def _lifecycle_params(a: argparse.Namespace, **more) -> dict:
    return {"AccountId": a.account, "Region": a.region if a.account else None, **more}


def _image_reference(text: str) -> dict:
    """REPOSITORY@DIGEST, REPOSITORY:TAG, or REPOSITORY (its latest tag)."""
    if "@" in text:
        name, digest = text.split("@", 1)
        return {"RepositoryName": name, "ImageDigest": digest}
    name, _, tag = text.rpartition(":") if ":" in text.rsplit("/", 1)[-1] else (text, "", "")
    return {"RepositoryName": name, "ImageTag": tag or "latest"}


def _read(path: str | None) -> str | None:
    if path is None:
        return None
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def _user_params(a: argparse.Namespace) -> dict:
    return {"AccountId": a.account, "UserName": a.user}


def _policy_params(a: argparse.Namespace) -> dict:
    return {**_user_params(a), "PolicyName": a.name}


COMMANDS: dict[str, dict[str, Command]] = {
    "accounts": {
        "create": Command("create an account", "CreateAccount", (
            _arg("name", metavar="NAME"), _arg("--account-id", metavar="ID")),
            lambda a: {"AccountName": a.name, "AccountId": a.account_id}),
        "list": Command("list the accounts", "ListAccounts", (), lambda a: {}),
    },
    "users": {
        "create": Command("create a user", "CreateUser", (
            _ACCOUNT, _arg("name", metavar="NAME"), _arg("--path", metavar="/PATH/")),
            lambda a: {"AccountId": a.account, "UserName": a.name, "Path": a.path}),
        "list": Command("list an account's users", "ListUsers", (_ACCOUNT,),
                        lambda a: {"AccountId": a.account}),
        "delete": Command("delete a user with its keys and policies", "DeleteUser", (
            _ACCOUNT, _arg("name", metavar="NAME")),
            lambda a: {"AccountId": a.account, "UserName": a.name}),
    },
    "access-keys": {
        "create": Command("create an access key (its secret is shown once)",
                          "CreateAccessKey", (_ACCOUNT, _KEY_USER), _user_params),
        "list": Command("list access keys", "ListAccessKeys", (_ACCOUNT, _KEY_USER),
                        _user_params),
        "activate": _status("Active"),
        "deactivate": _status("Inactive"),
        "delete": Command("delete an access key", "DeleteAccessKey", (_ACCOUNT, _KEY_ID),
                          lambda a: {"AccountId": a.account, "AccessKeyId": a.key_id}),
    },
    "policies": {
        "put": Command("attach (or replace) a user's inline policy", "PutUserPolicy", (
            _ACCOUNT, _USER, _POLICY, _arg("--document", metavar="JSON"),
            _arg("--file", metavar="PATH")),
            lambda a: {**_policy_params(a), "PolicyDocument": _document(a)}),
        "list": Command("list a user's policy names", "ListUserPolicies", (_ACCOUNT, _USER),
                        _user_params),
        "get": Command("show a user's policy", "GetUserPolicy", (_ACCOUNT, _USER, _POLICY),
                       _policy_params),
        "delete": Command("delete a user's policy", "DeleteUserPolicy",
                          (_ACCOUNT, _USER, _POLICY), _policy_params),
    },
    "keys": {
        "create": _kms("CreateKey", "create an encryption key (for KMS repositories)",
                       _arg("--description", metavar="TEXT")),
        "list": _kms("ListKeys", "list an account's encryption keys"),
        "describe": _kms("DescribeKey", "show an encryption key (id, ARN or alias)", _KEY_ID),
        "disable": _kms("DisableKey", "disable a key: its repositories' blobs become "
                        "unreadable until it is enabled again", _KEY_ID),
        "enable": _kms("EnableKey", "enable a disabled key", _KEY_ID),
        "rotate": _kms("RotateKey", "add a key version for new data (old data stays "
                       "readable)", _KEY_ID),
    },
    "gc": {name: Command(*spec) for name, spec in gc.COMMANDS.items()},
    "lifecycle": {
        "run": Command("run lifecycle policies now: one repository's, or every policy that "
                       "has not run yet today", "RunLifecyclePolicies",
                       (_arg("--repository", metavar="NAME"), _LIFECYCLE_ACCOUNT),
                       lambda a: _lifecycle_params(a, RepositoryName=a.repository)),
        "preview": Command("what a repository's lifecycle policy (or --policy-file) would "
                           "expire or archive, now or --as-of a later date",
                           "PreviewLifecyclePolicy",
                           (_arg("--repository", required=True, metavar="NAME"),
                            _LIFECYCLE_ACCOUNT, _arg("--as-of", metavar="YYYY-MM-DD"),
                            _arg("--policy-file", metavar="PATH")),
                           lambda a: _lifecycle_params(
                               a, RepositoryName=a.repository, AsOf=a.as_of,
                               LifecyclePolicyText=_read(a.policy_file))),
    },
    "vulndb": {
        "import": Command("load OSV advisories (<Ecosystem>-all.zip files, folders or files "
                          "of OSV JSON); continuously scanned images are matched again",
                          "ImportVulnerabilities",
                          (_arg("paths", nargs="+", metavar="PATH"),),
                          lambda a: {"Paths": "\n".join(os.path.abspath(p) for p in a.paths)}),
        "list": Command("the advisory sources imported, with their update times",
                        "ListVulnerabilitySources", (), lambda a: {}),
    },
    "sbom": {
        "": Command("an image's packages as a CycloneDX 1.6 or SPDX 2.3 document (stdout); "
                    "--attach also keeps it beside the image as an OCI referrer",
                    "ExportSbom", (_arg("image", metavar="REPOSITORY[:TAG|@DIGEST]"),
                                   _arg("--format", default="cyclonedx",
                                        choices=("cyclonedx", "spdx")),
                                   _arg("--attach", action="store_true"), _LIFECYCLE_ACCOUNT),
                    lambda a: _lifecycle_params(a, **_image_reference(a.image), Format=a.format,
                                                Attach="true" if a.attach else "false")),
    },
    "usage": {
        "": Command("storage used per account and repository (each object once); with "
                    "--from and --to, GB-months, GB transferred and cost per group",
                    usage.operation, usage.ARGUMENTS, usage.params),
    },
    "events": {name: Command(*spec) for name, spec in events.COMMANDS.items()},
    "secrets": {name: Command(*spec) for name, spec in secrets.COMMANDS.items()},
    "roles": {name: Command(*spec) for name, spec in roles.COMMANDS.items()},
    "oidc-providers": {name: Command(*spec) for name, spec in oidc.COMMANDS.items()},
    "quotas": {name: Command(*spec) for name, spec in quotas.COMMANDS.items()},
    "signing-profiles": {name: Command(*spec) for name, spec in signing.COMMANDS.items()},
    "replication-sites": {name: Command(*spec) for name, spec in sites.COMMANDS.items()},
    "public-registry": {name: Command(*spec) for name, spec in public.COMMANDS.items()},
    "console-passwords": {name: Command(*spec) for name, spec in console.COMMANDS.items()},
    "audit": {"lookup": Command("look up events of the audit trail, newest first (JSON lines)",
                                "LookupAuditEvents", audit.ARGUMENTS, audit.params)},
    "tokens": {
        "rotate-signing-key": Command("sign registry tokens with a new key (offline only; "
                                      "older tokens stay valid)", ROTATE, (), lambda a: {}),
    },
}

_GROUP_HELP = {"accounts": "accounts (online: administrator account only)", "users": "IAM users",
               "access-keys": "access keys of users and account roots",
               "policies": "users' inline identity policies",
               "keys": "encryption keys of KMS repositories (encryption at rest)",
               "gc": gc.HELP,
               "usage": "storage used, usage and cost reports",
               "lifecycle": "lifecycle policies: run them now, preview them on a date",
               "vulndb": "the vulnerability database scans match against (OSV, offline)",
               "sbom": "an image's software bill of materials",
               "tokens": "registry token signing", "events": events.HELP,
               "secrets": secrets.HELP, "replication-sites": sites.HELP, "roles": roles.HELP,
               "oidc-providers": oidc.HELP, "quotas": quotas.HELP,
               "signing-profiles": signing.HELP, "public-registry": public.HELP,
               "console-passwords": console.HELP,
               "audit": audit.HELP}


def _document(args: argparse.Namespace) -> str:
    if (args.document is None) == (args.file is None):
        raise AdminError("ValidationError", "give exactly one of --document and --file")
    if args.document is not None:
        return args.document
    with open(args.file, encoding="utf-8") as fh:
        return fh.read()


def _common(add_settings_flags: Callable[[argparse.ArgumentParser], None]
            ) -> argparse.ArgumentParser:
    """The flags of every command that runs admin operations, offline or online."""
    common = argparse.ArgumentParser(add_help=False)
    add_settings_flags(common)
    online = common.add_argument_group("online (through a server's admin API)")
    online.add_argument("--endpoint-url", help="the server, e.g. http://127.0.0.1:5000")
    online.add_argument("--profile", help="AWS profile holding the access key")
    online.add_argument("--region", help="signing region (us-east-1); for encryption keys, "
                        "secrets and signing profiles also their region (default: the "
                        "default region)")
    return common


def add_verify_parser(sub: argparse._SubParsersAction,
                      add_settings_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    signing.add_verify_parser(sub, _common(add_settings_flags))


def add_parser(sub: argparse._SubParsersAction,
               add_settings_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    common = _common(add_settings_flags)
    admin = sub.add_parser("admin", help="manage accounts, users, keys and policies")
    groups = admin.add_subparsers(dest="admin_group", required=True)
    for group, commands in COMMANDS.items():
        if "" in commands:
            _add_leaf(groups, group, commands[""], common, admin_command="")
            continue
        leaves = groups.add_parser(group, help=_GROUP_HELP[group]).add_subparsers(
            dest="admin_command", required=True)
        nested: dict[str, argparse._SubParsersAction] = {}
        for name, command in commands.items():
            parent, _, child = name.partition(" ")
            if child:  # "targets put": a command under a command (or a bare group)
                _add_leaf(_nested(leaves, nested, parent), child, command, common,
                          admin_command=name)
            else:
                _add_leaf(leaves, name, command, common)


def _nested(leaves: argparse._SubParsersAction, nested: dict, parent: str):
    if parent not in nested:
        found = leaves.choices.get(parent)
        parser = found or leaves.add_parser(parent, help=f"{parent} commands")
        # Optional under a command ("deliveries [replay]"), required under a bare group.
        nested[parent] = parser.add_subparsers(dest="admin_nested", required=found is None)
    return nested[parent]


def _add_leaf(sub: argparse._SubParsersAction, name: str, command: Command,
              common: argparse.ArgumentParser, **defaults) -> None:
    leaf = sub.add_parser(name, help=command.help, parents=[common])
    for flags, options in command.arguments:
        leaf.add_argument(*flags, **options)
    leaf.set_defaults(**defaults)


def run(args: argparse.Namespace, settings: Settings) -> int:
    failed, result = _guarded(args, lambda: _dispatch(args, settings))
    if failed:
        return 1
    print(_render(args, result))
    return 0


def _guarded(args: argparse.Namespace, work: Callable[[], dict]) -> tuple[bool, dict | None]:
    """(False, its result), or (True, None) once a refusal or failure is on stderr."""
    try:
        return False, work()
    except DOMAIN_ERRORS as exc:
        error = translate(exc)
        _fail(f"{error.code}: {error.message}")
    except urllib.error.URLError as exc:
        _fail(f"cannot reach {args.endpoint_url}: {exc.reason}")
    except (OSError, MasterKeyError, UnknownRegistry, SQLAlchemyError, ValueError) as exc:
        _fail(str(exc))  # unreadable files, bad settings, an unreachable database
    return True, None


def _render(args: argparse.Namespace, result: dict) -> str:
    if args.admin_group == "audit":
        return audit.render(result)
    if args.admin_group == "signing-profiles":
        return signing.render(args, result)
    if args.admin_group == "sbom":  # the document alone, ready to save; where it went aside
        if result.get("Referrer"):
            print(f"attached as referrer {result['Referrer']}", file=sys.stderr)
        return json.dumps(result["Document"], indent=2)
    return usage.render(args, result)


def _fail(message: str) -> int:
    print(f"berth admin: {message}", file=sys.stderr)
    return 1


def run_verify(args: argparse.Namespace, settings: Settings) -> int:
    """``berth verify``: 0 verified, 1 not verified, 2 could not be checked."""
    def verify() -> dict:
        trust = None
        if args.trust_policy is None:
            if args.account is None:
                raise AdminError("ValidationError", "give --trust-policy, or --account to "
                                 "trust that account's signing profiles")
            trust = _call(args, settings, "GetSigningTrust", {"AccountId": args.account})
        return _call(args, settings, "VerifyImageSignatures",
                     signing.verify_params(args, trust))
    failed, result = _guarded(args, verify)
    return 2 if failed else signing.report(result)


def _dispatch(args: argparse.Namespace, settings: Settings) -> dict:
    command = COMMANDS[args.admin_group][args.admin_command]
    params = command.params(args)
    operation = command.operation
    if callable(operation):
        operation = operation(args)
    return _call(args, settings, operation, params)


def _call(args: argparse.Namespace, settings: Settings, operation: str, params: dict) -> dict:
    if args.endpoint_url is None:
        return _offline(settings, operation, params)
    if operation == ROTATE:
        raise AdminError("ValidationError", "tokens rotate-signing-key works offline only: "
                         "run it without --endpoint-url, with the server's settings")
    from .admin_client import AdminClient
    client = AdminClient(args.endpoint_url, args.profile, args.region or "us-east-1")
    if operation == gc.OPERATION:  # too long for one request: started, then asked about
        return gc.run_online(client, params)
    return client.call(operation, params)


def _offline_storage(settings: Settings, operation: str, params: dict) -> dict:
    from ..api.admin.table import execute
    from ..app import open_registry

    registry, iam = open_registry(settings)
    try:
        return execute(iam, operation, params, registry)
    finally:
        registry.close()


def _offline(settings: Settings, operation: str, params: dict) -> dict:
    from ..api.admin.table import OPERATIONS, execute
    from ..iam.wiring import open_iam

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database_url)
    try:
        migrate.upgrade(db)
        iam = open_iam(settings, db)
        if operation == ROTATE:
            return {"SigningKeyId": iam.tokens.rotate()}
        if OPERATIONS[operation].storage:
            return _offline_storage(settings, operation, params)
        return execute(iam, operation, params)
    finally:
        db.dispose()
