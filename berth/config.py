"""Settings: defaults, overridden by a TOML file, then BERTH_* environment variables, then flags."""
from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

ENV_PREFIX = "BERTH_"
# Settings that must be greater than 0 (an interval of 0 would spin).
POSITIVE = frozenset({"usage_flush_seconds"})
DEFAULT_REGIONS = (
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "sa-east-1",
    "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-north-1", "eu-south-1",
    "ap-south-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-southeast-1",
    "ap-southeast-2", "me-south-1", "af-south-1",
)


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 5000
    # HTTPS on the same port: a certificate and its key (PEM; re-read on SIGHUP), or tls =
    # "self-signed" for a CA and certificate of Berth's own under <data_dir>/tls.
    tls: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    # Load balancers whose X-Forwarded-For / X-Forwarded-Proto are believed (comma-separated
    # addresses or CIDRs); empty: none, so no client can claim another source address or
    # HTTPS (aws:SourceIp, aws:SecureTransport, per-address limits).
    trusted_proxies: str = ""
    data_dir: Path = Path("berth-data")
    # Empty means embedded defaults under data_dir: SQLite file and a blobs directory.
    database: str = ""
    storage: str = ""
    workers: int = 0  # server processes; 0: one per CPU, at most 8 (berth.process)
    log_level: str = "info"
    # Observability: "text" for a terminal, "json" for one JSON object per line; one access
    # log line per request (at info) unless access_log is off.
    log_format: str = "text"
    access_log: bool = True
    # Prometheus metrics at GET /metrics on the API port (authorized like the admin API),
    # or on this port of their own when not 0 (anonymous when metrics_anonymous); off: none
    # are kept (nothing is recorded on the request path).
    metrics: bool = True
    # The audit trail (CloudTrail's role): every API call, registry request and lifecycle
    # action, kept this many days (berth admin audit lookup).
    audit: bool = True
    audit_retention_days: int = 90
    metrics_port: int = 0
    metrics_anonymous: bool = False
    # Public registries (ECR Public): pulled from public.<domain>/<alias>/<repository>, or
    # from <host>:<public_port>/<alias>/<repository> when public_port is not 0. Anonymous
    # pulls (manifest GETs) per source address and authenticated ones per account, per
    # second and per server process, each with a burst of ten seconds' worth (more: 429).
    public_port: int = 0
    public_pulls_anonymous: int = 1
    public_pulls_authenticated: int = 10
    # Event notifications (webhook targets): attempts before a delivery is dead-lettered,
    # and how long one attempt may take.
    notification_max_attempts: int = 8
    notification_timeout_seconds: int = 10
    # The first retry's delay; each next one doubles (with jitter), at most an hour.
    notification_backoff_seconds: int = 5
    # Usage and cost: networks whose clients' pulls count as inside the deployment (CIDRs,
    # comma-separated), and prices per GB-month stored and per GB transferred out (empty:
    # no cost is shown).
    internal_networks: str = ""
    price_per_gb_month: str = ""
    price_per_gb_transferred: str = ""
    # How often each server process adds the bytes it counted pulled to the day's rows
    # (seconds, > 0; a process's counts since its last flush are lost if it is killed).
    usage_flush_seconds: float = 5.0
    upload_ttl_seconds: int = 24 * 3600
    upload_expiry_interval_seconds: int = 0  # 0: a quarter of the TTL, at most 10 minutes
    # Background jobs: how often each server process looks for due jobs, and how long a
    # claimed job stays its own without renewal (a dead node's jobs wait that long).
    job_poll_seconds: int = 1
    job_lease_seconds: int = 60
    # Which processes run background jobs: serve runs them too unless jobs is off (then
    # `berth worker` processes do).
    jobs: bool = True
    # Garbage collection: unreferenced blobs are kept this long (which also bounds how long
    # a push may take between storing a blob and linking it), and swept this often.
    gc_grace_seconds: int = 3600
    # Lifecycle policies: each repository's policy runs at least once per interval (ECR acts
    # within 24 hours); nodes look for repositories due every check interval.
    lifecycle_interval_seconds: int = 24 * 3600
    lifecycle_check_seconds: int = 300
    # Vulnerability scanning (berth/scanning): a layer that unpacks to more bytes or holds
    # more entries than these is not read (its scan FAILS, saying why).
    scan_max_layer_bytes: int = 16 << 30
    scan_max_layer_entries: int = 2_000_000
    # Continuous scanning ends (SCAN_ELIGIBILITY_EXPIRED) for an image neither pushed nor
    # pulled for this many days, as Amazon Inspector's re-scan duration; 0: its lifetime.
    scan_rescan_days: int = 0
    # OSV files (bulk zips or JSON, http(s), comma or space separated) the vulnerability
    # database is refreshed from this often, by one node at a time; empty: imports only.
    vulndb_urls: str = ""
    vulndb_refresh_seconds: int = 6 * 3600
    gc_interval_seconds: int = 600
    # Pull-through caches (berth/pullthrough): a cached tag is checked upstream at most this
    # often (ECR: 24 h); upstream requests time out after; extra CA certificates (PEM file)
    # upstreams over https may be signed by.
    pullthrough_refresh_seconds: int = 24 * 3600
    pullthrough_timeout_seconds: int = 30
    pullthrough_ca_file: str = ""
    # ... and the whole storage walked for objects no metadata knows (a crash's leftovers).
    gc_orphan_scan_seconds: int = 24 * 3600
    # How often the outbox of domain events is delivered to its subscribers.
    event_delivery_seconds: int = 1
    max_manifest_bytes: int = 4 * 1024 * 1024
    # Blobs and manifests a manifest may reference (layers, config, subject, an index's
    # manifests); real images have at most a few hundred. More: MANIFEST_INVALID.
    max_manifest_references: int = 10000
    # Hostile or unlucky clients: a request body that sends nothing for this long is given
    # up on; request bodies (uploads) in flight at once per principal and per source
    # address, per server process (more: 429 TOOMANYREQUESTS); threads per pool, so that
    # upload bytes, blob reads and metadata work cannot starve one another.
    body_idle_seconds: int = 30
    uploads_per_principal: int = 64
    # Per-principal rates of the push and pull actions (ECR's, or overrides: berth/quotas);
    # off: no rate is enforced. The administrator's account is never limited.
    rate_limits: bool = True
    # OpenID Connect issuers over plain http on this machine (tests, a laptop's own issuer);
    # off, every issuer must be https.
    oidc_loopback_issuers: bool = False
    uploads_per_address: int = 128
    upload_threads: int = 16
    read_threads: int = 32
    metadata_threads: int = 32
    # Tenancy: registries are addressed as <account>.dkr.ecr.<region>.<domain>; plain
    # host:port is the caller's own registry (its token's account and region). Tokens from
    # before tokens named their region count as default_region; default_account (empty: the
    # administrator account) holds data from before accounts existed.
    domain: str = "localhost"
    regions: str = ",".join(DEFAULT_REGIONS)
    default_region: str = "us-east-1"
    default_account: str = ""
    admin_account: str = ""  # id of the administrator account made at first start
    # The key sealing stored secrets: base64 here (e.g. BERTH_MASTER_KEY), else this file
    # (default <data_dir>/master.key, created at first start). All nodes need the same key.
    master_key: str = ""
    master_key_file: str = ""
    token_lifetime_seconds: int = 12 * 3600
    # S3 blob storage (storage = s3://bucket/prefix). Empty endpoint/region: boto3's own
    # resolution (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, AWS_REGION, ...); credentials always
    # come from boto3's usual chain (AWS_ACCESS_KEY_ID, profiles, ...).
    s3_endpoint_url: str = ""
    s3_region: str = ""
    s3_part_size: int = 8 * 1024 * 1024  # multipart part size; S3's minimum is 5 MiB
    # Pulls answered with a 307 to a presigned URL: "auto" = when the driver supports it
    # (S3) and Berth does not encrypt the blob itself; "on" is the same; "off" never.
    storage_redirect: str = "auto"
    # The storage encrypts at rest itself (S3 SSE, an encrypted volume): repositories with
    # encryptionType AES256 are then stored as they are; KMS repositories are always
    # encrypted by Berth.
    storage_encrypted: bool = False

    @property
    def database_url(self) -> str:
        return self.database or f"sqlite:///{(self.data_dir / 'metadata.db').resolve()}"

    @property
    def region_list(self) -> tuple[str, ...]:
        return tuple(r.strip() for r in self.regions.split(",") if r.strip())

    @property
    def master_key_path(self) -> Path:
        return Path(self.master_key_file) if self.master_key_file else (
            self.data_dir / "master.key")

    @property
    def credentials_path(self) -> Path:
        """Where the first start writes the administrator's access key."""
        return self.data_dir / "admin-credentials"

    @property
    def storage_url(self) -> str:
        return self.storage or (self.data_dir / "blobs").resolve().as_uri()

    def to_env(self) -> dict[str, str]:
        """Serialise for worker processes, which read their settings from the environment."""
        return {ENV_PREFIX + f.name.upper(): str(getattr(self, f.name)) for f in fields(self)}


