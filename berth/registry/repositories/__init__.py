"""Repositories: the catalog, image tag listings and referrers (``service``); the settings ECR
manages (``settings``: tag mutability, scan on push, encryption, deletion); resource tags, the
key-value labels on a repository (``resource_tags``, not to be confused with image tags);
which key seals a repository's blobs (``encryption``); creation templates and the
repositories made on someone's behalf, a push's among them (``templates``, ``creation``)."""
from .creation import CreationNeedsPermission, create_from, open_for_push
from .service import RepositoryService, name_unknown, require_id

__all__ = ["CreationNeedsPermission", "RepositoryService", "create_from", "name_unknown",
           "open_for_push", "require_id"]
