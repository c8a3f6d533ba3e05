"""What each admin operation of the authorization matrix (tests/e2e/
test_authorization_matrix_admin.py) is called with: a builder per operation that makes the
resource a cell acts on in the world (tests/support/authorization_world.py) and returns the
request's parameters; and the readers its checks of a refused call use."""
from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Callable

from berth.gc import Runs
from berth.iam.authentication import Unauthenticated
from berth.iam.console import ConsoleSessions, LoginProfiles
from berth.iam.tenancy import RegistryAddress
from berth.keys import KeyService
from berth.lifecycle.services import LifecycleService
from berth.notifications.services import TargetService
from berth.replication.sites import Sites
from berth.secrets import SecretService
from berth.signing.profiles import ProfileService
from tests.support.authorization_world import ALLOW_ALL, World
from tests.support.oci_push import push_image
from tests.support.tarballs import make_tar

LIFECYCLE_POLICY = json.dumps({"rules": [{
    "rulePriority": 1, "description": "keep the ten newest images",
    "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 10},
    "action": {"type": "expire"}}]})


# -- the admin API side --------------------------------------------------------------------
ADMIN_TARGET = "BerthAdmin_20261122."


def _admin_user(world: World, cell: str) -> dict:
    name = f"u-{cell}"
    world.iam.identities.create_user(world.accounts["home"], name)
    return {"AccountId": world.accounts["home"], "UserName": name}


def _admin_key(world: World, cell: str) -> dict:
    user = _admin_user(world, cell)
    key = world.iam.identities.create_access_key(user["AccountId"], user["UserName"])
    return {"AccountId": user["AccountId"], "AccessKeyId": key.id}


def _admin_policy(world: World, cell: str) -> dict:
    user = _admin_user(world, cell)
    world.iam.identities.put_user_policy(user["AccountId"], user["UserName"], "p",
                                         json.dumps(ALLOW_ALL))
    return {**user, "PolicyName": "p"}


def _login_profile(world: World, cell: str) -> dict:
    user = _admin_user(world, cell)
    LoginProfiles(world.iam).set(user["AccountId"], user["UserName"], "old password",
                                 new=True)
    return user


def signs_in(world: World, body: dict, password: str) -> bool:
    try:
        ConsoleSessions(world.iam).sign_in_user(body["AccountId"], body["UserName"], password)
    except Unauthenticated:
        return False
    return True


def _home(world: World, cell: str) -> dict:
    return {"AccountId": world.accounts["home"]}


def _fresh_user(world: World, cell: str) -> dict:
    return {"AccountId": world.accounts["home"], "UserName": f"new-{cell}"}


def kms(world: World) -> KeyService:
    return KeyService(world.iam.db, world.iam.identities.master)


def _kms_key(world: World, cell: str, enabled: bool = True) -> dict:
    home = world.accounts["home"]
    key = kms(world).create(home, world.iam.tenancy.default_region, f"k-{cell}")
    if not enabled:
        kms(world).set_enabled(home, key.region, key.id, False)
    return {"AccountId": home, "KeyId": key.arn}


def targets(world: World) -> TargetService:
    return TargetService(world.iam.db, world.iam.identities.master)


def _event_target(world: World, cell: str) -> dict:
    home = world.accounts["home"]
    targets(world).put(home, f"t-{cell}", "http://127.0.0.1:9/hook")
    return {"AccountId": home, "Name": f"t-{cell}"}


def _secrets(world: World) -> SecretService:
    return SecretService(world.iam.db, world.iam.identities.master)


def secret_names(world: World) -> list[str]:
    return [s.name for s in _secrets(world).list(world.accounts["home"],
                                                 world.iam.tenancy.default_region)]


def _secret(world: World, cell: str) -> dict:
    # Named .../secret: a name ending in -XXXXXX (say, -wrong-secret) is refused.
    home = world.accounts["home"]
    _secrets(world).put(home, world.iam.tenancy.default_region, f"s-{cell}/secret", "{}")
    return {"AccountId": home, "Name": f"s-{cell}/secret"}


def _sites(world: World) -> Sites:
    home, region = world.accounts["home"], world.iam.tenancy.default_region
    return Sites(world.iam.db, world.iam.registry_id(RegistryAddress(home, region)),
                 _secrets(world).resolve)


def site_ids(world: World) -> list[str]:
    return [s.registry_id for s in _sites(world).list()]


def _new_site(world: World, cell: str) -> dict:
    """A site of the home registry's, its registry id the cell's (no account here)."""
    home = world.accounts["home"]
    arn = _secrets(world).put(home, world.iam.tenancy.default_region, "replication/site",
                              json.dumps({"accessKeyId": "AKIAMATRIXSITE000000",
                                          "secretAccessKey": "matrix-site-key"})).arn
    digits = int(hashlib.sha256(cell.encode()).hexdigest(), 16) % 10**11
    return {"AccountId": home, "RegistryId": f"9{digits:011d}",
            "Endpoint": "http://127.0.0.1:9", "SecretArn": arn}


