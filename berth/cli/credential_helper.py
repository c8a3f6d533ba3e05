"""``docker-credential-berth``: a docker credential helper that mints Berth registry tokens.

It speaks the docker-credential-helpers protocol (``get``, ``list``, ``erase``; ``store`` is
accepted and ignored, as ``docker-credential-ecr-login`` does), so docker (``credHelpers`` in
``config.json``) and podman, skopeo and buildah (``credHelpers`` in ``auth.json``) ask it for
``AWS:<token>`` whenever they talk to a Berth registry; nobody runs ``docker login``.

A token comes from ECR's ``GetAuthorizationToken`` on the Berth endpoint the server URL names,
signed with whatever boto3's default chain finds (environment, profile, instance role). Tokens
are cached in a private file, per server and per access key, until shortly before they expire.
The secret is written nowhere but the ``get`` answer on stdout and that file.
"""
from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, TextIO
from urllib.parse import urlsplit

from ..iam.tenancy import ACCOUNT_ID, REGION

PROGRAM = "docker-credential-berth"
# The exact strings docker's client library matches (docker-credential-helpers/credentials).
NOT_FOUND = "credentials not found in native keychain"
MISSING_URL = "no credentials server URL"
DEFAULT_REGION = "us-east-1"
ENDPOINT_ENVS = ("BERTH_ENDPOINT_URL", "AWS_ENDPOINT_URL_ECR")
CACHE_ENV = "BERTH_CREDENTIAL_CACHE"
CACHE_FORMAT = 1
# A cached token is handed out until this long before it expires, so that a pull or push
# started with it does not outlive it: the larger of 5 minutes and a tenth of the token's
# lifetime, but at most half of it (else a short-lived token would never be reused).
MIN_MARGIN_SECONDS = 300.0
MARGIN_FRACTION = 0.1
# <account>.dkr.ecr.<region>.<domain>: Berth's (and ECR's) per-registry host names.
REGISTRY_HOST = re.compile(rf"{ACCOUNT_ID.pattern}\.dkr\.ecr\.({REGION.pattern})\..+")


class NotFound(Exception):
    """No credentials for this server: docker and containers/image then go on anonymously."""


class HelperError(Exception):
    """A failure reported to the caller with its one-line message."""


@dataclass(frozen=True)
class Token:
    username: str
    secret: str
    expires_at: float  # seconds since the epoch


class Minter(Protocol):
    def identity(self) -> str:
        """The access key id tokens will be minted with (raises NotFound without one)."""

    def mint(self, server_url: str) -> Token:
        """A fresh registry token for the registry at ``server_url``."""


# -- server URLs ---------------------------------------------------------------------------
def _split(server_url: str) -> tuple[str, str]:
    """(scheme or "", host[:port]) of what docker or containers/image passed: a bare
    ``host:port``, or a URL such as ``https://host/v1/``."""
    text = server_url.strip()
    if not text:
        raise HelperError(MISSING_URL)
    parts = urlsplit(text if "://" in text else "//" + text)
    if not parts.netloc:
        raise HelperError(f"not a registry address: {text!r}")
    return parts.scheme.lower(), parts.netloc.lower()


def server_key(server_url: str) -> str:
    """The cache key of a server: its host[:port], whatever form the client sent it in."""
    return _split(server_url)[1]


def _hostname(netloc: str) -> str:
    return (urlsplit("//" + netloc).hostname or "").rstrip(".")


def is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def endpoint_for(server_url: str, env: Mapping[str, str]) -> str:
    """The ECR API endpoint of a registry: an override from the environment, else the
    registry's own host, over plain HTTP when the client said so or the host is loopback
    (as docker treats 127.0.0.0/8 as an insecure registry), else HTTPS."""
    for name in ENDPOINT_ENVS:
        if env.get(name, "").strip():
            return env[name].strip().rstrip("/")
    scheme, netloc = _split(server_url)
    if scheme not in ("http", "https"):
        scheme = "http" if is_loopback(_hostname(netloc)) else "https"
    return f"{scheme}://{netloc}"


def endpoint_candidates(server_url: str, env: Mapping[str, str]) -> list[str]:
    """Where to ask, in order: a loopback host named without a scheme may serve plain HTTP
    (the default) or HTTPS (``berth serve --tls ...``), so both are tried, plain first."""
    first = endpoint_for(server_url, env)
    scheme, netloc = _split(server_url)
    if scheme in ("http", "https") or any(env.get(n, "").strip() for n in ENDPOINT_ENVS):
        return [first]
    return [first, f"https://{netloc}"] if first.startswith("http://") else [first]


