"""Pull-through cache rules in the domain (berth.pullthrough.rules): ECR's prefix rule (an
assumed trailing "/", ROOT for the rest, the longest prefix wins), the mapping to upstream
names ("Customizing repository prefixes"), validation of the upstream URL, of credentials
(required for some upstreams, a secret of the registry's own account and region), and the
RuleService over a real metadata database: the limit, duplicates, not found, describe and
update."""
from __future__ import annotations

import time

import pytest

from berth.pullthrough.errors import (
    CredentialUnusable,
    RuleExists,
    RuleInvalid,
    RuleNotFound,
    TooManyRules,
)
from berth.pullthrough.rules import (
    ROOT,
    Rule,
    RuleService,
    registry_kind,
    rule_for,
)
from berth.storage.metadata import identities as identity_rows
from berth.storage.metadata import registries as registry_rows

ACCOUNT, REGION = "210987654321", "us-east-1"
UPSTREAM = "registry.example:5000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/pull-through"


def secret_arn(name: str = "hub", region: str = REGION, account: str = ACCOUNT) -> str:
    return (f"arn:aws:secretsmanager:{region}:{account}:secret:ecr-pullthroughcache/"
            f"{name}-AbCdEf")


class FakeSecrets:
    """The ``secrets`` callable: records what it is asked; the ARNs in ``missing`` are
    CredentialUnusable (not_found), as the wiring's resolver says for a secret nobody put."""

    def __init__(self):
        self.asked: list[str] = []
        self.missing: set[str] = set()

    def __call__(self, arn: str) -> dict:
        self.asked.append(arn)
        if arn in self.missing:
            raise CredentialUnusable(f"The secret {arn} does not exist", "not_found")
        return {"username": "puller", "accessToken": "token"}


@pytest.fixture
def secrets() -> FakeSecrets:
    return FakeSecrets()


@pytest.fixture
def service(db, secrets) -> RuleService:
    """The rules of a registry with its row (account ACCOUNT, REGION), as the server makes
    them; on each metadata database."""
    with db.write() as tx:
        identity_rows.insert_account(tx, {"id": ACCOUNT, "name": "cache", "is_admin": False,
                                          "created_at": time.time()})
        registry_id = registry_rows.ensure_registry(tx, ACCOUNT, REGION)
    return RuleService(db, registry_id, secrets)


def _rule(prefix: str, upstream_prefix: str | None = None, url: str = UPSTREAM) -> Rule:
    return Rule(prefix, url, upstream_prefix=upstream_prefix)


# -- which rule a repository is cached by, and its upstream name ------------------------------
@pytest.mark.parametrize("prefix, upstream_prefix, repository, upstream", [
    ("ecr-public", ROOT, "ecr-public/my-app/image1", "my-app/image1"),
    ("ecr-public", ROOT, "ecr-public/my-app/image2", "my-app/image2"),
    ("ecr-public", None, "ecr-public/my-app/image1", "my-app/image1"),  # ROOT: the default
    (ROOT, None, "my-app/image1", "my-app/image1"),
    ("team-a", "team-a", "team-a/myapp/image1", "team-a/myapp/image1"),
    ("my-app", "upstream-app", "my-app/image1", "upstream-app/image1"),
])
def test_customizing_repository_prefixes_table(prefix, upstream_prefix, repository, upstream):
    rule = _rule(prefix, upstream_prefix).validate()
    assert rule.covers(repository)
    assert rule_for([rule], repository) == rule
    assert rule.upstream_name(repository) == upstream


def test_a_prefix_covers_the_names_under_it_only():
    rule = _rule("prod")
    assert rule.covers("prod/app") and rule.covers("prod/team/app")
    assert not rule.covers("production/app")
    assert not rule.covers("prod")  # the assumed "/": a repository named prod is not under it
    assert rule_for([rule], "other/app") is None


def test_longest_prefix_wins():
    rules = [_rule("team"), _rule("team/web"), _rule("team/web/edge")]
    assert rule_for(rules, "team/web/edge/app").prefix == "team/web/edge"
    assert rule_for(rules, "team/web/app").prefix == "team/web"
    assert rule_for(rules, "team/api").prefix == "team"
    assert rule_for(list(reversed(rules)), "team/web/app").prefix == "team/web"


