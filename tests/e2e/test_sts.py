"""Roles and temporary credentials end to end, as an operator and a CI job use them: the role
made with ``berth admin roles`` online; the CI user's ``aws sts assume-role`` and, with no key
of the role anywhere, the aws CLI's own role profile (``role_arn`` + ``source_profile``,
``AWS_ENDPOINT_URL_STS``) giving ``aws ecr get-login-password``, which skopeo pushes with; the
role's limits holding; ``berth admin roles revoke-sessions`` cutting off the sessions issued
before it (ECR API and registry token alike) while a new session works. Federation: an OIDC
issuer of the test's own, trusted with ``berth admin oidc-providers``; the SDK's web identity
provider (``AWS_ROLE_ARN`` + ``AWS_WEB_IDENTITY_TOKEN_FILE``) then docker push with no key on
disk; a token of another subject or audience refused by the trust policy."""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.berth_node import BerthNode
from tests.support.dockerd import Dockerd
from tests.support.oidc_issuer import OidcIssuer
from tests.support.tarballs import make_tar
from tests.support.ecr_login import aws_cli
from tests.support.operator_cli import aws_env, berth_admin, run
from tests.support.oci_layout import OciLayout, build_image
from tests.support.skopeo import Skopeo

pytestmark = pytest.mark.e2e

@pytest.fixture(scope="module")
def node(tmp_path_factory):
    node = BerthNode(tmp_path_factory.mktemp("sts"),
                     env={"BERTH_OIDC_LOOPBACK_ISSUERS": "true"}).start()  # the test's issuer
    try:
        yield node
    finally:
        node.stop()