def region_for(server_url: str, configured: str | None) -> str:
    """The region a registry host names (``<account>.dkr.ecr.<region>.<domain>``), else
    boto3's configured one, else us-east-1 (what a plain ``host:port`` Berth serves by default)."""
    match = REGISTRY_HOST.fullmatch(_hostname(_split(server_url)[1]))
    return match.group(1) if match else (configured or DEFAULT_REGION)


def decode_token(encoded: str) -> tuple[str, str]:
    """ECR's ``authorizationToken``: base64 of ``<user>:<secret>``."""
    try:
        user, sep, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, TypeError):
        sep = ""
    if not sep or not user or not secret:  # never echo the value: it is the credential
        raise HelperError("the endpoint answered a malformed authorization token")
    return user, secret


def refresh_margin(lifetime: float) -> float:
    return min(max(MIN_MARGIN_SECONDS, MARGIN_FRACTION * lifetime), lifetime / 2)


# -- the cache -----------------------------------------------------------------------------
def default_cache_path(env: Mapping[str, str]) -> Path:
    if env.get(CACHE_ENV):
        return Path(env[CACHE_ENV])
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "berth" / "docker-credentials.json"


class TokenCache:
    """``{"version": 1, "entries": {host: {access key id: entry}}}`` in one JSON file, 0600.
    Writes replace the file atomically; two helpers racing lose at most an entry (a re-mint)."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def _load(self) -> dict[str, dict[str, dict[str, Any]]]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}  # missing or unreadable: start afresh rather than fail a pull
        entries = data.get("entries") if isinstance(data, dict) else None
        if not isinstance(entries, dict) or data.get("version") != CACHE_FORMAT:
            return {}
        return {k: v for k, v in entries.items() if isinstance(v, dict)}

    def _save(self, entries: dict[str, dict[str, dict[str, Any]]]) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".tmp-", suffix=".json")
        try:  # mkstemp makes the file 0600 whatever the umask
            with os.fdopen(fd, "w") as out:
                json.dump({"version": CACHE_FORMAT, "entries": entries}, out)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def lookup(self, key: str, identity: str, now: float) -> Token | None:
        entry = self._load().get(key, {}).get(identity)
        if not _usable(entry, now):
            return None
        return Token(entry["username"], entry["secret"], float(entry["expiresAt"]))

    def put(self, key: str, identity: str, server_url: str, token: Token, issued_at: float) -> None:
        entries = _prune(self._load(), issued_at)
        entries.setdefault(key, {})[identity] = {
            "serverURL": server_url, "username": token.username, "secret": token.secret,
            "issuedAt": issued_at, "expiresAt": token.expires_at}
        self._save(entries)

    def erase(self, key: str) -> bool:
        """Forget the server's tokens, for every access key."""
        entries = self._load()
        if entries.pop(key, None) is None:
            return False
        self._save(entries)
        return True

    def listing(self, now: float) -> dict[str, str]:
        """Server URL -> username of every token not yet expired."""
        return {entry["serverURL"]: entry["username"]
                for per_key in _prune(self._load(), now).values() for entry in per_key.values()}


def _valid_entry(entry: Any) -> bool:
    try:
        return (isinstance(entry, dict) and all(isinstance(entry[f], str) for f in
                                                ("serverURL", "username", "secret"))
                and float(entry["expiresAt"]) >= float(entry["issuedAt"]))
    except (KeyError, TypeError, ValueError):
        return False


def _usable(entry: Any, now: float) -> bool:
    if not _valid_entry(entry):
        return False
    expires, issued = float(entry["expiresAt"]), float(entry["issuedAt"])
    return now < expires - refresh_margin(expires - issued)


def _prune(entries: dict[str, dict[str, Any]], now: float) -> dict[str, dict[str, Any]]:
    """Without expired or malformed entries (nothing stale piles up in the file)."""
    kept = {key: {who: e for who, e in per_key.items()
                  if _valid_entry(e) and float(e["expiresAt"]) > now}
            for key, per_key in entries.items()}
    return {key: per_key for key, per_key in kept.items() if per_key}


