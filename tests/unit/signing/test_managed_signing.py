"""ECR's managed signing against the full app, driven step by step (the outbox subscriber,
then each signing job): the signing configuration's operations and refusals; an image pushed
to a repository a rule matches gets a Notary Project signature per profile, as a referrer,
and its status (IN_PROGRESS, then COMPLETE or FAILED with a code); signatures are not signed;
a deleted image takes its signatures and statuses with it."""
from __future__ import annotations

import asyncio
import datetime
import json

import pytest

from berth.events import Outbox
from berth.registry.images import referrers
from berth.iam.tenancy import RegistryAddress
from berth.quotas.services import QuotaService
from berth.registry.images.service import ImageId
from berth.registry.references import Digest
from berth.signing import certificates, envelope, trust_policy
from berth.signing.envelope import ARTIFACT_TYPE
from berth.signing.images import ImageSignatures, store_name
from berth.signing import tasks
from tests.support.registry_images import push_image
from tests.support.signing_jobs import deliver, sign_pending
from tests.support.repositories import make_repository
from tests.unit.api.ecr.support import REGION, code_of, message_of, server_fixture

server = server_fixture("signing")


def _deliver(server) -> None:
    deliver(server.state.registry)
    Outbox(server.state.registry.db).deliver(referrers.subscriber())


def _sign(server) -> int:
    """Deliver the outbox to the signing subscriber, then run every signing job queued."""
    _deliver(server)
    return sign_pending(server.state.registry, server.state.iam.key_allows)


def _profile(server, name: str, account: str | None = None):
    return server.state.registry.signing_profiles.create(account or server.account, REGION,
                                                          name)


def _rule(arn: str, *filters: str) -> dict:
    rule = {"signingProfileArn": arn}
    if filters:
        rule["repositoryFilters"] = [{"filter": f, "filterType": "WILDCARD_MATCH"}
                                     for f in filters]
    return rule


def _statuses(server, repository: str, tag: str) -> list[dict]:
    return server.client().describe_image_signing_status(
        repositoryName=repository, imageId={"imageTag": tag})["signingStatuses"]


@pytest.fixture(autouse=True)
def _no_configuration_after(server):
    _sign(server)  # a new subscriber starts at the outbox's end: from here on
    yield
    try:
        server.client().delete_signing_configuration()
    except Exception:
        pass
    _sign(server)


def test_configuration_round_trip_and_not_found(server):
    client = server.client()
    with pytest.raises(client.exceptions.SigningConfigurationNotFoundException):
        client.get_signing_configuration()
    with pytest.raises(client.exceptions.SigningConfigurationNotFoundException) as caught:
        client.delete_signing_configuration()
    assert server.account in message_of(caught)
    arn = f"arn:aws:signer:{REGION}:{server.account}:/signing-profiles/any_profile"
    rules = [_rule(arn, "team/*", "*prod*"), _rule(arn)]
    put = client.put_signing_configuration(signingConfiguration={"rules": rules})
    assert put["signingConfiguration"] == {"rules": rules}
    assert "registryId" not in put  # the model's output has none
    got = client.get_signing_configuration()
    assert got["registryId"] == server.account and got["signingConfiguration"] == {"rules": rules}
    deleted = client.delete_signing_configuration()
    assert deleted["signingConfiguration"] == {"rules": rules}
    with pytest.raises(client.exceptions.SigningConfigurationNotFoundException):
        client.get_signing_configuration()


