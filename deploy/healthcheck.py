"""The image's health check: Berth's readiness route, /readyz (the metadata database and the
blob storage answer), on the address and port the BERTH_* settings give. HTTPS when Berth
serves it, without checking the certificate: this asks whether Berth is ready, not who it is."""
import http.client
import os
import ssl
import sys
import urllib.request

host = os.environ.get("BERTH_HOST", "127.0.0.1")
host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
host = f"[{host}]" if ":" in host else host
tls = os.environ.get("BERTH_TLS", "off") not in ("", "off") or bool(os.environ.get("BERTH_TLS_CERT"))
url = f"{'https' if tls else 'http'}://{host}:{os.environ.get('BERTH_PORT', '5000')}/readyz"
opener = urllib.request.build_opener(
    urllib.request.ProxyHandler({}),  # never through an HTTP proxy set for the container
    urllib.request.HTTPSHandler(context=ssl._create_unverified_context()))
try:
    with opener.open(url, timeout=5) as response:
        sys.exit(0 if response.status == 200 else 1)
except (OSError, http.client.HTTPException) as exc:  # refused, 503, timeout: unhealthy
    print(f"{url}: {exc}", file=sys.stderr)
    sys.exit(1)
