"""Rows of garbage collection runs an operator started (berth.gc.runs): one per run, named by
the id of the job that sweeps, holding the sweep's report once it finished. The job's row
says whether it waits, runs or failed; it is pruned a day after it ends, this row later.
Declared here, on the shared metadata."""
from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, Column, Float, Index, String, Table, Text, bindparam, delete
from sqlalchemy import select, update

from .schema import metadata
from .statements import insert

if TYPE_CHECKING:
    from .database import Tx

gc_runs = Table(
    "gc_runs", metadata,
    Column("id", String(32), primary_key=True),  # the job's id
    Column("dry_run", Boolean, nullable=False),
    Column("requested_at", Float, nullable=False),
    Column("finished_at", Float),
    Column("report", Text),  # JSON: the collector's report, once the sweep finished
    Index("ix_gc_runs_requested_at", "requested_at"),
)

_ID = gc_runs.c.id == bindparam("id")


@cache
def _insert(dialect: str):
    return insert(dialect, gc_runs, "id", "dry_run", "requested_at")


@cache
def _finish():
    return update(gc_runs).where(_ID).values(report=bindparam("report"),
                                             finished_at=bindparam("now"))


@cache
def _get():
    return select(*gc_runs.c).where(_ID)


@cache
def _prune():
    return delete(gc_runs).where(gc_runs.c.requested_at < bindparam("before"))


def add(tx: "Tx", run_id: str, dry_run: bool, now: float) -> None:
    tx.execute(_insert(tx.dialect_name), {"id": run_id, "dry_run": dry_run,
                                          "requested_at": now})


def finish(tx: "Tx", run_id: str, report: str, now: float) -> None:
    tx.execute(_finish(), {"id": run_id, "report": report, "now": now})


def get(tx: "Tx", run_id: str):
    return tx.first(_get(), {"id": run_id})


def prune(tx: "Tx", before: float) -> int:
    return tx.execute(_prune(), {"before": before})
