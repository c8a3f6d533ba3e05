"""Usage and cost by tag as an operator sees it: a server with internal_networks=127.0.0.0/8
and prices, images pushed and pulled over plain HTTP by clients on 127.0.0.1 (inside), the
day's storage sample taken with ``berth admin usage --sample``; then ``berth admin usage
--group-by tag:team`` reports per team the bytes pushed (one day's sample) and the bytes
pulled inside the networks (free), online and offline alike. On S3 storage (Ceph's RADOS
gateway), blob pulls answered with a 307 to the bucket (and GetDownloadUrlForLayer URLs to
it) count the bytes the bucket sends, as pulls from outside the networks (priced), flushed
every BERTH_USAGE_FLUSH_SECONDS."""
from __future__ import annotations

import calendar
import csv
import io
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
import requests

from tests.support.berth_node import BerthNode
from tests.support.berth_server import ecr_client
from tests.support.ceph import CephCluster
from tests.support.credentials import admin_key
from tests.support.gc import (admin_offline, admin_online, aws_ecr, clean_env, eventually,
                              settings_flags)
from tests.support.oci_push import digest_of, push_image

pytestmark = pytest.mark.e2e

PRICES = {"BERTH_INTERNAL_NETWORKS": "127.0.0.0/8", "BERTH_PRICE_PER_GB_MONTH": "0.10",
          "BERTH_PRICE_PER_GB_TRANSFERRED": "0.09"}


@pytest.fixture
def node(tmp_path):
    started = BerthNode(tmp_path / "node", extra_args=("--workers", "2"), env=PRICES)
    started.start()
    yield started
    started.stop()


def _push(node: BerthNode, repo: str, *sizes: int) -> tuple[int, list[str], str]:
    """An image of layers of these sizes: (its blobs' bytes, blob digests, tag)."""
    config = os.urandom(300)
    layers = [os.urandom(size) for size in sizes]
    push_image(node.session(), node.url, repo, "v1", config, layers)
    return len(config) + sum(sizes), [digest_of(b) for b in (config, *layers)], "v1"


def _pull(node: BerthNode, repo: str, digests: list[str], tag: str) -> int:
    """The image's manifest and blobs, one blob in two ranges (206): the bytes received."""
    session, received = node.session(), 0
    response = session.get(f"{node.url}/v2/{repo}/manifests/{tag}", headers={
        "Accept": "application/vnd.oci.image.manifest.v1+json"}, timeout=60)
    assert response.status_code == 200
    received += len(response.content)
    for digest in digests[:-1]:
        response = session.get(f"{node.url}/v2/{repo}/blobs/{digest}", timeout=60)
        assert response.status_code == 200
        received += len(response.content)
    for part in ("bytes=0-99", "bytes=100-"):
        response = session.get(f"{node.url}/v2/{repo}/blobs/{digests[-1]}",
                               headers={"Range": part}, timeout=60)
        assert response.status_code == 206, response.status_code
        received += len(response.content)
    # Neither a HEAD nor a failed GET is a transfer.
    assert session.head(f"{node.url}/v2/{repo}/blobs/{digests[0]}").status_code == 200
    assert session.get(f"{node.url}/v2/{repo}/blobs/sha256:{'0' * 64}").status_code == 404
    return received


def _days() -> tuple[str, str]:
    today = datetime.now(timezone.utc).date()
    return (today - timedelta(days=1)).isoformat(), (today + timedelta(days=1)).isoformat()


def _report(run, *extra: str) -> dict:
    first, last = _days()
    return run("usage", "--from", first, "--to", last, "--group-by", "tag:team", *extra)


def _groups(report: dict) -> dict:
    return {group["Group"]: group for group in report["Groups"]}


def test_usage_by_team_matches_what_was_pushed_and_pulled(node):
    aws_ecr(node, "create-repository", "--repository-name", "shop/api",
            "--tags", "Key=team,Value=payments")
    aws_ecr(node, "create-repository", "--repository-name", "shop/web",
            "--tags", "Key=team,Value=frontend", "Key=env,Value=prod")
    api, api_digests, tag = _push(node, "shop/api", 150_000, 40_000)
    web, web_digests, _ = _push(node, "shop/web", 70_000)
    loose, loose_digests, _ = _push(node, "scratch/tmp", 9_000)  # created on push: untagged
    pulled = {"payments": _pull(node, "shop/api", api_digests, tag)
              + _pull(node, "shop/api", api_digests, tag),
              "frontend": _pull(node, "shop/web", web_digests, tag), "(untagged)": 0}

    admin_online(node, "usage", "--sample")

    def counted() -> bool:  # each server process flushes its counts within seconds
        groups = _groups(_report(lambda *a: admin_online(node, *a)))
        return all(groups.get(name, {}).get("BytesTransferredInside") == size
                   for name, size in pulled.items())
    eventually(counted, "the pulls reached the usage rows", timeout=30)

    report = _report(lambda *a: admin_online(node, *a), "--format", "json")
    groups = _groups(report)
    assert set(groups) == {"payments", "frontend", "(untagged)"}
    days_in_month = calendar.monthrange(*datetime.now(timezone.utc).timetuple()[:2])[1]
    for name, stored in (("payments", api), ("frontend", web), ("(untagged)", loose)):
        group = groups[name]
        assert group["StorageByteDays"] == stored, name
        assert group["GbMonths"] == pytest.approx(stored / 1e9 / days_in_month, rel=1e-9)
        assert group["BytesTransferredInside"] == pulled[name], name
        assert group["BytesTransferredOutside"] == 0, name
        assert group["TransferCost"] == 0.0  # inside the networks: free
        assert group["StorageCost"] == pytest.approx(group["GbMonths"] * 0.10, rel=1e-6)
    assert report["Total"]["StorageByteDays"] == api + web + loose

    node.stop()  # offline, on the data directory: the same figures
    offline = _report(lambda *a: admin_offline(node, *a))
    assert offline["Groups"] == report["Groups"]
    _check_csv(node, groups)


