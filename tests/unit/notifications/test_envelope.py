"""Domain events as ECR's EventBridge events: the envelope and the "ECR Image Action" detail
have the shapes of the ECR user guide's samples."""
import uuid

from berth.events import IMAGE_DELETED, IMAGE_PUSHED, REPOSITORY_CREATED, TAG_REMOVED, Event
from berth.notifications.envelope import envelopes

AT = 1_700_000_000.5  # 2023-11-14T22:13:20Z


def _event(kind, **payload):
    return Event(7, kind, 1, "team-a/web", {"repositoryId": 3, **payload}, AT)


def test_a_push_by_tag_is_one_push_action_in_eventbridge_s_envelope():
    [found] = envelopes(_event(IMAGE_PUSHED, digest="sha256:ab", tag="latest", previous=None),
                        "123456789012", "us-west-2")
    assert set(found) == {"version", "id", "detail-type", "source", "account", "time",
                          "region", "resources", "detail"}
    uuid.UUID(found["id"])
    assert {k: v for k, v in found.items() if k != "id"} == {
        "version": "0", "detail-type": "ECR Image Action", "source": "aws.ecr",
        "account": "123456789012", "time": "2023-11-14T22:13:20Z", "region": "us-west-2",
        "resources": [],
        "detail": {"result": "SUCCESS", "repository-name": "team-a/web",
                   "image-digest": "sha256:ab", "action-type": "PUSH", "image-tag": "latest"}}


def test_a_push_by_digest_has_no_image_tag():
    [found] = envelopes(_event(IMAGE_PUSHED, digest="sha256:ab", tag=None), "1", "r")
    assert "image-tag" not in found["detail"] and found["detail"]["action-type"] == "PUSH"


def test_a_removed_tag_is_a_delete_naming_it():
    [found] = envelopes(_event(TAG_REMOVED, digest="sha256:ab", tag="v1"), "1", "r")
    assert found["detail"] == {"result": "SUCCESS", "repository-name": "team-a/web",
                               "image-digest": "sha256:ab", "action-type": "DELETE",
                               "image-tag": "v1"}


def test_a_deleted_image_is_a_delete_per_tag_or_one_without():
    tagged = envelopes(_event(IMAGE_DELETED, digest="sha256:ab", tags=["a", "b"], blobs=[]),
                       "1", "r")
    assert [e["detail"]["image-tag"] for e in tagged] == ["a", "b"]
    assert len({e["id"] for e in tagged}) == 2
    [untagged] = envelopes(_event(IMAGE_DELETED, digest="sha256:ab", tags=[], blobs=[]),
                           "1", "r")
    assert untagged["detail"]["action-type"] == "DELETE" and "image-tag" not in untagged[
        "detail"]


def test_other_kinds_make_no_eventbridge_event():
    assert envelopes(_event(REPOSITORY_CREATED, keyRef="k"), "1", "r") == []
