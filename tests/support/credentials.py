"""Credentials for tests: the administrator key that Berth's first start writes, and the
HTTP Basic header a registry token makes."""
from __future__ import annotations

import base64
import configparser
from dataclasses import dataclass
from pathlib import Path

PROFILE = "berth-admin"


@dataclass(frozen=True)
class AccessKey:
    id: str
    secret: str

    def env(self, region: str = "us-east-1") -> dict[str, str]:
        """Environment for the aws CLI and boto3, isolated from any config on the machine."""
        return {"AWS_ACCESS_KEY_ID": self.id, "AWS_SECRET_ACCESS_KEY": self.secret,
                "AWS_DEFAULT_REGION": region, "AWS_CONFIG_FILE": "/dev/null",
                "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true"}


def admin_key(data_dir: Path) -> AccessKey:
    parser = configparser.ConfigParser()
    parser.read(data_dir / "admin-credentials")
    section = parser[PROFILE]
    return AccessKey(section["aws_access_key_id"], section["aws_secret_access_key"])


def basic(token: str, user: str = "AWS") -> str:
    return "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()
