"""The tls setup: what serving HTTPS costs. Berth over plain HTTP (its defaults) and over HTTPS
(--tls-cert/--tls-key), CNCF Distribution over HTTPS (http.tls) and over plain HTTP as the
reference, on the local filesystem, with push_monolithic, pull, push_images and manifests
(GET/HEAD at --tls-concurrency).

The harness makes the certificates once per invocation, under <workdir>/tls, as Berth's own
`--tls self-signed` does (berth.serving.tls): a CA, and a server certificate it signs for IP
127.0.0.1 and localhost (ECDSA P-256 keys). Clients trust only that CA and check the
server's name against the IP SAN (bench/httpc.py: one handshake per connection, keep-alive
after). The notes under the table say which TLS version and cipher each server's pulls
negotiated.
"""
from __future__ import annotations

import argparse
import shutil
from dataclasses import dataclass
from pathlib import Path

WORKLOADS = ("push_monolithic", "pull", "push_images", "manifests")
CONCURRENCY = "1,16"
# Variant key -> (column label, its name in ratio headers), as setups.py builds them.
LABELS = {"berth": ("Berth, HTTP", "Berth HTTP"),
          "berth-tls": ("Berth, HTTPS", "Berth HTTPS"),
          "distribution-tls": ("Distribution, HTTPS", "Distribution HTTPS"),
          "distribution": ("Distribution, HTTP", "Distribution HTTP")}
RATIOS = (("berth-tls", "berth"), ("berth-tls", "distribution-tls"),
          ("distribution-tls", "distribution"))


@dataclass(frozen=True)
class Certificates:
    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / "trust" / "ca.crt"  # berth.serving.tls.SelfSigned's layout

    @property
    def cert(self) -> Path:
        return self.directory / "server.crt"

    @property
    def key(self) -> Path:
        return self.directory / "server.key"

    def stop(self) -> None:  # a backend of the run (setups.Backends): gone with it
        shutil.rmtree(self.directory, ignore_errors=True)


def make_certificates(directory: Path) -> Certificates:
    """A test CA and a server certificate for 127.0.0.1 and localhost that it signed: made as
    `berth serve --tls self-signed` makes its own."""
    from berth.serving.tls import SelfSigned

    SelfSigned(directory).ensure(["127.0.0.1", "localhost"])
    return Certificates(directory)


def with_tls(server, certificates: Certificates):
    """The server, told to serve HTTPS with these certificates (bench/servers.py)."""
    server.tls = certificates
    return server


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tls-concurrency", type=lambda s: [int(x) for x in s.split(",")],
                   default=[int(x) for x in CONCURRENCY.split(",")],
                   help=f"GET/HEAD concurrencies of the tls setup (default {CONCURRENCY})")


NOTES = (
    ("Certificates made by the harness: a test CA and a server certificate for IP 127.0.0.1 "
     "(ECDSA P-256, as Berth's --tls self-signed); the clients trust only that CA and check "
     "the IP SAN. One TLS handshake per connection: the blob workloads use one connection "
     "each, small-image pushes one per concurrent pusher, GET/HEAD one per concurrent "
     "client, all keep-alive. HTTP/1.1 throughout (the clients offer no ALPN, so Distribution "
     "does not switch to HTTP/2)."),
    ("Both Berths run with their defaults: they seal the blobs of AES256 repositories "
     "(AES-256-GCM at rest), so their pushes and pulls include that, Distribution's do not "
     "(the encryption table shows what sealing costs). Berth's fast paths for blob bytes "
     "(responses written to the socket from its read threads: os.sendfile, or the decrypted "
     "chunks of a sealed blob; upload bodies read straight off the socket) are plain-TCP "
     "only (berth/api/http/protocol.py): over HTTPS its blob bytes go through the SSL "
     "transport of each worker's event loop. Distribution (Go) encrypts in the goroutine "
     "serving the request."),
    ("The client encrypts and decrypts too, on the same machine: compare the client-ceiling "
     "rows between the HTTP and HTTPS columns before reading a ratio as the server's."),
)


def notes(runs: dict[str, list[dict]], o) -> list[str]:
    """Which TLS version and cipher each variant's pulls negotiated, as the client saw it."""
    out = []
    for key, rs in runs.items():
        seen = sorted({f"{r['pull']['tls_version']} {r['pull']['tls_cipher']}"
                       for r in rs if "tls_cipher" in r.get("pull", {})})
        if seen:
            out.append(f"{LABELS.get(key, (key,))[0]}: pulls negotiated {', '.join(seen)}.")
    return out
