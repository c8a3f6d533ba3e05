"""ECR operations on resource-based policies: a repository's (Set/Get/DeleteRepositoryPolicy)
and its registry's (Put/Get/DeleteRegistryPolicy). Every change bumps the IAM generation, so
the engine applies it from the next request on, on the registry routes and this API alike."""
from __future__ import annotations

from typing import Callable

from ...iam.policy import PolicyError, parse_policy
from ...registry.concurrency import blocking
from ...registry.errors import NameUnknown
from .access import Target, admit, condition_keys, repository_not_found
from .caller import ApiCaller, iam
from .endpoint import ApiCall
from .errors import invalid_parameter, model_error

SET_REPOSITORY_POLICY = "ecr:SetRepositoryPolicy"


def _invalid_policy(kind: str, error: PolicyError):
    # ECR's wording, then what is wrong and where (ECR itself says no more than "Invalid").
    return invalid_parameter(f"Invalid parameter at 'PolicyText' failed to satisfy constraint: "
                             f"'Invalid {kind} policy provided: {error.message}'")


async def _on_repository(target: Target, name: str, action: Callable, *args):
    try:
        return await blocking(action, target.registry_id, name, *args)
    except NameUnknown:
        raise repository_not_found(target, name) from None


def _repository_result(target: Target, name: str, text: str) -> dict:
    return {"registryId": target.registry_id_text, "repositoryName": name, "policyText": text}


def _no_repository_policy(target: Target, name: str):
    return model_error("RepositoryPolicyNotFoundException",
                       f"Repository policy does not exist for the repository with name "
                       f"'{name}' in the registry with id '{target.registry_id_text}'")


def _keeps_access(call: ApiCall, target: Target, name: str, text: str) -> bool:
    """Whether the caller could still set the repository's policy with ``text`` in place."""
    gate = iam(call.request)
    caller: ApiCaller = call.caller
    return gate.allows(caller.identity, SET_REPOSITORY_POLICY, target.address, name, text,
                       gate.registry_policy_text(target.registry_id), condition_keys(call))


async def set_repository_policy(call: ApiCall) -> dict:
    name, text = call.params["repositoryName"], call.params["policyText"]
    target = await admit(call, SET_REPOSITORY_POLICY, name)
    policies = iam(call.request).policies
    try:
        parse_policy(text, kind="resource", name="repository policy")
    except PolicyError as exc:
        raise _invalid_policy("repository", exc) from None
    # ECR's force flag: a policy that would stop the caller from setting another one is
    # refused unless forced (a missing repository is reported first).
    if not call.params.get("force") and not await blocking(_keeps_access, call, target, name,
                                                             text):
        await _on_repository(target, name, policies.repository_policy)
        raise invalid_parameter(
            "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'The policy would "
            "prevent you from setting a repository policy in the future; set force to apply "
            "it anyway'")
    await _on_repository(target, name, policies.set_repository_policy, text)
    return _repository_result(target, name, text)


async def get_repository_policy(call: ApiCall) -> dict:
    name = call.params["repositoryName"]
    target = await admit(call, "ecr:GetRepositoryPolicy", name)
    text = await _on_repository(target, name, iam(call.request).policies.repository_policy)
    if text is None:
        raise _no_repository_policy(target, name)
    return _repository_result(target, name, text)


async def delete_repository_policy(call: ApiCall) -> dict:
    name = call.params["repositoryName"]
    target = await admit(call, "ecr:DeleteRepositoryPolicy", name)
    text = await _on_repository(target, name,
                                iam(call.request).policies.delete_repository_policy)
    if text is None:
        raise _no_repository_policy(target, name)
    return _repository_result(target, name, text)


def _registry_result(target: Target, text: str) -> dict:
    return {"registryId": target.registry_id_text, "policyText": text}


def _no_registry_policy(target: Target):
    return model_error("RegistryPolicyNotFoundException",
                       f"Registry policy does not exist in the registry with id "
                       f"'{target.registry_id_text}'")


async def put_registry_policy(call: ApiCall) -> dict:
    text = call.params["policyText"]
    target = await admit(call, "ecr:PutRegistryPolicy")
    try:
        await blocking(iam(call.request).policies.set_registry_policy, target.registry_id, text)
    except PolicyError as exc:
        raise _invalid_policy("registry", exc) from None
    return _registry_result(target, text)


async def get_registry_policy(call: ApiCall) -> dict:
    target = await admit(call, "ecr:GetRegistryPolicy")
    text = await blocking(iam(call.request).policies.registry_policy, target.registry_id)
    if text is None:
        raise _no_registry_policy(target)
    return _registry_result(target, text)


async def delete_registry_policy(call: ApiCall) -> dict:
    target = await admit(call, "ecr:DeleteRegistryPolicy")
    text = await blocking(iam(call.request).policies.delete_registry_policy, target.registry_id)
    if text is None:
        raise _no_registry_policy(target)
    return _registry_result(target, text)


OPERATIONS = {
    "SetRepositoryPolicy": set_repository_policy,
    "GetRepositoryPolicy": get_repository_policy,
    "DeleteRepositoryPolicy": delete_repository_policy,
    "PutRegistryPolicy": put_registry_policy,
    "GetRegistryPolicy": get_registry_policy,
    "DeleteRegistryPolicy": delete_registry_policy,
}
