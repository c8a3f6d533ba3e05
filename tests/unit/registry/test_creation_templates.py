"""Repository creation templates in the domain (berth.registry.repositories.templates) and the
repositories made from them (creation): ECR's prefix rule (an assumed trailing "/", ROOT for
the rest, the longest prefix wins among the templates applied for the purpose), validation,
the limit, and create on push (only where a CREATE_ON_PUSH template covers the name, and
only with the pusher's leave)."""
from __future__ import annotations

import asyncio
import json
import time

import pytest

from berth.registry.errors import NameUnknown, SettingInvalid
from berth.registry.images.format import OCI_MANIFEST
from berth.registry.references import Digest
from berth.registry.registry import Registry
from berth.registry.repositories import CreationNeedsPermission, open_for_push
from berth.registry.repositories.resource_tags import RepositoryTagService
from berth.registry.repositories.settings import RepositorySettingsService, TagMutability
from berth.registry.repositories.templates import (
    CREATE_ON_PUSH,
    MAX_TEMPLATES,
    PULL_THROUGH_CACHE,
    REPLICATION,
    ROOT,
    Template,
    TemplateExists,
    TemplateNotFound,
    TooManyTemplates,
    for_purpose,
)
from berth.storage.metadata import creation_templates as template_rows
from berth.storage.metadata import identities as identity_rows
from berth.storage.metadata import lifecycle as lifecycle_rows
from berth.storage.metadata import registries as registry_rows
from berth.storage.metadata import repositories as repository_rows
from tests.support.registry_images import push_image

ACCOUNT = "210987654321"
POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Sid": "pull", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
    "Action": ["ecr:BatchGetImage"]}]})
LIFECYCLE = json.dumps({"rules": [{
    "rulePriority": 1, "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
                                     "countUnit": "days", "countNumber": 14},
    "action": {"type": "expire"}}]})

MANIFEST = json.dumps({
    "schemaVersion": 2, "mediaType": OCI_MANIFEST,
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 2,
               "digest": str(Digest.of(b"{}"))}, "layers": []}).encode()


@pytest.fixture
def real_registry(registry) -> Registry:
    """A registry with its row (of account ACCOUNT), as the server makes them, and no
    template: pushes make no repositories in it yet."""
    with registry.db.write() as tx:
        identity_rows.insert_account(tx, {"id": ACCOUNT, "name": "pusher", "is_admin": False,
                                          "created_at": time.time()})
        registry_id = registry_rows.ensure_registry(tx, ACCOUNT, "us-east-1")
        template_rows.remove(tx, registry_id, ROOT)  # the fixture's, if this is its registry
    return registry.scoped(registry_id)


def _template(prefix: str, *applied_for: str, **settings) -> Template:
    return Template(prefix, applied_for or (CREATE_ON_PUSH,), **settings)


def _chosen(reg: Registry, repository: str, purpose: str = CREATE_ON_PUSH) -> str | None:
    with reg.db.read() as tx:
        found = for_purpose(tx, reg.registry_id, repository, purpose)
    return None if found is None else found.prefix


# -- which template a repository gets ---------------------------------------------------------
def test_a_prefix_covers_the_names_under_it_with_an_assumed_slash(real_registry):
    real_registry.creation_templates.create(_template("prod"))
    assert _chosen(real_registry, "prod/app") == "prod"
    assert _chosen(real_registry, "prod/team/app") == "prod"
    assert _chosen(real_registry, "production/app") is None  # "prod" means "prod/"
    assert _chosen(real_registry, "prod") is None


def test_root_covers_what_no_other_template_does(real_registry):
    templates = real_registry.creation_templates
    templates.create(_template(ROOT))
    templates.create(_template("prod"))
    assert _chosen(real_registry, "dev/app") == ROOT
    assert _chosen(real_registry, "prod/app") == "prod"


def test_the_longest_prefix_wins(real_registry):
    templates = real_registry.creation_templates
    for prefix in ("prod", "prod/team/app", "prod/team"):
        templates.create(_template(prefix))
    assert _chosen(real_registry, "prod/team/app/web") == "prod/team/app"
    assert _chosen(real_registry, "prod/team/worker") == "prod/team"
    assert _chosen(real_registry, "prod/other") == "prod"


def test_only_templates_applied_for_the_purpose_count(real_registry):
    templates = real_registry.creation_templates
    templates.create(_template("prod/team", REPLICATION))
    templates.create(_template("prod", CREATE_ON_PUSH, PULL_THROUGH_CACHE))
    assert _chosen(real_registry, "prod/team/app", REPLICATION) == "prod/team"
    assert _chosen(real_registry, "prod/team/app", CREATE_ON_PUSH) == "prod"
    assert _chosen(real_registry, "prod/team/app", PULL_THROUGH_CACHE) == "prod"


