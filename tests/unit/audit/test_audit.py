"""The audit trail (berth.audit) on SQLite and PostgreSQL: requests named as ECR's CloudTrail
names them (registry requests too), health and metrics left out, parameters without secrets
or bulk; the recorder writes in batches and keeps what a failed write could not store;
lookups filter by time, name, principal, resource and account and page by seq; old events
are pruned; lifecycle actions are recorded in the transaction that takes them."""
from __future__ import annotations

import json
import os
import time
from types import SimpleNamespace

import pytest
from sqlalchemy.exc import OperationalError

from berth.api.admin.audit_operations import lookup_audit_events
from berth.api.oci.routes import routes as oci_routes
from berth.audit import events, services
from berth.audit.recorder import AuditRecorder
from berth.iam.identities import IdentityService
from berth.keys.master import MasterKey
from berth.observability import RequestRecord
from berth.storage.metadata import audit as rows
from berth.storage.metadata import registries as registry_rows

ACCOUNT, REGION = "123456789012", "eu-west-1"
PRINCIPAL = f"arn:aws:iam::{ACCOUNT}:user/ci"
N = "/v2/{name:path}"
# Written out here, not read from the module: what docker's requests are called in ECR's trail.
EXPECTED = {
    (N + "/manifests/{reference}", "GET"): ("BatchGetImage", True),
    (N + "/manifests/{reference}", "HEAD"): ("BatchGetImage", True),
    (N + "/manifests/{reference}", "PUT"): ("PutImage", False),
    (N + "/manifests/{reference}", "DELETE"): ("BatchDeleteImage", False),
    (N + "/blobs/{digest}", "GET"): ("GetDownloadUrlForLayer", True),
    (N + "/blobs/{digest}", "HEAD"): ("BatchCheckLayerAvailability", True),
    (N + "/blobs/{digest}", "DELETE"): ("DeleteLayer", False),
    (N + "/blobs/uploads/", "POST"): ("InitiateLayerUpload", False),
    (N + "/blobs/uploads/{uuid}", "GET"): ("GetLayerUploadStatus", True),
    (N + "/blobs/uploads/{uuid}", "PATCH"): ("UploadLayerPart", False),
    (N + "/blobs/uploads/{uuid}", "PUT"): ("CompleteLayerUpload", False),
    (N + "/blobs/uploads/{uuid}", "DELETE"): ("CancelLayerUpload", False),
    (N + "/tags/list", "GET"): ("ListImages", True),
    (N + "/referrers/{digest}", "GET"): ("ListImageReferrers", True),
    ("/v2/_catalog", "GET"): ("DescribeRepositories", True),
}


def record(protocol="oci", route=N + "/manifests/{reference}", method="GET", **more):
    fields = {"status": 200, "bytes_in": 0, "bytes_out": 10, "seconds": 0.01,
              "request_id": "req-1", "source_ip": "10.0.0.7", "principal_arn": PRINCIPAL,
              "account_id": ACCOUNT, "region": REGION, "repository": "team/app",
              "user_agent": "skopeo/1.14"}
    return RequestRecord(protocol=protocol, route=route, method=method, **{**fields, **more})


def arn(repository: str) -> str:
    return f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{repository}"


# -- naming ----------------------------------------------------------------------------------
def test_every_registry_route_and_method_has_an_event():
    """Starlette answers HEAD on every GET route, and the gate admits it with the GET's
    actions: such a request is served, so it is audited as the GET is."""
    served = {(route.path, method) for route in oci_routes for method in route.methods
              if route.path != "/v2/"}
    assert set(EXPECTED) <= set(events.REGISTRY_EVENTS) <= served
    unaudited = sorted(key for key in served
                       if events.name_of(record(route=key[0], method=key[1])) is None)
    assert unaudited == [], "served but never in the audit trail"
    for path, method in served - set(EXPECTED):
        assert (method, events.name_of(record(route=path, method=method))) == (
            "HEAD", EXPECTED[(path, "GET")][0])


