"""An OpenID Connect issuer of the test's own, as a Kubernetes API server or a CI system is one:
its keys (RSA and EC), a discovery document and a JWKS served over HTTP (or HTTPS with a
certificate of its own) on a loopback port, and tokens signed by it. ``rotate()`` adds a key
and signs with it from then on; ``fetches`` counts the JWKS downloads.

    with OidcIssuer() as issuer:
        token = issuer.token(sub="system:serviceaccount:ci:builder", aud="sts.amazonaws.com")
"""
from __future__ import annotations

import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa


class OidcIssuer:
    def __init__(self, tls: tuple[Path, Path] | None = None, path: str = "/issuer"):
        self.keys: list[tuple[str, object, str]] = []  # (kid, private key, alg)
        self.fetches = 0
        self._tls, self._path = tls, path
        self._server: ThreadingHTTPServer | None = None
        self.rotate(rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256")
        self.rotate(ec.generate_private_key(ec.SECP256R1()), "ES256")
        self.rotate(rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256")

    def rotate(self, key=None, alg: str = "RS256") -> str:
        """A new key, published and signing from now on; its kid."""
        key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
        kid = f"k{len(self.keys) + 1}"
        self.keys.append((kid, key, alg))
        return kid

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{'https' if self._tls else 'http'}://{host}:{port}{self._path}"

    def jwks(self) -> dict:
        keys = []
        for kid, key, alg in self.keys:
            algorithm = jwt.get_algorithm_by_name(alg)
            public = json.loads(algorithm.to_jwk(key.public_key()))
            keys.append({**public, "kid": kid, "alg": alg, "use": "sig"})
        return {"keys": keys}

    def token(self, sub: str = "ci:builder", aud: str | list = "sts.amazonaws.com",
              expires_in: float = 600, kid: str | None = None, issuer: str | None = None,
              **claims) -> str:
        found = next(k for k in reversed(self.keys) if kid is None or k[0] == kid)
        now = time.time()
        payload = {"iss": issuer or self.url, "sub": sub, "aud": aud, "iat": int(now),
                   "nbf": int(now) - 1, "exp": int(now + expires_in), **claims}
        return jwt.encode(payload, found[1], algorithm=found[2], headers={"kid": found[0]})

    def __enter__(self) -> "OidcIssuer":
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == f"{issuer._path}/.well-known/openid-configuration":
                    body = {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/keys",
                            "id_token_signing_alg_values_supported": ["RS256", "ES256"]}
                elif self.path == f"{issuer._path}/keys":
                    issuer.fetches += 1
                    body = issuer.jwks()
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if self._tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self._tls)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
