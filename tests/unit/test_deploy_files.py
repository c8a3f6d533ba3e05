"""deploy/: the compose file, the systemd unit and the Containerfile say only what Berth
understands -- every `berth` command line parses with Berth's own parser, every BERTH_*
variable is a setting -- and fit together (the shared settings of the nodes, the services
they depend on, the health check the image carries). The image itself is built and run in
tests/e2e/test_deploy_image.py; the compose file cannot run here (no container engine)."""
from __future__ import annotations

import http.server
import json
import os
import re
import shlex
import ssl
import subprocess
import sys
import threading
from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from berth.cli.main import build_parser
from berth.config import ENV_PREFIX, Settings
from tests.support.certificates import issue_pair, new_ca
from tests.support.ports import free_port
from tests.support.procs import require_binary

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SETTINGS = {ENV_PREFIX + f.name.upper() for f in fields(Settings)}
DATA_DIR = "/var/lib/berth"


def parse_berth(argv: list[str]):
    """argv (without the program) as `berth` parses it; a usage error fails the test."""
    try:
        return build_parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"berth does not accept: {shlex.join(argv)}")


def assert_settings(names, where: str) -> None:
    unknown = sorted(n for n in names if n.startswith(ENV_PREFIX) and n not in SETTINGS)
    assert not unknown, f"{where} sets variables that are no setting of Berth's: {unknown}"


# -- the systemd unit ------------------------------------------------------------------------

def unit_entries(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) in order; keys may repeat, as systemd allows."""
    entries, section = [], ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        entries.append((section, key.strip(), value.strip()))
    return entries


@pytest.fixture(scope="module")
def unit() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for section, key, value in unit_entries((DEPLOY / "berth.service").read_text()):
        found.setdefault(f"{section}.{key}", []).append(value)
    return found


def test_unit_runs_berth_serve_on_its_state_directory(unit):
    [exec_start] = unit["Service.ExecStart"]
    program, *argv = shlex.split(exec_start)
    assert program == "/opt/berth/bin/berth"
    args = parse_berth(argv)
    assert args.command == "serve"
    assert f"/var/lib/{unit['Service.StateDirectory'][0]}" == args.data_dir == DATA_DIR
    assert unit["Service.User"] == ["berth"]
    assert unit["Service.ExecReload"] == ["/bin/kill -HUP $MAINPID"]  # the certificate reload
    assert unit["Service.EnvironmentFile"] == ["-/etc/berth/berth.env"]
    assert_settings([v.split("=", 1)[0] for v in unit.get("Service.Environment", [])],
                    "berth.service")


def test_unit_passes_systemd_analyze_verify(tmp_path: Path):
    """`systemd-analyze verify` with no word to say: every directive known and well formed.
    It also checks that ExecStart's program exists, so the copy verified runs this virtualenv's
    berth in /opt/berth's place (the image test runs /opt/berth/bin/berth)."""
    analyze = require_binary("systemd-analyze")
    venv_berth = Path(sys.executable).parent / "berth"
    assert venv_berth.exists(), f"{venv_berth} is missing: install Berth into the virtualenv"
    copy = tmp_path / "berth.service"
    copy.write_text((DEPLOY / "berth.service").read_text()
                    .replace("/opt/berth/bin/berth", str(venv_berth)))
    proc = subprocess.run([analyze, "verify", "--man=no", str(copy)], check=False,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and not proc.stderr.strip() and not proc.stdout.strip(), \
        f"systemd-analyze verify: exit {proc.returncode}\n{proc.stdout}{proc.stderr}"


# -- the compose file -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def berth_services(compose: dict) -> dict[str, dict]:
    image = compose["x-berth"]["image"]
    return {name: svc for name, svc in compose["services"].items() if svc.get("image") == image}


def test_compose_berth_command_lines_parse(compose):
    services = berth_services(compose)
    parsed = {}
    for name, service in services.items():
        command = service.get("command")
        assert command, f"{name}: give the command explicitly (the image's CMD is `berth serve`)"
        if command[0] == "berth":
            parsed[name] = parse_berth(command[1:])
        else:  # the bucket maker: a Python script, run by the image's python3
            assert command[:2] == ["python3", "-c"], f"{name}: {command}"
            compile(command[2], f"{name}'s script", "exec")
    nodes = sorted(n for n, args in parsed.items() if args.command == "serve")
    assert nodes == ["berth-1", "berth-2"]
    assert [n for n, args in parsed.items() if args.command == "worker"] == ["worker"]
    assert services["worker"]["profiles"] == ["worker"]  # optional


def test_compose_environment_is_berth_settings(compose):
    for name, service in compose["services"].items():
        assert_settings(service.get("environment", {}), f"compose service {name}")


def test_compose_nodes_share_database_storage_and_master_key(compose):
    services = compose["services"]
    node_env = [services[n]["environment"] for n in ("berth-1", "berth-2")]
    assert node_env[0] == node_env[1]
    env = node_env[0]
    assert env["BERTH_MASTER_KEY"].startswith("${BERTH_MASTER_KEY:?")  # never a default
    assert re.fullmatch(r"postgresql://berth:\$\{POSTGRES_PASSWORD:\?[^}]*\}@postgres:5432/berth",
                        env["BERTH_DATABASE"])
    assert services["postgres"]["environment"]["POSTGRES_DB"] == "berth"
    bucket = re.fullmatch(r"s3://([a-z0-9.-]+)/\S*", env["BERTH_STORAGE"]).group(1)
    assert env["BERTH_S3_ENDPOINT_URL"] == "http://s3:8333"
    assert f'Bucket="{bucket}"' in services["s3-bucket"]["command"][2]
    volumes = [services[n]["volumes"] for n in ("berth-1", "berth-2")]
    assert all(len(v) == 1 and v[0].endswith(f":{DATA_DIR}") for v in volumes)
    assert volumes[0] != volumes[1], "each node has a data directory of its own"


def test_compose_dependencies_and_health_checks(compose):
    services = compose["services"]
    for name, service in services.items():
        for dependency, how in service.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on a missing service {dependency}"
            if how["condition"] == "service_healthy":
                assert "test" in services[dependency].get("healthcheck", {}), \
                    f"{name} waits for {dependency} to be healthy, which has no health check"
    for name in ("berth-1", "berth-2"):
        assert services[name]["healthcheck"]["test"] == \
            ["CMD", "python3", "/opt/berth/healthcheck.py"]
    assert (DEPLOY / "healthcheck.py").exists()
    for name in ("worker", "s3-bucket"):  # no port to ask: the image's check would fail
        assert services[name]["healthcheck"] == {"disable": True}


def test_compose_load_balancer_checks_readiness_of_both_nodes(compose):
    config = compose["configs"]["haproxy"]["content"]
    servers = re.findall(r"^\s*server (\S+) (\S+):(\d+) check", config, re.MULTILINE)
    assert sorted(host for _, host, _ in servers) == ["berth-1", "berth-2"]
    assert {int(port) for _, _, port in servers} == {Settings().port}
    assert "option httpchk GET /readyz" in config
    assert set(compose["services"]["lb"]["depends_on"]) == {"berth-1", "berth-2"}


def test_compose_builds_the_containerfile(compose):
    build = compose["x-berth"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Containerfile"


# -- the Containerfile ------------------------------------------------------------------------

def containerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Containerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1])
            for line in lines if line and not line.startswith("#")]