def test_root_last():
    # ROOT is a longer string than "ab": it still loses to any prefix covering the name.
    rules = [_rule(ROOT), _rule("ab")]
    assert rule_for(rules, "ab/app").prefix == "ab"
    assert rule_for(rules, "abc/app").prefix == ROOT
    assert rule_for(rules, "app").prefix == ROOT
    assert rule_for([_rule("ab")], "app") is None


def test_trailing_slash_equivalence():
    slashed, plain = _rule("prod/"), _rule("prod")
    assert slashed.key == plain.key == "prod"
    for repository in ("prod/app", "prod/a/b", "production/app"):
        assert slashed.covers(repository) == plain.covers(repository)
    assert slashed.upstream_name("prod/a/b") == plain.upstream_name("prod/a/b") == "a/b"
    assert _rule("my-app", "upstream-app/").upstream_name("my-app/x") == "upstream-app/x"


def test_trailing_slash_equivalence_in_the_service(service):
    service.create(_rule("prod/"))
    with pytest.raises(RuleExists):
        service.create(_rule("prod"))
    assert service.get("prod").prefix == "prod/"  # as given
    assert [r.prefix for r in service.describe(["prod"])] == ["prod/"]
    assert service.delete("prod").prefix == "prod/"
    assert service.all() == []


def test_upstream_prefix_refused_for_root():
    with pytest.raises(RuleInvalid, match="not ROOT"):
        _rule(ROOT, "upstream-app").validate()
    assert _rule("my-app", "upstream-app").validate().upstream_prefix == "upstream-app"


@pytest.mark.parametrize("prefix", ["Prod", "a", "p" * 31, "-prod", "prod//app",
                                    "ROOT/", "prod app"])
def test_prefix_validation(prefix):
    with pytest.raises(RuleInvalid, match="ecrRepositoryPrefix"):
        _rule(prefix).validate()


# -- the upstream URL --------------------------------------------------------------------------
@pytest.mark.parametrize("url", [
    "registry.example", "registry.example:5000", "127.0.0.1:5000", "http://127.0.0.1:5000",
    "https://registry.example:8443", "https://registry.example", "https://registry.example/",
    "public.ecr.aws", "Quay.IO",
])
def test_url_validation_accepts_a_host(url):
    assert Rule("cache", url).validate().upstream_url == url


@pytest.mark.parametrize("url", [
    "registry.example/v2", "https://registry.example/library", "registry.example:5000/x",
    "https://registry.example?tls=no", "https://registry.example/#frag",
    "ftp://registry.example", "oci://registry.example:5000", "file:///etc/passwd",
    "user:pass@registry.example", "https://user:pass@registry.example", "", "https://",
    "registry.example:port", "-bad.example", "two words.example",
])
def test_url_validation_refuses_path_query_and_bad_scheme(url):
    with pytest.raises(RuleInvalid, match="upstreamRegistryUrl"):
        Rule("cache", url).validate()


@pytest.mark.parametrize("url", ["http://", "https://:5000"])
def test_url_without_a_host_is_refused_as_invalid_by_the_service(service, url):
    with pytest.raises(RuleInvalid, match="upstreamRegistryUrl"):
        service.create(Rule("cache", url))
    assert service.all() == []


def test_url_with_a_broken_bracket_is_refused_as_invalid(service):
    with pytest.raises(RuleInvalid):
        service.create(Rule("cache", "http://[::1"))


def test_url_with_a_port_out_of_range_is_refused():
    with pytest.raises(RuleInvalid):
        Rule("cache", "127.0.0.1:99999").validate()


@pytest.mark.parametrize("url, kind", [
    ("registry-1.docker.io", "docker-hub"), ("docker.io", "docker-hub"),
    ("https://registry-1.docker.io", "docker-hub"), ("public.ecr.aws", "ecr-public"),
    ("quay.io", "quay"), ("quay.io:443", "quay"), ("registry.k8s.io", "k8s"),
    ("ghcr.io", "github-container-registry"), ("https://GHCR.io", "github-container-registry"),
    ("registry.gitlab.com", "gitlab-container-registry"), ("cgr.dev", "chainguard"),
    ("myregistry.azurecr.io", "azure-container-registry"),
    ("123456789012.dkr.ecr.us-west-2.amazonaws.com", "ecr"),
    ("registry.example:5000", None), ("http://127.0.0.1:5000", None),
    ("notquay.io", None),
])
def test_registry_kind(url, kind):
    assert registry_kind(url) == kind