@pytest.mark.parametrize(("route", "method"), sorted(EXPECTED))
def test_registry_requests_are_named_as_ecr_names_them(route, method):
    name, read_only = EXPECTED[(route, method)]
    row = events.from_request(record(route=route, method=method, status=403,
                                     error_code="DENIED", request_id="rid-9"))
    assert (row["name"], row["read_only"], row["source"]) == (name, read_only,
                                                              "ecr.amazonaws.com")
    assert row["resource"] == arn("team/app")
    assert (row["principal_arn"], row["source_ip"], row["user_agent"]) == (
        PRINCIPAL, "10.0.0.7", "skopeo/1.14")
    assert (row["account_id"], row["region"], row["error_code"], row["request_id"]) == (
        ACCOUNT, REGION, "DENIED", "rid-9")
    assert abs(row["time"] - time.time()) < 5 and len(row["event_id"]) == 36


def test_an_anonymous_request_at_a_plain_host_names_no_registry():
    """A plain host addresses the caller's own registry: a stranger's has none to name."""
    row = events.from_request(record(status=401, error_code="UNAUTHORIZED", principal_arn="",
                                     account_id="", region=""))
    assert (row["resource"], row["account_id"], row["error_code"]) == ("", "", "UNAUTHORIZED")


@pytest.mark.parametrize(("protocol", "route", "source", "read_only"), [
    ("ecr", "DescribeImages", "ecr.amazonaws.com", True),
    ("ecr", "BatchGetImage", "ecr.amazonaws.com", True),
    ("ecr", "GetAuthorizationToken", "ecr.amazonaws.com", True),
    ("ecr", "PutImage", "ecr.amazonaws.com", False),
    ("ecr", "DeleteRepository", "ecr.amazonaws.com", False),
    ("admin", "CreateAccessKey", "berth.admin", False),
    ("admin", "ListUsers", "berth.admin", True),
    ("admin", "LookupAuditEvents", "berth.admin", True),
])
def test_api_calls_are_named_by_their_operation(protocol, route, source, read_only):
    row = events.from_request(record(protocol=protocol, route=route, method="POST",
                                     repository="", error_code=""))
    assert (row["name"], row["source"], row["read_only"]) == (route, source, read_only)
    assert row["resource"] == "" and row["error_code"] is None


@pytest.mark.parametrize(("protocol", "route", "method"), [
    ("health", "/healthz", "GET"), ("health", "/readyz", "GET"), ("metrics", "/metrics", "GET"),
    ("oci", "/v2/", "GET"), ("oci", N + "/manifests/{reference}", "POST"),
    ("ecr", "-", "POST"), ("admin", "-", "POST"), ("other", "-", "GET")])
def test_health_metrics_the_ping_and_unknown_operations_are_not_audited(protocol, route, method):
    assert events.from_request(record(protocol=protocol, route=route, method=method)) is None
    recorder = AuditRecorder()
    recorder.observe(record(protocol=protocol, route=route, method=method))
    assert recorder._pending == []


# -- parameters ------------------------------------------------------------------------------
def test_parameters_leave_out_secrets_and_bulk():
    kept = json.loads(events.parameters({
        "repositoryName": "team/app", "imageTag": "v1", "maxResults": 5,
        "layerPartBlob": os.urandom(64), "imageManifest": '{"schemaVersion": 2}',
        "SecretAccessKey": "wJalr", "Secret": "hmac", "Password": "p", "nextToken": "t",
        "authorizationToken": "QVdT", "Credentials": {"a": 1}, "credentialArn": "arn:x",
        "PrivateKey": "-----BEGIN PRIVATE KEY-----", "CertificateChain": "-----BEGIN",
        "ProfileName": "release"}))
    # A page token and an ARN name no secret: kept.
    assert kept == {"repositoryName": "team/app", "imageTag": "v1", "maxResults": 5,
                    "nextToken": "t", "credentialArn": "arn:x", "ProfileName": "release"}
    assert events.parameters(None) is None and events.parameters({}) is None


def test_large_parameters_are_stored_as_valid_json_and_looked_up(db):
    # e.g. PutLifecyclePolicy's lifecyclePolicyText (up to 30 KB) or a repository policy.
    big = {"repositoryName": "team/app", "lifecyclePolicyText": "x" * 20_000}
    text = events.parameters(big)
    assert len(text) <= 8192
    json.loads(text)  # a cut string is not JSON: the lookup could not show the event
    recorder = AuditRecorder()
    recorder.observe(record(protocol="ecr", route="PutLifecyclePolicy", parameters=big))
    recorder.flush(db)
    [found] = services.lookup(db, 0, time.time() + 10)
    assert found["EventName"] == "PutLifecyclePolicy"