@pytest.mark.parametrize("rule, says", [
    ({"signingProfileArn": "arn:aws:kms:us-east-1:123456789012:key/x"}, "signingProfileArn"),
    ({"signingProfileArn": "arn:aws:signer:us-east-1:123456789012:/signing-profiles/ab",
      "repositoryFilters": [{"filter": "team/*", "filterType": "PREFIX_MATCH"}]},
     "filterType"),
    ({"signingProfileArn": "arn:aws:signer:us-east-1:123456789012:/signing-profiles/ab",
      "repositoryFilters": [{"filter": "Team", "filterType": "WILDCARD_MATCH"}]},
     "member.filter'"),
    ({"signingProfileArn": "arn:aws:signer:us-east-1:123456789012:/signing-profiles/ab",
      "repositoryFilters": []}, "repositoryFilters"),
])
def test_invalid_configurations_are_refused(server, rule, says):
    client = server.client(parameter_validation=False)
    with pytest.raises(client.exceptions.InvalidParameterException) as caught:
        client.put_signing_configuration(signingConfiguration={"rules": [rule]})
    assert says in message_of(caught)  # the model's own constraint message
    with pytest.raises(client.exceptions.SigningConfigurationNotFoundException):
        client.get_signing_configuration()


def test_eleven_rules_are_too_many(server):
    client = server.client(parameter_validation=False)
    arn = f"arn:aws:signer:{REGION}:{server.account}:/signing-profiles/many"
    with pytest.raises(client.exceptions.InvalidParameterException) as caught:
        client.put_signing_configuration(signingConfiguration={"rules": [_rule(arn)] * 11})
    assert "less than or equal to 10" in message_of(caught)


def test_a_push_to_a_matching_repository_is_signed(server):
    profile = _profile(server, "release")
    server.client().put_signing_configuration(signingConfiguration={
        "rules": [_rule(profile.arn, "signed/*")]})
    digest = server.push("signed/app", "v1", b"a layer to sign")
    server.push("unsigned/app", "v1", b"a layer not to sign")
    _deliver(server)
    assert _statuses(server, "signed/app", "v1") == [
        {"signingProfileArn": profile.arn, "status": "IN_PROGRESS"}]
    assert _sign(server) == 1
    assert _statuses(server, "signed/app", "v1") == [
        {"signingProfileArn": profile.arn, "status": "COMPLETE"}]
    assert _statuses(server, "unsigned/app", "v1") == []
    [referrer] = server.client().list_image_referrers(
        repositoryName="signed/app", subjectId={"imageDigest": digest})["referrers"]
    assert referrer["artifactType"] == ARTIFACT_TYPE
    # The signature is an image of its own, and is not signed in turn.
    assert _sign(server) == 0
    # Berth's verifier accepts it with the account's own trust store.
    verdict = _verify(server, "signed/app", "v1")
    assert verdict.verified, verdict
    assert [s["verified"] for s in verdict.signatures] == [True]


def test_each_matching_profile_signs(server):
    first, second = _profile(server, "team_a"), _profile(server, "team_b")
    server.client().put_signing_configuration(signingConfiguration={"rules": [
        _rule(first.arn, "both/*"), _rule(second.arn, "both/*", "other/*"),
        _rule(first.arn)]})  # the same profile again: one signature
    digest = server.push("both/app", "v1", b"signed twice")
    assert _sign(server) == 2
    statuses = _statuses(server, "both/app", "v1")
    assert sorted((s["signingProfileArn"], s["status"]) for s in statuses) == sorted(
        [(first.arn, "COMPLETE"), (second.arn, "COMPLETE")])
    referrers = server.client().list_image_referrers(
        repositoryName="both/app", subjectId={"imageDigest": digest})["referrers"]
    assert len(referrers) == 2


@pytest.mark.parametrize("case, code", [
    ("absent", "SIGNING_PROFILE_NOT_FOUND"),
    ("revoked", "SIGNING_PROFILE_REVOKED"),
    ("other-account", "ACCESS_DENIED"),
    ("other-region", "ACCESS_DENIED"),
])
def test_what_cannot_sign_fails_with_a_reason(server, case, code):
    name = f"fails_{case.replace('-', '_')}"
    if case == "absent":
        arn = f"arn:aws:signer:{REGION}:{server.account}:/signing-profiles/{name}"
    elif case == "revoked":
        arn = _profile(server, name).arn
        server.state.registry.signing_profiles.revoke(server.account, REGION, name)
    elif case == "other-account":
        other, _ = server.account_with_user(f"signing-{case}")
        arn = _profile(server, name, other).arn
    else:
        arn = server.state.registry.signing_profiles.create(server.account, "eu-west-1",
                                                             name).arn
    server.client().put_signing_configuration(signingConfiguration={
        "rules": [_rule(arn, f"fails/{case}")]})
    digest = server.push(f"fails/{case}", "v1", case.encode())
    assert _sign(server) == 1
    [status] = _statuses(server, f"fails/{case}", "v1")
    assert (status["status"], status["failureCode"]) == ("FAILED", code)
    assert arn in status["failureReason"]
    # The push itself stood: the image is there, unsigned.
    assert server.client().list_image_referrers(
        repositoryName=f"fails/{case}", subjectId={"imageDigest": digest})["referrers"] == []


