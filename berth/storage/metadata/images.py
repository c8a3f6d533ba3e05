"""Images as the ECR API sees them: a repository's manifests with their tags, in digest order
(keyset pagination), and the content of manifests."""
from __future__ import annotations

from functools import cache

from sqlalchemy import and_, bindparam, exists, func, or_, select

from .database import Tx
from .schema import manifests, tags
from .statements import in_list, list_param

_REPO = manifests.c.repository_id == bindparam("repo")
_DETAIL = (manifests.c.digest, manifests.c.media_type, manifests.c.artifact_type,
           manifests.c.config_media_type, manifests.c.subject_digest, manifests.c.size,
           manifests.c.total_size, manifests.c.pushed_at, manifests.c.last_pulled_at,
           manifests.c.image_status, manifests.c.last_archived_at, manifests.c.last_activated_at)
_any_tag = tags.alias("any_tag")
_TAGGED = exists().where(_any_tag.c.repository_id == manifests.c.repository_id,
                         _any_tag.c.digest == manifests.c.digest).correlate(manifests)


def _status(query, status: str, tag_column=None):
    """TAGGED, UNTAGGED or ANY, on a query over manifests (or manifests left join tags)."""
    if status == "TAGGED":
        return query.where(_TAGGED if tag_column is None else tag_column.is_not(None))
    if status == "UNTAGGED":
        return query.where(~_TAGGED)
    return query


def _image_status(query, image_status: str):
    """ACTIVE, ARCHIVED, ACTIVATING or ANY (ECR's ImageStatusFilter)."""
    if image_status == "ANY":
        return query
    return query.where(manifests.c.image_status == bindparam("image_status"))


@cache
def _ids(status: str, after: bool, image_status: str):
    tag = func.coalesce(tags.c.name, "")
    query = (select(manifests.c.digest, tags.c.name.label("tag")).select_from(manifests)
             .outerjoin(tags, and_(tags.c.repository_id == manifests.c.repository_id,
                                   tags.c.digest == manifests.c.digest))
             .where(_REPO))
    if after:
        # The plain ">=" lets the database seek on the primary key; the OR alone would make
        # every page rescan the repository from its first digest.
        query = query.where(manifests.c.digest >= bindparam("digest"),
                            or_(manifests.c.digest > bindparam("digest"),
                                and_(manifests.c.digest == bindparam("digest"),
                                     tag > bindparam("tag"))))
    return _image_status(_status(query, status, tags.c.name), image_status).order_by(
        manifests.c.digest, tag).limit(bindparam("limit"))


@cache
def _details_page(status: str, after: bool, image_status: str):
    query = select(*_DETAIL).where(_REPO)
    if after:
        query = query.where(manifests.c.digest > bindparam("digest"))
    return _image_status(_status(query, status), image_status).order_by(
        manifests.c.digest).limit(bindparam("limit"))


@cache
def _details():
    return select(*_DETAIL).where(_REPO, in_list(manifests.c.digest, "digests"))


@cache
def _contents():
    return select(manifests.c.digest, manifests.c.media_type, manifests.c.content,
                  manifests.c.last_pulled_at, manifests.c.image_status).where(_REPO, in_list(manifests.c.digest, "digests"))


def id_page(tx: Tx, repo_id: int, status: str, after: tuple[str, str] | None,
            limit: int, image_status: str = "ACTIVE") -> list:
    """Rows of (digest, tag or None): one per tag, an untagged image once."""
    digest, tag = after or (None, None)
    return tx.all(_ids(status, after is not None, image_status),
                  {"repo": repo_id, "digest": digest, "tag": tag, "limit": limit,
                   "image_status": image_status})


def detail_page(tx: Tx, repo_id: int, status: str, after: str | None, limit: int,
                image_status: str = "ACTIVE") -> list:
    return tx.all(_details_page(status, after is not None, image_status),
                  {"repo": repo_id, "digest": after, "limit": limit,
                   "image_status": image_status})


def details(tx: Tx, repo_id: int, digests: list[str]) -> list:
    if not digests:
        return []
    return tx.all(_details(), {"repo": repo_id, "digests": list_param(digests)})


def contents(tx: Tx, repo_id: int, digests: list[str]) -> dict:
    """digest -> (digest, media_type, content, last_pulled_at) of the manifests found."""
    if not digests:
        return {}
    found = tx.all(_contents(), {"repo": repo_id, "digests": list_param(digests)})
    return {row.digest: row for row in found}