def test_a_trailing_slash_names_the_same_prefix(real_registry):
    templates = real_registry.creation_templates
    made = templates.create(_template("prod/"))
    assert made.prefix == "prod/"  # shown as given
    with pytest.raises(TemplateExists):
        templates.create(_template("prod"))
    assert [t.prefix for t in templates.describe(["prod"])] == ["prod/"]
    assert templates.delete("prod").prefix == "prod/"


# -- managing them ----------------------------------------------------------------------------
def test_create_describe_update_delete(real_registry):
    templates = real_registry.creation_templates
    made = templates.create(_template("team", REPLICATION, description="team repos",
                                      resource_tags=(("env", "dev"),)))
    assert made.created_at == made.updated_at > 0
    templates.create(_template(ROOT))
    assert [t.prefix for t in templates.describe()] == [ROOT, "team"]
    assert [t.prefix for t in templates.describe(["team", "absent"])] == ["team"]
    updated = templates.update("team", mutability=TagMutability("IMMUTABLE"))
    assert updated.mutability.mode == "IMMUTABLE"
    # What the update does not name is kept.
    assert (updated.description, updated.applied_for, updated.resource_tags) == (
        "team repos", (REPLICATION,), (("env", "dev"),))
    assert updated.created_at == made.created_at and updated.updated_at >= made.updated_at
    assert templates.describe(["team"]) == [updated]
    assert templates.delete("team") == updated
    with pytest.raises(TemplateNotFound) as caught:
        templates.delete("team")
    assert caught.value.message == ("The repository creation template with the prefix 'team' "
                                    f"does not exist in the registry with id '{ACCOUNT}'")
    with pytest.raises(TemplateNotFound):
        templates.update("team", description="x")


def test_an_invalid_update_changes_nothing(real_registry):
    templates = real_registry.creation_templates
    made = templates.create(_template("team"))
    with pytest.raises(SettingInvalid):
        templates.update("team", lifecycle_policy="{}")
    assert templates.describe() == [made]


def test_a_registry_holds_a_limited_number(real_registry):
    templates = real_registry.creation_templates
    for n in range(MAX_TEMPLATES):
        templates.create(_template(f"team{n}"))
    with pytest.raises(TooManyTemplates):
        templates.create(_template("one/more"))


@pytest.mark.parametrize("template, says", [
    (_template("Prod"), "'prefix'"),
    (_template("prod//app"), "'prefix'"),
    (Template("prod", ()), "'appliedFor'"),
    (_template("prod", "ON_PULL"), "'appliedFor'"),
    (_template("prod", description="d" * 257), "'description'"),
    (_template("prod", mutability=TagMutability("IMMUTABLE_WITH_EXCLUSION")),
     "exclusion filters are required"),
    (_template("prod", mutability=TagMutability("MUTABLE", ("v*",))),
     "exclusion filters are only allowed"),
    (_template("prod", encryption_type="SSE"), "encryption type"),
    (_template("prod", kms_key="arn:aws:kms:us-east-1:210987654321:key/abc"),
     "KMS or KMS_DSSE"),
    (_template("prod", encryption_type="KMS", kms_key="alias/mine"), "'kmsKey'"),
    (_template("prod", repository_policy="{not json"), "'repositoryPolicy'"),
    (_template("prod", lifecycle_policy=json.dumps({"rules": [{"rulePriority": 1}]})),
     "'lifecyclePolicy'"),
    (_template("prod", custom_role_arn="arn:aws:iam::123456789012:role/ecr"),
     "'customRoleArn'"),
    (_template("prod", custom_role_arn="not-an-arn"), "'customRoleArn'"),
])
def test_invalid_templates_are_refused_naming_the_setting(real_registry, template, says):
    with pytest.raises(SettingInvalid) as caught:
        real_registry.creation_templates.create(template)
    assert says in caught.value.message
    assert real_registry.creation_templates.describe() == []


def test_a_resource_tag_is_checked_as_a_repository_tag(real_registry):
    with pytest.raises(Exception) as caught:
        real_registry.creation_templates.create(_template("prod",
                                                          resource_tags=(("aws:x", "y"),)))
    assert "reserved" in str(caught.value)


