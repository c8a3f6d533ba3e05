"""Replicating into another Berth deployment (a site: berth/replication/sites.py): its ECR
API, signed with the site's access key, gives a registry token and makes the repository; its
OCI endpoint takes blobs (each sent once: HEAD first) and manifests. Errors a retry may mend
(the site down, a 5xx) propagate, so the task's job tries again; refusals fail the task."""
from __future__ import annotations

import base64
import hashlib
import logging
import threading
from dataclasses import dataclass
from typing import Callable, Iterator

import urllib3
from botocore.exceptions import BotoCoreError, ClientError

from ..registry.registry import Registry
from ..registry.repositories.templates import REPLICATION, Prefixed, longest_covering
from ..registry.settings import read_settings
from ..secrets.ecr_login import EcrLogin
from ..secrets.models import SecretError
from ..storage.metadata import replication as task_rows
from .copy import ReplicationRefused, Task, copy_image
from .sites import Site, SiteInvalid, access_key, sites_of

log = logging.getLogger("berth.replication")

_TIMEOUT = urllib3.Timeout(connect=10.0, read=300.0)
_REFUSALS = {"AccessDeniedException", "UnrecognizedClientException",
             "InvalidSignatureException", "ExpiredTokenException"}


class SiteError(Exception):
    """The site failed in a way a later attempt may not (a 5xx, a bad answer)."""


class Remote:
    """One site's clients: its ECR API and registry logins per region, an HTTP pool."""

    def __init__(self, site: Site, key: tuple[str, str]):
        self.site, self._key = site, key
        self.http = urllib3.PoolManager(retries=False, timeout=_TIMEOUT)
        self._logins: dict[str, EcrLogin] = {}
        self._lock = threading.Lock()

    def login(self, region: str) -> EcrLogin:
        with self._lock:
            found = self._logins.get(region)
            if found is None:
                found = self._logins[region] = EcrLogin(self.site.endpoint, region, self._key)
        return found

    def call(self, region: str, operation: str, **params) -> dict:
        try:
            return getattr(self.login(region).client(), operation)(**params)
        except ClientError as exc:
            raise _refused(self.site, exc) from None

    def authorization(self, region: str) -> str:
        try:
            user, password = self.login(region).credentials()
        except ClientError as exc:
            raise _refused(self.site, exc) from None
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def request(self, region: str, method: str, path: str, body=None,
                headers: dict | None = None) -> urllib3.BaseHTTPResponse:
        answer = self.http.request(method, self.site.endpoint + path, body=body,
                                   headers={"Authorization": self.authorization(region),
                                            **(headers or {})}, redirect=False)
        if answer.status in (401, 403):
            raise ReplicationRefused("ACCESS_DENIED", f"the site {self.site.endpoint} "
                                     f"refused {method} {path.split('?')[0]}")
        if answer.status >= 500:
            raise SiteError(f"the site {self.site.endpoint} answered {answer.status} to "
                            f"{method} {path.split('?')[0]}")
        return answer

    def close(self) -> None:
        self.http.clear()


class RemoteTarget:
    """A repository of a site's registry, as copy.copy_image writes to it."""

    def __init__(self, remote: Remote, region: str, repository: str):
        self.remote, self.region, self.repository = remote, region, repository
        self.base = f"/v2/{repository}"

    def ensure_repository(self) -> None:
        """The repository at the site, made (if missing) with the settings of the site's
        REPLICATION creation template covering it, as an ECR destination makes it."""
        try:
            self.remote.call(self.region, "describe_repositories",
                             repositoryNames=[self.repository])
            return
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "RepositoryNotFoundException":
                raise
        template = site_template(self.remote, self.region, self.repository)
        try:
            self.remote.call(self.region, "create_repository", repositoryName=self.repository,
                             **creation_settings(template))
        except ClientError as again:
            if again.response["Error"]["Code"] != "RepositoryAlreadyExistsException":
                raise
            return
        self._apply_policies(template)

    def _apply_policies(self, template: dict) -> None:
        """The template's policies, each as far as the site lets this key set it: a policy it
        refuses (or fails to set) is logged and left off -- the images still go (the
        repository is made; deleting it again could race a copy pushing into it)."""
        for member, operation, parameter in (
                ("repositoryPolicy", "set_repository_policy", "policyText"),
                ("lifecyclePolicy", "put_lifecycle_policy", "lifecyclePolicyText")):
            if not template.get(member):
                continue
            try:
                self.remote.call(self.region, operation, repositoryName=self.repository,
                                 **{parameter: template[member]})
            except (ClientError, BotoCoreError, ReplicationRefused) as exc:
                log.warning("replicated repository %s at %s made without its template's %s: "
                            "%s", self.repository, self.remote.site.endpoint, member,
                            getattr(exc, "message", exc))

    def has_blob(self, digest) -> bool:
        answer = self.remote.request(self.region, "HEAD", f"{self.base}/blobs/{digest}")
        return answer.status == 200

    def put_blob(self, source: Registry, blob) -> None:
        headers = {"Content-Length": str(blob.size), "Content-Type": "application/octet-stream"}
        answer = self.remote.request(
            self.region, "POST", f"{self.base}/blobs/uploads/?digest={blob.digest}",
            _chunks(source, blob), headers)
        if answer.status == 202:  # no monolithic upload there: the session's PUT carries it
            location = answer.headers["Location"]
            joiner = "&" if "?" in location else "?"
            answer = self.remote.request(self.region, "PUT",
                                         f"{location}{joiner}digest={blob.digest}",
                                         _chunks(source, blob), headers)
        _expect(answer, 201, f"blob {blob.digest}")

    def put_manifest(self, digest: str, body: bytes, media_type: str) -> None:
        answer = self.remote.request(self.region, "PUT", f"{self.base}/manifests/{digest}",
                                     body, {"Content-Type": media_type})
        _expect(answer, 201, f"manifest {digest}")

    def tag(self, digest: str, tag: str, body: bytes, media_type: str) -> None:
        answer = self.remote.request(self.region, "PUT", f"{self.base}/manifests/{tag}", body,
                                     {"Content-Type": media_type})
        if answer.status == 400 and b"TAG_INVALID" in answer.data:
            log.info("replicated %s@%s without tag %s: the site holds it immutably",
                     self.repository, digest, tag)
            return
        _expect(answer, 201, f"tag {tag}")

    def remove(self, task: Task) -> None:
        """The image (by digest), or the tag if it still names that image there."""
        if task.action == task_rows.UNTAG:
            found = self.remote.request(self.region, "HEAD",
                                        f"{self.base}/manifests/{task.tag}")
            if found.headers.get("Docker-Content-Digest") != task.digest:
                return
        reference = task.digest if task.action == task_rows.DELETE else task.tag
        answer = self.remote.request(self.region, "DELETE",
                                     f"{self.base}/manifests/{reference}")
        if answer.status == 409:  # an index there still lists it, as at the source
            log.info("replicated deletion of %s@%s left it: an index at the site lists it",
                     self.repository, task.digest)
        elif answer.status not in (202, 404):
            _expect(answer, 202, f"deletion of {reference}")