def _check_csv(node: BerthNode, groups: dict) -> None:
    first, last = _days()
    proc = subprocess.run(
        [sys.executable, "-m", "berth", "admin", "usage", "--from", first, "--to", last,
         "--group-by", "tag:team", "--format", "csv", *settings_flags(node)],
        env=clean_env(**PRICES), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = {row["Group"]: row for row in csv.DictReader(io.StringIO(proc.stdout))}
    assert {name: int(row["StorageByteDays"]) for name, row in rows.items()} == {
        name: group["StorageByteDays"] for name, group in groups.items()}
    assert "Cost" in next(iter(rows.values()))


S3_ENV = {**PRICES, "BERTH_INTERNAL_NETWORKS": "10.0.0.0/8",  # this client: outside
          "BERTH_USAGE_FLUSH_SECONDS": "0.5"}


@pytest.fixture
def s3_node(ceph: CephCluster, tmp_path):
    # The bucket encrypts at rest itself: Berth stores blobs as they are, so pulls redirect.
    started = BerthNode(tmp_path / "s3-node", ("--storage-encrypted",), env=S3_ENV,
                        s3=ceph.storage("usage"))
    started.start()
    yield started
    started.stop()


def _pull_redirected(node: BerthNode, repo: str, digests: list[str], tag: str) -> int:
    """The manifest from Berth (200), every blob from the bucket through a 307, the last one
    also in a range: the bytes received."""
    session, received = node.session(), 0
    response = session.get(f"{node.url}/v2/{repo}/manifests/{tag}", headers={
        "Accept": "application/vnd.oci.image.manifest.v1+json"}, timeout=60)
    assert response.status_code == 200
    received += len(response.content)
    for digest, extra in [*((d, {}) for d in digests), (digests[-1], {"Range": "bytes=100-"})]:
        response = session.get(f"{node.url}/v2/{repo}/blobs/{digest}", headers=extra,
                               allow_redirects=False, timeout=60)
        assert response.status_code == 307, response.status_code
        assert not response.content
        stored = requests.get(response.headers["Location"], headers=extra, timeout=60)
        assert stored.status_code in (200, 206), stored.status_code
        received += len(stored.content)
    # ECR's GetDownloadUrlForLayer hands out a URL to the bucket: counted when handed out.
    ecr = ecr_client(node.url, admin_key(node.data_dir))
    url = ecr.get_download_url_for_layer(repositoryName=repo,
                                         layerDigest=digests[0])["downloadUrl"]
    assert not url.startswith(node.url), url
    received += len(requests.get(url, timeout=60).content)
    # A HEAD is no pull, redirected or not.
    assert session.head(f"{node.url}/v2/{repo}/blobs/{digests[0]}").status_code == 200
    return received


def test_pulls_redirected_to_s3_count_what_the_bucket_sends(s3_node):
    stored, digests, tag = _push(s3_node, "team/s3-app", 120_000, 30_000)
    pulled = _pull_redirected(s3_node, "team/s3-app", digests, tag)
    admin_online(s3_node, "usage", "--sample")
    first, last = _days()

    def report() -> dict:
        return admin_online(s3_node, "usage", "--from", first, "--to", last,
                            "--group-by", "repository")

    def counted() -> bool:
        groups = report()["Groups"]
        return bool(groups) and groups[0]["BytesTransferredOutside"] == pulled
    eventually(counted, "the redirected pulls reached the usage rows", timeout=30)

    [group] = report()["Groups"]
    assert group["RepositoryName"] == "team/s3-app"
    assert (group["BytesTransferredInside"], group["StorageByteDays"]) == (0, stored)
    assert group["TransferCost"] == pytest.approx(pulled / 1e9 * 0.09, rel=1e-6)