# -- create on push ---------------------------------------------------------------------------
def test_without_a_template_a_push_makes_no_repository(real_registry):
    with pytest.raises(NameUnknown) as caught:
        push_image(real_registry, "new/app", "v1")
    assert caught.value.detail == {"name": "new/app"}  # what the protocols word it from
    with pytest.raises(NameUnknown):  # refused at the start of an upload, as ECR does
        real_registry.uploads.start("new/app")
    # A template for other purposes does not let pushes create.
    real_registry.creation_templates.create(_template(ROOT, REPLICATION, PULL_THROUGH_CACHE))
    with pytest.raises(NameUnknown):
        push_image(real_registry, "new/app", "v1")


def test_a_push_covered_by_a_template_needs_the_pushers_leave(real_registry):
    real_registry.creation_templates.create(_template("team"))
    with pytest.raises(CreationNeedsPermission):
        real_registry.uploads.start("team/app", may_create=False)
    with pytest.raises(CreationNeedsPermission):
        real_registry.manifests.put("team/app", "v1", MANIFEST, OCI_MANIFEST,
                                    may_create=False)
    with pytest.raises(NameUnknown):  # outside the template: no leave helps
        real_registry.uploads.start("other/app", may_create=True)
    assert real_registry.repositories.catalog(None, None) == ([], False)
    upload_id = real_registry.uploads.start("team/app", may_create=True)
    assert upload_id and real_registry.repositories.catalog(None, None) == (["team/app"],
                                                                            False)
    # Made now: pushes to it need no leave any more.
    real_registry.uploads.start("team/app", may_create=False)


def test_a_refused_monolithic_upload_reads_no_body(real_registry):
    real_registry.creation_templates.create(_template("team"))
    read = []

    async def body():
        read.append(True)
        yield b"data"

    with pytest.raises(CreationNeedsPermission):
        asyncio.run(real_registry.uploads.upload_whole(
            "team/app", Digest.of(b"data"), body(), may_create=False))
    assert read == []


def test_a_mount_that_cannot_be_done_makes_no_repository(real_registry):
    real_registry.creation_templates.create(_template(ROOT))
    push_image(real_registry, "source/app", "v1", b"layer")
    # The source lacks the blob: no mount, and no repository made for it.
    assert not real_registry.blobs.mount("team/app", Digest.of(b"absent"), "source/app")
    assert real_registry.repositories.catalog(None, None)[0] == ["source/app"]
    assert real_registry.blobs.mount("team/app", Digest.of(b"layer"), "source/app")
    assert real_registry.repositories.catalog(None, None)[0] == ["source/app", "team/app"]


def test_a_pushed_repository_gets_the_templates_settings(real_registry):
    real_registry.creation_templates.create(_template(
        "team", mutability=TagMutability("IMMUTABLE_WITH_EXCLUSION", ("latest",)),
        resource_tags=(("env", "prod"), ("owner", "team")), repository_policy=POLICY,
        lifecycle_policy=LIFECYCLE))
    push_image(real_registry, "team/app", "v1", b"layer")
    made = RepositorySettingsService(real_registry.db, real_registry.registry_id).get(
        "team/app")
    assert made.settings.mutability == TagMutability("IMMUTABLE_WITH_EXCLUSION", ("latest",))
    assert (made.settings.encryption_type, made.settings.scan_on_push) == ("AES256", False)
    assert made.policy == POLICY
    assert RepositoryTagService(real_registry.db, real_registry.registry_id).list(
        "team/app") == {"env": "prod", "owner": "team"}
    with real_registry.db.read() as tx:
        repo_id = repository_rows.get_id(tx, real_registry.registry_id, "team/app")
        assert lifecycle_rows.policy(tx, repo_id).text == LIFECYCLE


def test_a_template_applies_at_creation_only(real_registry):
    templates = real_registry.creation_templates
    templates.create(_template(ROOT))
    push_image(real_registry, "team/app", "v1", b"layer")
    templates.update(ROOT, mutability=TagMutability("IMMUTABLE"))
    settings = RepositorySettingsService(real_registry.db, real_registry.registry_id)
    assert settings.get("team/app").settings.mutability.mode == "MUTABLE"
    push_image(real_registry, "team/new", "v1", b"layer")
    assert settings.get("team/new").settings.mutability.mode == "IMMUTABLE"


def test_concurrent_creations_make_one_repository(real_registry):
    real_registry.creation_templates.create(_template(ROOT))
    with real_registry.db.write() as tx:
        first = open_for_push(tx, real_registry.registry_id, "team/app",
                              real_registry.encryption)
        again = open_for_push(tx, real_registry.registry_id, "team/app",
                              real_registry.encryption)
    assert first == again


def test_templates_are_per_registry(real_registry):
    real_registry.creation_templates.create(_template("team"))
    other = real_registry.scoped(real_registry.registry_id + 1)
    assert other.creation_templates.describe() == []
    assert [t.prefix for t in real_registry.creation_templates.describe()] == ["team"]
