"""Pull time update exclusions (berth.registry.images.pull_exclusions): a pull by an excluded
principal leaves lastRecordedPullTime alone, through either door (the OCI fetch and ECR's
BatchGetImage); anyone else's pull records it; registering twice, deregistering an unknown
principal and a 101st exclusion are refused."""
from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from berth.registry.images import pull_exclusions
from berth.registry.images.pull_exclusions import (
    ExclusionExists,
    ExclusionUnknown,
    TooManyExclusions,
)
from berth.registry.images.service import ImageId
from berth.storage.metadata import repositories
from berth.storage.metadata.schema import manifests
from tests.support.registry_images import push_image

SCANNER = "arn:aws:iam::123456789012:user/scanner"
DEVELOPER = "arn:aws:iam::123456789012:user/dev"


def _last_pull(registry, repository: str, digest: str):
    with registry.db.read() as tx:
        repo_id = repositories.get_id(tx, registry.registry_id, repository)
    with registry.db.engine.connect() as conn:
        return conn.execute(select(manifests.c.last_pulled_at).where(
            manifests.c.repository_id == repo_id, manifests.c.digest == digest)).scalar_one()


def _fetch(registry, principal: str) -> None:
    asyncio.run(registry.manifests.fetch("team/app", "v1", record_pull=True,
                                         principal=principal))
    registry.manifests.pulls.flush()


def test_an_excluded_principal_leaves_the_pull_time_alone(registry):
    digest = str(push_image(registry, "team/app", "v1"))
    registry.manifests.pull_exclusions.register(SCANNER)
    _fetch(registry, SCANNER)
    assert _last_pull(registry, "team/app", digest) is None
    registry.images.batch_get("team/app", [ImageId(tag="v1")], None, SCANNER)
    registry.manifests.pulls.flush()
    assert _last_pull(registry, "team/app", digest) is None
    _fetch(registry, DEVELOPER)
    assert _last_pull(registry, "team/app", digest) is not None


def test_deregistered_its_pulls_count_again(registry):
    digest = str(push_image(registry, "team/app", "v1"))
    exclusions = registry.manifests.pull_exclusions
    exclusions.register(SCANNER)
    exclusions.deregister(SCANNER)
    _fetch(registry, SCANNER)
    assert _last_pull(registry, "team/app", digest) is not None


def test_register_twice_deregister_unknown_and_the_limit(registry, monkeypatch):
    exclusions = registry.manifests.pull_exclusions
    made = exclusions.register(SCANNER)
    assert made.principal_arn == SCANNER and made.created_at > 0
    with pytest.raises(ExclusionExists):
        exclusions.register(SCANNER)
    with pytest.raises(ExclusionUnknown):
        exclusions.deregister(DEVELOPER)
    monkeypatch.setattr(pull_exclusions, "MAX_EXCLUSIONS", 3)
    exclusions.register(DEVELOPER)
    exclusions.register("arn:aws:iam::123456789012:role/ci")
    with pytest.raises(TooManyExclusions):
        exclusions.register("arn:aws:iam::123456789012:role/one-too-many")
    assert [e.principal_arn for e in exclusions.page("", 10)] == sorted([
        SCANNER, DEVELOPER, "arn:aws:iam::123456789012:role/ci"])
    assert [e.principal_arn for e in exclusions.page(DEVELOPER, 10)] == [SCANNER]


def test_exclusions_belong_to_one_registry(registry):
    registry.manifests.pull_exclusions.register(SCANNER)
    other = registry.scoped(registry.registry_id + 1000)
    assert not other.manifests.pull_exclusions.excludes(SCANNER)
    assert registry.manifests.pull_exclusions.excludes(SCANNER)
