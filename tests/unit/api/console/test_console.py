"""The console over HTTP (the full app served; a browser drives it in
tests/e2e/test_console.py): signing in with an access key, the session cookie, CSRF on every
change, pages and changes decided by IAM as the signed-in principal, sign out and a key
deactivated ending the session."""
from __future__ import annotations

import html
import json
import re

import pytest
import requests

from berth.registry.images.service import ImageId
from berth.registry.images.storage_class import ARCHIVE
from tests.unit.api.ecr.support import server_fixture

server = server_fixture("console")
NARROW = "console-narrow"


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


class Browser:
    """A cookie jar and the headers a browser sends with a form (its page's Origin)."""

    def __init__(self, server):
        self.url, self.http = server.url, requests.Session()

    def get(self, path: str, **kw) -> requests.Response:
        return self.http.get(self.url + path, allow_redirects=False, timeout=30, **kw)

    def post(self, path: str, data: dict, origin: str | None = None) -> requests.Response:
        headers = {"Origin": origin or self.url}
        return self.http.post(self.url + path, data=data, headers=headers,
                              allow_redirects=False, timeout=30)

    def sign_in(self, key) -> requests.Response:
        form = self.get("/console/sign-in")
        return self.post("/console/sign-in", {"csrf": _csrf(form.text), "next": "",
                                              "access_key_id": key.id,
                                              "secret_access_key": key.secret})

    def csrf(self, path: str = "/console/repositories") -> str:
        return _csrf(self.get(path).text)


@pytest.fixture
def admin(server) -> Browser:
    browser = Browser(server)
    assert browser.sign_in(server.admin).status_code == 303
    return browser


def test_pages_need_a_session(server):
    answer = Browser(server).get("/console/repositories?region=us-east-1")
    assert answer.status_code == 303
    assert answer.headers["Location"] == (
        "/console/sign-in?next=/console/repositories%3Fregion%3Dus-east-1")


def test_signing_in_sets_a_strict_http_only_cookie(server):
    browser = Browser(server)
    wrong = browser.sign_in(type(server.admin)(server.admin.id, "not-the-secret"))
    assert wrong.status_code == 401 and "not valid" in wrong.text
    answer = browser.sign_in(server.admin)
    assert answer.status_code == 303 and answer.headers["Location"] == "/console/"
    session = next(c for c in answer.raw.headers.getlist("Set-Cookie")
                   if c.startswith("berth_console="))
    assert "HttpOnly" in session and "SameSite=strict" in session
    assert "Path=/console" in session and "Secure" not in session  # plain http here
    assert browser.get("/console/repositories").status_code == 200


def test_sign_in_needs_its_own_csrf_token(server):
    browser = Browser(server)
    browser.get("/console/sign-in")
    forged = browser.post("/console/sign-in", {"csrf": "guess", "access_key_id":
                                               server.admin.id, "secret_access_key":
                                               server.admin.secret})
    assert forged.status_code == 403 and "berth_console=" not in str(forged.headers)


def test_a_narrow_user_sees_only_what_it_may_describe(server):
    server.repository("console/theirs")
    server.repository("console/others")
    key = server.user(NARROW, {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["ecr:DescribeRepositories", "ecr:DescribeImages"],
        "Resource": f"arn:aws:ecr:us-east-1:{server.account}:repository/console/theirs"}]})
    browser = Browser(server)
    browser.sign_in(key)
    listed = browser.get("/console/repositories").text
    assert "console/theirs" in listed and "console/others" not in listed
    assert f"user/{NARROW}" in listed
    refused = browser.get("/console/repositories/console/others")
    assert refused.status_code == 403 and "is not authorized to perform" in refused.text
    made = browser.post("/console/repositories", {"csrf": browser.csrf(),
                                                  "name": "console/narrow-made"})
    assert made.status_code == 400 and "ecr:CreateRepository" in made.text


def test_the_region_chosen_is_the_registry_shown(server, admin):
    server.repository("console/east")
    west = server.client(region="us-west-2")
    west.create_repository(repositoryName="console/west")
    east_page = admin.get("/console/repositories").text
    west_page = admin.get("/console/repositories?region=us-west-2").text
    assert "console/east" in east_page and "console/west" not in east_page
    assert "console/west" in west_page and "console/east" not in west_page
    assert '<option value="us-west-2" selected>' in west_page
    # A region not served is the default one, not an error.
    assert "console/east" in admin.get("/console/repositories?region=xx-nowhere-9").text


