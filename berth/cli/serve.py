"""``berth serve``: checked settings, the port bound, the database ready, then the server
processes; once every one answers, where to reach it (and, on the first start, how)."""
from __future__ import annotations

import dataclasses
import logging
import os
import sys

from ..config import Settings
from ..observability.logs import logging_config
from ..process import SUPERVISOR_ENV, default_workers
from ..serving import supervisor
from ..serving.supervisor import StartupError
from ..serving.tls import SELF_SIGNED, SelfSigned, TlsError, TlsFiles, context_factory, \
    server_names
from .startup import Started, prepare, start_metrics_server

log = logging.getLogger("berth")


def serve(settings: Settings) -> int:
    metrics_dir = _metrics_directory(settings)  # before anything makes a metric
    try:
        return _serve(settings)
    except (StartupError, TlsError) as exc:
        log.error("cannot start: %s", exc)
        return 1
    finally:
        _stop_metrics(metrics_dir)


def _serve(settings: Settings) -> int:
    tls = tls_files(settings)
    sockets = [supervisor.listen(settings.host, settings.port)]
    try:
        if settings.public_port:  # the same application: it tells the ports apart
            sockets.append(supervisor.listen(settings.host, settings.public_port))
        started = prepare(settings)
        workers = settings.workers or default_workers()
        # Workers are separate processes: they rebuild the settings from the environment
        # (with their number, which sizes each one's share of the database connections).
        os.environ.update(dataclasses.replace(settings, workers=workers).to_env())
        os.environ[SUPERVISOR_ENV] = str(os.getpid())
        metrics_server = start_metrics_server(settings)
        try:
            ready = supervisor.run(_config(settings, workers, tls), sockets,
                                   lambda: announce(settings, workers, started, tls), tls)
        finally:
            if metrics_server is not None:
                metrics_server.shutdown()
    finally:
        for sock in sockets:
            sock.close()
    return 0 if ready else 1


def tls_files(settings: Settings) -> TlsFiles | None:
    """The certificate to serve, checked now (TlsError naming the setting), or None."""
    if settings.tls not in ("", "off", SELF_SIGNED):
        raise TlsError(f"tls: {settings.tls!r} is not one of off, {SELF_SIGNED}")
    if settings.tls == SELF_SIGNED:
        if settings.tls_cert or settings.tls_key:
            raise TlsError("tls: self-signed and tls_cert/tls_key exclude one another")
        own = SelfSigned(settings.data_dir / "tls")
        own.ensure(server_names(settings.host, settings.domain, settings.region_list))
        files = own.files
    elif settings.tls_cert or settings.tls_key:
        if not (settings.tls_cert and settings.tls_key):
            raise TlsError("tls_cert and tls_key go together: give both")
        files = TlsFiles(settings.tls_cert, settings.tls_key)
    else:
        return None
    files.context()  # readable and a pair, or TlsError now rather than in every worker
    return files


def _config(settings: Settings, workers: int, tls: TlsFiles | None):
    import uvicorn

    return uvicorn.Config(
        "berth.app:create_app_from_env", factory=True, workers=workers,
        log_level=settings.log_level, server_header=False,
        # Berth's request log replaces uvicorn's; uvicorn's lines take Berth's format.
        access_log=False, log_config=logging_config(settings.log_level, settings.log_format),
        timeout_keep_alive=30, lifespan="on",
        # uvicorn believes forwarded headers from loopback unless told otherwise.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=settings.trusted_proxies or "",
        timeout_worker_healthcheck=supervisor.HEALTHCHECK_SECONDS,
        http="berth.api.http.protocol:BerthHttpProtocol",
        ssl_certfile=tls.cert if tls else None, ssl_keyfile=tls.key if tls else None,
        ssl_context_factory=context_factory if tls else None)


def endpoint(settings: Settings, tls: TlsFiles | None) -> str:
    """The URL to reach the server from this machine (loopback for a wildcard address)."""
    host = settings.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"{'https' if tls else 'http'}://{host}:{settings.port}"


def announce(settings: Settings, workers: int, started: Started, tls: TlsFiles | None) -> None:
    """Every worker answers: say where; on the first start, how to log in and push."""
    url = endpoint(settings, tls)
    log.info("listening on %s (%d worker%s): administrator account %s, region %s", url,
             workers, "" if workers == 1 else "s", started.admin_account,
             settings.default_region)
    if not started.first_start:
        return
    text = first_start_text(settings, started, url, tls)
    if settings.log_format == "json":  # every line of output stays one JSON object
        log.info("%s", text.strip())
    else:
        sys.stdout.write(text)
        sys.stdout.flush()


def first_start_text(settings: Settings, started: Started, url: str,
                     tls: TlsFiles | None) -> str:
    address = url.split("://", 1)[1]
    credentials = settings.credentials_path.resolve()
    own_ca = SelfSigned((settings.data_dir / "tls").resolve()) \
        if settings.tls == SELF_SIGNED else None
    bundle = f" --ca-bundle {own_ca.ca_cert}" if own_ca else ""
    lines = ["", f"Berth is ready at {url}",
             f"  administrator account: {started.admin_account} "
             f"(region {settings.default_region})",
             f"  its access key: {credentials} (profile berth-admin; shown nowhere else)", ""]
    if own_ca:
        lines += _trust_lines(own_ca, address)
    lines += ["Log in and push:",
              f"  export AWS_SHARED_CREDENTIALS_FILE={credentials} AWS_PROFILE=berth-admin",
              f"  aws ecr get-login-password --region {settings.default_region} "
              f"--endpoint-url {url}{bundle} | docker login --username AWS "
              f"--password-stdin {address}",
              f"  docker tag IMAGE {address}/REPOSITORY:TAG && "
              f"docker push {address}/REPOSITORY:TAG", ""]
    return "\n".join(lines) + "\n"


def _trust_lines(own: SelfSigned, address: str) -> list[str]:
    return ["HTTPS with a certificate from Berth's own CA; trust the CA:",
            f"  docker:  sudo mkdir -p /etc/docker/certs.d/{address} && "
            f"sudo cp {own.ca_cert} /etc/docker/certs.d/{address}/",
            f"  skopeo, podman, buildah:  --cert-dir {own.trust_dir}  "
            f"(or copy it to /etc/containers/certs.d/{address}/)",
            f"  aws CLI, boto3:  --ca-bundle {own.ca_cert}  (or AWS_CA_BUNDLE)", ""]


def _metrics_directory(settings: Settings):
    """Where the workers' Prometheus values live (multi-process mode), fresh per start."""
    if not settings.metrics:
        return None
    from ..observability.prometheus import prepare_directory, scratch_base

    return prepare_directory(scratch_base(settings.data_dir))


def _stop_metrics(directory) -> None:
    if directory is not None:
        from ..observability.prometheus import remove_directory

        remove_directory(directory)