# -- credentials -------------------------------------------------------------------------------
@pytest.mark.parametrize("url", ["registry-1.docker.io", "ghcr.io", "team.azurecr.io",
                                 "registry.gitlab.com"])
def test_credentials_required_for_docker_hub_ghcr_acr_gitlab(service, secrets, url):
    with pytest.raises(RuleInvalid, match="credential ARN is required"):
        service.create(Rule("cache", url))
    assert service.all() == []
    made = service.create(Rule("cache", url, credential_arn=secret_arn()))
    assert made.credential_arn == secret_arn() and made.upstream_registry == registry_kind(url)
    assert secrets.asked == [secret_arn()]


def test_credentials_required_when_the_upstream_registry_is_named(service):
    with pytest.raises(RuleInvalid, match="docker-hub"):
        service.create(Rule("cache", UPSTREAM, upstream_registry="docker-hub"))


@pytest.mark.parametrize("url", ["public.ecr.aws", "quay.io", "registry.k8s.io", "cgr.dev",
                                 UPSTREAM])
def test_credentials_optional_elsewhere(service, secrets, url):
    assert service.create(Rule("cache", url)).credential_arn is None
    assert secrets.asked == []


@pytest.mark.parametrize("arn", [
    secret_arn(region="eu-west-1"), secret_arn(account="123456789012"),
    secret_arn(region="eu-west-1", account="123456789012"),
])
def test_the_secret_must_be_in_the_registry_s_account_and_region(service, secrets, arn):
    with pytest.raises(CredentialUnusable) as caught:
        service.create(Rule("hub", "registry-1.docker.io", credential_arn=arn))
    assert caught.value.reason == "no_access"
    assert secrets.asked == []  # never opened
    assert service.all() == []


def test_a_secret_that_does_not_open_makes_no_rule(service, secrets):
    secrets.missing.add(secret_arn("absent"))
    with pytest.raises(CredentialUnusable) as caught:
        service.create(Rule("hub", "registry-1.docker.io", credential_arn=secret_arn("absent")))
    assert caught.value.reason == "not_found"
    assert service.all() == []


@pytest.mark.parametrize("arn", [
    "arn:aws:secretsmanager:us-east-1:210987654321:secret:other/hub-AbCdEf",
    "arn:aws:kms:us-east-1:210987654321:key/ecr-pullthroughcache/hub", "hub"])
def test_a_credential_arn_must_name_a_pull_through_cache_secret(service, arn):
    with pytest.raises(RuleInvalid, match="credentialArn"):
        service.create(Rule("hub", "registry-1.docker.io", credential_arn=arn))


# -- the service: limit, duplicates, not found, describe, update -------------------------------
MAX_RULES = 50  # ECR's quota


def test_50_rule_limit(service):
    for n in range(MAX_RULES):
        service.create(_rule(f"cache{n:02d}"))
    with pytest.raises(TooManyRules, match=ACCOUNT):
        service.create(_rule("one-more"))
    assert len(service.all()) == MAX_RULES
    service.delete("cache07")
    service.create(_rule("one-more"))
    assert len(service.all()) == MAX_RULES


def test_the_rule_limit_is_a_quota_an_operator_may_change(service, db):
    from berth.quotas.services import DEPLOYMENT, QuotaService
    QuotaService(db).put(DEPLOYMENT, "PullThroughCacheRulesPerRegistry", 2)
    service.create(_rule("first"))
    service.create(_rule("second"))
    with pytest.raises(TooManyRules, match="has 2 pull through cache rules"):
        service.create(_rule("third"))


def test_duplicate_is_rule_exists(service):
    first = service.create(_rule("hub"))
    with pytest.raises(RuleExists, match="'hub'") as caught:
        service.create(_rule("hub", url="quay.io"))
    assert ACCOUNT in caught.value.message
    assert service.all() == [first]  # unchanged