# -- minting with boto3 ----------------------------------------------------------------------
class AwsMinter:
    """GetAuthorizationToken signed with boto3's default credential chain; ``mint`` signs
    with the very credentials ``identity`` named, so a cache entry is never another key's."""

    def __init__(self, env: Mapping[str, str]):
        import boto3  # here, not at import: list, erase and version need none of it

        self.env = env
        self.session = boto3.session.Session()
        self._frozen = None

    def identity(self) -> str:
        credentials = self.session.get_credentials()
        if credentials is None:
            raise NotFound("no AWS credentials in the environment, profile or instance role")
        self._frozen = credentials.get_frozen_credentials()
        if not self._frozen.access_key:
            raise NotFound("the AWS credentials found have no access key id")
        return self._frozen.access_key

    def mint(self, server_url: str) -> Token:
        from botocore.exceptions import ConnectionError as Unreachable
        from botocore.exceptions import HTTPClientError

        if self._frozen is None:
            self.identity()
        candidates = endpoint_candidates(server_url, self.env)
        for n, endpoint in enumerate(candidates, 1):
            try:
                return self._mint_at(server_url, endpoint, last=n == len(candidates))
            except (Unreachable, HTTPClientError):
                if n == len(candidates):
                    raise
        raise AssertionError("unreachable")

    def _mint_at(self, server_url: str, endpoint: str, last: bool) -> Token:
        from botocore.config import Config

        client = self.session.client(
            "ecr", endpoint_url=endpoint,
            region_name=region_for(server_url, self.session.region_name),
            aws_access_key_id=self._frozen.access_key,
            aws_secret_access_key=self._frozen.secret_key,
            aws_session_token=self._frozen.token,
            # An endpoint with another to try after it is asked once, not retried.
            config=Config(connect_timeout=10, read_timeout=30, user_agent_extra=PROGRAM,
                          retries={"mode": "standard", "max_attempts": 3 if last else 1}))
        data = client.get_authorization_token()["authorizationData"][0]
        username, secret = decode_token(data["authorizationToken"])
        return Token(username, secret, data["expiresAt"].timestamp())


# -- the protocol --------------------------------------------------------------------------
class Helper:
    def __init__(self, minter_factory: Callable[[], Minter], cache: TokenCache,
                 clock: Callable[[], float] = time.time):
        self.minter_factory = minter_factory  # lazily: only get needs credentials
        self.cache = cache
        self.clock = clock

    def get(self, server_url: str) -> dict[str, str]:
        key = server_key(server_url)
        minter = self.minter_factory()
        identity = minter.identity()
        now = self.clock()  # before minting: the token may be younger, never older
        token = self.cache.lookup(key, identity, now)
        if token is None:
            token = minter.mint(server_url)
            self._remember(key, identity, server_url, token, now)
        return {"ServerURL": server_url, "Username": token.username, "Secret": token.secret}

    def _remember(self, key: str, identity: str, server_url: str, token: Token, now: float) -> None:
        try:
            self.cache.put(key, identity, server_url, token, now)
        except OSError as exc:  # an unwritable cache costs a mint per call, not the pull
            _warn(f"could not write the token cache {self.cache.path}: {exc.strerror or exc}")

    def erase(self, server_url: str) -> None:
        self.cache.erase(server_key(server_url))

    def list(self) -> dict[str, str]:
        return self.cache.listing(self.clock())


def _warn(message: str) -> None:
    print(f"{PROGRAM}: {' '.join(message.split())}", file=sys.stderr)


def run(action: str, helper: Helper, stdin: TextIO, stdout: TextIO) -> int:
    """One protocol action; the exit status. Failures answer on stdout (where the clients
    read them) and explain themselves in one line on stderr."""
    try:
        answer = _dispatch(action, helper, stdin)
    except NotFound as exc:
        _warn(str(exc))
        print(NOT_FOUND, file=stdout)
        return 1
    except HelperError as exc:
        _warn(str(exc))
        print(exc, file=stdout)
        return 1
    except Exception as exc:  # a get that fails for any reason is "not found", as ecr-login does
        _warn(f"{action}: {type(exc).__name__}: {exc}")
        answer = NOT_FOUND if action == "get" else f"{action} failed: {type(exc).__name__}"
        print(answer, file=stdout)
        return 1
    if answer is not None:
        print(answer if isinstance(answer, str) else json.dumps(answer), file=stdout)
    return 0


def _dispatch(action: str, helper: Helper, stdin: TextIO) -> dict | str | None:
    if action == "get":
        return helper.get(stdin.read())
    if action == "list":
        return helper.list()
    if action == "erase":
        return helper.erase(stdin.read())
    if action == "store":
        stdin.read()  # the clients' own login: Berth's tokens are minted, never stored
        return None
    if action in ("version", "--version"):
        import berth

        return f"{PROGRAM} (berth) {berth.__version__}"
    raise HelperError(f"unknown credential action `{action}`")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(f"Usage: {PROGRAM} <store|get|erase|list|version>", file=sys.stderr)
        return 1
    env = os.environ
    helper = Helper(lambda: AwsMinter(env), TokenCache(default_cache_path(env)))
    return run(args[0], helper, sys.stdin, sys.stdout)