def test_containerfile_settings_command_and_health_check():
    instructions = containerfile()
    by_name: dict[str, list[str]] = {}
    for name, args in instructions:
        by_name.setdefault(name, []).append(args)
    assert by_name["ARG"][0].startswith("BASE=") and by_name["FROM"] == ["${BASE}"]
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(by_name["ENV"])))
    assert_settings(env, "the Containerfile")
    assert env["BERTH_DATA_DIR"] == DATA_DIR and env["BERTH_HOST"] == "0.0.0.0"
    assert env["PATH"].startswith("/opt/berth/bin:")
    command = json.loads(by_name["CMD"][-1])
    assert command[0] == "berth" and parse_berth(command[1:]).command == "serve"
    assert by_name["EXPOSE"] == [str(Settings().port)]
    assert by_name["VOLUME"] == [DATA_DIR]
    assert re.fullmatch(r"\d+:\d+", by_name["USER"][-1]) and not by_name["USER"][-1].startswith("0:")
    health = by_name["HEALTHCHECK"][-1]
    assert health.endswith('CMD ["python3", "/opt/berth/healthcheck.py"]')
    assert "deploy/healthcheck.py /opt/berth/healthcheck.py" in by_name["COPY"]


# -- the health check script ------------------------------------------------------------------

class _Readiness(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):
        code = self.status if self.path == "/readyz" else 404
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def readiness_server():
    """Starts a stand-in for Berth's /readyz on a free loopback port (HTTPS with a certificate
    and key); returns (port, set_status)."""
    servers = []

    def start(tls: tuple[Path, Path] | None = None):
        handler = type("Handler", (_Readiness,), {})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server.server_address[1], lambda code: setattr(handler, "status", code)

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def healthcheck(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    return subprocess.run([sys.executable, str(DEPLOY / "healthcheck.py")], check=False,
                          capture_output=True, text=True, timeout=30, env={**clean, **env})


def test_healthcheck_follows_readyz(readiness_server):
    port, set_status = readiness_server()
    assert healthcheck(BERTH_HOST="0.0.0.0", BERTH_PORT=str(port)).returncode == 0
    set_status(503)  # the database or the storage is unreachable
    failed = healthcheck(BERTH_HOST="0.0.0.0", BERTH_PORT=str(port))
    assert failed.returncode == 1 and "503" in failed.stderr
    refused = healthcheck(BERTH_PORT=str(free_port()))
    assert refused.returncode == 1


def test_healthcheck_speaks_https_when_berth_does(readiness_server, tmp_path: Path):
    ca = new_ca(tmp_path / "ca")
    issue_pair(ca, tmp_path / "server.crt", tmp_path / "server.key", ["localhost"])
    port, _ = readiness_server((tmp_path / "server.crt", tmp_path / "server.key"))
    assert healthcheck(BERTH_PORT=str(port), BERTH_TLS_CERT="/etc/berth/tls.crt").returncode == 0
    assert healthcheck(BERTH_PORT=str(port), BERTH_TLS="self-signed").returncode == 0