def test_deleting_the_image_deletes_its_signature_and_status(server):
    profile = _profile(server, "deleted")
    server.client().put_signing_configuration(signingConfiguration={
        "rules": [_rule(profile.arn, "gone/*")]})
    digest = server.push("gone/app", "v1", b"to be deleted")
    _sign(server)
    client = server.client()
    assert len(client.describe_images(repositoryName="gone/app")["imageDetails"]) == 2
    client.batch_delete_image(repositoryName="gone/app", imageIds=[{"imageDigest": digest}])
    _sign(server)  # the deletion reaches the subscribers: the signature goes after it
    assert client.describe_images(repositoryName="gone/app")["imageDetails"] == []
    # The same content pushed again starts afresh: the old status is not shown for it.
    server.client().delete_signing_configuration()
    server.push("gone/app", "v1", b"to be deleted")
    _sign(server)
    assert _statuses(server, "gone/app", "v1") == []


def test_unknown_images_and_repositories(server):
    client = server.client()
    with pytest.raises(client.exceptions.RepositoryNotFoundException):
        client.describe_image_signing_status(repositoryName="nowhere/app",
                                             imageId={"imageTag": "v1"})
    server.push("known/app", "v1", b"known")
    with pytest.raises(client.exceptions.ImageNotFoundException) as caught:
        client.describe_image_signing_status(repositoryName="known/app",
                                             imageId={"imageTag": "v9"})
    assert code_of(caught) == "ImageNotFoundException"


def _verify(server, repository: str, tag: str):
    policy = trust_policy.parse(json.dumps({"version": "1.0", "trustPolicies": [{
        "name": "all", "registryScopes": ["*"], "signatureVerification": {"level": "strict"},
        "trustStores": [store_name(server.account)], "trustedIdentities": ["*"]}]}))
    signatures = ImageSignatures(server.state.registry, server.state.registry.signing_profiles)
    return signatures.verify(repository, tag, f"registry.test/{repository}", policy,
                             signatures.trust(server.account, {}))


def test_a_signature_counts_toward_the_image_quota(server):
    """ECR counts each signature as an image of the repository: past the quota, the push
    stands and its signing fails with the reason."""
    account, key = server.account_with_user("signing-quota")
    profile = _profile(server, "quota", account)
    client = server.client(key)
    client.put_signing_configuration(signingConfiguration={"rules": [_rule(profile.arn)]})
    QuotaService(server.state.registry.db).put(account, "ImagesPerRepository", 1)
    scoped = server.state.registry.scoped(server.state.iam.registry_id(
        RegistryAddress(account, REGION)))
    with scoped.db.write() as tx:
        make_repository(tx, scoped.registry_id, "quota/app")
    push_image(scoped, "quota/app", "v1", b"the only image the quota allows")
    assert _sign(server) == 1
    [status] = client.describe_image_signing_status(
        repositoryName="quota/app", imageId={"imageTag": "v1"})["signingStatuses"]
    assert (status["status"], status["failureCode"]) == ("FAILED", "LIMIT_EXCEEDED")
    assert "image quota" in status["failureReason"]


