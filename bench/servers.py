"""Start/stop the registries under test: Berth and CNCF Distribution (docker-registry).

A server given `tls` (bench.tls.Certificates, set before start()) serves HTTPS with that
certificate: Berth with --tls-cert/--tls-key, Distribution with http.tls in its config; its
base_url is then https:// and ca_file the CA clients check it against."""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BERTH_PYTHON = REPO_ROOT / ".venv" / "bin" / "python"
DISTRIBUTION_BIN = "/usr/bin/docker-registry"

DISTRIBUTION_CONFIG = """\
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
{storage}
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
{tls}"""
DISTRIBUTION_TLS = """\
  tls:
    certificate: {cert}
    key: {key}
"""
FILESYSTEM_STORAGE = """\
  filesystem:
    rootdirectory: {root}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A registry process with its own fresh data directory under `workdir`."""

    name = ""
    label = ""
    tls = None  # bench.tls.Certificates: serve HTTPS with them (None: plain HTTP)

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix=f"{self.name}-", dir=workdir))
        self.proc: subprocess.Popen | None = None
        self.log_path = self.dir / "server.log"
        self.extra_env: dict[str, str] = {}
        self.cleanups: list = []  # called after the process stopped (e.g. drop an S3 bucket)
        self.backend_pids: list[int] = []  # storage/database daemons it uses (their CPU)

    @property
    def pids(self) -> list[int]:
        """Root processes of the server under test (several for a multi-node deployment)."""
        return [self.proc.pid]

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.port,)

    def exited(self) -> str | None:
        """Why the server is gone, or None while it runs."""
        if self.proc.poll() is None:
            return None
        return f"server exited with {self.proc.returncode}"

    def data_dirs(self) -> list[Path]:
        """Where it stores blobs on the local disk (for the at-rest check)."""
        return [self.dir / "data"]

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> str | None:
        return str(self.tls.ca) if self.tls else None

    def command(self) -> list[str]:
        raise NotImplementedError

    def code_fingerprint(self) -> str:
        return ""

    def env(self) -> dict[str, str]:
        return dict(os.environ) | self.extra_env

    def start(self, timeout: float = 60.0) -> None:
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=self.env(), cwd=self.dir,
                                     start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.label} exited with {self.proc.returncode} on startup; "
                                   f"log tail:\n{self.log_tail()}")
            try:
                tls = {"context": ssl.create_default_context(cafile=self.ca_file)} \
                    if self.tls else {}
                with urllib.request.urlopen(self.base_url + "/v2/", timeout=2, **tls) as r:
                    if r.status == 200:
                        return
            except urllib.error.HTTPError as exc:
                if exc.code == 401:  # up, and wants credentials
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.label} not ready (GET /v2/ != 200) after {timeout}s; "
                           f"log tail:\n{self.log_tail()}")

    def authorization(self) -> str | None:
        """The Authorization header clients send; None for a server without auth."""
        return None

    def signing_credentials(self) -> tuple[str, str] | None:
        """(access key id, secret) for SigV4-signed API calls; None for a server without."""
        return None

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self, keep_data: bool = False) -> None:
        if self.proc is not None and self.proc.poll() is None:
            # Signal only the server's own process group (it was started in a new session).
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        try:
            while self.cleanups:  # each once, even if stop() is called again
                self.cleanups.pop(0)()
        finally:
            if not keep_data:
                shutil.rmtree(self.dir, ignore_errors=True)


class Distribution(Server):
    name = "distribution"
    label = "Distribution"

    def __init__(self, workdir: Path, storage: str | None = None):
        """`storage`: the YAML of Distribution's `storage:` driver section (two-space indented
        lines); default: the filesystem driver in the data dir."""
        super().__init__(workdir)
        self.storage = storage or FILESYSTEM_STORAGE.format(root=self.dir / "data")

    def env(self) -> dict[str, str]:
        # Its s3 driver (aws-sdk-go v1) panics at start-up on AWS_CA_BUNDLE ("unable to load
        # custom CA bundle, HTTPClient's transport unsupported type"); its keys are in the
        # config, and the benchmark's gateway speaks plain HTTP.
        return {k: v for k, v in super().env().items() if k != "AWS_CA_BUNDLE"}

    def command(self) -> list[str]:
        cfg = self.dir / "config.yml"
        tls = DISTRIBUTION_TLS.format(cert=self.tls.cert, key=self.tls.key) if self.tls else ""
        cfg.write_text(DISTRIBUTION_CONFIG.format(storage=self.storage, port=self.port, tls=tls))
        return [DISTRIBUTION_BIN, "serve", str(cfg)]


class Berth(Server):
    name = "berth"
    label = "Berth"

    def __init__(self, workdir: Path, python: str | None = None, workers: int | None = None,
                 extra_args: list[str] | None = None, env: dict[str, str] | None = None):
        super().__init__(workdir)
        self.extra_env = dict(env or {})
        self.python = python or (str(DEFAULT_BERTH_PYTHON) if DEFAULT_BERTH_PYTHON.exists()
                                 else sys.executable)
        self.workers = workers
        self.extra_args = extra_args or []

    def command(self) -> list[str]:
        cmd = [self.python, "-m", "berth", "serve", "--host", "127.0.0.1",
               "--port", str(self.port), "--data-dir", str(self.dir / "data"),
               "--log-level", "warning"]  # like Distribution's `log.level: warn`
        if self.workers:
            cmd += ["--workers", str(self.workers)]
        if self.tls:
            cmd += ["--tls-cert", str(self.tls.cert), "--tls-key", str(self.tls.key)]
        return cmd + self.extra_args

    def authorization(self) -> str:
        """A registry token got the way users get one: GetAuthorizationToken, signed with
        the administrator key the first start wrote."""
        import botocore.session

        session = botocore.session.Session(profile="berth-admin")
        session.set_config_variable("credentials_file", str(self.dir / "data" /
                                                            "admin-credentials"))
        client = session.create_client("ecr", region_name="us-east-1",
                                       endpoint_url=self.base_url, verify=self.ca_file)
        data = client.get_authorization_token()["authorizationData"][0]
        return "Basic " + data["authorizationToken"]

    def signing_credentials(self) -> tuple[str, str]:
        """The administrator key the first start wrote (an AWS credentials file)."""
        import configparser

        creds = configparser.ConfigParser()
        creds.read(self.dir / "data" / "admin-credentials")
        profile = creds["berth-admin"]
        return profile["aws_access_key_id"], profile["aws_secret_access_key"]

    @property
    def code_root(self) -> Path:
        """The tree whose berth package this server runs: a baseline's own (its PYTHONPATH),
        else this checkout."""
        return Path(self.extra_env["PYTHONPATH"]) if "PYTHONPATH" in self.extra_env \
            else REPO_ROOT

    def code_fingerprint(self) -> str:
        """Hash of berth/**/*.py as started: shows if the code changed between runs."""
        h, root = hashlib.sha256(), self.code_root
        for f in sorted((root / "berth").rglob("*.py")):
            h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes())
        return h.hexdigest()[:12]

    def env(self) -> dict[str, str]:
        # The tree first on the path: a baseline's must not come after this checkout's.
        env = dict(os.environ) | self.extra_env
        env["PYTHONPATH"] = str(self.code_root) + os.pathsep + os.environ.get("PYTHONPATH", "")
        return env
