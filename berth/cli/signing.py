"""``berth admin signing-profiles`` (``create|list|get|rotate|disable|enable|revoke|
export-trust``): the keys that
sign images, issued by the account's own CA or imported (``--certificate-chain`` with
``--private-key``, files only); ``export-trust --output DIR`` writes what Notation needs to
verify them (a trust store folder and ``trustpolicy.oci.json``). And ``berth verify IMAGE``:
an image's signatures under a Notation trust policy, exit status 0 when one passes, 1 when
none does, 2 when it could not be checked. Each command is (help, admin operation,
arguments, parameters)."""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

HELP = "signing profiles (keys that sign images) and what verifiers trust"
_STORE_NAME = re.compile(r"[A-Za-z0-9_.-]+")

_ACCOUNT = (("--account",), {"required": True, "metavar": "ID",
                             "help": "the account's 12-digit id"})
_NAME = (("name",), {"metavar": "PROFILE", "help": "the profile's name (letters, digits, _)"})


def _read(path: str | None) -> str | None:
    return None if path is None else Path(path).read_text(encoding="utf-8")


def _profile(a: argparse.Namespace, **more) -> dict:
    return {"AccountId": a.account, "Region": a.region, "ProfileName": a.name, **more}


def _create(a: argparse.Namespace) -> dict:
    return _profile(a, ValidityDays=None if a.validity_days is None else str(a.validity_days),
                    SignatureValidityDays=None if a.signature_validity_days is None
                    else str(a.signature_validity_days),
                    CertificateChain=_read(a.certificate_chain), PrivateKey=_read(a.private_key))


COMMANDS = {
    "create": (
        "create a signing profile: a key with a code-signing certificate from the account's "
        "CA, or an imported key and chain", "CreateSigningProfile",
        (_ACCOUNT, _NAME,
         (("--validity-days",), {"type": int, "help": "the certificate's (default 730)"}),
         (("--signature-validity-days",), {"type": int, "help": "each signature's expiry "
                                           "(default 0: none)"}),
         (("--certificate-chain",), {"metavar": "PATH", "help": "PEM, the leaf first (an "
                                     "organisation's CA issued it)"}),
         (("--private-key",), {"metavar": "PATH", "help": "the leaf's key, PEM"})),
        _create),
    "list": ("list the account's signing profiles", "ListSigningProfiles", (_ACCOUNT,),
             lambda a: {"AccountId": a.account}),
    "get": ("a profile with its certificate chain", "GetSigningProfile", (_ACCOUNT, _NAME),
            _profile),
    "rotate": ("a new key and certificate for a profile the account's CA issued (what it "
               "signed before still verifies)", "RotateSigningProfile", (_ACCOUNT, _NAME),
               _profile),
    "disable": ("stop a profile signing, for now (what it signed stays valid)",
                "DisableSigningProfile", (_ACCOUNT, _NAME), _profile),
    "enable": ("let a disabled profile sign again", "EnableSigningProfile", (_ACCOUNT, _NAME),
               _profile),
    "revoke": ("revoke a profile for good: it signs no more, and verifiers refuse what it "
               "signed", "RevokeSigningProfile", (_ACCOUNT, _NAME), _profile),
    "export-trust": (
        "what a Notation verifier needs: --output DIR gets trust-store/x509/ca/NAME/ and "
        "trustpolicy.oci.json", "GetSigningTrust",
        (_ACCOUNT, (("--output",), {"metavar": "DIR", "help": "write the files there"})),
        lambda a: {"AccountId": a.account}),
}


def render(args: argparse.Namespace, result: dict) -> str:
    """export-trust --output: the files written; anything else as JSON."""
    if getattr(args, "admin_command", "") == "export-trust" and args.output:
        if not _STORE_NAME.fullmatch(result["TrustStoreName"]):
            raise ValueError(f"unexpected trust store name {result['TrustStoreName']!r}")
        root = Path(args.output)
        store = root / "trust-store" / "x509" / "ca" / result["TrustStoreName"]
        store.mkdir(parents=True, exist_ok=True)
        (store / f"{result['TrustStoreName']}.pem").write_text(result["Certificates"])
        (root / "trustpolicy.oci.json").write_text(json.dumps(result["TrustPolicy"], indent=2))
        return json.dumps({"TrustStore": str(store),
                           "TrustPolicy": str(root / "trustpolicy.oci.json")}, indent=2)
    return json.dumps(result, indent=2)