def test_changes_need_the_sessions_csrf_token_and_this_origin(server, admin):
    token = admin.csrf()
    assert admin.post("/console/repositories", {"csrf": "forged", "name": "csrf/a"}
                      ).status_code == 403
    assert admin.post("/console/repositories", {"csrf": token, "name": "csrf/b"},
                      origin="http://evil.example").status_code == 403
    names = {r["repositoryName"] for r in server.client().describe_repositories()[
        "repositories"]}
    assert not names & {"csrf/a", "csrf/b"}
    assert admin.post("/console/repositories", {"csrf": token, "name": "csrf/c",
                                                "immutable": "on", "scan_on_push": "on"}
                      ).status_code == 303
    [made] = server.client().describe_repositories(repositoryNames=["csrf/c"])[
        "repositories"]
    assert made["imageTagMutability"] == "IMMUTABLE"
    assert made["imageScanningConfiguration"] == {"scanOnPush": True}
    unknown_key = admin.post("/console/repositories", {"csrf": token, "name": "csrf/d",
                                                       "kms_key": "alias/no-such-key"})
    assert unknown_key.status_code == 400 and "alias/no-such-key" in unknown_key.text


def test_a_repository_page_and_deleting_a_tag(server, admin):
    server.push("console/app", "v1")
    server.push("console/app", "v2", layer=b"two")
    page = admin.get("/console/repositories/console/app")
    assert page.status_code == 200
    assert ">v1<" in page.text and ">v2<" in page.text and "docker pull " in page.text
    assert page.text.count('<td class="platforms">linux/amd64</td>') == 2
    deleted = admin.post("/console/repositories/console/app/tags/delete",
                         {"csrf": admin.csrf(), "tag": "v1"})
    assert deleted.status_code == 303
    tags = [t for i in server.client().describe_images(repositoryName="console/app")[
        "imageDetails"] for t in i.get("imageTags", [])]
    assert tags == ["v2"]


def test_an_invalid_policy_is_refused_as_the_api_refuses_it(server, admin):
    server.repository("console/policy")
    path = "/console/repositories/console/policy/policy"
    bad = admin.post(path, {"csrf": admin.csrf(), "policy": '{"Statement": "nope"}'})
    assert bad.status_code == 400
    assert "Invalid repository policy provided" in bad.text
    good = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "pull", "Effect": "Allow", "Principal": {"AWS": server.account},
        "Action": "ecr:BatchGetImage"}]})
    assert admin.post(path, {"csrf": admin.csrf(), "policy": good}).status_code == 303
    stored = server.client().get_repository_policy(repositoryName="console/policy")
    assert json.loads(stored["policyText"]) == json.loads(good)
    assert '"Sid": "pull"' in html.unescape(admin.get(path).text)


def test_signing_out_and_a_deactivated_key_end_the_session(server):
    browser = Browser(server)
    browser.sign_in(server.admin)
    old = browser.http.cookies.get("berth_console")
    assert browser.post("/console/sign-out", {"csrf": browser.csrf()}).status_code == 303
    again = Browser(server)
    again.http.cookies.set("berth_console", old, path="/console")
    assert again.get("/console/repositories").status_code == 303
    key = server.user("console-leaver", {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]})
    leaver = Browser(server)
    leaver.sign_in(key)
    assert leaver.get("/console/repositories").status_code == 200
    server.state.iam.identities.set_access_key_active(server.account, key.id, False)
    assert leaver.get("/console/repositories").status_code == 303