def _replication_site(world: World, cell: str) -> dict:
    site = _new_site(world, cell)
    _sites(world).put(site["RegistryId"], site["Endpoint"], site["SecretArn"])
    return {"AccountId": site["AccountId"], "RegistryId": site["RegistryId"]}


TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "sts:AssumeRole"}]})


def _new_role(world: World, cell: str) -> dict:
    return {"AccountId": world.accounts["home"], "RoleName": f"r-{cell}"}


def _role(world: World, cell: str) -> dict:
    found = _new_role(world, cell)
    world.iam.roles.create(found["AccountId"], found["RoleName"], TRUST)
    return found


def _role_policy(world: World, cell: str) -> dict:
    found = _role(world, cell)
    world.iam.roles.put_policy(found["AccountId"], found["RoleName"], "p", json.dumps(ALLOW_ALL))
    return {**found, "PolicyName": "p"}


def _new_provider(world: World, cell: str) -> dict:
    return {"AccountId": world.accounts["home"], "Url": f"https://{cell}.example.com",
            "ClientIDList": ["sts.amazonaws.com"]}


def _provider(world: World, cell: str) -> dict:
    found = _new_provider(world, cell)
    made = world.iam.providers.create(found["AccountId"], found["Url"], found["ClientIDList"])
    return {"AccountId": found["AccountId"], "OpenIDConnectProviderArn": made.arn}


def provider_urls(world: World) -> list[str]:
    return [p.url for p in world.iam.providers.list(world.accounts["home"])]


def role_names(world: World) -> list[str]:
    return [r.name for r in world.iam.roles.list(world.accounts["home"])]


def profiles(world: World) -> ProfileService:
    return ProfileService(world.iam.db, world.iam.identities.master)


def _new_profile(world: World, cell: str) -> dict:
    name = "p_" + hashlib.sha256(cell.encode()).hexdigest()[:16]
    return {"AccountId": world.accounts["home"], "ProfileName": name}


CHAINS: dict[str, str] = {}  # each profile's certificate chain as it was made


def _profile(world: World, cell: str, enabled: bool = True) -> dict:
    found = _new_profile(world, cell)
    made = profiles(world).create(found["AccountId"], world.iam.tenancy.default_region,
                                   found["ProfileName"])
    CHAINS[made.name] = made.chain
    if not enabled:
        profiles(world).set_enabled(found["AccountId"], world.iam.tenancy.default_region,
                                     found["ProfileName"], False)
    return found


def profile_statuses(world: World) -> dict[str, str]:
    return {p.name: p.status for p in profiles(world).list(world.accounts["home"])}


def _signed_image(world: World, cell: str) -> dict:
    """A repository of the home registry with an image, and a trust policy to check it."""
    repo = f"verify/{cell}"
    push_image(world.admin, world.url, repo, "v1", world.config, [world.layer])
    policy = {"version": "1.0", "trustPolicies": [{
        "name": "all", "registryScopes": ["*"], "signatureVerification": {"level": "strict"},
        "trustStores": [f"ca:berth-{world.accounts['home']}"], "trustedIdentities": ["*"]}]}
    return {"RepositoryName": repo, "ImageTag": "v1", "TrustPolicy": json.dumps(policy)}


