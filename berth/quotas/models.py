"""The quotas Berth enforces: ECR's, by the names of the ECR user guide's "Amazon ECR service
quotas" page, with its defaults; and the rates of the push and pull actions (requests per
second, per principal here: one tenant's loop cannot starve the others)."""
from __future__ import annotations

from dataclasses import dataclass

from ..registry.errors import RegistryError


@dataclass(frozen=True)
class Quota:
    name: str
    default: int
    description: str


QUOTAS = {q.name: q for q in (
    Quota("RegisteredRepositories", 100_000,
          "repositories per registry (an account's, in one region)"),
    Quota("ImagesPerRepository", 10_000, "images per repository (each manifest counts: "
          "an index, its platforms, signatures and other referrers)"),
    Quota("MaximumLayerSizeMiB", 52_000, "the size of one layer (blob), in MiB"),
    Quota("LayerParts", 4_200, "parts of one layer upload through the ECR API "
          "(UploadLayerPart; a registry API PATCH is no part)"),
    Quota("PullThroughCacheRulesPerRegistry", 50, "pull through cache rules per registry"),
    # Two limits ECR does not let an account raise: a quota can lower them, not pass them.
    Quota("LifecycleRulesPerPolicy", 50, "rules in one lifecycle policy (at most ECR's 50)"),
    Quota("ReplicationRules", 25, "rules in a registry's replication configuration (at "
          "most the API model's 25)"),
    # ECR's is 1,000 tags per image; none by default here: benchmarks and build systems tag
    # one image thousands of times, and refusing them helps no one (0 is no quota).
    Quota("TagsPerImage", 0, "tags on one image of a repository (0: no quota; ECR: 1,000)"),
    # Beyond ECR (Harbor has them): bytes stored, each object once; 0 is no quota.
    Quota("StorageBytesPerRepository", 0, "bytes stored in one repository (0: no quota)"),
    Quota("StorageBytesPerAccount", 0, "bytes stored in all of an account's registries, "
          "each object once per registry (0: no quota)"),
)}

# ECR's default rates (requests per second) of the actions pushes and pulls make, whether
# through the ECR API or the registry API (a manifest GET is BatchGetImage, a blob GET
# GetDownloadUrlForLayer, ...). A rate quota is named "Rate:<action>".
RATES = {"ecr:GetAuthorizationToken": 500, "ecr:BatchCheckLayerAvailability": 1000,
         "ecr:BatchGetImage": 2000, "ecr:GetDownloadUrlForLayer": 3000,
         "ecr:InitiateLayerUpload": 100, "ecr:UploadLayerPart": 500,
         "ecr:CompleteLayerUpload": 100, "ecr:PutImage": 10}
for _action, _rate in RATES.items():
    _name = "Rate:" + _action.split(":", 1)[1]
    QUOTAS[_name] = Quota(_name, _rate, f"{_action} requests per second, per principal")


class QuotaExceeded(RegistryError):
    """A request that would take a quota past its value."""

    def __init__(self, message: str, quota: str):
        super().__init__(message, {"quota": quota})
        self.quota = quota


class QuotaInvalid(Exception):
    """A quota that does not exist, or a value it cannot take."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
