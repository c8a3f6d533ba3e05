"""Copying one replicated image into a destination registry of this deployment, as ECR's
replication does: the repository keeps its name and is made if missing (with the
destination's REPLICATION template, else the defaults: no setting of the source is copied);
another account's registry takes it only if its registry policy lets the source account
ecr:ReplicateImage (and ecr:CreateRepository, to make the repository). An index goes with
its platforms, an image with its referrers; blobs already there are not sent again, and a
blob under the same key is linked, not copied. A tag the destination holds immutably for
another image is left off (the image arrives untagged)."""
from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Callable, Iterator

from ..iam.authorization import decide, resource_policy
from ..iam.authentication import Caller
from ..iam.policy import Principal, parse_policy
from ..iam.tenancy import RegistryAddress
from ..registry.blobs.bodies import Chunk
from ..registry.errors import (BlobUnknown, ManifestReferenced, ManifestUnknown,
                               NameUnknown, TagImmutable)
from ..registry.images.format import parse_manifest
from ..registry.references import Digest
from ..registry.registry import Registry
from ..registry.repositories import create_from
from ..registry.repositories.templates import REPLICATION, for_purpose
from ..registry.settings import read_registry
from ..storage.metadata import identities as identity_rows
from ..storage.metadata import manifests as manifest_rows
from ..storage.metadata import registries as registry_rows
from ..storage.metadata import replication as task_rows
from ..storage.metadata import repositories as repository_rows

log = logging.getLogger("berth.replication")

# What ECR's service-linked role lets replication do on the source's side.
_SERVICE_ROLE = parse_policy(json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": ["ecr:ReplicateImage", "ecr:CreateRepository"],
    "Resource": "*"}]}), kind="identity", name="replication")


class ReplicationRefused(Exception):
    """A copy that trying again will not mend; ``code`` is the task's failure code."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Task:
    registry_id: int      # the source registry
    repository: str
    digest: str
    tag: str | None
    dest_region: str
    dest_account: str
    action: str = task_rows.COPY  # or (deleteReplication) DELETE the image, UNTAG it


class Copier:
    def __init__(self, registry: Registry, sites=None):
        self.registry = registry  # any scope: ``scoped`` gives the source and destination
        self.sites = sites  # other deployments' destinations (remote.SiteCopier), if any

    def apply(self, task: Task, keep_alive: Callable[[], None] = lambda: None) -> None:
        if self.sites is not None and self.sites.apply(task, keep_alive):
            return
        source = self.registry.scoped(task.registry_id)
        dest, account = self._destination(task)
        if dest.registry_id == source.registry_id:
            raise ReplicationRefused("INVALID_DESTINATION", "the source registry itself")
        if task.action == task_rows.COPY:
            self._copy(task, source, dest, account, keep_alive)
            return
        if not self._allows(task, account, dest.registry_id)("ecr:ReplicateImage"):
            raise ReplicationRefused("ACCESS_DENIED", "the destination's registry policy does "
                                     "not allow ecr:ReplicateImage")
        _remove(dest, task)

    def _copy(self, task: Task, source: Registry, dest: Registry, account: str,
              keep_alive: Callable[[], None]) -> None:
        target = LocalTarget(dest, task.repository)
        target.ensure_repository(self._allows(task, account, dest.registry_id))
        copy_image(source, target, task, keep_alive)

    def _destination(self, task: Task) -> tuple[Registry, str]:
        db = self.registry.db
        with db.write() as tx:
            if identity_rows.find_account(tx, "id", task.dest_account) is None:
                raise ReplicationRefused("DESTINATION_NOT_FOUND",
                                         f"account {task.dest_account} does not exist")
            dest_id = registry_rows.ensure_registry(tx, task.dest_account, task.dest_region)
            account = read_registry(tx, task.registry_id)[1]
        return self.registry.scoped(dest_id), account

    def _allows(self, task: Task, source_account: str, dest_id: int) -> Callable[[str], bool]:
        """Whether the destination lets the source account do an action on the repository
        (always, within one account)."""
        if source_account == task.dest_account:
            return lambda action: True
        with self.registry.db.read() as tx:
            text = registry_rows.registry_policy(tx, dest_id)
        policies = (resource_policy(text),) if text else ()
        caller = Caller(Principal.root(source_account), "", (_SERVICE_ROLE,), False)
        arn = RegistryAddress(task.dest_account, task.dest_region).repository_arn(
            task.repository)

        def allows(action: str) -> bool:
            return decide(caller, action, arn, policies,
                          resource_account=task.dest_account)[1].allowed
        return allows


def copy_image(source: Registry, target, task: Task, keep_alive: Callable[[], None]) -> None:
    """The task's image (with its platforms and referrers) into ``target`` (LocalTarget,
    or another deployment's: berth.replication.remote), then its tag."""
    copied = _Run(source, target, task.repository, keep_alive).manifest(task.digest)
    if copied is None:
        raise ReplicationRefused("SOURCE_IMAGE_NOT_FOUND",
                                 f"{task.repository}@{task.digest} is gone from the source")
    if task.tag:
        target.tag(task.digest, task.tag, *copied)


