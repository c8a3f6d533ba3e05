"""Rows of the vulnerability database (berth/scanning/vulndb): OSV advisories, the packages
each affects (what a scan looks up by ecosystem and name), and the sources they came from with
their update times (ECR's ``vulnerabilitySourceUpdatedAt``)."""
from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from sqlalchemy import (Column, Float, ForeignKey, Index, Integer, LargeBinary, String, Table,
                        bindparam, delete, func, select)

from .schema import metadata
from .statements import in_list, insert, list_param

if TYPE_CHECKING:
    from .database import Tx

vulnerabilities = Table(
    "vulnerabilities", metadata,
    Column("id", String(128), primary_key=True),
    Column("modified", Float, nullable=False),     # or published, whichever is later
    Column("sha256", String(64), nullable=False),  # of the record as imported: changed?
    Column("source", String(128), nullable=False),
    Column("record", LargeBinary, nullable=False),  # the OSV record, zlib-compressed JSON
)

# One row per affected[] entry of a record (``position`` is its index there).
vulnerable_packages = Table(
    "vulnerable_packages", metadata,
    Column("vuln_id", String(128), ForeignKey("vulnerabilities.id", ondelete="CASCADE"),
           primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("ecosystem", String(128), nullable=False),
    Column("name", String(512), nullable=False),
    Index("ix_vulnerable_packages_name", "ecosystem", "name"),
)

vulnerability_sources = Table(
    "vulnerability_sources", metadata,
    Column("name", String(128), primary_key=True),
    Column("updated_at", Float, nullable=False),   # the newest ``modified`` among its records
    Column("imported_at", Float, nullable=False),
    Column("records", Integer, nullable=False),
)

V, P, S = vulnerabilities, vulnerable_packages, vulnerability_sources


@cache
def _hashes():
    return select(V.c.id, V.c.sha256).where(in_list(V.c.id, "ids"))


def hashes(tx: "Tx", ids: list[str]) -> dict[str, str]:
    """The stored hash of each of these advisories that is stored."""
    return {r.id: r.sha256 for r in tx.all(_hashes(), {"ids": list_param(ids)})}


@cache
def _remove():
    return delete(V).where(in_list(V.c.id, "ids"))


@cache
def _remove_packages():
    return delete(P).where(in_list(P.c.vuln_id, "ids"))


def replace(tx: "Tx", records: list[dict], packages: list[dict]) -> None:
    """Store advisories (``id``, ``modified``, ``sha256``, ``source``, ``record``) and their affected
    packages (``vuln_id``, ``position``, ``ecosystem``, ``name``), replacing stored ones."""
    ids = list_param([r["id"] for r in records])
    tx.execute(_remove_packages(), {"ids": ids})  # SQLite may run without cascades here
    tx.execute(_remove(), {"ids": ids})
    if records:
        tx.executemany(insert(tx.dialect_name, V, "id", "modified", "sha256", "source",
                                      "record"), records)
    if packages:
        tx.executemany(insert(tx.dialect_name, P, "vuln_id", "position", "ecosystem", "name"),
                   packages)


@cache
def _affecting():
    return (select(P.c.vuln_id, P.c.position, P.c.name, V.c.sha256)
            .join(V, V.c.id == P.c.vuln_id)
            .where(P.c.ecosystem == bindparam("ecosystem"), in_list(P.c.name, "names")))


def affecting(tx: "Tx", ecosystem: str, names: list[str]) -> list:
    """(vuln_id, position, name, sha256) of every advisory entry naming one of these
    packages (the hash says whether a copy read before is still the stored one)."""
    return tx.all(_affecting(), {"ecosystem": ecosystem, "names": list_param(names)})


@cache
def _records():
    return select(V.c.id, V.c.record).where(in_list(V.c.id, "ids"))


def records(tx: "Tx", ids: list[str]) -> dict[str, bytes]:
    return {r.id: r.record for r in tx.all(_records(), {"ids": list_param(ids)})}


@cache
def _put_source(dialect: str):
    stmt = insert(dialect, S, "name", "updated_at", "imported_at", "records")
    return stmt.on_conflict_do_update(index_elements=[S.c.name], set_={
        "updated_at": stmt.excluded.updated_at, "imported_at": stmt.excluded.imported_at,
        "records": stmt.excluded.records})


def put_source(tx: "Tx", name: str, updated_at: float, imported_at: float, count: int) -> None:
    tx.execute(_put_source(tx.dialect_name), {"name": name, "updated_at": updated_at,
                                              "imported_at": imported_at, "records": count})


@cache
def _sources():
    return select(S).order_by(S.c.name)


def sources(tx: "Tx") -> list:
    return tx.all(_sources())


@cache
def _updated_at():
    return select(func.max(S.c.updated_at).label("updated_at"))


def updated_at(tx: "Tx") -> float | None:
    """When the newest advisory of any source was modified (None before any import)."""
    return tx.scalar(_updated_at())

