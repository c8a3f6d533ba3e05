"""`berth serve` that cannot start says so in one line naming the setting, exits non-zero and
never claims to listen; a plain-HTTP port answers clients that try TLS first without a warning
per request."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.support.berth_node import BerthNode
from tests.support.ports import free_port, wait_until
from tests.support.procs import run
from tests.support.skopeo import SKOPEO

pytestmark = pytest.mark.e2e


def _serve(tmp_path: Path, *args: str, port: int | None = None) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "berth", "serve", "--host", "127.0.0.1",
            "--port", str(port or free_port()), "--data-dir", str(tmp_path / "data"), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def _fails_in_one_line(proc: subprocess.CompletedProcess, *words: str) -> str:
    assert proc.returncode != 0, proc.stderr
    assert "Traceback" not in proc.stderr and "listening" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if "cannot start" in line
             or line.startswith("berth:")]
    assert len(lines) == 1, proc.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("args, words", [
    (("--storage", "ftp://x/y"), ("storage", "ftp://x/y")),
    (("--tls-cert", "/nonexistent/cert.pem", "--tls-key", "/nonexistent/key.pem"),
     ("tls_cert", "/nonexistent/cert.pem")),
    (("--tls-cert", "/etc/hostname"), ("tls_cert and tls_key",)),
    (("--tls", "self-signed", "--tls-cert", "x.pem", "--tls-key", "y.pem"), ("self-signed",)),
])
def test_a_bad_setting_is_one_line(tmp_path, args, words):
    _fails_in_one_line(_serve(tmp_path, *args), *words)


def test_an_unreachable_database_is_one_line_without_its_password(tmp_path):
    url = f"postgresql://berth:hunter2secret@127.0.0.1:{free_port()}/berth"
    line = _fails_in_one_line(_serve(tmp_path, "--database", url), "database", "127.0.0.1")
    assert "hunter2secret" not in _serve(tmp_path, "--database", url).stderr + line


def test_an_unknown_database_kind_is_one_line(tmp_path):
    _fails_in_one_line(_serve(tmp_path, "--database", "oracle://x/y"), "database")


def test_a_port_in_use_fails_before_anything_starts(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = _serve(tmp_path, port=port)
    _fails_in_one_line(proc, f"127.0.0.1:{port}", "in use")
    assert not (tmp_path / "data" / "metadata.db").exists()  # nothing was started


def test_a_config_file_that_is_not_toml_is_named(tmp_path):
    config = tmp_path / "berth.toml"
    config.write_text("port = [unclosed\n")
    _fails_in_one_line(_serve(tmp_path, "--config", str(config)), str(config), "TOML")


def test_clients_that_try_tls_first_get_no_warning_per_request(tmp_path):
    node = BerthNode(tmp_path, extra_args=("--workers", "1", "--log-level", "debug")).start()
    try:
        for _ in range(2):  # skopeo tries HTTPS first, then falls back to HTTP
            run([SKOPEO, "inspect", "--tls-verify=false", "--creds", f"AWS:{node.token}",
                 f"docker://127.0.0.1:{node.port}/nothing/here:v1"], check=False)
        log = node.log_text()
        assert "GET /v2/" in log  # it did fall back and ask over HTTP
        assert "Invalid HTTP request" not in log
        assert log.count("tried TLS on this plain HTTP port") == 1
    finally:
        node.stop()


def test_workers_starting_on_a_busy_machine_are_not_killed(tmp_path):
    """Every core busy while the workers load: they are given time (no health-check kill,
    no restart), and the server says it listens only once all of them answer."""
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
               for _ in range(2 * (os.cpu_count() or 1))]
    try:
        node = BerthNode(tmp_path, extra_args=("--workers", "2")).start()
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    try:
        # GET /v2/ may be answered by the first worker up: the line comes once all are.
        assert wait_until(lambda: "listening on" in node.log_text(), 60), node.log_text()
        log = node.log_text()
        assert "answered no health check" not in log and "exited (status" not in log, log
        assert log.count("listening on") == 1
        assert log.index("Application startup complete") < log.index("listening on")
    finally:
        node.stop()


@pytest.mark.parametrize("trusted", [False, True])
def test_forwarded_headers_are_believed_only_from_trusted_proxies(tmp_path, trusted):
    """A loopback client is no proxy unless BERTH_TRUSTED_PROXIES says so: otherwise it could
    claim any source address (aws:SourceIp) or HTTPS (aws:SecureTransport)."""
    env = {"BERTH_TRUSTED_PROXIES": "127.0.0.1/32"} if trusted else {}
    node = BerthNode(tmp_path, extra_args=("--workers", "1"), env=env).start()
    try:
        answer = requests.get(node.url + "/v2/", timeout=10, headers={
            "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"})
        assert answer.status_code == 401
        challenge = answer.headers["WWW-Authenticate"]  # its realm names the scheme seen
        assert ('realm="https://' in challenge) == trusted, challenge
        assert wait_until(lambda: "from=203.0.113.9" in node.log_text(), 5) == trusted
        last = [l for l in node.log_text().splitlines() if "GET /v2/ - 401" in l][-1]
        assert ("from=127.0.0.1" in last) != trusted, last
    finally:
        node.stop()


def test_berth_admin_prints_its_answer_without_libraries_narrating(tmp_path):
    """Offline (migrations run: alembic) and online (a signed call: botocore finds the
    credentials), stderr holds no library INFO lines."""
    def admin(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "berth", "admin", *args], timeout=120,
                              capture_output=True, text=True, env={**os.environ, **(env or {})})

    offline = admin("accounts", "list", "--data-dir", str(tmp_path / "offline"))
    assert offline.returncode == 0 and '"Accounts"' in offline.stdout, offline.stderr
    narrated = [line for line in offline.stderr.splitlines()
                if " INFO " in line and " INFO berth" not in line]  # Berth's own first start
    assert narrated == [] and "alembic" not in offline.stderr, offline.stderr
    node = BerthNode(tmp_path / "node", extra_args=("--workers", "1")).start()
    try:
        online = admin("accounts", "list", "--endpoint-url", node.url, env={
            "AWS_SHARED_CREDENTIALS_FILE": str(node.data_dir / "admin-credentials"),
            "AWS_PROFILE": "berth-admin"})
        assert online.returncode == 0 and '"Accounts"' in online.stdout, online.stderr
        assert online.stderr == "", online.stderr
    finally:
        node.stop()
