"""Repositories with settings and resource tags, and the create-on-push gate, in the domain,
on SQLite and PostgreSQL."""
import time

import pytest

from berth.registry.errors import NameInvalid, NameUnknown, RepositoryExists, RepositoryNotEmpty
from berth.registry.repositories.resource_tags import (
    RepositoryTagService,
    ResourceTagInvalid,
    TooManyResourceTags,
)
from berth.registry.repositories.settings import (
    RepositorySettings,
    RepositorySettingsService,
    SettingInvalid,
    TagMutability,
)
from tests.unit.registry.test_immutability import push


@pytest.fixture
def settings(registry):
    return RepositorySettingsService(registry.db, registry.registry_id)


@pytest.fixture
def resource_tags(registry):
    return RepositoryTagService(registry.db, registry.registry_id)


def test_create_and_get_with_defaults(settings):
    before = time.time()
    made = settings.create("team/app", RepositorySettings())
    assert made == settings.get("team/app")
    assert made.name == "team/app" and before <= made.created_at <= time.time()
    assert made.settings == RepositorySettings(TagMutability("MUTABLE"), False, "AES256", None)


def test_create_stores_every_setting(settings):
    # KMS settings (which need a key in the key store): test_repository_encryption.py
    wanted = RepositorySettings(TagMutability("MUTABLE_WITH_EXCLUSION", ("release-*", "v*.*")),
                                True)
    settings.create("team/full", wanted)
    assert settings.get("team/full").settings == wanted


@pytest.mark.parametrize("bad", [
    RepositorySettings(TagMutability("IMMUTABLE", ("x",))),
    RepositorySettings(TagMutability("IMMUTABLE_WITH_EXCLUSION")),
    RepositorySettings(TagMutability("IMMUTABLE_WITH_EXCLUSION", tuple("abcdef"))),
    RepositorySettings(TagMutability("IMMUTABLE_WITH_EXCLUSION", ("no spaces",))),
    RepositorySettings(TagMutability("SOMETIMES")),
    RepositorySettings(encryption_type="ROT13"),
    RepositorySettings(kms_key="alias/aes-has-no-key"),
    RepositorySettings(encryption_type="KMS", kms_key="arn:aws:s3:::bucket"),
])
def test_invalid_settings_create_nothing(settings, bad):
    with pytest.raises(SettingInvalid):
        settings.create("team/bad", bad)
    with pytest.raises(NameUnknown):
        settings.get("team/bad")


def test_names_are_validated_and_unique(settings):
    with pytest.raises(NameInvalid):
        settings.create("Team/App", RepositorySettings())
    settings.create("team/once", RepositorySettings())
    with pytest.raises(RepositoryExists):
        settings.create("team/once", RepositorySettings(scan_on_push=True))
    assert settings.get("team/once").settings.scan_on_push is False


def test_tags_are_created_with_the_repository_or_not_at_all(settings, resource_tags):
    settings.create("tags/ok", RepositorySettings(), [("a", "1"), ("b", ""), ("a", "2")])
    assert resource_tags.list("tags/ok") == {"a": "2", "b": ""}
    for tags, error in (([("aws:reserved", "x")], ResourceTagInvalid),
                        ([("", "x")], ResourceTagInvalid),
                        ([("k", "v" * 257)], ResourceTagInvalid),
                        ([("k\n", "v")], ResourceTagInvalid),
                        ([(f"k{i}", "v") for i in range(51)], TooManyResourceTags)):
        with pytest.raises(error):
            settings.create("tags/bad", RepositorySettings(), tags)
        with pytest.raises(NameUnknown):
            settings.get("tags/bad")


def test_tag_untag_and_the_limit(settings, resource_tags):
    settings.create("tags/r", RepositorySettings(), [("keep", "1")])
    resource_tags.tag("tags/r", [(f"k{i}", "é ü+-=._:/@") for i in range(49)])
    with pytest.raises(TooManyResourceTags):
        resource_tags.tag("tags/r", [("one-more", "x")])
    resource_tags.tag("tags/r", [("keep", "2")])  # overwriting adds nothing
    resource_tags.untag("tags/r", [f"k{i}" for i in range(49)] + ["absent"])
    assert resource_tags.list("tags/r") == {"keep": "2"}
    for call in (lambda: resource_tags.list("tags/none"),
                 lambda: resource_tags.tag("tags/none", [("a", "b")]),
                 lambda: resource_tags.untag("tags/none", ["a"])):
        with pytest.raises(NameUnknown):
            call()


def test_pages_fill_past_hidden_repositories(settings):
    for i in range(7):
        settings.create(f"page/r{i}", RepositorySettings())
    visible = lambda repo: not repo.name.endswith(("1", "2", "3"))  # noqa: E731
    page, after = settings.page(None, 2, visible)
    assert [r.name for r in page] == ["page/r0", "page/r4"] and after == "page/r4"
    page, after = settings.page(after, 2, visible)
    assert [r.name for r in page] == ["page/r5", "page/r6"] and after is None
    page, after = settings.page(None, 7)
    assert len(page) == 7 and after is None
    assert settings.page("page/r6", 5) == ([], None)


def test_delete_refuses_images_without_force(registry, settings):
    settings.create("del/empty", RepositorySettings())
    assert settings.delete("del/empty").name == "del/empty"
    push(registry, "del/full", "v1", b"layer")
    with pytest.raises(RepositoryNotEmpty):
        settings.delete("del/full")
    settings.delete("del/full", force=True)
    with pytest.raises(NameUnknown):
        settings.delete("del/full")
    with pytest.raises(NameUnknown):
        registry.manifests.delete("del/full", "v1")


def test_set_mutability_and_scan_on_push(settings):
    settings.create("put/r", RepositorySettings())
    mutability = TagMutability("IMMUTABLE_WITH_EXCLUSION", ("latest",))
    assert settings.set_mutability("put/r", mutability) == mutability
    assert settings.set_scan_on_push("put/r", True) is True
    assert settings.get("put/r").settings == RepositorySettings(mutability, True)
    with pytest.raises(SettingInvalid):
        settings.set_mutability("put/r", TagMutability("MUTABLE", ("x",)))
    with pytest.raises(NameUnknown):
        settings.set_scan_on_push("put/absent", True)