@pytest.mark.parametrize("call", ["get", "update", "delete"])
def test_not_found(service, call):
    service.create(_rule("hub"))
    with pytest.raises(RuleNotFound, match="'absent'") as caught:
        getattr(service, call)("absent")
    assert ACCOUNT in caught.value.message
    assert [r.prefix for r in service.all()] == ["hub"]


def test_create_then_get_round_trips(service):
    made = service.create(Rule("my-app", "https://upstream.example", credential_arn=secret_arn(),
                               custom_role_arn=ROLE, upstream_role_arn=ROLE,
                               upstream_prefix="upstream-app"))
    assert made.created_at == made.updated_at > 0
    assert service.get("my-app") == made
    assert service.all() == [made]


def test_describe_all_by_prefix(service):
    for prefix in ("zeta", ROOT, "alpha/beta", "alpha"):
        service.create(_rule(prefix))
    assert [r.prefix for r in service.describe()] == [ROOT, "alpha", "alpha/beta", "zeta"]
    assert service.describe([]) == []


def test_describe_with_named_prefixes(service):
    for prefix in ("alpha", "beta", "gamma"):
        service.create(_rule(prefix))
    assert [r.prefix for r in service.describe(["gamma", "alpha"])] == ["alpha", "gamma"]
    assert [r.prefix for r in service.describe(["beta/", "beta"])] == ["beta"]  # once


def test_describe_with_an_unknown_prefix_is_rule_not_found(service):
    service.create(_rule("alpha"))
    with pytest.raises(RuleNotFound, match="'absent'") as caught:
        service.describe(["alpha", "absent"])
    assert caught.value.detail == {"prefix": "absent"}


def test_update_keeps_what_is_not_changed(service, secrets):
    made = service.create(Rule("my-app", "registry-1.docker.io", credential_arn=secret_arn(),
                               custom_role_arn=ROLE, upstream_prefix="upstream-app"))
    time.sleep(0.01)
    other_role = f"arn:aws:iam::{ACCOUNT}:role/other"
    updated = service.update("my-app", upstream_role_arn=other_role)
    assert updated.upstream_role_arn == other_role
    assert (updated.upstream_url, updated.upstream_registry, updated.credential_arn,
            updated.custom_role_arn, updated.upstream_prefix, updated.created_at) == (
        made.upstream_url, "docker-hub", secret_arn(), ROLE, "upstream-app", made.created_at)
    assert updated.updated_at > made.updated_at
    assert service.get("my-app/") == updated  # stored; found by either spelling
    secrets.asked.clear()
    again = service.update("my-app", credential_arn=secret_arn("rotated"))
    assert again.credential_arn == secret_arn("rotated") and secrets.asked == [
        secret_arn("rotated")]
    assert again.upstream_role_arn == other_role


def test_update_that_breaks_a_rule_changes_nothing(service, secrets):
    made = service.create(Rule("hub", "registry-1.docker.io", credential_arn=secret_arn()))
    with pytest.raises(RuleInvalid, match="credential ARN is required"):
        service.update("hub", credential_arn=None)
    with pytest.raises(CredentialUnusable) as caught:
        service.update("hub", credential_arn=secret_arn(region="eu-west-1"))
    assert caught.value.reason == "no_access"
    secrets.missing.add(secret_arn("absent"))
    with pytest.raises(CredentialUnusable):
        service.update("hub", credential_arn=secret_arn("absent"))
    with pytest.raises(RuleInvalid, match="customRoleArn"):
        service.update("hub", custom_role_arn="not-a-role")
    assert service.get("hub") == made


def test_rules_are_per_registry(db, service, secrets):
    service.create(_rule("hub"))
    with db.write() as tx:
        other = registry_rows.ensure_registry(tx, ACCOUNT, "eu-west-1")
    elsewhere = RuleService(db, other, secrets)
    assert elsewhere.all() == []
    elsewhere.create(_rule("hub"))  # no duplicate: another registry
    # A secret of the other registry's region is that registry's own.
    elsewhere.create(Rule("docker", "docker.io", credential_arn=secret_arn(region="eu-west-1")))
    assert [r.prefix for r in service.all()] == ["hub"]
