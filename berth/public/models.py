"""Public registries' names and catalog data, with ECR Public's limits."""
from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass, field

from ..registry.errors import RegistryError

# ECR Public's RegistryAliasName: 2..50 characters.
ALIAS = re.compile(r"[a-z][a-z0-9]+(?:[._-][a-z0-9]+)*")
ALIAS_MAX = 50
MAX_LOGO_BYTES = 512_000
# What a gallery may show as an image: never SVG or HTML, which could carry script.
_LOGO_TYPES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}


class CatalogInvalid(RegistryError):
    code = "CATALOG_INVALID"


class AliasInvalid(RegistryError):
    code = "ALIAS_INVALID"


class AliasTaken(RegistryError):
    code = "ALIAS_TAKEN"


def default_alias() -> str:
    """A new registry's alias, as ECR Public gives one: a letter, then 7 letters or digits."""
    rest = string.ascii_lowercase + string.digits
    return secrets.choice(string.ascii_lowercase) + "".join(
        secrets.choice(rest) for _ in range(7))


def check_alias(alias: str) -> str:
    if not (2 <= len(alias) <= ALIAS_MAX and ALIAS.fullmatch(alias)):
        raise AliasInvalid(f"Invalid registry alias '{alias}': 2 to {ALIAS_MAX} lowercase "
                           "letters and digits, starting with a letter, separated by single "
                           "'.', '_' or '-'.")
    return alias


def logo_type(logo: bytes) -> str:
    """The media type of a logo (PNG or JPEG); CatalogInvalid for anything else."""
    if len(logo) > MAX_LOGO_BYTES:
        raise CatalogInvalid(f"The logo image must be at most {MAX_LOGO_BYTES} bytes.")
    for magic, media_type in _LOGO_TYPES.items():
        if logo.startswith(magic):
            return media_type
    raise CatalogInvalid("The logo image must be a PNG or JPEG image.")


@dataclass(frozen=True)
class PublicRegistry:
    account_id: str
    alias: str
    display_name: str = ""
    description: str = ""
    logo: bytes | None = None


@dataclass(frozen=True)
class RepositoryCatalog:
    """What the gallery shows of a repository (Markdown texts: rendered sanitized)."""
    description: str = ""
    about_text: str = ""
    usage_text: str = ""
    architectures: tuple[str, ...] = ()
    operating_systems: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    logo: bytes | None = field(default=None, repr=False)

    def data(self) -> dict:
        """The stored JSON (the logo is stored apart)."""
        return {"description": self.description, "aboutText": self.about_text,
                "usageText": self.usage_text, "architectures": list(self.architectures),
                "operatingSystems": list(self.operating_systems),
                "categories": list(self.categories)}

    @classmethod
    def from_data(cls, data: dict, logo: bytes | None) -> "RepositoryCatalog":
        return cls(data.get("description", ""), data.get("aboutText", ""),
                   data.get("usageText", ""), tuple(data.get("architectures", ())),
                   tuple(data.get("operatingSystems", ())), tuple(data.get("categories", ())),
                   logo or None)
