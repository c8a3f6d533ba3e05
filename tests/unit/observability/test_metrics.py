"""The Prometheus observer and recording helpers (in-memory values: no multiprocess dir)."""
from __future__ import annotations

from prometheus_client import REGISTRY

from berth.observability import RequestRecord
from berth.observability import metrics as m


def _value(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _record(**changes) -> RequestRecord:
    fields = dict(protocol="oci", route="/v2/{name:path}/blobs/{digest}", method="GET",
                  status=200, bytes_in=0, bytes_out=1000, seconds=0.003, request_id="r",
                  source_ip="127.0.0.1", repository="team/web")
    return RequestRecord(**{**fields, **changes})


def test_a_request_counts_by_route_method_and_status_with_its_latency():
    labels = dict(protocol="oci", route="/v2/{name:path}/blobs/{digest}", method="GET")
    before = _value("berth_http_requests_total", **labels, status="200")
    le = _value("berth_http_request_duration_seconds_bucket", **labels, le="0.005")
    above = _value("berth_http_request_duration_seconds_bucket", **labels, le="0.0025")
    m.observe(_record())
    m.observe(_record())
    assert _value("berth_http_requests_total", **labels, status="200") == before + 2
    assert _value("berth_http_request_duration_seconds_bucket", **labels, le="0.005") == le + 2
    assert _value("berth_http_request_duration_seconds_bucket", **labels, le="0.0025") == above


def test_bytes_pulled_and_pushed_by_kind_and_not_for_failures():
    pulled = _value("berth_pulled_bytes_total", kind="blob")
    pushed = _value("berth_pushed_bytes_total", kind="blob")
    manifests = _value("berth_pushed_bytes_total", kind="manifest")
    m.observe(_record(bytes_out=5000))
    m.observe(_record(bytes_out=7000, status=404))
    m.observe(_record(route="/v2/{name:path}/blobs/uploads/{uuid}", method="PATCH",
                      bytes_in=300, bytes_out=0, status=202))
    m.observe(_record(route="/v2/{name:path}/manifests/{reference}", method="PUT",
                      bytes_in=40, bytes_out=0, status=201))
    m.observe(_record(protocol="ecr", route="PutImage", method="POST", bytes_in=99))
    assert _value("berth_pulled_bytes_total", kind="blob") == pulled + 5000
    assert _value("berth_pushed_bytes_total", kind="blob") == pushed + 300
    assert _value("berth_pushed_bytes_total", kind="manifest") == manifests + 40


def test_no_label_carries_the_repository_or_the_address():
    m.observe(_record())
    for metric in REGISTRY.collect():
        if metric.name.startswith("berth_"):
            for sample in metric.samples:
                assert "team/web" not in sample.labels.values()
                assert "127.0.0.1" not in sample.labels.values()


def test_every_metric_has_labels_so_none_is_made_before_the_multiprocess_dir():
    for metric in vars(m.metrics()).values():
        assert metric._labelnames, metric._name


def test_denial_reasons_follow_aws_wording():
    base = "User: arn:aws:iam::1:root is not authorized to perform: ecr:PutImage on resource: r"
    assert m.denial_reason(base + " with an explicit deny in an identity-based policy") \
        == "explicit_deny"
    assert m.denial_reason(base + " because no identity-based policy allows it") \
        == "implicit_deny"
    assert m.denial_reason(base + " because only the administrator account may manage "
                                  "accounts") == "not_admin"


def test_images_and_tags_pushed():
    image, index = (_value("berth_manifests_pushed_total", kind=k) for k in ("image", "index"))
    created, moved = (_value("berth_tags_pushed_total", change=c) for c in ("created", "moved"))
    m.image_pushed(True, False, "created")
    m.image_pushed(True, True, "")
    m.image_pushed(False, False, "moved")
    assert _value("berth_manifests_pushed_total", kind="image") == image + 1
    assert _value("berth_manifests_pushed_total", kind="index") == index + 1
    assert _value("berth_tags_pushed_total", change="created") == created + 1
    assert _value("berth_tags_pushed_total", change="moved") == moved + 1


def test_uploads_in_progress_rise_and_fall():
    before = _value("berth_uploads_in_progress", protocol="oci")
    with m.uploading("oci"):
        assert _value("berth_uploads_in_progress", protocol="oci") == before + 1
    assert _value("berth_uploads_in_progress", protocol="oci") == before


def test_jobs_gc_and_outbox_helpers():
    started = _value("berth_jobs_started_total", kind="t-kind")
    m.job_claimed("t-kind", 2.0)
    m.job_claimed("t-kind", None)
    with m.job_running("t-kind"):
        assert _value("berth_jobs_running", kind="t-kind") == 1
    m.job_finished("t-kind", "retried")
    m.jobs_queued(["t-kind", "idle-kind"], {"t-kind": 3})
    m.outbox_backlog("t-sub", 12)
    freed = _value("berth_gc_freed_bytes_total", source="orphan")
    m.gc_freed("orphan", 2, 4096)
    assert _value("berth_jobs_started_total", kind="t-kind") == started + 2
    assert _value("berth_job_lag_seconds_count", kind="t-kind") >= 1
    assert _value("berth_jobs_running", kind="t-kind") == 0
    assert _value("berth_job_duration_seconds_count", kind="t-kind") >= 1
    assert _value("berth_jobs_finished_total", kind="t-kind", outcome="retried") >= 1
    assert _value("berth_jobs_queued", kind="t-kind") == 3
    assert _value("berth_jobs_queued", kind="idle-kind") == 0
    assert _value("berth_outbox_backlog_events", subscriber="t-sub") == 12
    assert _value("berth_gc_freed_bytes_total", source="orphan") == freed + 4096
