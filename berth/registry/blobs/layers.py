"""ECR's layer uploads (InitiateLayerUpload, UploadLayerPart, CompleteLayerUpload): the rules
they add to a blob upload. Parts but the last are at least MIN_PART_BYTES (ECR's multipart
uploads are S3's); completion refuses an empty upload, short parts and a layer the
repository has already, and never makes the repository."""
from __future__ import annotations

from ...storage.metadata import blobs as blob_rows
from ...storage.metadata import repositories
from ..errors import EmptyUpload, LayerExists, LayerPartTooSmall
from ..references import Digest
from ..repositories.service import name_unknown

MIN_PART_BYTES = 5 * 1024 * 1024


def check_completable(found, upload_id: str) -> None:
    """Refuse completing the upload row ``found``: empty, or a short part before the last."""
    if found.size == 0:
        raise EmptyUpload(f"upload {upload_id!r} holds no byte", {"upload": upload_id})
    if found.small_parts:
        raise LayerPartTooSmall(
            f"{found.small_parts} of the upload's {found.parts} parts are under "
            f"{MIN_PART_BYTES} bytes, and only the last may be",
            {"upload": upload_id, "small_parts": found.small_parts})


def target(tx, registry_id: int, repository: str, digest: Digest) -> tuple[int, str]:
    """(id, key ref) of the existing repository a layer is linked into; LayerExists if it
    holds that layer already."""
    found = repositories.find(tx, registry_id, repository)
    if found is None:
        raise name_unknown(repository)
    if blob_rows.size_in_repository(tx, found.id, str(digest)) is not None:
        raise LayerExists(f"layer {digest} is in {repository!r} already",
                          {"digest": str(digest)})
    return found.id, found.key_ref