def test_client_pushed_signatures_are_listed_with_their_status(server):
    """A Notary signature an organisation's own CA made (a client pushed it: notation sign),
    and a cosign signature (as a referrer, and under cosign's sha256-<hex>.sig tag): all are
    listed; the Notary one verifies with the organisation's CA as a trust store, cosign's are
    shown as not verified here."""
    digest = server.push("client/app", "v1", b"signed by its builder")
    registry = server.state.registry
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, ca_cert = certificates.make_ca("999999999999", now)
    key, leaf = certificates.issue(ca_key, ca_cert, "999999999999", "builder", now, 30)
    [row] = registry.images.describe("client/app", [ImageId(digest, None)])
    body = asyncio.run(registry.manifests.fetch("client/app", digest)).content
    subject = {"mediaType": row.media_type, "digest": digest, "size": len(body)}
    sealed = envelope.sign(subject, key, [leaf, ca_cert], now, None, "notation/1.2.0")
    for blob in (envelope.EMPTY, sealed):
        registry.uploads.put_small("client/app", Digest.of(blob), blob)
    registry.manifests.put("client/app", None, envelope.signature_manifest(
        subject, sealed, [leaf, ca_cert], now), envelope.OCI_MANIFEST)
    cosign = _cosign_signature(registry, subject)
    registry.manifests.put("client/app", f"sha256-{digest.split(':')[1]}.sig", cosign,
                           envelope.OCI_MANIFEST)
    policy = trust_policy.parse(json.dumps({"version": "1.0", "trustPolicies": [{
        "name": "org", "registryScopes": ["*"], "signatureVerification": {"level": "strict"},
        "trustStores": ["ca:org"], "trustedIdentities": ["*"]}]}))
    signatures = ImageSignatures(registry, registry.signing_profiles)
    verdict = signatures.verify("client/app", "v1", "client/app", policy,
                                signatures.trust(server.account, {"ca:org": [ca_cert]}))
    assert verdict.verified
    formats = sorted((s["format"], s["verified"]) for s in verdict.signatures)
    assert formats == [("cosign", False), ("notary", True)]
    assert _statuses(server, "client/app", "v1") == []  # managed signing's statuses only


def _cosign_signature(registry, subject: dict) -> bytes:
    return _cosign_signature_in(registry, "client/app", subject)


def _cosign_signature_in(registry, repository: str, subject: dict) -> bytes:
    """cosign's classic signature manifest of ``subject`` (its simple-signing payload)."""
    payload = json.dumps({"critical": {"image": {"docker-manifest-digest": subject["digest"]},
                                       "type": "cosign container image signature"}}).encode()
    registry.uploads.put_small(repository, Digest.of(payload), payload)
    registry.uploads.put_small(repository, Digest.of(envelope.EMPTY), envelope.EMPTY)
    return json.dumps({
        "schemaVersion": 2, "mediaType": envelope.OCI_MANIFEST,
        "config": envelope.descriptor(envelope.EMPTY_TYPE, envelope.EMPTY),
        "layers": [{**envelope.descriptor("application/vnd.dev.cosign.simplesigning.v1+json",
                                          payload),
                    "annotations": {"dev.cosignproject.cosign/signature": "MEUCIQ=="}}],
    }).encode()


def test_a_disabled_profile_does_not_sign_and_a_rotated_one_signs_with_its_new_key(server):
    profiles = server.state.registry.signing_profiles
    profile = _profile(server, "rotating")
    server.client().put_signing_configuration(signingConfiguration={
        "rules": [_rule(profile.arn, "rotating/*")]})
    server.push("rotating/app", "v1", b"signed before the rotation")
    _sign(server)
    profiles.set_enabled(server.account, REGION, "rotating", False)
    server.push("rotating/app", "v2", b"pushed while disabled")
    _sign(server)
    [status] = _statuses(server, "rotating/app", "v2")
    assert (status["status"], status["failureCode"]) == ("FAILED", "SIGNING_PROFILE_DISABLED")
    profiles.set_enabled(server.account, REGION, "rotating", True)
    profiles.rotate(server.account, REGION, "rotating")
    server.push("rotating/app", "v3", b"signed after the rotation")
    _sign(server)
    assert _verify(server, "rotating/app", "v1").verified  # the old key's signature
    assert _verify(server, "rotating/app", "v3").verified  # the new key's
    assert not _verify(server, "rotating/app", "v2").verified  # never signed
    # Revoking the profile refuses what each of its keys signed.
    profiles.revoke(server.account, REGION, "rotating")
    for tag in ("v1", "v3"):
        [found] = _verify(server, "rotating/app", tag).signatures
        assert found["failure"].startswith("revocation:"), tag


