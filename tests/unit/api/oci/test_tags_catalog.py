"""Tag listing with n/last pagination and Link headers, and the repository catalog."""
from __future__ import annotations

import pytest

from .support import assert_error, next_link


def tag_all(oci, repo: str, tags: list[str]) -> None:
    image = oci.push_image(repo, None)
    for tag in tags:
        resp = oci.put_manifest(repo, tag, image.body)
        assert resp.status_code == 201, (tag, resp.text)


def follow(oci, url: str, key: str) -> tuple[list[str], int]:
    """Every item across the pages a Link header chain leads to, and the number of pages."""
    items, pages = [], 0
    while url:
        resp = oci.get(url)
        assert resp.status_code == 200, (url, resp.text)
        items += resp.json()[key] or []
        pages += 1
        assert pages < 100, "pagination does not end"
        url = next_link(resp)
    return items, pages


def test_tags_list(oci):
    tag_all(oci, "library/app", ["v2", "v1", "latest"])
    resp = oci.get("/v2/library/app/tags/list")
    assert resp.status_code == 200
    assert resp.json() == {"name": "library/app", "tags": ["latest", "v1", "v2"]}
    assert "link" not in resp.headers


def test_tags_are_in_lexical_order(oci):
    tags = ["v10", "v9", "1.0", "10", "2", "_internal", "beta", "alpha-2", "alpha-10", "alpha.1",
            "alpha_1", "zeta", "a"]
    tag_all(oci, "library/app", tags)
    assert oci.get("/v2/library/app/tags/list").json()["tags"] == sorted(tags)


def test_tags_are_in_case_insensitive_lexical_order(oci):
    # OCI Distribution 1.1, listing tags: "the tags MUST be in lexical order (i.e.
    # case-insensitive alphanumeric order)".
    tags = ["beta", "Alpha", "gamma", "Delta"]
    tag_all(oci, "library/app", tags)
    listed = oci.get("/v2/library/app/tags/list").json()["tags"]
    assert listed == sorted(tags, key=str.lower)


def test_tags_pagination_with_link_header(oci):
    tags = [f"t{i:02d}" for i in range(11)]
    tag_all(oci, "library/app", tags)
    first = oci.get("/v2/library/app/tags/list?n=4")
    assert first.status_code == 200
    assert first.json()["tags"] == tags[:4]
    link = next_link(first)
    assert link is not None and link.startswith("/v2/library/app/tags/list?")
    items, pages = follow(oci, "/v2/library/app/tags/list?n=4", "tags")
    assert items == tags
    assert pages == 3


def test_tags_last_page_has_no_link(oci):
    tags = ["a", "b", "c", "d"]
    tag_all(oci, "library/app", tags)
    items, pages = follow(oci, "/v2/library/app/tags/list?n=2", "tags")
    assert items == tags and pages == 2
    resp = oci.get("/v2/library/app/tags/list?n=2&last=b")
    assert resp.json()["tags"] == ["c", "d"]
    assert "link" not in resp.headers


def test_tags_last_without_n(oci):
    tag_all(oci, "library/app", ["a", "b", "c", "d"])
    resp = oci.get("/v2/library/app/tags/list?last=b")
    assert resp.status_code == 200
    assert resp.json()["tags"] == ["c", "d"]


def test_tags_last_that_is_not_a_tag(oci):
    tag_all(oci, "library/app", ["a", "c", "e"])
    assert oci.get("/v2/library/app/tags/list?n=5&last=b").json()["tags"] == ["c", "e"]
    assert oci.get("/v2/library/app/tags/list?last=z").json()["tags"] in ([], None)


def test_tags_n_larger_than_the_list(oci):
    tag_all(oci, "library/app", ["a", "b"])
    resp = oci.get("/v2/library/app/tags/list?n=50")
    assert resp.json()["tags"] == ["a", "b"]
    assert "link" not in resp.headers


def test_tags_n_zero_is_an_empty_list_without_link(oci):
    # "When n is zero, this endpoint MUST return an empty list, and MUST NOT include a Link header."
    tag_all(oci, "library/app", ["a", "b"])
    resp = oci.get("/v2/library/app/tags/list?n=0")
    assert resp.status_code == 200
    assert resp.json()["tags"] in ([], None)
    assert "link" not in resp.headers


@pytest.mark.parametrize("n", ["-1", "abc", "1.5", ""])
def test_tags_invalid_n(oci, n):
    tag_all(oci, "library/app", ["a"])
    resp = oci.get(f"/v2/library/app/tags/list?n={n}")
    if n == "":
        assert resp.status_code in (200, 400)
    else:
        assert_error(resp, 400, "PAGINATION_NUMBER_INVALID")


def test_tags_of_unknown_repository(oci):
    assert_error(oci.get("/v2/no/such/repo/tags/list"), 404, "NAME_UNKNOWN")


def test_tags_of_repository_without_tags(oci):
    oci.push_blob("library/app", b"blob")
    resp = oci.get("/v2/library/app/tags/list")
    assert resp.status_code == 200
    assert resp.json()["tags"] in ([], None)


def test_tags_of_nested_namespace(oci):
    tag_all(oci, "team-a/web-app", ["b", "a"])
    tag_all(oci, "team-a/web-app/sub", ["z"])
    assert oci.get("/v2/team-a/web-app/tags/list").json() == {"name": "team-a/web-app",
                                                              "tags": ["a", "b"]}
    assert oci.get("/v2/team-a/web-app/sub/tags/list").json()["tags"] == ["z"]


def test_catalog_lists_repositories_in_order(oci):
    names = ["zeta/app", "alpha", "team-a/web-app", "team-a/api", "m.n_o-p"]
    for name in names:
        oci.push_blob(name, b"x")
    resp = oci.get("/v2/_catalog")
    assert resp.status_code == 200
    assert resp.json()["repositories"] == sorted(names)


def test_catalog_pagination(oci):
    names = [f"repo-{i:02d}" for i in range(7)]
    for name in names:
        oci.push_blob(name, b"x")
    first = oci.get("/v2/_catalog?n=3")
    assert first.json()["repositories"] == names[:3]
    assert next_link(first) is not None
    items, pages = follow(oci, "/v2/_catalog?n=3", "repositories")
    assert items == names and pages == 3
    resp = oci.get(f"/v2/_catalog?n=3&last={names[2]}")
    assert resp.json()["repositories"] == names[3:6]
    last = oci.get(f"/v2/_catalog?n=3&last={names[5]}")
    assert last.json()["repositories"] == names[6:]
    assert "link" not in last.headers


@pytest.mark.parametrize("n", ["-1", "x"])
def test_catalog_invalid_n(oci, n):
    assert_error(oci.get(f"/v2/_catalog?n={n}"), 400, "PAGINATION_NUMBER_INVALID")


def test_empty_catalog(oci):
    resp = oci.get("/v2/_catalog")
    assert resp.status_code == 200
    assert resp.json()["repositories"] in ([], None)