def test_an_image_page_shows_platforms_layers_and_referrers(server, admin):
    from berth.registry.images.format import OCI_MANIFEST
    from berth.registry.references import Digest
    from tests.support.registry_images import image_manifest

    reg, name = server.state.registry, "console/multi"
    children = []
    for arch, layer in (("amd64", b"amd64 layer"), ("arm64", b"arm64 layer")):
        body = image_manifest(reg, name, layer)
        digest = reg.manifests.put(name, None, body, OCI_MANIFEST).digest
        children.append({"mediaType": OCI_MANIFEST, "digest": str(digest), "size": len(body),
                         "platform": {"os": "linux", "architecture": arch}})
    index = json.dumps({"schemaVersion": 2,
                        "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": children}).encode()
    index_digest = reg.manifests.put(name, "multi", index,
                                     "application/vnd.oci.image.index.v1+json").digest
    signature = image_manifest(reg, name, b"signature", artifactType=(
        "application/vnd.cncf.notary.signature"), subject={
        "mediaType": "application/vnd.oci.image.index.v1+json", "digest": str(index_digest),
        "size": len(index)})
    reg.manifests.put(name, str(Digest.of(signature)), signature, OCI_MANIFEST)

    listed = admin.get(f"/console/repositories/{name}").text
    assert f"/console/repositories/{name}/images/{index_digest}" in listed
    page = admin.get(f"/console/repositories/{name}/images/{index_digest}")
    assert page.status_code == 200
    text = page.text
    assert "linux/amd64" in text and "linux/arm64" in text
    assert str(Digest.of(b"arm64 layer")) in text
    assert "Notary Project signature" in text and "Not scanned." in text
    # Looking is no pull: the image's last pull time stays unset.
    described = server.client().describe_images(repositoryName=name, imageIds=[
        {"imageDigest": str(index_digest)}])["imageDetails"][0]
    assert "lastRecordedPullTime" not in described
    missing = admin.get(f"/console/repositories/{name}/images/sha256:{'0' * 64}")
    assert missing.status_code == 404


def test_a_user_signs_in_with_the_console_password_an_administrator_gave_it(server):
    from berth.iam.console import LoginProfiles
    server.user("console-pw", {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "ecr:DescribeRepositories", "Resource": "*"}]})
    profiles = LoginProfiles(server.state.iam)
    profiles.set(server.account, "console-pw", "correct horse battery", new=True)
    browser = Browser(server)

    def attempt(password: str) -> requests.Response:
        form = browser.get("/console/sign-in")
        return browser.post("/console/sign-in", {
            "csrf": _csrf(form.text), "next": "", "method": "password",
            "account_id": server.account, "user_name": "console-pw", "password": password})
    wrong = attempt("wrong horse battery")
    assert wrong.status_code == 401 and "not valid" in wrong.text
    assert attempt("correct horse battery").status_code == 303
    page = browser.get("/console/repositories")
    assert page.status_code == 200 and "user/console-pw" in page.text
    # The password taken away: the session ends.
    profiles.delete(server.account, "console-pw")
    assert browser.get("/console/repositories").status_code == 303
    assert attempt("correct horse battery").status_code == 401


def test_tag_mutability_image_deletion_and_resource_tags(server, admin):
    client = server.client()
    client.create_repository(repositoryName="console/settings",
                             tags=[{"Key": "team", "Value": "web"}])
    digest = server.push("console/settings", "v1")
    page = admin.get("/console/repositories/console/settings").text
    assert "team=web" in page
    assert admin.post("/console/repositories/console/settings/mutability",
                      {"csrf": admin.csrf(), "mutability": "IMMUTABLE"}).status_code == 303
    described = client.describe_repositories(repositoryNames=["console/settings"])
    assert described["repositories"][0]["imageTagMutability"] == "IMMUTABLE"
    bad = admin.post("/console/repositories/console/settings/mutability",
                     {"csrf": admin.csrf(), "mutability": "SOMETIMES"})
    assert bad.status_code == 400 and "imageTagMutability" in bad.text
    assert admin.post("/console/repositories/console/settings/images/delete",
                      {"csrf": admin.csrf(), "digest": digest}).status_code == 303
    assert client.describe_images(repositoryName="console/settings")["imageDetails"] == []


