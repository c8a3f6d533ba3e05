"""``berth admin gc [--dry-run]``: free the storage nothing references (past the grace
period) now, and print the report. Offline the sweep runs in this process. Online it may take
longer than a client waits for one answer (a walk of a large S3 store): it is started as a
job on the server, which any node or worker runs, and asked about until it ends."""
from __future__ import annotations

import sys
import time
from typing import Callable

from ..api.admin.errors import AdminError

HELP = "garbage collection of unreferenced blobs"
OPERATION = "RunGarbageCollection"
# Seconds between asks: short at first (most sweeps end within seconds), then longer.
POLL_FIRST, POLL_GROWTH, POLL_MAX = 0.2, 1.25, 5.0
UNREACHABLE_POLLS = 10  # failed asks in a row (a server restarting) before giving up
QUEUED_HINT_SECONDS = 60.0  # a run still queued this long: say why it may be

COMMANDS = {"": ("free storage nothing references (past the grace period) now", OPERATION,
                 ((("--dry-run",), {"action": "store_true",
                                    "help": "only count what would be freed"}),),
                 lambda a: {"DryRun": "true" if a.dry_run else "false"})}


def run_online(client, params: dict, sleep: Callable[[float], None] = time.sleep) -> dict:
    """Start the sweep on the server, wait for it, and return its report as
    RunGarbageCollection would."""
    try:
        run_id = client.call("StartGarbageCollection", params)["GarbageCollectionId"]
    except AdminError as exc:
        if exc.code != "UnknownOperationException":
            raise
        return client.call(OPERATION, params)  # a server from before runs were started
    print(f"garbage collection {run_id} started; waiting for it to end", file=sys.stderr)
    found = _wait(client, run_id, sleep)
    if found["Status"] == "FAILED":
        raise AdminError("GarbageCollectionFailed", f"garbage collection {run_id} failed: "
                         f"{found['FailureReason']}")
    return found["Report"]


def _wait(client, run_id: str, sleep: Callable[[float], None]) -> dict:
    """The run once it ended, asked about ever less often; a server that cannot be reached
    for a while (restarting) is asked again."""
    delay, unreachable, waited, hinted = POLL_FIRST, 0, 0.0, False
    while True:
        sleep(delay)
        waited, delay = waited + delay, min(POLL_MAX, delay * POLL_GROWTH)
        try:
            found = client.call("GetGarbageCollection", {"GarbageCollectionId": run_id})
        except (OSError, AdminError) as exc:
            unreachable += 1
            if (isinstance(exc, AdminError) and not _passing(exc)
                    or unreachable >= UNREACHABLE_POLLS):
                raise
            continue
        unreachable = 0
        if found["Status"] in ("COMPLETE", "FAILED"):
            return found
        if found["Status"] == "QUEUED" and waited >= QUEUED_HINT_SECONDS and not hinted:
            hinted = True
            print(f"garbage collection {run_id} is still queued: every node may be serving "
                  "with --no-jobs; start a `berth worker` (or interrupt: the run stays "
                  "queued)", file=sys.stderr)


def _passing(error: AdminError) -> bool:
    """An answer that says "ask again" (a node restarting, a rate), not the run's end."""
    return error.code == "ThrottlingException" or error.status >= 500
