"""Domain errors as ECR names and words them: one table, consulted by the endpoint for any
domain error a handler lets through. A row is (error class, operations it is limited to or
None for all, how to build the ECR error from the error and where it happened); the first
row that matches, most specific class first, wins."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ...iam.resource_policies import PolicyLocksOut, RepositoryUnknown
from ...lifecycle import errors as lifecycle
from ...pullthrough import errors as pullthrough
from ...quotas.models import QuotaExceeded
from ...replication import backfill
from ...replication.configuration import ReplicationConfigurationInvalid
from ...scanning import errors as scanning
from ...signing import models as signing
from ...registry.images import pull_exclusions as exclusions
from ...registry.images.storage_class import StorageClassUpdateUnsupported
from ...registry import errors as e
from ...registry.images.manifests import DigestMismatch, ImageExists, LayersMissing
from ...registry.images.service import ImageNotFound, MediaTypeMissing
from ...registry.repositories.encryption import KmsKeyUnusable
from ...registry.repositories import templates
from ...registry.repositories.resource_tags import ResourceTagInvalid, TooManyResourceTags
from ...registry.errors import StorageFull
from .errors import EcrApiError, KmsError, invalid_parameter, model_error

LAYER_UPLOADS = frozenset({"InitiateLayerUpload", "UploadLayerPart", "CompleteLayerUpload"})
# Their model lists no tag errors: a template's bad tag is an invalid parameter.
TEMPLATE_WRITES = frozenset({"CreateRepositoryCreationTemplate",
                             "UpdateRepositoryCreationTemplate"})

_SECRET_ERRORS = {"not_found": "SecretNotFoundException",
                  "no_access": "UnableToAccessSecretException",
                  "undecryptable": "UnableToDecryptSecretValueException"}


@dataclass(frozen=True)
class Where:
    operation: str
    registry: str          # the registry's id as ECR shows it (the account)
    repository: str | None
    params: dict[str, Any]

    @property
    def in_repository(self) -> str:
        return (f"the repository with name '{self.repository}' in the registry with id "
                f"'{self.registry}'")


Rule = Callable[[Any, Where], EcrApiError]


def repository_not_found(exc, w: Where) -> EcrApiError:
    return model_error("RepositoryNotFoundException", f"The repository with name "
                       f"'{w.repository}' does not exist in the registry with id '{w.registry}'")


def _message(code: str) -> Rule:
    return lambda exc, w: model_error(code, exc.message)


def _id_text(digest: str | None, tag: str | None) -> str:
    """An image id as ECR's messages write it."""
    return f"{{imageDigest:'{digest or 'null'}', imageTag:'{tag or 'null'}'}}"


def _image_not_found(exc: ImageNotFound, w: Where) -> EcrApiError:
    i = exc.image_id
    return model_error("ImageNotFoundException", f"The image with imageId "
                       f"{_id_text(i.digest, i.tag)} does not exist within {w.in_repository}")


def _image_id_text(w: Where) -> str:
    given = w.params.get("imageId") or {}
    return _id_text(given.get("imageDigest"), given.get("imageTag"))


def _layers_missing(exc: LayersMissing, w: Where) -> EcrApiError:
    # ECR's words (no "the" before "repository"), as docker and the aws CLI relay them:
    # mapbox/ecs-conex#50 (Layers), int128/docker-manifest-create-action#63 (Images).
    listed = "[" + ", ".join(exc.digests) + "]"
    what, code = (("Images", "ReferencedImagesNotFoundException") if exc.children
                  else ("Layers", "LayersNotFoundException"))
    return model_error(code, f"{what} with digests '{listed}' required for pushing image into "
                             f"repository with name '{w.repository}' in the registry with id "
                             f"'{w.registry}' do not exist")


def _bad_part(exc: e.RangeInvalid, w: Where) -> EcrApiError:
    at = exc.detail.get("size") if isinstance(exc.detail, dict) else None
    return bad_part(w.params["partFirstByte"], w.params["partLastByte"],
                    f"the upload continues at byte {at}")


def bad_part(first: int, last: int, why: str) -> EcrApiError:
    return model_error("InvalidLayerPartException",
                       f"The layer part from byte {first} to byte {last} is not valid: {why}")


def storage_full(exc: StorageFull) -> EcrApiError:
    """No room in the registry's storage (wherever it was found: in an operation, or in the
    write that records a signature as used): ECR's error for a service limit -- a refusal,
    not a fault, so never ServerException."""
    return model_error("LimitExceededException", f"The registry's storage is full "
                       f"({exc.storage}: {exc.reason}): nothing was stored. Retry once space "
                       "is freed.")