def _policy(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.fixture(scope="module")
def world(node, tmp_path_factory):
    """The administrator's account with a CI user (allowed to assume the role, nothing
    else) and the role "pusher" (may push to ci/*), made with berth admin online."""
    account = berth_admin(node, "accounts", "list")["Accounts"][0]["AccountId"]
    acct = ("--account", account)
    berth_admin(node, "users", "create", *acct, "ci")
    key = berth_admin(node, "access-keys", "create", *acct, "--user", "ci")["AccessKey"]
    role = berth_admin(node, "roles", "create", *acct, "pusher", "--document", _policy({
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:user/ci"},
        "Action": "sts:AssumeRole"}))["Role"]
    berth_admin(node, "roles", "put-policy", *acct, "pusher", "--policy-name", "push",
           "--document", _policy(
               {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
               {"Effect": "Allow", "Action": "ecr:*",
                "Resource": f"arn:aws:ecr:us-east-1:{account}:repository/ci/*"}))
    folder = tmp_path_factory.mktemp("aws")
    (folder / "credentials").write_text(f"[ci]\naws_access_key_id = {key['AccessKeyId']}\n"
                                        f"aws_secret_access_key = {key['SecretAccessKey']}\n")
    (folder / "config").write_text(f"[profile pusher]\nrole_arn = {role['Arn']}\n"
                                   "source_profile = ci\nrole_session_name = build-7\n")
    files = {"AWS_SHARED_CREDENTIALS_FILE": str(folder / "credentials"),
             "AWS_CONFIG_FILE": str(folder / "config"), "AWS_ENDPOINT_URL_STS": node.url,
             "AWS_ENDPOINT_URL_ECR": node.url}
    return {"account": account, "role": role, "files": files}


def _aws(node, *args, env, ok=True):
    return run(aws_cli(), *args, env=env, ok=ok)


def _assume(node, world) -> dict:
    proc = _aws(node, "sts", "assume-role", "--role-arn", world["role"]["Arn"],
                "--role-session-name", "build-1", "--endpoint-url", node.url,
                env=aws_env(**world["files"], AWS_PROFILE="ci"))
    return json.loads(proc.stdout)["Credentials"]


def _sessionaws_env(credentials: dict) -> dict[str, str]:
    return aws_env(AWS_ACCESS_KEY_ID=credentials["AccessKeyId"],
                AWS_SECRET_ACCESS_KEY=credentials["SecretAccessKey"],
                AWS_SESSION_TOKEN=credentials["SessionToken"])


def _push(node, skopeo: Skopeo, password: str, tmp_path: Path, repository: str,
          ok: bool = True) -> subprocess.CompletedProcess:
    image = build_image([{"built.txt": f"{repository} {time.time()}\n".encode()}])
    layout = OciLayout(tmp_path / f"layout-{time.monotonic_ns()}").write(
        image.blobs, {"latest": image.manifest})
    return skopeo("copy", "--dest-tls-verify=false", "--dest-creds", f"AWS:{password}",
                  f"oci:{layout.path}:latest", f"docker://127.0.0.1:{node.port}/{repository}",
                  check=ok)


def test_a_ci_job_pushes_with_a_roles_temporary_credentials(node, world, tmp_path):
    credentials = _assume(node, world)
    assert credentials["AccessKeyId"].startswith("ASIA")
    who = json.loads(_aws(node, "sts", "get-caller-identity", "--endpoint-url", node.url,
                          env=_sessionaws_env(credentials)).stdout)
    assert who["Arn"] == f"arn:aws:sts::{world['account']}:assumed-role/pusher/build-1"
    # The role profile: the CLI assumes the role itself (no key of the role on disk).
    profile = aws_env(**world["files"], AWS_PROFILE="pusher")
    password = _aws(node, "ecr", "get-login-password", env=profile).stdout.strip()
    skopeo = Skopeo(tmp_path)
    _push(node, skopeo, password, tmp_path, "ci/app:v1")
    refused = _push(node, skopeo, password, tmp_path, "prod/app:v1", ok=False)
    assert refused.returncode != 0  # the role may push to ci/* only
    listed = json.loads(_aws(node, "ecr", "list-images", "--repository-name", "ci/app",
                             env=profile).stdout)
    assert [i.get("imageTag") for i in listed["imageIds"]] == ["v1"]


def test_revoked_sessions_stop_working_and_new_ones_do(node, world, tmp_path):
    credentials = _assume(node, world)
    old = _sessionaws_env(credentials)
    password = _aws(node, "ecr", "get-login-password", "--endpoint-url", node.url,
                    env=old).stdout.strip()
    skopeo = Skopeo(tmp_path)
    _push(node, skopeo, password, tmp_path, "ci/revoked:v1")
    time.sleep(1.1)  # the policy compares whole seconds of the token's issue time
    berth_admin(node, "roles", "revoke-sessions", "--account", world["account"], "pusher")
    time.sleep(1.1)
    denied = _aws(node, "ecr", "list-images", "--repository-name", "ci/revoked",
                  "--endpoint-url", node.url, env=old, ok=False)
    assert denied.returncode != 0 and "AccessDenied" in denied.stderr
    assert "explicit deny" in denied.stderr
    assert _push(node, skopeo, password, tmp_path, "ci/revoked:v2", ok=False).returncode != 0
    fresh = _sessionaws_env(_assume(node, world))
    _aws(node, "ecr", "list-images", "--repository-name", "ci/revoked", "--endpoint-url",
         node.url, env=fresh)
    berth_admin(node, "roles", "delete-policy", "--account", world["account"], "pusher",
           "--policy-name", "AWSRevokeOlderSessions")


def test_a_web_identity_pushes_with_docker_and_no_key_on_disk(node, world, dockerd: Dockerd,
                                                              tmp_path):
    account = world["account"]
    with OidcIssuer() as issuer:
        arn = berth_admin(node, "oidc-providers", "create", "--account", account, "--url",
                     issuer.url, "--audience", "sts.amazonaws.com")["OpenIDConnectProviderArn"]
        host_path = arn.split("oidc-provider/", 1)[1]
        role = berth_admin(node, "roles", "create", "--account", account, "builder", "--document",
                      _policy({"Effect": "Allow", "Principal": {"Federated": arn},
                               "Action": "sts:AssumeRoleWithWebIdentity", "Condition": {
                                   "StringEquals": {f"{host_path}:aud": "sts.amazonaws.com"},
                                   "StringLike": {f"{host_path}:sub": "system:serviceaccount:"
                                                                      "ci:*"}}}))["Role"]
        berth_admin(node, "roles", "put-policy", "--account", account, "builder", "--policy-name",
               "push", "--document", _policy({"Effect": "Allow", "Action": "ecr:*",
                                             "Resource": "*"}))
        token_file = tmp_path / "token"
        web = aws_env(AWS_ROLE_ARN=role["Arn"], AWS_WEB_IDENTITY_TOKEN_FILE=str(token_file),
                   AWS_ROLE_SESSION_NAME="pod-1", AWS_ENDPOINT_URL_STS=node.url,
                   AWS_ENDPOINT_URL_ECR=node.url)
        token_file.write_text(issuer.token(sub="system:serviceaccount:ci:builder"))
        who = json.loads(_aws(node, "sts", "get-caller-identity", env=web).stdout)
        assert who["Arn"] == f"arn:aws:sts::{account}:assumed-role/builder/pod-1"
        # The CLI's own command, with no credentials at all (the call is unsigned).
        direct = json.loads(run(aws_cli(), "sts", "assume-role-with-web-identity",
                                "--role-arn", role["Arn"], "--role-session-name", "cli",
                                "--web-identity-token", token_file.read_text(),
                                "--endpoint-url", node.url, env=aws_env()).stdout)
        assert direct["SubjectFromWebIdentityToken"] == "system:serviceaccount:ci:builder"
        assert direct["Credentials"]["AccessKeyId"].startswith("ASIA")
        host = f"127.0.0.1:{node.port}"
        login = subprocess.run(
            ["bash", "-o", "pipefail", "-c", f"{aws_cli()} ecr get-login-password | "
             f"/usr/bin/docker login --username AWS --password-stdin {host}"],
            env={**web, **dockerd.env}, capture_output=True, text=True, timeout=180)
        assert login.returncode == 0, login.stderr
        tarball = tmp_path / "rootfs.tar"
        tarball.write_bytes(make_tar({"pod.txt": b"pushed by a web identity\n"}))
        ref = f"{host}/federated/app:v1"
        try:
            dockerd.docker("import", str(tarball), ref)
            dockerd.docker("push", ref)
        finally:
            dockerd.docker("logout", host, check=False)
        for wrong, code in ((issuer.token(sub="system:serviceaccount:prod:deployer"),
                             "AccessDenied"),
                            (issuer.token(sub="system:serviceaccount:ci:builder", aud="other"),
                             "InvalidIdentityToken")):
            token_file.write_text(wrong)
            refused = _aws(node, "sts", "get-caller-identity", env=web, ok=False)
            assert refused.returncode != 0 and f"({code})" in refused.stderr, refused.stderr