# Operation -> request body for a fresh cell.
ADMIN_OPERATIONS: dict[str, Callable[[World, str], dict]] = {
    "CreateAccount": lambda world, cell: {"AccountName": f"acct-{cell}"},
    "ListAccounts": lambda world, cell: {},
    "CreateUser": _fresh_user,
    "ListUsers": _home,
    "DeleteUser": _admin_user,
    "CreateAccessKey": _admin_user,
    "ListAccessKeys": _admin_user,
    "UpdateAccessKey": lambda world, cell: {**_admin_key(world, cell), "Status": "Inactive"},
    "DeleteAccessKey": _admin_key,
    "PutUserPolicy": lambda world, cell: {**_admin_user(world, cell), "PolicyName": "q",
                                          "PolicyDocument": json.dumps(ALLOW_ALL)},
    "GetUserPolicy": _admin_policy,
    "ListUserPolicies": _admin_user,
    "DeleteUserPolicy": _admin_policy,
    "CreateKey": lambda world, cell: {**_home(world, cell), "Description": f"k-{cell}"},
    "ListKeys": _home,
    "DescribeKey": _kms_key,
    "DisableKey": _kms_key,
    "EnableKey": lambda world, cell: _kms_key(world, cell, enabled=False),
    "RotateKey": _kms_key,
    "RunGarbageCollection": lambda world, cell: {"DryRun": "true"},
    "StartGarbageCollection": lambda world, cell: {"DryRun": "true"},
    "GetGarbageCollection": lambda world, cell: {
        "GarbageCollectionId": Runs(world.iam.db).start(dry_run=True).id},
    "GetStorageUsage": _home,
    "GetUsageReport": lambda world, cell: {**_home(world, cell), "From": "2026-12-01",
                                           "To": "2026-12-05", "GroupBy": "repository"},
    "RecordUsageSample": lambda world, cell: {},
    "PutEventTarget": lambda world, cell: {**_home(world, cell), "Name": f"new-{cell}",
                                           "Url": "http://127.0.0.1:9/hook"},
    "ListEventTargets": _home,
    "DeleteEventTarget": _event_target,
    "ListEventDeliveries": _home,
    "ReplayEventDeliveries": _home,
    "PutSecret": lambda world, cell: {**_home(world, cell), "Name": f"new-{cell}/secret",
                                      "SecretString": "{}"},
    "ListSecrets": _home,
    "DeleteSecret": _secret,
    "PutReplicationSite": _new_site,
    "ListReplicationSites": _home,
    "DeleteReplicationSite": _replication_site,
    "CreateRole": lambda world, cell: {**_new_role(world, cell),
                                       "AssumeRolePolicyDocument": TRUST},
    "GetRole": _role,
    "ListRoles": _home,
    "UpdateRole": lambda world, cell: {**_role(world, cell), "Description": "changed"},
    "UpdateAssumeRolePolicy": lambda world, cell: {**_role(world, cell),
                                                   "PolicyDocument": TRUST},
    "DeleteRole": _role,
    "PutRolePolicy": lambda world, cell: {**_role(world, cell), "PolicyName": "q",
                                          "PolicyDocument": json.dumps(ALLOW_ALL)},
    "GetRolePolicy": _role_policy,
    "ListRolePolicies": _role,
    "DeleteRolePolicy": _role_policy,
    "CreateOpenIDConnectProvider": _new_provider,
    "ListOpenIDConnectProviders": _home,
    "GetOpenIDConnectProvider": _provider,
    "DeleteOpenIDConnectProvider": _provider,
    "PutServiceQuota": lambda world, cell: {
        **_home(world, cell), "QuotaName": "ImagesPerRepository",
        "Value": str(int(hashlib.sha256(cell.encode()).hexdigest(), 16) % 10**6 + 20_000)},
    "DeleteServiceQuota": lambda world, cell: {**_home(world, cell),
                                               "QuotaName": "ImagesPerRepository"},
    "ListServiceQuotas": _home,
    "CreateSigningProfile": _new_profile,
    "ListSigningProfiles": _home,
    "GetSigningProfile": _profile,
    "RevokeSigningProfile": _profile,
    "RotateSigningProfile": _profile,
    "DisableSigningProfile": _profile,
    "EnableSigningProfile": lambda world, cell: _profile(world, cell, enabled=False),
    "GetSigningTrust": lambda world, cell: {"AccountId": _profile(world, cell)["AccountId"]},
    "VerifyImageSignatures": _signed_image,
    "GetPublicRegistry": _home,
    "CreateLoginProfile": lambda world, cell: {**_admin_user(world, cell),
                                               "Password": "new password"},
    "UpdateLoginProfile": lambda world, cell: {**_login_profile(world, cell),
                                               "Password": "new password"},
    "DeleteLoginProfile": _login_profile,
    "PutPublicRegistryAlias": lambda world, cell: {
        **_home(world, cell), "Alias": "a" + hashlib.sha256(cell.encode()).hexdigest()[:20]},
    "LookupAuditEvents": lambda world, cell: {"EventName": "PutImage", "MaxResults": "5"},
    "RunLifecyclePolicies": lambda world, cell: {"RepositoryName": _with_policy(world, cell)},
    "PreviewLifecyclePolicy": lambda world, cell: {"RepositoryName": _with_policy(world, cell),
                                                   "AsOf": "2030-01-01"},
    "ImportVulnerabilities": lambda world, cell: {"Paths": _advisory_file(world, cell)},
    "ListVulnerabilitySources": lambda world, cell: {},
    "ExportSbom": lambda world, cell: {"RepositoryName": _with_tar_image(world, cell),
                                       "ImageTag": "v1", "Format": "spdx"},
}


def _advisory_file(world: World, cell: str) -> str:
    """An OSV advisory beside the server's data (it reads the path on its own machine)."""
    folder = Path(tempfile.mkdtemp(prefix="osv-", dir=world.workdir))
    (folder / "MATRIX-1.json").write_text(json.dumps({
        "id": f"MATRIX-{cell}", "modified": "2026-01-01T00:00:00Z",
        "affected": [{"package": {"ecosystem": "PyPI", "name": "matrix"},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}]}))
    return str(folder)


def _with_tar_image(world: World, cell: str) -> str:
    """A repository of the home registry whose image has a real (tar) layer."""
    repo = f"sbom/{cell}"
    push_image(world.admin, world.url, repo, "v1", world.config,
               [make_tar({"etc/hostname": b"matrix\n"})])
    return repo


def _with_policy(world: World, cell: str) -> str:
    """A repository of the home registry with an image and a lifecycle policy."""
    repo = f"m/{cell}"
    push_image(world.admin, world.url, repo, "v1", world.config, [world.layer])
    LifecycleService(world.iam.db, world.iam.registry_id(world.iam.tenancy.default)).put_policy(
        repo, LIFECYCLE_POLICY)
    return repo