TABLE: list[tuple[type, frozenset[str] | None, Rule]] = [
    (e.NameUnknown, None, repository_not_found),
    (RepositoryUnknown, None, repository_not_found),
    (e.RepositoryExists, None, lambda exc, w: model_error(
        "RepositoryAlreadyExistsException", f"The repository with name '{w.repository}' "
        f"already exists in the registry with id '{w.registry}'")),
    (e.RepositoryNotEmpty, None, lambda exc, w: model_error(
        "RepositoryNotEmptyException", f"The repository with name '{w.repository}' in "
        f"registry with id '{w.registry}' cannot be deleted because it still contains images")),
    (e.SettingInvalid, None, _message("InvalidParameterException")),
    (exclusions.ExclusionExists, None, lambda exc, w: model_error(
        "ExclusionAlreadyExistsException", f"The principal '{exc.detail['principalArn']}' is "
        f"already excluded from pull time updates in the registry with id '{w.registry}'")),
    (exclusions.ExclusionUnknown, None, lambda exc, w: model_error(
        "ExclusionNotFoundException", f"The principal '{exc.detail['principalArn']}' is not "
        f"excluded from pull time updates in the registry with id '{w.registry}'")),
    (exclusions.TooManyExclusions, None, lambda exc, w: model_error(
        "LimitExceededException", f"The registry with id '{w.registry}' has "
        f"{exclusions.MAX_EXCLUSIONS} pull time update exclusions, the most it may have")),
    (StorageClassUpdateUnsupported, None, _message("ImageStorageClassUpdateNotSupportedException")),
    (lifecycle.PolicyInvalid, None, lambda exc, w: invalid_parameter(
        "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Lifecycle "
        f"policy validation failure: {exc.message}'")),
    (lifecycle.PolicyNotFound, None, lambda exc, w: model_error(
        "LifecyclePolicyNotFoundException",
        f"Lifecycle policy does not exist for {w.in_repository}")),
    (lifecycle.PreviewNotFound, None, lambda exc, w: model_error(
        "LifecyclePolicyPreviewNotFoundException",
        f"Lifecycle policy preview request does not exist for {w.in_repository}")),
    (lifecycle.PreviewInProgress, None, lambda exc, w: model_error(
        "LifecyclePolicyPreviewInProgressException",
        f"Previous lifecycle policy preview request has not completed for {w.in_repository}")),
    (scanning.ScanningConfigurationInvalid, None, lambda exc, w: invalid_parameter(
        f"Invalid parameter: {exc.message}")),
    (scanning.ScanNotFound, None, lambda exc, w: model_error(
        "ScanNotFoundException", f"Image scan does not exist for the image with "
        f"'{_image_id_text(w)}' in {w.in_repository}")),
    (scanning.ScanLimitExceeded, None, _message("LimitExceededException")),
    (scanning.ManualScanUnsupported, None, _message("ValidationException")),
    (scanning.ImageArchived, None, lambda exc, w: model_error(
        "ImageArchivedException", f"The image with imageId {_image_id_text(w)} in "
        f"{w.in_repository} is archived and cannot be scanned")),
    (signing.SigningConfigurationInvalid, None, lambda exc, w: invalid_parameter(
        f"Invalid parameter at 'signingConfiguration' failed to satisfy constraint: "
        f"'{exc.message}'")),
    (signing.SigningConfigurationNotFound, None, lambda exc, w: model_error(
        "SigningConfigurationNotFoundException", f"The signing configuration does not exist "
        f"for the registry with id '{w.registry}'")),
    (e.NameInvalid, None, _message("InvalidParameterException")),
    (ReplicationConfigurationInvalid, None, lambda exc, w: invalid_parameter(
        f"Invalid parameter at 'replicationConfiguration' failed to satisfy constraint: "
        f"'{exc.message}'")),
    (backfill.BackfillNotFound, None, _message("ReplicationBackfillNotFoundException")),
    (backfill.BackfillInProgress, None, _message("ReplicationBackfillInProgressException")),
    (backfill.BackfillInvalidStatus, None,
     _message("ReplicationBackfillInvalidStatusException")),
    (templates.TemplateExists, None, _message("TemplateAlreadyExistsException")),
    (templates.TemplateNotFound, None, _message("TemplateNotFoundException")),
    (templates.TooManyTemplates, None, _message("LimitExceededException")),
    (QuotaExceeded, {"CompleteLayerUpload"}, _message("InvalidLayerException")),
    (QuotaExceeded, None, _message("LimitExceededException")),
    (pullthrough.RuleExists, None, _message("PullThroughCacheRuleAlreadyExistsException")),
    (pullthrough.RuleNotFound, None, _message("PullThroughCacheRuleNotFoundException")),
    (pullthrough.TooManyRules, None, _message("LimitExceededException")),
    (pullthrough.UnsupportedUpstream, None, _message("UnsupportedUpstreamRegistryException")),
    (pullthrough.CredentialUnusable, None, lambda exc, w: model_error(
        _SECRET_ERRORS[exc.reason], exc.message)),
    (ResourceTagInvalid, TEMPLATE_WRITES, _message("InvalidParameterException")),
    (TooManyResourceTags, TEMPLATE_WRITES, _message("InvalidParameterException")),
    (ResourceTagInvalid, None, _message("InvalidTagParameterException")),
    (TooManyResourceTags, None, _message("TooManyTagsException")),
    (KmsKeyUnusable, None, lambda exc, w: KmsError(exc.message, exc.kms_error)),
    (ImageNotFound, None, _image_not_found),
    (e.TagImmutable, None, lambda exc, w: model_error(
        "ImageTagAlreadyExistsException", f"The image tag '{exc.detail['tag']}' already exists "
        f"in the '{w.repository}' repository and cannot be overwritten because the repository "
        "is immutable.")),
    (ImageExists, None, lambda exc, w: model_error(
        "ImageAlreadyExistsException", f"Image with digest '{exc.detail['digest']}' and tag "
        f"'{exc.detail['tag'] or 'null'}' already exists in the repository with name "
        f"'{w.repository}' in registry with id '{w.registry}'")),
    (DigestMismatch, None, lambda exc, w: model_error(
        "ImageDigestDoesNotMatchException", f"The image digest '{exc.given}' does not match "
        f"the digest '{exc.actual}' of the image manifest")),
    (LayersMissing, None, _layers_missing),
    (MediaTypeMissing, None, _message("InvalidParameterException")),
    (e.EmptyUpload, None, lambda exc, w: model_error(
        "EmptyUploadException", f"The upload with id '{w.params['uploadId']}' contains no "
        "layer parts")),
    (e.LayerPartTooSmall, None, lambda exc, w: model_error(
        "LayerPartTooSmallException", "Layer parts must be at least 5 MiB in size. The upload "
        f"with id '{w.params['uploadId']}' has {exc.detail['small_parts']} smaller part(s) "
        "before its last")),
    (e.LayerExists, None, lambda exc, w: model_error(
        "LayerAlreadyExistsException", f"The layer with digest '{exc.detail['digest']}' "
        f"already exists in the repository with name '{w.repository}' in the registry with "
        f"id '{w.registry}'")),
    (e.RangeInvalid, frozenset({"UploadLayerPart"}), _bad_part),
    (e.BlobUploadUnknown, LAYER_UPLOADS, lambda exc, w: model_error(
        "UploadNotFoundException", f"The upload with id '{w.params['uploadId']}' does not "
        f"exist within {w.in_repository}")),
    (e.DigestInvalid, frozenset({"CompleteLayerUpload"}), lambda exc, w: model_error(
        "InvalidLayerException", f"The calculated digest of the upload with id "
        f"'{w.params['uploadId']}' does not match the layer digest "
        f"'{w.params['layerDigests'][0]}'")),
    (e.BlobUnknown, frozenset({"GetDownloadUrlForLayer"}), lambda exc, w: model_error(
        "LayersNotFoundException", f"The layer with digest {exc.detail['digest']} does not "
        f"exist within {w.in_repository}")),
    (StorageFull, None, lambda exc, w: storage_full(exc)),
    (PolicyLocksOut, None, lambda exc, w: invalid_parameter(
        f"Invalid parameter at 'PolicyText' failed to satisfy constraint: '{exc}'")),
    (e.RegistryError, None, lambda exc, w: invalid_parameter(
        f"Invalid parameter: {exc.message}")),
]


def translate(exc: BaseException, where: Where) -> EcrApiError | None:
    """The ECR error for a domain error; None for anything the table does not know."""
    for cls in type(exc).__mro__:
        for error, operations, rule in TABLE:
            if error is cls and (operations is None or where.operation in operations):
                return rule(exc, where)
    return None