@dataclass(frozen=True)
class _SiteTemplate(Prefixed):
    prefix: str
    shape: dict


def site_template(remote: Remote, region: str, repository: str) -> dict:
    """The site's creation template applied for REPLICATION with the longest prefix covering
    the repository ({} if none, or if the site's key may not read its templates)."""
    try:
        pages = remote.login(region).client().get_paginator(
            "describe_repository_creation_templates").paginate()
        found = [_SiteTemplate(t["prefix"], t) for page in pages
                 for t in page["repositoryCreationTemplates"]
                 if REPLICATION in t.get("appliedFor", ())]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in _REFUSALS:
            raise
        log.info("replicating %s to %s with default settings: its key may not read the "
                 "site's creation templates", repository, remote.site.endpoint)
        return {}
    chosen = longest_covering(found, repository)
    return chosen.shape if chosen is not None else {}


def creation_settings(template: dict) -> dict:
    """CreateRepository's parameters for what a template sets at creation."""
    settings = {key: template[key] for key in (
        "imageTagMutability", "imageTagMutabilityExclusionFilters", "encryptionConfiguration")
        if template.get(key)}
    if template.get("resourceTags"):
        settings["tags"] = template["resourceTags"]
    return settings


def _refused(site: Site, exc: ClientError) -> Exception:
    """ACCESS_DENIED when the site refuses the key; otherwise the error, to retry."""
    code = exc.response.get("Error", {}).get("Code", "")
    if code in _REFUSALS:
        return ReplicationRefused("ACCESS_DENIED", f"the site {site.endpoint} refused its "
                                  f"access key: {code}")
    return exc


def _chunks(source: Registry, blob) -> Iterator[bytes]:
    return iter(source.blobs.read(blob, 0, blob.size))


def _expect(answer: urllib3.BaseHTTPResponse, status: int, what: str) -> None:
    if answer.status != status:
        raise SiteError(f"the site refused {what}: {answer.status} "
                        f"{answer.data[:300].decode(errors='replace')}")


class SiteCopier:
    """Tasks whose destination account is one of the source registry's sites."""

    def __init__(self, registry: Registry, secrets: Callable[[str], dict]):
        self.registry, self.secrets = registry, secrets
        self._remotes: dict[tuple, Remote] = {}
        self._lock = threading.Lock()

    def apply(self, task: Task, keep_alive: Callable[[], None]) -> bool:
        """Whether the task was one of a site's (and then it is done, or it raised)."""
        with self.registry.db.read() as tx:
            site = sites_of(read_settings(tx, task.registry_id)).get(task.dest_account)
        if site is None:
            return False
        target = RemoteTarget(self._remote(site, task.dest_region), task.dest_region,
                              task.repository)
        if task.action == task_rows.COPY:
            target.ensure_repository()
            copy_image(self.registry.scoped(task.registry_id), target, task, keep_alive)
        else:
            target.remove(task)
        return True

    def _remote(self, site: Site, region: str) -> Remote:
        """The site's clients, made again when its secret changes (a mended key counts at
        once); a new one first checks that the key is of the site's account."""
        try:
            credentials = access_key(self.secrets(site.secret_arn))
        except (SiteInvalid, SecretError) as exc:
            raise ReplicationRefused("ACCESS_DENIED", f"the site's secret is unusable: "
                                     f"{getattr(exc, 'message', exc)}") from None
        key = (site.endpoint, site.registry_id,
               hashlib.sha256(repr(credentials).encode()).hexdigest())
        with self._lock:
            found = self._remotes.get(key)
        if found is None:
            found = Remote(site, credentials)
            holder = found.call(region, "describe_registry")["registryId"]
            if holder != site.registry_id:
                raise ReplicationRefused("INVALID_DESTINATION", f"the site's access key is of "
                                         f"account {holder}, not {site.registry_id}")
            with self._lock:
                self._remotes[key] = found
        return found