@pytest.mark.parametrize("meanwhile", ["revoked", "disabled", "image-deleted"])
def test_what_changes_while_a_signature_is_made_is_respected(server, monkeypatch, meanwhile):
    """The profile revoked or disabled, or the image deleted, between the signature's push
    and its record: the signature goes, and the status says why (no COMPLETE)."""
    name = f"meanwhile_{meanwhile.replace('-', '_')}"
    profile = _profile(server, name)
    repo = f"meanwhile/{meanwhile}"
    server.client().put_signing_configuration(signingConfiguration={
        "rules": [_rule(profile.arn, repo)]})
    digest = server.push(repo, "v1", meanwhile.encode())
    signed = tasks.sign_image
    profiles = server.state.registry.signing_profiles

    def then_change(*args):
        made = signed(*args)
        if meanwhile == "image-deleted":
            server.client().batch_delete_image(repositoryName=repo,
                                               imageIds=[{"imageDigest": digest}])
        else:
            getattr(profiles, "revoke" if meanwhile == "revoked" else "set_enabled")(
                server.account, REGION, name, *([] if meanwhile == "revoked" else [False]))
        return made
    monkeypatch.setattr(tasks, "sign_image", then_change)
    assert _sign(server) == 1
    listed = server.client().describe_images(repositoryName=repo)["imageDetails"]
    if meanwhile == "image-deleted":
        assert listed == []  # the signature did not outlive its image
        return
    assert [d["imageDigest"] for d in listed] == [digest]  # the signature went
    [status] = _statuses(server, repo, "v1")
    assert (status["status"], status["failureCode"]) == (
        "FAILED", f"SIGNING_PROFILE_{meanwhile.upper()}")


def test_cosign_signatures_pushed_by_tag_are_not_signed(server):
    profile = _profile(server, "not_cosign")
    server.client().put_signing_configuration(signingConfiguration={
        "rules": [_rule(profile.arn, "cosigned/*")]})
    digest = server.push("cosigned/app", "v1", b"signed by cosign")
    registry = server.state.registry
    subject = {"digest": digest}
    server.state.registry.manifests.put(
        "cosigned/app", f"sha256-{digest.split(':')[1]}.sig",
        _cosign_signature_in(registry, "cosigned/app", subject), envelope.OCI_MANIFEST)
    assert _sign(server) == 1  # the image only


@pytest.mark.parametrize("may_sign", [True, False])
def test_the_pusher_needs_leave_to_sign_with_the_profile(server, may_sign):
    """As ECR: whoever pushes must be allowed signer:SignPayload on the profile; the push
    stands either way, and the status says ACCESS_DENIED when they are not."""
    profile = _profile(server, f"pusher_{str(may_sign).lower()}")
    repo = f"pushers/{str(may_sign).lower()}"
    statements = [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]
    if may_sign:
        statements.append({"Effect": "Allow", "Action": "signer:SignPayload",
                           "Resource": profile.arn})
    key = server.user(f"pusher-{str(may_sign).lower()}",
                      {"Version": "2012-10-17", "Statement": statements})
    client = server.client(key)
    client.create_repository(repositoryName=repo)
    server.client().put_signing_configuration(signingConfiguration={
        "rules": [_rule(profile.arn, repo)]})
    client.put_image(repositoryName=repo, imageTag="v1",
                     imageManifest=server.manifest(repo, repo.encode()).decode())
    assert _sign(server) == 1
    [status] = _statuses(server, repo, "v1")
    if may_sign:
        assert status == {"signingProfileArn": profile.arn, "status": "COMPLETE"}
    else:
        assert (status["status"], status["failureCode"]) == ("FAILED", "ACCESS_DENIED")
        assert "signer:SignPayload" in status["failureReason"] and key.id in status[
            "failureReason"]
