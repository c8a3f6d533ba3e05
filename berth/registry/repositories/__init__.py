"""Repositories: creation on push, the catalog, image tag listings and referrers
(``service``); the settings ECR manages (``settings``: tag mutability, scan on push,
encryption, deletion); resource tags, the key-value labels on a repository (``resource_tags``,
not to be confused with image tags); which key seals a repository's blobs (``encryption``)."""
from .service import (
                      RepositoryService,
                      create_on_push,
                      name_unknown,
                      open_for_push,
                      push_target,
                      require_id,
)

__all__ = ["RepositoryService", "create_on_push", "name_unknown", "open_for_push",
           "push_target", "require_id"]