# -- the recorder ----------------------------------------------------------------------------
class FailingDb:
    def write(self, durable=True):
        raise OperationalError("INSERT", {}, Exception("database is locked"))


def test_many_requests_are_written_in_one_flush(db):
    recorder = AuditRecorder()
    for i in range(250):
        recorder.observe(record(request_id=f"r{i}", parameters={"i": i}))
        recorder.observe(record(protocol="health", route="/healthz"))
    assert recorder.flush(db) == 250
    assert recorder.flush(db) == 0
    found = services.lookup(db, 0, time.time() + 10, limit=1000)
    assert sorted(e["RequestId"] for e in found) == sorted(f"r{i}" for i in range(250))
    assert len({e["EventId"] for e in found}) == 250


def test_a_failed_flush_keeps_the_events_for_the_next(db):
    recorder = AuditRecorder()
    for i in range(3):
        recorder.observe(record(request_id=f"a{i}"))
    with pytest.raises(OperationalError):
        recorder.flush(FailingDb())
    recorder.observe(record(request_id="late"))
    assert recorder.flush(db) == 4
    found = services.lookup(db, 0, time.time() + 10)
    assert sorted(e["RequestId"] for e in found) == ["a0", "a1", "a2", "late"]


def test_beyond_max_pending_events_are_dropped_and_counted(db):
    recorder = AuditRecorder(max_pending=3)
    for i in range(5):
        recorder.observe(record(request_id=f"m{i}"))
    assert recorder.dropped == 2
    assert recorder.flush(db) == 3
    assert sorted(e["RequestId"] for e in services.lookup(db, 0, time.time() + 10)) == [
        "m0", "m1", "m2"]


def test_a_record_that_cannot_be_an_event_neither_raises_nor_blocks_the_others(db):
    recorder = AuditRecorder()
    recorder.observe(record(principal_arn=None, request_id="bad"))  # from_request fails
    recorder.observe(record(request_id="good"))
    recorder.flush(db)  # one bad record must not keep every other event from the trail
    assert [e["RequestId"] for e in services.lookup(db, 0, time.time() + 10)] == ["good"]
    assert recorder.flush(db) == 0 and recorder.dropped == 0


# -- lookups ---------------------------------------------------------------------------------
def add(db, at: float, name="PutImage", principal=PRINCIPAL, repository="team/app",
        account=ACCOUNT, **more):
    row = {"event_id": os.urandom(16).hex()[:36], "time": at, "account_id": account,
           "region": REGION, "source": "ecr.amazonaws.com", "name": name,
           "read_only": events.read_only(name), "principal_arn": principal,
           "source_ip": "10.0.0.7", "user_agent": "ua",
           "resource": events.repository_arn(REGION, account, repository),
           "parameters": None, "error_code": None, "request_id": f"{name}@{at}", **more}
    with db.write() as tx:
        rows.add(tx, [row])


def names(found):
    return [e["EventName"] for e in found]


def test_lookup_filters_by_time_name_principal_resource_and_account(db):
    other = "arn:aws:iam::210987654321:root"
    add(db, 100, "PutImage")
    add(db, 200, "BatchGetImage", principal=other)
    add(db, 300, "PutImage", repository="team/web")
    add(db, 400, "ListImages", account="210987654321")
    add(db, 500, "PutImage", error_code="DENIED", parameters='{"imageTag":"v1"}')
    assert names(services.lookup(db, 0, 1000)) == ["PutImage", "ListImages", "PutImage",
                                                   "BatchGetImage", "PutImage"]
    assert [e["EventTime"] for e in services.lookup(db, 200, 400)] == [300, 200]  # [start, end)
    assert [e["EventTime"] for e in services.lookup(db, 0, 1000, name="PutImage")] == [
        500, 300, 100]
    assert [e["EventTime"] for e in services.lookup(db, 0, 1000, principal_arn=other)] == [200]
    assert [e["EventTime"] for e in services.lookup(db, 0, 1000,
                                                    resource=arn("team/web"))] == [300]
    assert [e["EventTime"] for e in services.lookup(db, 0, 1000,
                                                    account_id="210987654321")] == [400]
    assert [e["EventTime"] for e in services.lookup(db, 0, 1000, name="PutImage",
                                                    resource=arn("team/app"))] == [500, 100]
    newest = services.lookup(db, 0, 1000, limit=1)[0]
    assert newest["Resources"] == [{"ResourceType": "AWS::ECR::Repository",
                                    "ResourceName": arn("team/app")}]
    assert (newest["RequestParameters"], newest["ErrorCode"], newest["ReadOnly"]) == (
        {"imageTag": "v1"}, "DENIED", False)


