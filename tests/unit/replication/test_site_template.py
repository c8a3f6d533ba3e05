"""Which of a site's creation templates a replicated repository gets, and what it makes of
one: the longest prefix applied for REPLICATION (ROOT last; templates for other purposes never);
none when the site's key may not read the templates (defaults, as ECR without a template);
other failures propagate, for the task's retry."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError

from berth.replication.remote import creation_settings, site_template


def _remote(pages=None, error: str | None = None):
    def paginate():
        if error:
            raise ClientError({"Error": {"Code": error, "Message": "no"}},
                              "DescribeRepositoryCreationTemplates")
        return pages

    client = SimpleNamespace(get_paginator=lambda name: SimpleNamespace(paginate=paginate))
    login = SimpleNamespace(client=lambda: client)
    return SimpleNamespace(login=lambda region: login,
                           site=SimpleNamespace(endpoint="http://site.example"))


def _t(prefix, *applied, **extra):
    return {"prefix": prefix, "appliedFor": list(applied), **extra}


def test_the_longest_prefix_applied_for_replication_wins():
    pages = [{"repositoryCreationTemplates": [
        _t("ROOT", "REPLICATION", imageTagMutability="IMMUTABLE"),
        _t("team", "REPLICATION", "CREATE_ON_PUSH", description="team"),
        _t("team/app", "CREATE_ON_PUSH", description="push only")]},
        {"repositoryCreationTemplates": [_t("team/app/", "PULL_THROUGH_CACHE")]}]
    assert site_template(_remote(pages), "eu-west-1", "team/app/x")["description"] == "team"
    assert site_template(_remote(pages), "eu-west-1", "teamx/app")["prefix"] == "ROOT"
    assert site_template(_remote(pages[1:]), "eu-west-1", "team/app/x") == {}


def test_a_key_that_may_not_read_the_templates_gets_the_defaults(caplog):
    caplog.set_level("INFO", logger="berth.replication")
    assert site_template(_remote(error="AccessDeniedException"), "eu-west-1", "a/b") == {}
    assert "default settings" in caplog.text


def test_other_failures_propagate_for_the_retry():
    with pytest.raises(ClientError):
        site_template(_remote(error="ServerException"), "eu-west-1", "a/b")


def test_the_settings_create_repository_takes_from_a_template():
    template = _t("team", "REPLICATION", imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
                  imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD",
                                                       "filter": "latest"}],
                  encryptionConfiguration={"encryptionType": "KMS", "kmsKey": "arn:k"},
                  resourceTags=[{"Key": "team", "Value": "a"}], description="ignored",
                  repositoryPolicy="{}", lifecyclePolicy="{}", customRoleArn="arn:r")
    assert creation_settings(template) == {
        "imageTagMutability": "IMMUTABLE_WITH_EXCLUSION",
        "imageTagMutabilityExclusionFilters": [{"filterType": "WILDCARD", "filter": "latest"}],
        "encryptionConfiguration": {"encryptionType": "KMS", "kmsKey": "arn:k"},
        "tags": [{"Key": "team", "Value": "a"}]}
    assert creation_settings({}) == {}
