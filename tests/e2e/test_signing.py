"""Managed signing end to end, with real clients: an operator makes a signing profile
(``berth admin signing-profiles``, online) and a signing rule (the aws CLI's
``put-signing-configuration``); docker pushes an image; Berth signs it after the push and
``describe-image-signing-status`` says COMPLETE. A verifier that shares no code with Berth
(tests/support/notary_verifier.py: the Notary Project's rules over ``cryptography``) fetches
the signature as any client would (the OCI referrers API) and accepts it with the trust store
``export-trust`` wrote; ``berth verify`` exits 0. Revoking the profile makes ``berth verify``
exit 1 (revocation) and leaves it out of the exported trust; deleting the image deletes its
signature."""
from __future__ import annotations

import json
import subprocess

import pytest
from cryptography import x509

from tests.support.berth_node import BerthNode
from tests.support.dockerd import Dockerd
from tests.support.ecr_login import aws_cli
from tests.support.notary_verifier import NotaryVerificationError, verify
from tests.support.operator_cli import BERTH, admin_env, berth_admin, run
from tests.support.ports import wait_until
from tests.support.tarballs import make_tar

pytestmark = pytest.mark.e2e

NOTARY = "application/vnd.cncf.notary.signature"
INDEX = "application/vnd.oci.image.index.v1+json"


def _aws(node, *args: str) -> dict:
    proc = run(aws_cli(), "ecr", *args, "--endpoint-url", node.url, "--output", "json",
               env=admin_env(node))
    return json.loads(proc.stdout) if proc.stdout.strip() else {}


def _verify_cli(node, image: str, *args: str) -> subprocess.CompletedProcess:
    return run(str(BERTH), "verify", image, *args, "--endpoint-url", node.url,
               env=admin_env(node), ok=False)


def test_a_docker_push_is_signed_and_verified_by_others(tmp_path, dockerd: Dockerd):
    node = BerthNode(tmp_path / "node").start()
    host = f"127.0.0.1:{node.port}"
    try:
        account = berth_admin(node, "accounts", "list")["Accounts"][0]["AccountId"]
        profile = berth_admin(node, "signing-profiles", "create", "release", "--account",
                              account)["Profile"]
        _aws(node, "put-signing-configuration", "--signing-configuration", json.dumps({
            "rules": [{"signingProfileArn": profile["ProfileArn"], "repositoryFilters": [
                {"filter": "signed/*", "filterType": "WILDCARD_MATCH"}]}]}))
        password = run(aws_cli(), "ecr", "get-login-password", "--endpoint-url", node.url,
                       env=admin_env(node)).stdout.strip()
        dockerd.login(host, password)
        tarball = tmp_path / "v1.tar"
        tarball.write_bytes(make_tar({"app.txt": b"signed by Berth\n"}))
        dockerd.docker("import", str(tarball), f"{host}/signed/app:v1")
        dockerd.docker("push", f"{host}/signed/app:v1")

        def status() -> list[dict]:
            return _aws(node, "describe-image-signing-status", "--repository-name",
                        "signed/app", "--image-id", "imageTag=v1")["signingStatuses"]
        assert wait_until(lambda: [s["status"] for s in status()] == ["COMPLETE"], 60, 0.5), \
            status()
        assert status()[0]["signingProfileArn"] == profile["ProfileArn"]

        # A verifier of its own: the referrers API, the signature manifest, its envelope.
        session = node.session()
        described = _aws(node, "describe-images", "--repository-name", "signed/app",
                         "--image-ids", "imageTag=v1")["imageDetails"][0]
        digest = described["imageDigest"]
        subject_body = session.get(f"{node.url}/v2/signed/app/manifests/{digest}", headers={
            "Accept": described["imageManifestMediaType"]}).content
        subject = {"mediaType": described["imageManifestMediaType"], "digest": digest,
                   "size": len(subject_body)}
        referrers = session.get(f"{node.url}/v2/signed/app/referrers/{digest}",
                                params={"artifactType": NOTARY}).json()
        [signature] = referrers["manifests"]
        manifest = session.get(f"{node.url}/v2/signed/app/manifests/{signature['digest']}",
                               headers={"Accept": signature["mediaType"]}).content
        layer = json.loads(manifest)["layers"][0]
        envelope = session.get(f"{node.url}/v2/signed/app/blobs/{layer['digest']}").content

        trust = tmp_path / "trust"
        berth_admin(node, "signing-profiles", "export-trust", "--account", account,
                    "--output", str(trust))
        policy = json.loads((trust / "trustpolicy.oci.json").read_text())
        [pem] = (trust / "trust-store" / "x509" / "ca").glob("*/*.pem")
        roots = x509.load_pem_x509_certificates(pem.read_bytes())
        identities = policy["trustPolicies"][0]["trustedIdentities"]
        assert identities == [f"x509.subject: C=US, ST=Berth, L=us-east-1, O={account}, CN=release"]
        verify(manifest, envelope, subject, roots, identities)
        # The same signature does not verify for another image, nor under another CA.
        with pytest.raises(NotaryVerificationError):
            verify(manifest, envelope, {**subject, "size": subject["size"] + 1}, roots,
                   identities)

        image = f"{host}/signed/app:v1"
        verified = _verify_cli(node, image, "--trust-policy",
                               str(trust / "trustpolicy.oci.json"), "--trust-store",
                               str(trust / "trust-store"))
        assert verified.returncode == 0, verified.stderr
        verdict = json.loads(verified.stdout)
        assert verdict["digest"] == digest and verdict["signatures"][0]["verified"] is True
        unsigned_repo = _verify_cli(node, f"{host}/signed/absent:v1", "--account", account)
        assert unsigned_repo.returncode == 2, unsigned_repo.stderr

        berth_admin(node, "signing-profiles", "revoke", "release", "--account", account)
        refused = _verify_cli(node, image, "--trust-policy", str(trust / "trustpolicy.oci.json"))
        assert refused.returncode == 1, refused.stderr
        assert json.loads(refused.stdout)["signatures"][0]["failure"].startswith("revocation:")
        no_trust = berth_admin(node, "signing-profiles", "export-trust", "--account", account,
                               ok=False)
        assert no_trust.returncode == 1 and "no signing profile to trust" in no_trust.stderr

        _aws(node, "batch-delete-image", "--repository-name", "signed/app", "--image-ids",
             f"imageDigest={digest}")
        assert wait_until(lambda: _aws(node, "list-images", "--repository-name",
                                       "signed/app")["imageIds"] == [], 30, 0.5)
    finally:
        dockerd.logout(host, check=False)
        node.stop()