# -- berth verify ----------------------------------------------------------------------------
def add_verify_parser(sub, common: argparse.ArgumentParser) -> None:
    verify = sub.add_parser("verify", parents=[common],
                            help="verify an image's signatures under a Notation trust policy")
    verify.add_argument("image", metavar="[HOST/]REPOSITORY[:TAG|@DIGEST]")
    verify.add_argument("--trust-policy", metavar="PATH",
                        help="Notation's trustpolicy.oci.json (default: the account's own, as "
                             "export-trust writes it)")
    verify.add_argument("--trust-store", metavar="DIR",
                        help="a Notation trust store folder (x509/ca/NAME/*.pem|crt)")
    verify.add_argument("--account", metavar="ID", help="the registry's account (default: the "
                        "deployment's default)")


def verify_params(args: argparse.Namespace, trust: dict | None) -> dict:
    host, repository, reference = split_image(args.image)
    policy = _read(args.trust_policy) if args.trust_policy else json.dumps(
        (trust or {}).get("TrustPolicy"))
    key = "ImageDigest" if reference.startswith("sha256:") else "ImageTag"
    return {"AccountId": args.account, "Region": args.region, "RepositoryName": repository,
            key: reference, "Scope": f"{host}/{repository}" if host else repository,
            "TrustPolicy": policy,
            "TrustStores": json.dumps(read_store(args.trust_store)) if args.trust_store
            else None}


def split_image(text: str) -> tuple[str | None, str, str]:
    """(host or None, repository, tag or digest) as docker reads a reference."""
    name, at, digest = text.partition("@")
    if at and ":" in name.rsplit("/", 1)[-1]:
        name = name.rsplit(":", 1)[0]  # NAME:TAG@DIGEST: the digest names the image
    first, slash, rest = name.partition("/")
    host = first if slash and ("." in first or ":" in first or first == "localhost") else None
    repository = rest if host else name
    if not at:
        last = repository.rsplit("/", 1)[-1]
        if ":" in last:
            repository, _, tag = repository.rpartition(":")
            return host, repository, tag
        return host, repository, "latest"
    return host, repository, digest


def read_store(folder: str) -> dict[str, str]:
    """A Notation trust store folder (``x509/<type>/<name>/`` holding .pem, .crt or .cer
    files, PEM or DER; or the folder above x509) as {"<type>:<name>": PEM}. As Notation, a
    symbolic link anywhere in it is refused."""
    root = Path(folder)
    base = root / "x509" if (root / "x509").is_dir() else root
    stores = {}
    for kind in ("ca", "signingAuthority"):
        for named in sorted((base / kind).glob("*")) if (base / kind).is_dir() else ():
            pems = [_pem(p) for p in sorted(_entries(named)) if p.is_file()
                    and p.suffix.lower() in (".pem", ".crt", ".cer")]
            if pems:
                stores[f"{kind}:{named.name}"] = "".join(pems)
    return stores


def _entries(folder: Path) -> list[Path]:
    found = [folder, *folder.iterdir()] if folder.is_dir() else [folder]
    for path in [folder.parent, *found]:
        if path.is_symlink():
            raise ValueError(f"{path} is a symbolic link: a trust store holds none")
    return found[1:]


def _pem(path: Path) -> str:
    data = path.read_bytes()
    if b"-----BEGIN" in data:
        return data.decode("ascii", "replace")
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    return x509.load_der_x509_certificate(data).public_bytes(Encoding.PEM).decode()


def report(result: dict) -> int:
    verdict = result["Verdict"]
    print(json.dumps(verdict, indent=2))
    print(f"{'verified' if verdict['verified'] else 'NOT verified'}: {verdict['reason']}",
          file=sys.stderr)
    return 0 if verdict["verified"] else 1
