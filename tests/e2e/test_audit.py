"""The audit trail as an operator reads it: after a push and a pull with skopeo, ECR calls
signed by boto3, refused registry requests (anonymous, and a user allowed only to log in), a
webhook target put with a secret and a lifecycle expiry, ``berth admin audit lookup`` (online
and, on the stopped node, offline) shows each as CloudTrail would: who, from where, with what
client, on which repository, with which error; its filters and pages work, and no event holds
a secret or bulk."""
from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from collections import Counter

import pytest
import requests

from tests.support.berth_node import BerthNode
from tests.support.berth_server import ecr_client, put_image
from tests.support.credentials import AccessKey, admin_key, basic
from tests.support.gc import (
    admin_online,
    clean_env,
    eventually,
    image_of,
    layer,
    layout_of,
    log_problems,
    settings_flags,
)
from tests.support.log_watch import LOGS
from tests.support.oci_layout import OciLayout
from tests.support.skopeo import Skopeo

pytestmark = pytest.mark.e2e

REPO, VIA_ECR = "audit/app", "audit/ecr"
UA = "berth-audit-e2e/7.1"
ANONYMOUS_UA, AUDITOR_UA = "audit-anonymous/1.0", "audit-auditor/1.0"
WEBHOOK_SECRET = "whsec-" + "7f3a" * 8
LOGIN_ONLY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}]}
KEEP_ONE = {"rules": [{"rulePriority": 1, "description": "only the newest tagged image",
                       "selection": {"tagStatus": "tagged", "tagPatternList": ["*"],
                                     "countType": "imageCountMoreThan", "countNumber": 1},
                       "action": {"type": "expire"}}]}
SECRET_WORDS = ("secret", "password", "token", "credential")


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    node = BerthNode(tmp_path_factory.mktemp("audit"), extra_args=("--workers", "1"),
                     env={"BERTH_LIFECYCLE_CHECK_SECONDS": "3600"}).start()
    LOGS.add("berth audit node", node.daemon.log_path)
    yield node
    LOGS.remove("berth audit node")
    node.stop()
    assert not log_problems(node.log_text())


def lookup(node: BerthNode, *args: str, online: bool = True) -> tuple[list[dict], str | None]:
    """``berth admin audit lookup ARGS``: the events (one JSON object a line) and the
    NextToken it printed on stderr, if any."""
    if online:
        where = ["--endpoint-url", node.url, "--profile", "berth-admin"]
        env = clean_env(AWS_SHARED_CREDENTIALS_FILE=str(node.credentials_dir / "admin-credentials"))
    else:
        settings = {k: v for k, v in node.env.items() if k.startswith("BERTH_")}
        where, env = settings_flags(node), clean_env(**settings)
    proc = subprocess.run([sys.executable, "-m", "berth", "admin", "audit", "lookup", *args,
                           *where], env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    token = re.search(r"--next-token (\S+)", proc.stderr)
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()], (
        token.group(1) if token else None)


def named(events: list[dict], name: str) -> list[dict]:
    return [e for e in events if e["EventName"] == name]


