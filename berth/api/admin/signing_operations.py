"""The admin operations of image signing, per account (Region defaults to the default
region): CreateSigningProfile (issued by the account's CA, or imported with a PEM chain and
key), ListSigningProfiles, GetSigningProfile, RevokeSigningProfile, GetSigningTrust (what a
Notation verifier needs: the trust store's certificates and a trust policy trusting the
account's active profiles), and VerifyImageSignatures (an image's signatures under a
Notation trust policy). Authorized as AWS Signer's actions on the account's root."""
from __future__ import annotations

from ...iam.service import Iam
from ...notifications.envelope import iso_time
from ...registry.registry import Registry
from ...signing import trust
from ...signing.images import ImageSignatures
from ...signing.models import Profile
from .errors import validation_error
from .key_operations import served_region
from .operations import Params, account_root, operation
from .registries import WHERE, registry_of

_ACCOUNT = {"AccountId": True, "Region": False}
_PROFILE = {**_ACCOUNT, "ProfileName": True}


def _profile(found: Profile, chain: bool = False) -> dict:
    shown = {"ProfileName": found.name, "ProfileArn": found.arn, "Status": found.status,
             "Imported": found.imported, "SignatureValidityDays": found.validity_seconds // 86400,
             "CreatedAt": iso_time(found.created_at)}
    if found.revoked_at is not None:
        shown["RevokedAt"] = iso_time(found.revoked_at)
    if chain:
        shown["CertificateChain"] = found.chain
    return shown


def _days(p: Params, name: str, default: int) -> int:
    try:
        return int(p.get(name, default))
    except ValueError:
        raise validation_error(f"{name} must be a whole number of days") from None


@operation("CreateSigningProfile", "signer:PutSigningProfile",
           {**_PROFILE, "ValidityDays": False, "SignatureValidityDays": False,
            "CertificateChain": False, "PrivateKey": False}, account_root)
def create_signing_profile(iam: Iam, p: Params) -> dict:
    service, region = iam.signing_profiles, served_region(iam.tenancy, p)
    signature_days = _days(p, "SignatureValidityDays", 0)
    if ("CertificateChain" in p) != ("PrivateKey" in p):
        raise validation_error("CertificateChain and PrivateKey go together")
    if "CertificateChain" in p:
        made = service.import_profile(p["AccountId"], region, p["ProfileName"],
                                      p["CertificateChain"], p["PrivateKey"], signature_days)
    else:
        made = service.create(p["AccountId"], region, p["ProfileName"],
                              _days(p, "ValidityDays", 730), signature_days)
    return {"Profile": _profile(made, chain=True)}


@operation("ListSigningProfiles", "signer:ListSigningProfiles", {"AccountId": True},
           account_root)
def list_signing_profiles(iam: Iam, p: Params) -> dict:
    return {"Profiles": [_profile(f) for f in iam.signing_profiles.list(p["AccountId"])]}


@operation("GetSigningProfile", "signer:GetSigningProfile", _PROFILE, account_root)
def get_signing_profile(iam: Iam, p: Params) -> dict:
    found = iam.signing_profiles.get(p["AccountId"], served_region(iam.tenancy, p),
                                     p["ProfileName"])
    return {"Profile": _profile(found, chain=True)}


@operation("RevokeSigningProfile", "signer:RevokeSigningProfile", _PROFILE, account_root)
def revoke_signing_profile(iam: Iam, p: Params) -> dict:
    found = iam.signing_profiles.revoke(p["AccountId"], served_region(iam.tenancy, p),
                                        p["ProfileName"])
    return {"Profile": _profile(found)}


@operation("GetSigningTrust", "signer:GetSigningTrust", {"AccountId": True}, account_root)
def get_signing_trust(iam: Iam, p: Params) -> dict:
    return trust.export(iam.signing_profiles, p["AccountId"])


@operation("VerifyImageSignatures", "signer:VerifyImageSignatures",
           {**WHERE, "RepositoryName": True, "ImageTag": False, "ImageDigest": False,
            "Scope": False, "TrustPolicy": True, "TrustStores": False}, None, storage=True)
def verify_image_signatures(registry: Registry, p: Params) -> dict:
    reference = p.get("ImageDigest") or p.get("ImageTag")
    if reference is None:
        raise validation_error("give ImageTag or ImageDigest")
    verdict = ImageSignatures(registry_of(registry, p), registry.signing_profiles
                              ).verify_request(p["RepositoryName"], reference,
                                               p.get("Scope") or p["RepositoryName"],
                                               p["TrustPolicy"], p.get("TrustStores"))
    return {"Verdict": verdict.to_json()}


@operation("RotateSigningProfile", "signer:RotateSigningProfile", _PROFILE, account_root)
def rotate_signing_profile(iam: Iam, p: Params) -> dict:
    found = iam.signing_profiles.rotate(p["AccountId"], served_region(iam.tenancy, p),
                                        p["ProfileName"])
    return {"Profile": _profile(found, chain=True)}


@operation("DisableSigningProfile", "signer:DisableSigningProfile", _PROFILE, account_root)
def disable_signing_profile(iam: Iam, p: Params) -> dict:
    return {"Profile": _profile(iam.signing_profiles.set_enabled(
        p["AccountId"], served_region(iam.tenancy, p), p["ProfileName"], False))}


@operation("EnableSigningProfile", "signer:EnableSigningProfile", _PROFILE, account_root)
def enable_signing_profile(iam: Iam, p: Params) -> dict:
    return {"Profile": _profile(iam.signing_profiles.set_enabled(
        p["AccountId"], served_region(iam.tenancy, p), p["ProfileName"], True))}
