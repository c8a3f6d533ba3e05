"""Domain errors. Each names the registry condition; front-ends translate it to their protocol
(OCI error codes follow the same vocabulary, the ECR API maps them to its exceptions)."""
from __future__ import annotations


class RegistryError(Exception):
    code = "UNKNOWN"

    def __init__(self, message: str, detail: object | None = None):
        super().__init__(message)
        self.message = message
        self.detail = detail


class NameInvalid(RegistryError):
    code = "NAME_INVALID"


class NameUnknown(RegistryError):
    code = "NAME_UNKNOWN"


class TagInvalid(RegistryError):
    code = "TAG_INVALID"


class DigestInvalid(RegistryError):
    code = "DIGEST_INVALID"


class BlobUnknown(RegistryError):
    code = "BLOB_UNKNOWN"


class BlobReferenced(RegistryError):
    """A blob or manifest still referenced by a manifest in the repository."""
    code = "DENIED"


class BlobUploadUnknown(RegistryError):
    code = "BLOB_UPLOAD_UNKNOWN"


class BlobUploadInvalid(RegistryError):
    code = "BLOB_UPLOAD_INVALID"


class EmptyUpload(BlobUploadInvalid):
    """A layer upload completed without a byte (ECR's layer uploads refuse it)."""


class LayerExists(RegistryError):
    """A layer upload completing a blob the repository has already (ECR refuses it)."""
    code = "DENIED"


class RangeInvalid(BlobUploadInvalid):
    """A chunk that does not start where the upload stands (HTTP 416)."""


class SizeInvalid(RegistryError):
    code = "SIZE_INVALID"


class ManifestTooLarge(SizeInvalid):
    pass


class ManifestInvalid(RegistryError):
    code = "MANIFEST_INVALID"


class ManifestUnknown(RegistryError):
    code = "MANIFEST_UNKNOWN"


class ImageArchived(ManifestUnknown):
    """A manifest of an archived image (or one being restored): not pullable until it is
    restored to standard storage."""


class ManifestNotAcceptable(ManifestUnknown):
    """The manifest exists but the client accepts none of its media types."""


class ManifestBlobUnknown(RegistryError):
    code = "MANIFEST_BLOB_UNKNOWN"


class ManifestReferenced(RegistryError):
    """Deleting a manifest that an index in the repository still lists."""
    code = "DENIED"


class PaginationInvalid(RegistryError):
    code = "PAGINATION_NUMBER_INVALID"



class TagImmutable(TagInvalid):
    """The repository's tags are immutable and this tag already names another image."""


class RepositoryExists(RegistryError):
    code = "DENIED"


class RepositoryNotEmpty(RegistryError):
    code = "DENIED"


class SettingInvalid(RegistryError):
    """A repository setting ECR would refuse (InvalidParameterException)."""
    code = "INVALID_PARAMETER"
