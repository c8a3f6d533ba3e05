"""Registry tokens the way Amazon ECR users get them: ``aws ecr get-login-password``.

The aws CLI (installed in the project's virtualenv) signs GetAuthorizationToken with an access key
and prints the password for ``docker login -u AWS --password-stdin``. Registry clients then send
HTTP Basic ``AWS:<token>``; :func:`http_auth` makes that pair for ``requests``.

    token = login_password(server.url, data_dir)          # the administrator's key in data_dir
    requests.get(f"{server.url}/v2/", auth=http_auth(token))
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.credentials import AccessKey, admin_key

USER = "AWS"
DEFAULT_REGION = "us-east-1"
TIMEOUT = 120


def aws_cli() -> str:
    """The aws CLI next to this interpreter (the venv's), else the one on PATH."""
    beside = Path(sys.executable).parent / "aws"
    if os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("aws")
    if not found:
        raise RuntimeError("the aws CLI is missing: install the awscli package into the virtualenv")
    return found


def _environment(key: AccessKey, region: str) -> dict[str, str]:
    """Our environment without any AWS_* settings of the machine, plus the key's isolated ones."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {**base, **key.env(region)}


def get_login_password(endpoint_url: str, key: AccessKey, region: str = DEFAULT_REGION,
                       timeout: float = TIMEOUT, ca_bundle: Path | None = None) -> str:
    """Run ``aws ecr get-login-password`` against ``endpoint_url`` with ``key``; the token it prints
    (``ca_bundle``: the CA that signed an HTTPS endpoint's certificate)."""
    argv = [aws_cli(), "ecr", "get-login-password", "--endpoint-url", endpoint_url.rstrip("/"),
            "--region", region, *(("--ca-bundle", str(ca_bundle)) if ca_bundle else ())]
    try:
        proc = subprocess.run(argv, env=_environment(key, region), capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"aws ecr get-login-password against {endpoint_url} timed out after {timeout}s") from None
    token = proc.stdout.strip()
    if proc.returncode != 0 or not token:
        raise RuntimeError(f"aws ecr get-login-password against {endpoint_url} failed "
                           f"(exit code {proc.returncode}):\n{proc.stderr.strip()}")
    return token


def login_password(url: str, data_dir: Path, region: str = DEFAULT_REGION,
                   ca_bundle: Path | None = None) -> str:
    """A registry token for the administrator whose key Berth's first start wrote into ``data_dir``."""
    return get_login_password(url, admin_key(Path(data_dir)), region, ca_bundle=ca_bundle)


def http_auth(token: str | None) -> tuple[str, str] | None:
    """``requests``' ``auth=`` for a registry token; None (no auth) when there is no token."""
    return None if token is None else (USER, token)
