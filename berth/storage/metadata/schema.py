"""Table definitions (SQLAlchemy Core). Migrations under ``migrations/`` create and evolve them;
this module is what queries are written against."""
from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
)

metadata = MetaData()

# Text compared byte-wise so that ORDER BY is the lexical order the OCI spec asks for.
def _name(length: int) -> String:
    return String(length).with_variant(String(length, collation="C"), "postgresql")


accounts = Table(
    "accounts", metadata,
    Column("id", String(12), primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("is_admin", Boolean, nullable=False),
    Column("created_at", Float, nullable=False),
)

users = Table(
    "users", metadata,
    Column("id", String(32), primary_key=True),  # AWS's unique id form: AIDA...
    Column("account_id", String(12), ForeignKey("accounts.id"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("path", String(512), nullable=False),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("account_id", "name"),
)

# A key without a user belongs to its account's root.
access_keys = Table(
    "access_keys", metadata,
    Column("id", String(32), primary_key=True),
    Column("account_id", String(12), ForeignKey("accounts.id"), nullable=False),
    Column("user_id", String(32), ForeignKey("users.id")),
    Column("secret", LargeBinary, nullable=False),  # encrypted under the master key
    Column("active", Boolean, nullable=False),
    # Tokens minted before this moment are refused (set when the key is deactivated).
    Column("tokens_valid_after", Float, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("last_used_at", Float),
)

user_policies = Table(
    "user_policies", metadata,
    Column("user_id", String(32), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("document", Text, nullable=False),
)

# Keys for signing registry tokens, encrypted under the master key; the newest signs.
signing_keys = Table(
    "signing_keys", metadata,
    Column("id", String(32), primary_key=True),
    Column("secret", LargeBinary, nullable=False),
    Column("created_at", Float, nullable=False),
)

# Counters such as "iam": bumped by every change to identities or policies, so that nodes
# can cache what they derived from them and notice when it is stale.
generations = Table(
    "generations", metadata,
    Column("name", String(32), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

# One private registry per account and region.
registries = Table(
    "registries", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(12), ForeignKey("accounts.id"), nullable=False),
    Column("region", String(32), nullable=False),
    Column("policy", Text),
    Column("created_at", Float, nullable=False),
    Column("settings", Text),  # JSON: create-on-push, account settings, ...
    UniqueConstraint("account_id", "region"),
)

repositories = Table(
    "repositories", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # No foreign key: rows migrated from before registries existed carry 0 until the
    # start-up bootstrap adopts them into the default registry.
    Column("registry_id", Integer, nullable=False),
    Column("name", _name(256), nullable=False),
    Column("policy", Text),
    Column("created_at", Float, nullable=False),
    # MUTABLE | IMMUTABLE | IMMUTABLE_WITH_EXCLUSION | MUTABLE_WITH_EXCLUSION, the
    # exclusions a JSON list of ECR's imageTagMutabilityExclusionFilters.
    Column("tag_mutability", String(40), nullable=False, server_default="MUTABLE"),
    Column("mutability_exclusions", Text),
    Column("scan_on_push", Boolean, nullable=False, server_default=false()),
    Column("encryption_type", String(16), nullable=False, server_default="AES256"),
    Column("kms_key", String(2048)),
    # Which key encrypts the repository's blobs (berth.storage.blobs.keyring): "aes256",
    # "kms-<uuid>", or "" for plain (storage that encrypts itself; rows from before). Fixed
    # at creation, as ECR cannot change a repository's encryption.
    Column("key_ref", String(64), nullable=False, server_default=""),
    UniqueConstraint("registry_id", "name"),
    # Ids never reused: an event of a deleted repository must not reach its successor.
    sqlite_autoincrement=True,
)

repository_tags = Table(
    "repository_tags", metadata,
    Column("repository_id", Integer, ForeignKey("repositories.id", ondelete="CASCADE"),
           primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("value", String(256), nullable=False),
)

# A stored object: one digest's bytes under one key ref (the key that seals them; "" for
# plain), so the same layer in repositories with different keys is two objects. Garbage
# collection (berth.gc) removes objects no repository links once ``unreferenced_since`` is
# older than the grace period; NULL while some link holds it.
blobs = Table(
    "blobs", metadata,
    Column("key_ref", String(64), primary_key=True),
    Column("digest", String(200), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("unreferenced_since", Float),
)

# A blob linked in a repository (pushed, mounted). The object it names is the repository's
# key ref + digest. ``unreferenced_since``: no manifest of the repository lists it since
# then (NULL while one does); garbage collection unlinks it after the grace period.
repository_blobs = Table(
    "repository_blobs", metadata,
    Column("repository_id", Integer, ForeignKey("repositories.id", ondelete="CASCADE"),
           primary_key=True),
    Column("digest", String(200), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("unreferenced_since", Float),
    Index("ix_repository_blobs_digest", "digest"),
)

manifests = Table(
    "manifests", metadata,
    Column("repository_id", Integer, ForeignKey("repositories.id", ondelete="CASCADE"),
           primary_key=True),
    Column("digest", String(200), primary_key=True),
    Column("media_type", String(255), nullable=False),
    Column("artifact_type", String(255)),
    Column("subject_digest", String(200)),
    Column("config_digest", String(200)),
    Column("config_media_type", String(255)),
    Column("size", Integer, nullable=False),
    # Manifest plus everything it references: what ECR calls imageSizeInBytes.
    Column("total_size", BigInteger, nullable=False),
    Column("annotations", Text),
    Column("content", LargeBinary, nullable=False),
    Column("pushed_at", Float, nullable=False),
    Column("last_pulled_at", Float),
    # ACTIVE, ARCHIVED or ACTIVATING (being restored): lifecycle's archive storage class.
    Column("image_status", String(16), nullable=False, server_default="ACTIVE"),
    Column("last_archived_at", Float),
    Column("last_activated_at", Float),
    Index("ix_manifests_subject", "repository_id", "subject_digest"),
)

def manifest_age():
    """When an image's age starts (lifecycle's order): its restore from the archive, else its
    push."""
    return func.coalesce(manifests.c.last_activated_at, manifests.c.pushed_at)


# What a manifest references: blobs (config, layers) and child manifests (of an index).
manifest_references = Table(
    "manifest_references", metadata,
    Column("repository_id", Integer, ForeignKey("repositories.id", ondelete="CASCADE"),
           primary_key=True),
    Column("parent_digest", String(200), primary_key=True),
    Column("child_digest", String(200), primary_key=True),
    Column("kind", String(16), nullable=False),  # "blob" | "manifest"
    Index("ix_manifest_references_child", "repository_id", "child_digest"),
)

tags = Table(
    "tags", metadata,
    Column("repository_id", Integer, ForeignKey("repositories.id", ondelete="CASCADE"),
           primary_key=True),
    Column("name", _name(128), primary_key=True),
    Column("digest", String(200), nullable=False),
    Column("updated_at", Float, nullable=False),
    Index("ix_tags_digest", "repository_id", "digest"),
    Index("ix_tags_order", "repository_id", func.lower(text("name")), "name"),
)

uploads = Table(
    "uploads", metadata,
    Column("id", String(64), primary_key=True),
    Column("registry_id", Integer, nullable=False),
    Column("repository", _name(256), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("driver_state", Text, nullable=False),
    Column("key_ref", String(64), nullable=False, server_default=""),  # what it is sealed with
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("parts", Integer, nullable=False, server_default="0"),  # ECR API layer parts
    Column("last_part", BigInteger, nullable=False, server_default="0"),  # its size
    # parts under ECR's minimum part size that another part followed
    Column("small_parts", Integer, nullable=False, server_default="0"),
    Index("ix_uploads_updated_at", "updated_at"),
)

# Key-encryption keys: the deployment's ("aes256": AES256 repositories) and KMS-style
# customer keys per account and region (alias "aws/ecr": an account's managed default).
# Changes bump the "keys" generation. Their material is in encryption_key_versions.
encryption_keys = Table(
    "encryption_keys", metadata,
    Column("id", String(36), primary_key=True),  # a UUID, or "aes256"
    Column("account_id", String(12), ForeignKey("accounts.id")),
    Column("region", String(32)),
    Column("alias", String(256)),
    Column("description", Text, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("account_id", "region", "alias"),
)

# Rotation adds a version that wraps new data keys; older ones stay to unwrap old data.
encryption_key_versions = Table(
    "encryption_key_versions", metadata,
    Column("key_id", String(36), ForeignKey("encryption_keys.id"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("material", LargeBinary, nullable=False),  # sealed with the master key
    Column("created_at", Float, nullable=False),
)

# Background work, claimed by one node at a time under a lease (berth/jobs). A dedup key
# makes an enqueue happen once (a periodic job's period slot, an idempotent request).
jobs = Table(
    "jobs", metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(64), nullable=False),
    Column("dedup_key", String(200), unique=True),
    Column("payload", Text, nullable=False),  # JSON
    Column("state", String(16), nullable=False),  # queued | running | done | failed
    Column("run_at", Float, nullable=False),
    Column("attempts", Integer, nullable=False),  # claims so far: also the claim's fence
    Column("max_attempts", Integer, nullable=False),
    Column("claimed_by", String(128)),
    Column("lease_until", Float),
    Column("last_error", String(500)),
    Column("created_at", Float, nullable=False),
    Column("finished_at", Float),
    Index("ix_jobs_claim", "state", "run_at"),
)

# The outbox: every change of the domain appends its events here in the same transaction,
# in commit order (berth.events). Subscribers read on from their cursor.
events = Table(
    "events", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("kind", String(64), nullable=False),
    Column("registry_id", Integer, nullable=False),
    Column("repository", _name(256)),
    Column("payload", Text, nullable=False),  # JSON
    Column("created_at", Float, nullable=False),
    sqlite_autoincrement=True,  # ids never reused: a cursor past a pruned id stays valid
)

# How far each subscriber has read the outbox (the id of the last event it handled).
event_cursors = Table(
    "event_cursors", metadata,
    Column("subscriber", String(64), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# Signatures of accepted requests that change state, kept while they could still pass the
# clock check, so that each is accepted once on any node (berth/iam/replay.py).
used_signatures = Table(
    "used_signatures", metadata,
    Column("signature", String(64), primary_key=True),
    Column("expires_at", Float, nullable=False),  # epoch seconds: kept until then
    Index("ix_used_signatures_expires_at", "expires_at"),
)

# Usage for cost reports (berth/usage): storage sampled once a day per repository and storage
# class ("standard"; "archive": objects only archived images reference), with the repository's
# resource tags of that day, and bytes pulled per repository and day inside and outside the
# deployment's networks. Days are UTC dates (YYYY-MM-DD); rows name account, region and
# repository, so a deleted repository's past usage stays.
usage_storage_daily = Table(
    "usage_storage_daily", metadata,
    Column("day", String(10), primary_key=True),
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("repository", _name(256), primary_key=True),
    Column("storage_class", String(16), primary_key=True, server_default="standard"),
    Column("bytes", BigInteger, nullable=False),
    Column("objects", BigInteger, nullable=False),
    Column("sampled_at", Float, nullable=False),
    # JSON {key: value}: the cost allocation tags of that day; NULL: sampled before they were
    # kept (reports then use the tags now).
    Column("tags", Text),
)

usage_transfer_daily = Table(
    "usage_transfer_daily", metadata,
    Column("day", String(10), primary_key=True),
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("repository", _name(256), primary_key=True),
    Column("bytes_inside", BigInteger, nullable=False),
    Column("bytes_outside", BigInteger, nullable=False),
    Column("updated_at", Float, nullable=False),
)


# Tables declared beside their statements join the shared metadata here, whatever imports
# first: migrations are checked against every table (tests/unit/storage/metadata).
from . import (  # noqa: E402,F401
    audit,
    console,
    creation_templates,
    federation,
    gc_runs,
    lifecycle,
    notifications,
    public,
    pullthrough,
    quotas,
    rate_takes,
    replication,
    roles,
    scanning,
    secrets,
    signing,
    vulndb,
)
