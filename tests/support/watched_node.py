"""A one-process ``berth serve`` for a test module, its log watched while it runs (a failing
test shows its tail) and checked for problems when it stops."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

from tests.support.berth_node import BerthNode
from tests.support.gc import gc_env, log_problems
from tests.support.log_watch import LOGS
from tests.support.skopeo import Skopeo

# Lifecycle policies run a second after they are put, garbage collection frees soon after.
FAST_LIFECYCLE = gc_env(grace=2, interval=1, BERTH_LIFECYCLE_CHECK_SECONDS="1",
                        BERTH_LIFECYCLE_INTERVAL_SECONDS="1")


@contextlib.contextmanager
def watched_node(workdir: Path, label: str, env: dict[str, str]) -> Iterator[BerthNode]:
    node = BerthNode(workdir, extra_args=("--workers", "1"), env=env).start()
    LOGS.add(label, node.daemon.log_path)
    try:
        yield node
    finally:
        LOGS.remove(label)
        node.stop()
    assert not log_problems(node.log_text())


def logged_in_skopeo(node: BerthNode, workdir: Path) -> Skopeo:
    client = Skopeo(workdir)
    client.login(f"127.0.0.1:{node.port}", node.token)
    return client
