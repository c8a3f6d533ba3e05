"""The snapshot the no-partial-state checks compare (Oci.snapshot) sees what the registry
stores, on each metadata database, and is stable while nothing changes."""
from __future__ import annotations

from .support import SNAPSHOT_TABLES


def test_the_snapshot_sees_a_push_and_nothing_else(oci):
    empty = oci.snapshot()
    assert oci.snapshot() == empty
    oci.push_index("snapshot/app", "multi", [oci.push_image("snapshot/app", layers=(b"a", b"b")),
                                             oci.push_image("snapshot/app", layers=(b"c",))])
    pushed = oci.snapshot()
    assert all(pushed["tables"][table] for table in SNAPSHOT_TABLES), pushed["tables"]
    assert pushed["files"] and pushed != empty
    assert oci.snapshot() == pushed