def test_lookup_pages_by_seq_without_overlap(db):
    for i in range(11):
        add(db, 1000 + i, "PutImage" if i % 2 else "BatchGetImage")
    pages, before = [], None
    while True:
        page = services.lookup(db, 0, 5000, limit=3, before=before, name="PutImage")
        if not page:
            break
        pages.append(page)
        before = page[-1]["Seq"]
    assert [len(p) for p in pages] == [3, 2]
    times = [e["EventTime"] for p in pages for e in p]
    assert times == [1009, 1007, 1005, 1003, 1001]
    seqs = [e["Seq"] for p in pages for e in p]
    assert seqs == sorted(seqs, reverse=True) and len(set(seqs)) == 5


def test_lookup_audit_events_gives_a_next_token_whenever_more_match(db):
    registry = SimpleNamespace(db=db)
    for i in range(5):
        add(db, time.time() - 100 + i)
    first = lookup_audit_events(registry, {"MaxResults": "2"})
    second = lookup_audit_events(registry, {"MaxResults": "2", "NextToken": first["NextToken"]})
    last = lookup_audit_events(registry, {"MaxResults": "2", "NextToken": second["NextToken"]})
    ids = [e["EventId"] for r in (first, second, last) for e in r["Events"]]
    assert len(ids) == len(set(ids)) == 5 and "NextToken" not in last
    with db.write() as tx:
        rows.add(tx, [{"event_id": f"bulk-{i}", "time": 1000.0, "account_id": ACCOUNT,
                       "region": REGION, "source": "ecr.amazonaws.com", "name": "ListImages",
                       "read_only": True, "principal_arn": "", "source_ip": "",
                       "user_agent": "", "resource": "", "parameters": None,
                       "error_code": None, "request_id": ""} for i in range(1001)])
    full = lookup_audit_events(registry, {"MaxResults": "1000", "EventName": "ListImages"})
    assert len(full["Events"]) == 1000
    assert "NextToken" in full, "1001 events match, the largest page hides the last one"


# -- retention and lifecycle -----------------------------------------------------------------
def test_prune_drops_what_is_older_than_the_retention(db):
    now = 2_000_000_000.0
    for days in (120, 90.01, 89.99, 1):
        add(db, now - days * 86400)
    assert services.prune(db, 90, now=now) == 2
    assert sorted(now - e["EventTime"] for e in services.lookup(db, 0, now)) == [
        pytest.approx(86400), pytest.approx(89.99 * 86400)]
    assert services.prune(db, 90, now=now) == 0


def test_a_lifecycle_action_is_recorded_in_its_transaction(db):
    IdentityService(db, MasterKey(os.urandom(32))).create_account("team", ACCOUNT)
    with db.write() as tx:
        registry_id = registry_rows.ensure_registry(tx, ACCOUNT, REGION)
    with pytest.raises(RuntimeError), db.write() as tx:
        services.record_lifecycle(tx, registry_id, "team/app", "EXPIRE", "sha256:" + "0" * 64,
                                  [], 1, 1000.0)
        raise RuntimeError("the run's transaction fails")
    assert services.lookup(db, 0, 5000) == []
    digest = "sha256:" + "ab" * 32
    with db.write() as tx:
        services.record_lifecycle(tx, registry_id, "team/app", "EXPIRE", digest, ["old"], 2,
                                  1234.5)
    [event] = services.lookup(db, 0, 5000)
    assert (event["EventName"], event["EventSource"], event["PrincipalArn"]) == (
        "PolicyExecutionEvent", "ecr.amazonaws.com", "ecr.amazonaws.com")
    assert (event["AccountId"], event["Region"], event["EventTime"]) == (ACCOUNT, REGION, 1234.5)
    assert event["Resources"][0]["ResourceName"] == arn("team/app")
    assert event["RequestParameters"] == {"actionType": "EXPIRE", "imageDigest": digest,
                                          "imageTags": ["old"], "rulePriority": 2}
    assert event["ReadOnly"] is False and event["ErrorCode"] is None
    assert services.lookup(db, 0, 5000, name="PolicyExecutionEvent",
                           resource=arn("team/app"))[0]["EventId"] == event["EventId"]