class _Run:
    """One task's copy: manifests depth first (an index's platforms, each one's blobs, the
    manifest, then its referrers), each once."""

    def __init__(self, source: Registry, target, repository: str,
                 keep_alive: Callable[[], None]):
        self.source, self.target, self.repository = source, target, repository
        self.keep_alive = keep_alive
        self.done: set[str] = set()

    def manifest(self, digest: str) -> tuple[bytes, str] | None:
        """Copy the manifest with its children, blobs and referrers; its (body, media type)
        (None if the source has no such manifest)."""
        row = manifest_rows.lookup(self.source.db, self.source.registry_id, self.repository,
                                   digest, False, True)
        if row is None or row.digest is None:
            return None
        body = bytes(row.content)
        if digest in self.done:
            return body, row.media_type
        self.done.add(digest)
        parsed = parse_manifest(body, row.media_type)
        for child in parsed.children:
            self.manifest(str(child.digest))
        for blob in (parsed.config, *parsed.layers):
            if blob is not None and not blob.foreign:
                self.keep_alive()
                if not self.target.has_blob(blob.digest):
                    self.target.put_blob(self.source, self.source.blobs.find(
                        self.repository, blob.digest))
        self.target.put_manifest(digest, body, row.media_type)
        for referrer in self.source.repositories.referrers(
                self.repository, Digest.parse(digest), None)["manifests"]:
            self.manifest(referrer["digest"])
        return body, row.media_type


class LocalTarget:
    """A destination registry of this deployment."""

    def __init__(self, dest: Registry, repository: str):
        self.dest, self.repository = dest, repository
        self.key_ref = ""

    def ensure_repository(self, allows: Callable[[str], bool]) -> None:
        if not allows("ecr:ReplicateImage"):
            raise ReplicationRefused("ACCESS_DENIED", "the destination's registry policy does "
                                     "not allow ecr:ReplicateImage")
        with self.dest.db.write() as tx:
            found = repository_rows.find(tx, self.dest.registry_id, self.repository)
            if found is None:
                if not allows("ecr:CreateRepository"):
                    raise ReplicationRefused(
                        "ACCESS_DENIED", "the destination's registry policy does not allow "
                        "ecr:CreateRepository, and the repository does not exist there")
                template = for_purpose(tx, self.dest.registry_id, self.repository, REPLICATION)
                self.key_ref = create_from(tx, self.dest.registry_id, self.repository,
                                           template, self.dest.encryption)[1]
            else:
                self.key_ref = found.key_ref

    def has_blob(self, digest: Digest) -> bool:
        try:
            self.dest.blobs.find(self.repository, digest)
            return True  # there already: not sent again
        except (BlobUnknown, NameUnknown):
            return False

    def put_blob(self, source: Registry, blob) -> None:
        if blob.key_ref == self.key_ref and self.dest.blobs.link_stored(
                self.repository, blob.digest, blob.size, blob.key_ref):
            return  # sealed under the same key: linked, not copied
        chunks = source.blobs.read(blob, 0, blob.size)
        asyncio.run(self.dest.uploads.upload_whole(
            self.repository, blob.digest, _body(chunks), Chunk(length=blob.size),
            may_create=False))

    def put_manifest(self, digest: str, body: bytes, media_type: str) -> None:
        self.dest.manifests.put(self.repository, None, body, media_type, create=False)

    def tag(self, digest: str, tag: str, body: bytes, media_type: str) -> None:
        try:
            self.dest.manifests.put(self.repository, tag, body, media_type, create=False)
        except TagImmutable:
            log.info("replicated %s@%s without tag %s: the destination holds it immutably",
                     self.repository, digest, tag)


def _remove(dest: Registry, task: Task) -> None:
    """What the source removed, removed at the destination: the image (by digest, with its
    tags), or the tag if it still names that image there; already gone is done."""
    try:
        if task.action == task_rows.DELETE:
            dest.manifests.delete(task.repository, task.digest)
        else:
            named = manifest_rows.lookup(dest.db, dest.registry_id, task.repository, task.tag,
                                         True, False)
            if named is not None and named.digest == task.digest:
                dest.manifests.delete(task.repository, task.tag)
    except (NameUnknown, ManifestUnknown):
        pass
    except ManifestReferenced:  # an index there still lists it, as at the source
        log.info("replicated deletion of %s@%s left it: an index there lists it",
                 task.repository, task.digest)


async def _body(chunks: Iterator[bytes]):
    for chunk in chunks:
        yield chunk
