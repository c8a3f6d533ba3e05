"""The STS actions Berth serves, each from the caller and the decoded parameters to the
result's members (botocore's names), and the one table turning domain refusals into STS
errors."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

from ...iam.authentication import Caller
from ...iam.identities import IdentityError
from ...iam.jwks import FederationError
from ...iam.service import Iam
from ...iam.sessions import Credentials, Request, StsError as Refused
from .protocol import StsError

Handler = Callable[[Iam, Caller, dict], dict]
# STS's statuses for the codes the domain uses; anything else it refuses is a 400.
_STATUS = {"AccessDenied": 403, "RegionDisabledException": 403, "IDPRejectedClaim": 403}


def get_caller_identity(iam: Iam, caller: Caller, params: dict) -> dict:
    principal = caller.principal
    user_id = principal.userid or principal.account_id
    return {"UserId": user_id, "Account": principal.account_id, "Arn": principal.arn}


def assume_role(iam: Iam, caller: Caller, params: dict) -> dict:
    assumed = iam.sessions.assume_role(caller, Request(
        role_arn=params["RoleArn"], session_name=params["RoleSessionName"],
        duration=params.get("DurationSeconds"), external_id=params.get("ExternalId"),
        policy=params.get("Policy"),
        policy_arns=_policy_arns(params),
        source_identity=params.get("SourceIdentity"),
        tags=tuple((t["Key"], t["Value"]) for t in params.get("Tags", ())),
        transitive_tag_keys=tuple(params.get("TransitiveTagKeys", ()))))
    result = {"Credentials": _credentials(assumed.credentials),
              "AssumedRoleUser": {"AssumedRoleId": assumed.assumed_role_id,
                                  "Arn": assumed.arn}}
    if assumed.packed_policy_size is not None:
        result["PackedPolicySize"] = assumed.packed_policy_size
    if assumed.source_identity is not None:
        result["SourceIdentity"] = assumed.source_identity
    return result


def get_session_token(iam: Iam, caller: Caller, params: dict) -> dict:
    if params.get("SerialNumber") or params.get("TokenCode"):
        raise Refused("AccessDenied", "Berth has no MFA devices: MultiFactorAuthentication "
                      "failed with invalid MFA one time pass code.")
    return {"Credentials": _credentials(iam.sessions.session_token(
        caller, params.get("DurationSeconds")))}


def get_access_key_info(iam: Iam, caller: Caller, params: dict) -> dict:
    """The account an access key id belongs to (STS answers for any well-formed id)."""
    return {"Account": iam.sessions.key_account(params["AccessKeyId"])}


def assume_role_with_web_identity(iam: Iam, caller: Caller | None, params: dict) -> dict:
    assumed, provider, claims = iam.providers.assume_role(iam.sessions, Request(
        role_arn=params["RoleArn"], session_name=params["RoleSessionName"],
        duration=params.get("DurationSeconds"), policy=params.get("Policy"),
        policy_arns=_policy_arns(params)),
        params["WebIdentityToken"])
    result = {"Credentials": _credentials(assumed.credentials),
              "SubjectFromWebIdentityToken": claims["sub"],
              "AssumedRoleUser": {"AssumedRoleId": assumed.assumed_role_id,
                                  "Arn": assumed.arn},
              "Provider": provider.url, "Audience": claims["aud"]}
    if assumed.packed_policy_size is not None:
        result["PackedPolicySize"] = assumed.packed_policy_size
    if assumed.source_identity is not None:
        result["SourceIdentity"] = assumed.source_identity
    return result


def _policy_arns(params: dict) -> tuple[str, ...]:
    found = tuple(p.get("arn") for p in params.get("PolicyArns", ()))
    if None in found:  # the model leaves arn optional; a descriptor without one names nothing
        raise StsError("ValidationError", "1 validation error detected: Value null at "
                       "'policyArns.member.arn' failed to satisfy constraint: Member must "
                       "not be null")
    return found


def _credentials(found: Credentials) -> dict:
    return {"AccessKeyId": found.access_key_id, "SecretAccessKey": found.secret_access_key,
            "SessionToken": found.session_token,
            "Expiration": datetime.fromtimestamp(found.expiration, timezone.utc)}


OPERATIONS: dict[str, Handler] = {
    "GetCallerIdentity": get_caller_identity,
    "AssumeRole": assume_role,
    "GetSessionToken": get_session_token,
    "GetAccessKeyInfo": get_access_key_info,
    "AssumeRoleWithWebIdentity": assume_role_with_web_identity,
}
UNSIGNED = frozenset({"AssumeRoleWithWebIdentity"})  # the token is the proof


def translate(exc: Exception) -> StsError | None:
    """The STS error for a refusal, None for a fault."""
    if isinstance(exc, StsError):
        return exc
    if isinstance(exc, (Refused, FederationError)):
        return StsError(exc.code, exc.message, _STATUS.get(exc.code, 400))
    if isinstance(exc, IdentityError):
        return StsError(exc.code, exc.message, 404 if exc.code == "NoSuchEntity" else 400)
    return None
