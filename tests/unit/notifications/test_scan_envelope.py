"""A finished scan as EventBridge carries it: a basic scan is ECR's "ECR Image Scan" (source
aws.ecr, the repository's ARN in resources), an enhanced one Amazon Inspector's "Inspector2
Scan" (source aws.inspector2, the repository named by ARN, counts with a TOTAL), the shapes of
the ECR user guide's samples."""
from berth.events import IMAGE_SCANNED, Event
from berth.notifications.envelope import envelopes
from berth.notifications.patterns import matches

AT = 1_700_000_000.5
ARN = "arn:aws:ecr:us-west-2:123456789012:repository/team-a/web"


def _scanned(**payload):
    return Event(9, IMAGE_SCANNED, 1, "team-a/web",
                 {"repositoryId": 3, "digest": "sha256:ab", "tags": ["v1"], **payload}, AT)


def test_a_basic_scan_is_an_ecr_image_scan_event():
    [found] = envelopes(_scanned(scanType="BASIC", status="COMPLETE",
                                 counts={"CRITICAL": 2, "MEDIUM": 1}), "123456789012", "us-west-2")
    assert {k: v for k, v in found.items() if k != "id"} == {
        "version": "0", "detail-type": "ECR Image Scan", "source": "aws.ecr",
        "account": "123456789012", "time": "2023-11-14T22:13:20Z", "region": "us-west-2",
        "resources": [ARN],
        "detail": {"scan-status": "COMPLETE", "repository-name": "team-a/web",
                   "finding-severity-counts": {"CRITICAL": 2, "MEDIUM": 1},
                   "image-digest": "sha256:ab", "image-tags": ["v1"]}}
    assert matches({"source": ["aws.ecr"], "detail-type": ["ECR Image Scan"],
                    "detail": {"scan-status": ["COMPLETE"]}}, found)


def test_an_enhanced_scan_is_an_inspector2_scan_event():
    [found] = envelopes(_scanned(scanType="ENHANCED", status="ACTIVE", counts={"HIGH": 3}),
                        "123456789012", "us-west-2")
    assert found["source"] == "aws.inspector2" and found["detail-type"] == "Inspector2 Scan"
    assert found["detail"] == {"scan-status": "INITIAL_SCAN_COMPLETE", "repository-name": ARN,
                               "finding-severity-counts": {"HIGH": 3, "TOTAL": 3},
                               "image-digest": "sha256:ab", "image-tags": ["v1"]}
    assert not matches({"source": ["aws.ecr"]}, found)


def test_a_failed_scan_says_so():
    [found] = envelopes(_scanned(scanType="BASIC", status="FAILED", counts={}), "1", "r")
    assert found["detail"]["scan-status"] == "FAILED"
    assert found["detail"]["finding-severity-counts"] == {}