def _coerce(name: str, value: Any) -> Any:
    kind = {f.name: f.type for f in fields(Settings)}[name]
    try:
        if kind == "int":
            return int(value)
        if kind == "float":
            return _float(value, name in POSITIVE)
        if kind == "bool":
            return _bool(value)
        if kind == "Path":
            return Path(value)
        return str(value)
    except (TypeError, ValueError) as exc:
        wanted = f"{kind} > 0" if name in POSITIVE else kind
        raise ValueError(f"setting {name!r}: {value!r} is not a valid {wanted}") from exc


def _float(value: Any, positive: bool) -> float:
    if isinstance(value, bool):
        raise ValueError(value)  # TOML's true is no number of seconds
    found = float(value)
    if not math.isfinite(found) or (positive and found <= 0):
        raise ValueError(value)
    return found


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(value)


def load_settings(
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    config_file: str | os.PathLike | None = None,
) -> Settings:
    env = os.environ if env is None else env
    names = {f.name for f in fields(Settings)}
    values: dict[str, Any] = {}
    config_file = config_file or env.get(ENV_PREFIX + "CONFIG")
    if config_file:
        with open(config_file, "rb") as fh:
            try:
                table = tomllib.load(fh)
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:  # TOML is UTF-8
                raise ValueError(f"{config_file}: not valid TOML: {exc}") from exc
            for key, value in table.items():
                key = key.replace("-", "_")
                if key not in names:
                    raise ValueError(f"{config_file}: unknown setting {key!r}")
                values[key] = value
    for name in names:
        if ENV_PREFIX + name.upper() in env:
            values[name] = env[ENV_PREFIX + name.upper()]
    for name, value in (flags or {}).items():
        if value is not None and name in names:
            values[name] = value
    return dataclasses.replace(Settings(), **{k: _coerce(k, v) for k, v in values.items()})
