"""ECR operations on resource-based policies: a repository's (Set/Get/DeleteRepositoryPolicy)
and its registry's (Put/Get/DeleteRegistryPolicy). Every change bumps the IAM generation, so
the engine applies it from the next request on, on the registry routes and this API alike."""
from __future__ import annotations

import logging
from typing import Callable

from ...iam.policy import PolicyError
from ...iam.resource_policies import SET_REPOSITORY_POLICY, ResourcePolicies
from .access import Target, admit, condition_keys
from .caller import ApiCaller, iam
from .endpoint import ApiCall
from .errors import invalid_parameter, model_error

log = logging.getLogger("berth.api.ecr")


def _invalid_policy(kind: str, error: PolicyError):
    # ECR's text exactly, which says no more (Terraform's AWS provider matches on it): what is
    # wrong and where goes to the log only.
    log.info("invalid %s policy refused: %s", kind, error.message)
    return invalid_parameter(f"Invalid parameter at 'PolicyText' failed to satisfy constraint: "
                             f"'Invalid {kind} policy provided'")


def _repository_result(target: Target, name: str, text: str) -> dict:
    return {"registryId": target.registry_id_text, "repositoryName": name, "policyText": text}


def _registry_result(target: Target, text: str) -> dict:
    return {"registryId": target.registry_id_text, "policyText": text}


def set_repository_policy(call: ApiCall) -> dict:
    name, text = call.params["repositoryName"], call.params["policyText"]
    target = admit(call, SET_REPOSITORY_POLICY, name)
    caller: ApiCaller = call.caller
    try:
        iam(call.request).policies.set_repository_policy(
            target.registry_id, name, text, caller=caller.identity, address=target.address,
            keys=condition_keys(call), force=bool(call.params.get("force")))
    except PolicyError as exc:
        raise _invalid_policy("repository", exc) from None
    return _repository_result(target, name, text)


def _existing_repository_policy(call: ApiCall, action: str,
                                method: Callable[..., str | None]) -> dict:
    """Get or delete the repository's policy: the one that is (was) there, else ECR's error."""
    name = call.params["repositoryName"]
    target = admit(call, action, name)
    text = method(iam(call.request).policies, target.registry_id, name)
    if text is None:
        raise model_error("RepositoryPolicyNotFoundException",
                          f"Repository policy does not exist for the repository with name "
                          f"'{name}' in the registry with id '{target.registry_id_text}'")
    return _repository_result(target, name, text)


def get_repository_policy(call: ApiCall) -> dict:
    return _existing_repository_policy(call, "ecr:GetRepositoryPolicy",
                                       ResourcePolicies.repository_policy)


def delete_repository_policy(call: ApiCall) -> dict:
    return _existing_repository_policy(call, "ecr:DeleteRepositoryPolicy",
                                       ResourcePolicies.delete_repository_policy)


def put_registry_policy(call: ApiCall) -> dict:
    text = call.params["policyText"]
    target = admit(call, "ecr:PutRegistryPolicy")
    try:
        iam(call.request).policies.set_registry_policy(target.registry_id, text)
    except PolicyError as exc:
        raise _invalid_policy("registry", exc) from None
    return _registry_result(target, text)


def _existing_registry_policy(call: ApiCall, action: str,
                              method: Callable[..., str | None]) -> dict:
    """Get or delete the registry's policy: the one that is (was) there, else ECR's error."""
    target = admit(call, action)
    text = method(iam(call.request).policies, target.registry_id)
    if text is None:
        raise model_error("RegistryPolicyNotFoundException",
                          f"Registry policy does not exist in the registry with id "
                          f"'{target.registry_id_text}'")
    return _registry_result(target, text)


def get_registry_policy(call: ApiCall) -> dict:
    return _existing_registry_policy(call, "ecr:GetRegistryPolicy",
                                     ResourcePolicies.registry_policy)


def delete_registry_policy(call: ApiCall) -> dict:
    return _existing_registry_policy(call, "ecr:DeleteRegistryPolicy",
                                     ResourcePolicies.delete_registry_policy)


OPERATIONS = {
    "SetRepositoryPolicy": set_repository_policy,
    "GetRepositoryPolicy": get_repository_policy,
    "DeleteRepositoryPolicy": delete_repository_policy,
    "PutRegistryPolicy": put_registry_policy,
    "GetRegistryPolicy": get_registry_policy,
    "DeleteRegistryPolicy": delete_registry_policy,
}