@pytest.fixture(scope="module")
def trail(node, tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("audit-images")
    host = f"127.0.0.1:{node.port}"
    skopeo = Skopeo(base)
    skopeo.login(host, node.token)
    old, new = image_of([layer(4096)], "old"), image_of([layer(4096)], "new")
    for image, tag in ((old, "v1"), (new, "v2")):
        source = layout_of(image, base / tag, tag)
        skopeo.copy(f"oci:{source.path}:{tag}", f"docker://{host}/{REPO}:{tag}",
                    "--preserve-digests")
    pulled = OciLayout(base / "pulled")
    skopeo.copy(f"docker://{host}/{REPO}:v2", f"oci:{pulled.path}:pulled")
    assert pulled.ref("pulled")["digest"] == new.manifest.digest

    admin = admin_key(node.credentials_dir)
    ecr = ecr_client(node.url, admin, user_agent_extra=UA)
    arn = ecr.describe_repositories(repositoryNames=[REPO])["repositories"][0]["repositoryArn"]
    account = arn.split(":")[4]
    created = ecr.create_repository(repositoryName=VIA_ECR)["repository"]["repositoryArn"]
    via_ecr = image_of([layer(3000)], "ecr")
    put_image(ecr, VIA_ECR, via_ecr, "e1")
    ecr.put_lifecycle_policy(repositoryName=REPO, lifecyclePolicyText=json.dumps(KEEP_ONE))

    # Refused: no credentials at all (at the registry's host name: a plain host names a
    # registry only once the caller is known), and a user who may only log in.
    anonymous = requests.get(f"{node.url}/v2/{REPO}/manifests/v2", timeout=30, headers={
        "User-Agent": ANONYMOUS_UA, "Host": f"{account}.dkr.ecr.us-east-1.localhost:{node.port}"})
    assert anonymous.status_code == 401, anonymous.text
    admin_online(node, "users", "create", "--account", account, "auditor")
    admin_online(node, "policies", "put", "--account", account, "--user", "auditor",
                 "--name", "login", "--document", json.dumps(LOGIN_ONLY))
    created_key = admin_online(node, "access-keys", "create", "--account", account,
                               "--user", "auditor")["AccessKey"]
    auditor = AccessKey(created_key["AccessKeyId"], created_key["SecretAccessKey"])
    answer = ecr_client(node.url, auditor).get_authorization_token()["authorizationData"][0]
    auditor_token = base64.b64decode(answer["authorizationToken"]).decode().split(":", 1)[1]
    denied = requests.get(f"{node.url}/v2/{REPO}/manifests/v2", timeout=30, headers={
        "User-Agent": AUDITOR_UA, "Authorization": basic(auditor_token)})
    assert denied.status_code == 403, denied.text

    secret_file = base / "webhook-secret"
    secret_file.write_text(WEBHOOK_SECRET)
    admin_online(node, "events", "targets", "put", "--account", account, "quiet",
                 "--url", "http://127.0.0.1:9/hook", "--secret-file", str(secret_file),
                 "--pattern", json.dumps({"source": ["aws.ecr"], "detail-type": ["Never"]}))
    run = admin_online(node, "lifecycle", "run", "--repository", REPO)
    assert run["Repositories"][0]["Expired"] == [old.manifest.digest], run

    ecr.describe_images(repositoryName=REPO)  # the last request: once it shows, all do
    eventually(lambda: lookup(node, "--event-name", "DescribeImages", "--resource", arn)[0],
               "the requests reached the audit trail", 20, 0.3)
    everything, more = lookup(node, "--max-items", "1000")
    assert more is None
    return {"arn": arn, "account": account, "via_ecr": created, "old": old, "new": new,
            "via_ecr_image": via_ecr, "root": f"arn:aws:iam::{account}:root",
            "auditor": f"arn:aws:iam::{account}:user/auditor", "auditor_key": auditor,
            "auditor_token": auditor_token, "admin_key": admin, "all": everything,
            "of_repo": lookup(node, "--resource", arn, "--max-items", "1000")[0]}


def test_a_push_and_a_pull_are_recorded_as_ecr_names_them(trail):
    events = [e for e in trail["of_repo"] if e["UserAgent"].startswith("skopeo/")]
    counts = Counter(e["EventName"] for e in events)
    assert counts["PutImage"] == 2 and counts["BatchGetImage"] >= 1, counts
    assert counts["InitiateLayerUpload"] == counts["CompleteLayerUpload"] == 4, counts
    assert counts["GetDownloadUrlForLayer"] == 2, counts  # the pulled image's config and layer
    for e in events:
        assert (e["PrincipalArn"], e["SourceIPAddress"], e["AccountId"], e["Region"]) == (
            trail["root"], "127.0.0.1", trail["account"], "us-east-1"), e
        assert e["Resources"] == [{"ResourceType": "AWS::ECR::Repository",
                                   "ResourceName": trail["arn"]}], e
        assert e["EventSource"] == "ecr.amazonaws.com"
        assert e["ReadOnly"] == (e["EventName"] in ("BatchGetImage", "GetDownloadUrlForLayer",
                                                    "BatchCheckLayerAvailability")), e
    assert {e["ErrorCode"] for e in named(events, "PutImage") + named(events,
            "CompleteLayerUpload") + named(events, "GetDownloadUrlForLayer")} == {None}


def test_ecr_calls_carry_their_user_agent_and_no_bulk(trail):
    events = [e for e in trail["all"] if UA in e["UserAgent"]]
    of_ecr = [e for e in events if e["Resources"] and
              e["Resources"][0]["ResourceName"] == trail["via_ecr"]]
    assert Counter(e["EventName"] for e in of_ecr) == {
        "CreateRepository": 1, "InitiateLayerUpload": 2, "UploadLayerPart": 2,
        "CompleteLayerUpload": 2, "PutImage": 1}
    assert {e["EventName"] for e in events} >= {"DescribeRepositories", "PutLifecyclePolicy",
                                                "DescribeImages"}
    for e in of_ecr:
        assert e["PrincipalArn"] == trail["root"] and e["SourceIPAddress"] == "127.0.0.1"
        assert e["RequestParameters"]["repositoryName"] == "audit/ecr", e
    [put] = named(of_ecr, "PutImage")
    assert put["RequestParameters"] == {"repositoryName": "audit/ecr", "imageTag": "e1"}
    for part in named(of_ecr, "UploadLayerPart"):
        assert set(part["RequestParameters"]) == {"repositoryName", "uploadId",
                                                  "partFirstByte", "partLastByte"}, part


def refusal(trail, user_agent: str) -> dict:
    refused = [e for e in named(trail["all"], "BatchGetImage") if e["UserAgent"] == user_agent]
    assert len(refused) == 1, refused
    assert refused[0]["SourceIPAddress"] == "127.0.0.1" and refused[0]["ReadOnly"] is True
    return refused[0]


def test_an_anonymous_request_is_recorded_with_its_error_code(trail):
    event = refusal(trail, ANONYMOUS_UA)
    assert (event["ErrorCode"], event["PrincipalArn"]) == ("UNAUTHORIZED", ""), event
    # The Host names the registry before anyone is admitted: a well-formed ARN, findable.
    assert event["Resources"] == [{"ResourceType": "AWS::ECR::Repository",
                                   "ResourceName": trail["arn"]}], event
    assert (event["AccountId"], event["Region"]) == (trail["account"], "us-east-1"), event


def test_a_denied_request_names_who_was_denied(trail):
    event = refusal(trail, AUDITOR_UA)
    assert event["ErrorCode"] == "DENIED", event
    assert event["PrincipalArn"] == trail["auditor"], event
    assert event["Resources"] == [{"ResourceType": "AWS::ECR::Repository",
                                   "ResourceName": trail["arn"]}], event
    assert (event["AccountId"], event["Region"]) == (trail["account"], "us-east-1"), event


def test_the_lifecycle_expiry_is_a_policy_execution_event(node, trail):
    events, _ = lookup(node, "--event-name", "PolicyExecutionEvent")
    assert len(events) == 1, events
    [event] = events
    assert event["RequestParameters"] == {"actionType": "EXPIRE", "rulePriority": 1,
                                          "imageDigest": trail["old"].manifest.digest,
                                          "imageTags": ["v1"]}
    assert (event["PrincipalArn"], event["AccountId"], event["ReadOnly"]) == (
        "ecr.amazonaws.com", trail["account"], False)
    assert event["Resources"][0]["ResourceName"] == trail["arn"]
    [run] = named(trail["all"], "RunLifecyclePolicies")
    assert (run["EventSource"], run["RequestParameters"]) == (
        "berth.admin", {"RepositoryName": REPO})


def test_filters_by_name_principal_resource_and_time(node, trail):
    puts, _ = lookup(node, "--event-name", "PutImage")
    assert len(puts) == 3 and {e["EventName"] for e in puts} == {"PutImage"}
    by_auditor, _ = lookup(node, "--principal", trail["auditor"])
    assert "GetAuthorizationToken" in {e["EventName"] for e in by_auditor}
    assert {e["EventId"] for e in by_auditor} == {
        e["EventId"] for e in trail["all"] if e["PrincipalArn"] == trail["auditor"]}
    by_root = {e["EventId"] for e in lookup(node, "--principal", trail["root"],
                                            "--max-items", "1000")[0]}
    assert by_root >= {e["EventId"] for e in trail["all"] if e["PrincipalArn"] == trail["root"]}
    assert by_root.isdisjoint(e["EventId"] for e in by_auditor)
    of_repo = trail["of_repo"]
    assert {e["Resources"][0]["ResourceName"] for e in of_repo} == {trail["arn"]}
    assert {e["EventId"] for e in of_repo} == {
        e["EventId"] for e in trail["all"] if e["Resources"]
        and e["Resources"][0]["ResourceName"] == trail["arn"]}
    seconds = sorted({e["EventTime"] for e in of_repo})
    assert len(seconds) >= 2, "the whole run took less than a second?"
    since = seconds[-1]
    later, _ = lookup(node, "--resource", trail["arn"], "--start-time", since,
                      "--max-items", "1000")
    earlier, _ = lookup(node, "--resource", trail["arn"], "--end-time", since,
                        "--max-items", "1000")
    assert [e["EventId"] for e in later] == [e["EventId"] for e in of_repo
                                             if e["EventTime"] >= since]
    assert [e["EventId"] for e in earlier] == [e["EventId"] for e in of_repo
                                               if e["EventTime"] < since]
    assert later and earlier


def test_pages_follow_one_another_without_overlap(node, trail):
    pages, token = [], None
    while True:
        page, token = lookup(node, "--resource", trail["arn"], "--max-items", "7",
                             *(["--next-token", token] if token else []))
        pages.append(page)
        if token is None:
            break
    assert len(pages) >= 3 and all(len(p) == 7 for p in pages[:-1]) and pages[-1], pages
    assert [e["EventId"] for p in pages for e in p] == [e["EventId"] for e in trail["of_repo"]]


def test_no_event_holds_a_secret_or_bulk(trail):
    text = json.dumps(trail["all"])
    image = trail["via_ecr_image"]
    for secret in (trail["auditor_key"].secret, trail["admin_key"].secret, WEBHOOK_SECRET,
                   trail["auditor_token"], base64.b64encode(image.layers[0].data).decode(),
                   image.manifest.data.decode(), '"layerPartBlob"', '"imageManifest"'):
        assert secret not in text
    for e in trail["all"]:
        for key in e["RequestParameters"] or {}:
            assert not any(word in key.lower() for word in SECRET_WORDS), e
    [target] = named(trail["all"], "PutEventTarget")
    assert target["RequestParameters"]["Url"] == "http://127.0.0.1:9/hook"
    assert "Secret" not in target["RequestParameters"] and target["EventSource"] == "berth.admin"


def test_offline_lookup_on_the_stopped_node_shows_the_same(node, trail):
    node.stop()  # flushes what is still in memory
    offline, _ = lookup(node, "--resource", trail["arn"], "--max-items", "1000", online=False)
    assert offline == trail["of_repo"]
    everything, _ = lookup(node, "--max-items", "1000", online=False)
    ids = {e["EventId"] for e in everything}
    assert ids > {e["EventId"] for e in trail["all"]}  # and the lookups made since
    assert {e["EventName"] for e in everything if e["EventId"] not in
            {x["EventId"] for x in trail["all"]}} == {"LookupAuditEvents"}
    dated, _ = lookup(node, "--event-name", "PolicyExecutionEvent", "--start-time",
                      "2000-01-01", "--end-time", "2000-01-02", online=False)
    assert dated == []


def test_a_call_with_large_parameters_leaves_the_trail_readable(node, trail):
    node.start()  # again, after the offline lookup
    ecr = ecr_client(node.url, trail["admin_key"], user_agent_extra=UA)
    huge = json.dumps({"rules": [{**KEEP_ONE["rules"][0], "description": "x" * 9000}]})
    with pytest.raises(ecr.exceptions.RepositoryNotFoundException):  # refused, yet recorded
        ecr.put_lifecycle_policy(repositoryName="audit/none", lifecyclePolicyText=huge)
    eventually(lambda: len(lookup(node, "--event-name", "PutLifecyclePolicy")[0]) == 2,
               "the refused call reached the audit trail", 20, 0.3)
    [refused, _] = lookup(node, "--event-name", "PutLifecyclePolicy")[0]
    assert refused["ErrorCode"] == "RepositoryNotFoundException"
    assert refused["RequestParameters"]["repositoryName"] == "audit/none"
