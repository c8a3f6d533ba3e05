"""Tag immutability in the domain (``ManifestService.put``), so docker push and PutImage obey
it alike: in an immutable repository a tag may not move to another image; exclusion filters
invert the rule for the tags they match."""
import pytest

from berth.registry.errors import TagImmutable
from berth.registry.repositories.settings import (
    RepositorySettings,
    RepositorySettingsService,
    TagMutability,
)
from tests.support.registry_images import push_image as push


def _repository(registry, name: str, mode: str, *exclusions: str) -> None:
    RepositorySettingsService(registry.db, registry.registry_id).create(
        name, RepositorySettings(TagMutability(mode, exclusions)))


def test_an_immutable_tag_does_not_move(registry):
    _repository(registry, "imm/app", "IMMUTABLE")
    first = push(registry, "imm/app", "v1", b"one")
    with pytest.raises(TagImmutable) as caught:
        push(registry, "imm/app", "v1", b"two")
    # The data each protocol words its error from (the tag, and the image it names).
    assert caught.value.detail == {"tag": "v1", "digest": str(first)}
    assert registry.manifests._find("imm/app", "v1", None, False)[0].digest == str(first)
    assert push(registry, "imm/app", "v1", b"one") == first  # the same image again: fine
    push(registry, "imm/app", "v2", b"two")                 # a new tag: fine


def test_deleting_an_immutable_tag_frees_it(registry):
    _repository(registry, "imm/del", "IMMUTABLE")
    push(registry, "imm/del", "v1", b"one")
    registry.manifests.delete("imm/del", "v1")
    push(registry, "imm/del", "v1", b"two")


def test_mutable_repositories_move_tags(registry):
    push(registry, "mut/app", "latest", b"one")  # created by the push: MUTABLE
    second = push(registry, "mut/app", "latest", b"two")
    assert registry.manifests._find("mut/app", "latest", None, False)[0].digest == str(second)


def test_exclusions_make_matching_tags_mutable(registry):
    _repository(registry, "imm/ex", "IMMUTABLE_WITH_EXCLUSION", "latest", "dev-*")
    for tag in ("latest", "dev-1", "dev-"):
        push(registry, "imm/ex", tag, b"one")
        push(registry, "imm/ex", tag, b"two")
    for tag in ("v1", "latest2", "xdev-1"):
        push(registry, "imm/ex", tag, b"one")
        with pytest.raises(TagImmutable):
            push(registry, "imm/ex", tag, b"two")


def test_exclusions_make_matching_tags_immutable(registry):
    _repository(registry, "mut/ex", "MUTABLE_WITH_EXCLUSION", "release-*", "*.*.*")
    for tag in ("release-1", "1.2.3"):
        push(registry, "mut/ex", tag, b"one")
        with pytest.raises(TagImmutable):
            push(registry, "mut/ex", tag, b"two")
    for tag in ("latest", "1.2", "Release-1"):
        push(registry, "mut/ex", tag, b"one")
        push(registry, "mut/ex", tag, b"two")


def test_turning_immutability_on_later_applies_to_existing_tags(registry):
    push(registry, "later/app", "v1", b"one")
    RepositorySettingsService(registry.db, registry.registry_id).set_mutability(
        "later/app", TagMutability("IMMUTABLE"))
    with pytest.raises(TagImmutable):
        push(registry, "later/app", "v1", b"two")


@pytest.mark.parametrize("pattern,tag,matches", [
    ("*", "anything", True), ("v*", "v", True), ("v*", "1v", False), ("*-rc*", "1.0-rc2", True),
    ("a.b", "a.b", True), ("a.b", "aXb", False), ("*a*b*", "xaybz", True), ("A", "a", False),
])
def test_wildcards(pattern, tag, matches):
    mutability = TagMutability("MUTABLE_WITH_EXCLUSION", (pattern,))
    assert mutability.is_immutable(tag) is matches
