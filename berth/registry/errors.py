"""Domain errors. Each names the registry condition and carries its data (``detail``: the
name, tag, digest... it is about); each front-end's table turns it into its protocol's error
and wording (berth.api.oci.errors, berth.api.ecr.translation)."""
from __future__ import annotations

# Storage's refusals, which the domain lets through as its own: no room left for what a
# request would store; the key sealing a repository's blobs disabled or gone.
from ..storage.blobs.keyring import KeyUnavailable as KeyUnavailable
from ..storage.errors import StorageFull as StorageFull


class RegistryError(Exception):
    # A reason a domain names beyond the class, in its own vocabulary (no protocol's).
    code = ""

    def __init__(self, message: str, detail: object | None = None):
        super().__init__(message)
        self.message = message
        self.detail = detail


class NameInvalid(RegistryError):
    """A repository name the registry refuses (detail: its name)."""


class NameUnknown(RegistryError):
    """No such repository (detail: {"name"})."""


class TagInvalid(RegistryError):
    """A malformed tag (detail: {"tag"})."""


class DigestInvalid(RegistryError):
    """A malformed digest, or content that does not match the one given."""


class BlobUnknown(RegistryError):
    """No such blob in the repository (detail: {"digest"})."""


class BlobReferenced(RegistryError):
    """A blob or manifest still referenced by a manifest in the repository."""


class BlobUploadUnknown(RegistryError):
    """No such upload session (expired, completed or cancelled)."""


class BlobUploadInvalid(RegistryError):
    """An upload that cannot go on or be completed as asked."""


class EmptyUpload(BlobUploadInvalid):
    """A layer upload completed without a byte (ECR's layer uploads refuse it; detail:
    {"upload"})."""


class LayerPartTooSmall(BlobUploadInvalid):
    """A layer upload whose parts but the last are not all of ECR's minimum size (detail:
    {"upload"})."""


class LayerExists(RegistryError):
    """A layer upload completing a blob the repository has already (ECR refuses it; detail:
    {"digest"})."""


class RangeInvalid(BlobUploadInvalid):
    """A chunk that does not start where the upload stands (detail: {"size"})."""


class SizeInvalid(RegistryError):
    """A size that does not match the content."""


class ManifestTooLarge(SizeInvalid):
    """A manifest over the registry's limit."""


class ManifestInvalid(RegistryError):
    """A manifest the registry cannot accept as it is."""


class ManifestUnknown(RegistryError):
    """No such manifest (tag or digest) in the repository."""


class ImageArchived(ManifestUnknown):
    """A manifest of an archived image (or one being restored): not pullable until it is
    restored to standard storage."""


class ManifestNotAcceptable(ManifestUnknown):
    """The manifest exists but the client accepts none of its media types."""


class ManifestBlobUnknown(RegistryError):
    """A manifest listing a blob (or manifest) the repository lacks."""


class ManifestReferenced(RegistryError):
    """Deleting a manifest that an index in the repository still lists."""


class PaginationInvalid(RegistryError):
    """A page size out of bounds."""


class TagImmutable(TagInvalid):
    """The repository's tags are immutable and this tag already names another image
    (detail: {"tag", "digest"}, the digest the tag names)."""


class RepositoryExists(RegistryError):
    """Creating a repository that exists (detail: {"name"})."""


class RepositoryNotEmpty(RegistryError):
    """Deleting, without force, a repository that holds images (detail: {"name"})."""


class SettingInvalid(RegistryError):
    """A repository setting ECR would refuse (InvalidParameterException)."""
