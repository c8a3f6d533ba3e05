"""The OCI front-end's one table of domain errors: each error's status and code, and the
messages it words from the error's data as ECR words them to docker and skopeo. The domain's
classes carry no protocol's vocabulary."""
from __future__ import annotations

import asyncio
import inspect
import json

import pytest
from starlette.requests import Request

from berth.api.oci import errors as oci
from berth.iam.tenancy import RegistryAddress
from berth.pullthrough import errors as pullthrough
from berth.quotas.models import QuotaExceeded
from berth.registry import errors as e

ACCOUNT = "123456789012"
# The codes of the OCI distribution spec, and the two more Berth answers with.
OCI_CODES = {"BLOB_UNKNOWN", "BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN", "DIGEST_INVALID",
             "MANIFEST_BLOB_UNKNOWN", "MANIFEST_INVALID", "MANIFEST_UNKNOWN", "NAME_INVALID",
             "NAME_UNKNOWN", "SIZE_INVALID", "UNAUTHORIZED", "DENIED", "UNSUPPORTED",
             "TOOMANYREQUESTS", "TAG_INVALID", "PAGINATION_NUMBER_INVALID", "UNAVAILABLE"}


def _request(name: str = "team/app", address: RegistryAddress | None = None) -> Request:
    request = Request({"type": "http", "method": "PUT", "path": f"/v2/{name}/manifests/v1",
                       "headers": [], "query_string": b"", "path_params": {"name": name}})
    if address is not None:
        request.state.address = address
    return request


def _answer(exc: Exception, request: Request | None = None) -> tuple[int, dict]:
    response = asyncio.run(oci.registry_error(
        request or _request(address=RegistryAddress(ACCOUNT, "us-east-1")), exc))
    [error] = json.loads(response.body)["errors"]
    return response.status_code, error


@pytest.mark.parametrize("exc, status, code", [
    (e.NameInvalid("bad"), 400, "NAME_INVALID"),
    (e.NameUnknown("gone", {"name": "team/app"}), 404, "NAME_UNKNOWN"),
    (e.TagImmutable("moved", {"tag": "v1", "digest": "sha256:" + "a" * 64}), 400,
     "TAG_INVALID"),
    (e.BlobUnknown("gone"), 404, "BLOB_UNKNOWN"),
    (e.BlobReferenced("used"), 409, "DENIED"),
    (e.RangeInvalid("where", {"size": 10}), 416, "BLOB_UPLOAD_INVALID"),
    (e.EmptyUpload("empty", {"upload": "u"}), 400, "BLOB_UPLOAD_INVALID"),
    (e.ManifestTooLarge("big"), 413, "SIZE_INVALID"),
    (e.ManifestNotAcceptable("types"), 404, "MANIFEST_UNKNOWN"),
    (e.ImageArchived("archived"), 404, "MANIFEST_UNKNOWN"),
    (e.ManifestReferenced("listed"), 409, "DENIED"),
    (e.PaginationInvalid("n"), 400, "PAGINATION_NUMBER_INVALID"),
    (QuotaExceeded("full", "ImagesPerRepository"), 403, "DENIED"),
    (pullthrough.UpstreamUnavailable("down"), 503, "UNAVAILABLE"),
    (pullthrough.UpstreamThrottled("slow"), 429, "TOOMANYREQUESTS"),
    (e.RepositoryNotEmpty("images", {"name": "x"}), 400, "DENIED"),  # not in the table
])
def test_each_error_has_its_status_and_code(exc, status, code):
    assert _answer(exc)[0] == status
    assert _answer(exc)[1]["code"] == code


def test_an_unknown_repository_is_worded_as_ecr_words_it():
    status, error = _answer(e.NameUnknown("repository 'team/app' is unknown",
                                          {"name": "team/app"}))
    assert (status, error["message"]) == (404, (
        f"The repository with name 'team/app' does not exist in the registry with id "
        f"'{ACCOUNT}'"))
    assert error["detail"] == {"name": "team/app"}


def test_a_public_registry_never_names_its_account():
    """Its pulls may be anonymous: they learn no account id."""
    request = _request("shared/app", RegistryAddress(ACCOUNT, "public"))
    request.state.repository_name = "app"
    _, error = _answer(e.NameUnknown("repository 'app' is unknown", {"name": "app"}), request)
    assert error["message"] == "repository 'app' is unknown"
    assert ACCOUNT not in json.dumps(error)


def test_an_immutable_tag_is_worded_as_ecr_words_it():
    _, error = _answer(e.TagImmutable("immutable", {"tag": "v1", "digest": "sha256:x"}),
                       _request("imm/app", RegistryAddress(ACCOUNT, "us-east-1")))
    assert error["message"] == (
        "The image tag 'v1' already exists in the 'imm/app' repository and cannot be "
        "overwritten because the repository is immutable.")


def test_without_an_addressed_registry_the_domain_message_stands():
    _, error = _answer(e.NameUnknown("repository 'x' is unknown", {"name": "x"}),
                       _request("x"))
    assert error["message"] == "repository 'x' is unknown"


def _domain_errors():
    import berth.app  # noqa: F401 -- every domain's errors imported

    seen, todo = set(), [e.RegistryError]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.add(sub)
                todo.append(sub)
    return seen


def test_no_domain_error_carries_an_oci_code():
    carrying = sorted(f"{cls.__module__}.{cls.__name__}: {cls.code}"
                      for cls in _domain_errors() if cls.code in OCI_CODES)
    assert carrying == []


def test_every_registry_error_the_oci_routes_raise_is_in_the_table():
    # berth.registry.errors' classes, but those of ECR's operations alone (OCI never
    # raises them: they answer with the default refusal).
    ecr_only = {e.RepositoryExists, e.RepositoryNotEmpty, e.LayerExists, e.SettingInvalid}
    core = {cls for _, cls in inspect.getmembers(e, inspect.isclass)
            if issubclass(cls, e.RegistryError) and cls is not e.RegistryError}
    missing = {cls.__name__ for cls in core - ecr_only
               if not any(base in oci._OCI for base in cls.__mro__)}
    assert missing == set()