def test_a_lifecycle_policy_is_edited_and_previewed(server, admin):
    server.repository("console/lifecycle")
    server.push("console/lifecycle", "old", layer=b"old")
    path = "/console/repositories/console/lifecycle/lifecycle"
    invalid = json.dumps({"rules": [{"rulePriority": 1, "description": "x" * 60,
                                     "selection": {"tagStatus": "sometimes"},
                                     "action": {"type": "expire"}}]})
    bad = admin.post(path, {"csrf": admin.csrf(path), "policy": invalid, "action": "save"})
    assert bad.status_code == 400 and "Lifecycle policy validation failure" in bad.text
    policy = json.dumps({"rules": [{"rulePriority": 1, "selection": {
        "tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1},
        "action": {"type": "expire"}}]})
    assert admin.post(path, {"csrf": admin.csrf(path), "policy": policy,
                             "action": "save"}).status_code == 303
    stored = server.client().get_lifecycle_policy(repositoryName="console/lifecycle")
    assert json.loads(stored["lifecyclePolicyText"]) == json.loads(policy)
    assert admin.post(path, {"csrf": admin.csrf(path), "policy": "",
                             "action": "preview"}).status_code == 303
    shown = admin.get(path).text
    assert 'id="preview"' in shown and "Preview:" in shown


def test_usage_by_repository_and_by_tag_with_a_chart(server, admin):
    from berth.usage.sampling import sample_storage

    client = server.client()
    client.create_repository(repositoryName="console/usage-a",
                             tags=[{"Key": "cost-center", "Value": "blue"}])
    server.push("console/usage-a", "v1", layer=b"a" * 5000)
    server.push("console/usage-cold", "v1", layer=b"c" * 6000)
    registry = server.state.registry
    registry.image_storage.update("console/usage-cold", ImageId(tag="v1"), ARCHIVE)
    sample_storage(registry.db)
    page = admin.get("/console/usage?days=7")
    assert page.status_code == 200
    assert "<svg" in page.text and "console/usage-a" in page.text
    row = re.search(r"<tr><td>console/usage-a</td><td>([^<]+)</td><td>[^<]+</td>"
                    r"<td>([^<]+)</td>", page.text)
    # One day's sample (the 5,000-byte layer and a small config) averaged over the week.
    assert row and row.group(1).endswith(" B") and 5000 // 7 <= int(row.group(1)[:-2]) < 760
    assert row.group(2) == "0 B"
    # The archived image's storage is shown apart, as archive, with its own bar.
    cold = re.search(r"<tr><td>console/usage-cold</td><td>([^<]+)</td><td>[^<]+</td>"
                     r"<td>([^<]+)</td>", page.text)
    assert cold and cold.group(1) == "0 B", page.text
    assert cold.group(2).endswith(" B") and 6000 // 7 <= int(cold.group(2)[:-2]) < 1000
    assert "archive GB-months</title>" in page.text
    by_tag = admin.get("/console/usage?days=30&tag=cost-center").text
    assert "<td>blue</td>" in by_tag
    # Usage is the account's own: a user needs berth:GetUsageReport.
    key = server.user("console-no-usage", {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]})
    other = Browser(server)
    other.sign_in(key)
    refused = other.get("/console/usage")
    assert refused.status_code == 403 and "berth:GetUsageReport" in refused.text


def test_repositories_are_paged_and_sized(server, admin):
    for n in range(55):
        server.repository(f"console/paged-{n:02d}")
    server.push("console/paged-00", "v1", layer=b"z" * 3000)
    first = admin.get("/console/repositories?q=paged").text
    assert len(re.findall(r">console/paged-\d\d</a>", first)) == 50 and 'id="next"' in first
    row = re.search(r"console/paged-00</a></td>.*?</td>\s*<td>([^<]*)</td>", first, re.S)
    assert row and row.group(1).endswith("KB")
    second = admin.get("/console/repositories?q=paged&page=1").text
    assert re.findall(r">(console/paged-\d\d)</a>", second) == [
        f"console/paged-{n}" for n in range(50, 55)] and 'id="next"' not in second


def test_markup_in_a_tag_is_refused_before_any_page_could_show_it(server, admin):
    from botocore.exceptions import ClientError
    server.repository("console/markup")
    manifest = server.manifest("console/markup").decode()
    with pytest.raises(ClientError) as caught:
        server.client().put_image(repositoryName="console/markup", imageManifest=manifest,
                                  imageTag="<img src=x onerror=alert(1)>")
    assert caught.value.response["Error"]["Code"] == "InvalidParameterException"
    # And a name a page does show is escaped there (the search box echoes it back).
    page = admin.get("/console/repositories?q=%3Cscript%3Ealert(1)%3C/script%3E").text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
