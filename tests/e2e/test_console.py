"""The console in a real browser (Debian's Chromium, driven by Playwright): the administrator
signs in with an access key, finds an image docker pushed, deletes a tag, sees an invalid
policy refused with the API's words and a valid one saved, and signs out; a user with a narrow
policy sees only its repository; a page of another origin that posts a form to the console
changes nothing; markup in a policy runs nothing. Screenshots of each page are kept
(test-artifacts/screenshots)."""
from __future__ import annotations

import contextlib
import http.server
import json
import threading

import pytest

from tests.support.berth_node import BerthNode
from tests.support.browser import browser_page, screenshot
from tests.support.credentials import admin_key
from tests.support.dockerd import Dockerd
from tests.support.ecr_login import aws_cli
from tests.support.operator_cli import BERTH, admin_env, berth_admin, run
from tests.support.ports import wait_until
from tests.support.tarballs import make_tar

pytestmark = pytest.mark.e2e

NARROW_POLICY = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": ["ecr:DescribeRepositories", "ecr:DescribeImages"],
    "Resource": "arn:aws:ecr:us-east-1:*:repository/team-b/*"}]}


@contextlib.contextmanager
def hostile_site(target: str):
    """A page on another origin whose form posts to ``target`` by itself (a CSRF attempt)."""
    html = (f'<form id="f" method="post" action="{target}"><input name="name" '
            'value="csrf/made"><input name="csrf" value="guessed"></form>'
            '<script>document.getElementById("f").submit()</script>').encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()


def wait_for_events(node, name: str) -> list[dict]:
    """The audit trail's events of ``name`` (it is written a second or so after the fact)."""
    found: list[dict] = []

    def recorded() -> bool:
        proc = run(str(BERTH), "admin", "audit", "lookup", "--event-name", name,
                   "--endpoint-url", node.url, env=admin_env(node))
        found[:] = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
        return bool(found)
    assert wait_until(recorded, 30, 0.5)
    return found


def sign_in(page, node, key) -> None:
    page.goto(f"{node.url}/console/")
    page.fill("input[name=access_key_id]", key.id)
    page.fill("input[name=secret_access_key]", key.secret)
    page.click("#sign-in")
    page.wait_for_selector("#repositories")


def test_the_console_in_a_browser(tmp_path, dockerd: Dockerd):
    node = BerthNode(tmp_path / "node").start()
    try:
        host = f"127.0.0.1:{node.port}"
        password = run(aws_cli(), "ecr", "get-login-password", "--endpoint-url", node.url,
                       env=admin_env(node)).stdout.strip()
        dockerd.login(host, password)
        tarball = tmp_path / "app.tar"
        tarball.write_bytes(make_tar({"app.txt": b"console\n"}))
        for tag in ("v1", "v2"):
            dockerd.docker("import", str(tarball), f"{host}/team-a/app:{tag}")
            dockerd.docker("push", f"{host}/team-a/app:{tag}")
        dockerd.docker("import", str(tarball), f"{host}/team-b/tool:v1")
        dockerd.docker("push", f"{host}/team-b/tool:v1")
        admin = admin_key(node.data_dir)

        berth_admin(node, "usage", "--sample", "--format", "json")  # today's storage sample
        with browser_page() as (page, dialogs):
            sign_in(page, node, admin)
            screenshot(page, "console-repositories")
            page.click("#usage-link")
            page.wait_for_selector("#usage-table")
            screenshot(page, "console-usage")
            assert "team-a/app" in page.inner_text("#usage-table")
            page.go_back()
            page.wait_for_selector("#repositories")
            listed = page.inner_text("#repositories")
            assert "team-a/app" in listed and "team-b/tool" in listed
            page.fill("input[name=q]", "team-a")
            page.press("input[name=q]", "Enter")
            page.wait_for_selector("#repositories")
            assert "team-b/tool" not in page.inner_text("#repositories")
            page.click("text=team-a/app")
            page.wait_for_selector("#images")
            screenshot(page, "console-repository")
            assert f"docker pull {host}/team-a/app:" in page.inner_text("#pull")
            assert "v1" in page.inner_text("#images") and "v2" in page.inner_text("#images")
            page.click("#images a >> nth=0")
            page.wait_for_selector("#referrers")
            screenshot(page, "console-image")
            assert page.eval_on_selector_all(".layers tr", "rows => rows.length") == 2
            assert "Not scanned." in page.inner_text("#findings")
            page.go_back()
            page.wait_for_selector("#images")
            page.click("button[aria-label='Delete v1']")
            page.wait_for_selector("#images")
            tags = page.eval_on_selector_all("#images .tag", "els => els.map(e => e.textContent)")
            assert tags == ["v2"]

            page.click("#policy-link")
            page.fill("#policy", '{"Statement": "</textarea><script>alert(1)</script>"}')
            page.click("#save")
            page.wait_for_selector("#error")
            screenshot(page, "console-policy-refused")
            assert "Invalid repository policy provided" in page.inner_text("#error")
            policy = {"Version": "2012-10-17", "Statement": [{
                "Sid": "team", "Effect": "Allow", "Principal": {"AWS": "*"},
                "Action": "ecr:BatchGetImage"}]}
            page.fill("#policy", json.dumps(policy))
            page.click("#save")
            page.wait_for_selector("#policy")
            assert json.loads(page.input_value("#policy")) == policy

            with hostile_site(f"{node.url}/console/repositories") as evil:
                page.goto(evil)  # its script posts the form: the console refuses it
                page.wait_for_url(f"{node.url}/console/repositories")
                page.wait_for_selector("#error")
                screenshot(page, "console-csrf-attempt")
                assert "CSRF check failed" in page.inner_text("#error")
            page.goto(f"{node.url}/console/repositories")
            assert dialogs == []

            page.click("#sign-out")
            page.wait_for_selector("#sign-in")
            screenshot(page, "console-signed-out")
            page.goto(f"{node.url}/console/repositories")
            assert page.url.startswith(f"{node.url}/console/sign-in")

        described = json.loads(run(aws_cli(), "ecr", "describe-repositories",
                                   "--endpoint-url", node.url, "--output", "json",
                                   env=admin_env(node)).stdout)
        assert "csrf/made" not in {r["repositoryName"] for r in described["repositories"]}

        # The console's changes are in the audit trail, said to come from the console.
        deletions = wait_for_events(node, "BatchDeleteImage")
        assert deletions[0]["UserAgent"].startswith("berth-console (")
        assert deletions[0]["EventSource"] == "ecr.amazonaws.com"

        account = berth_admin(node, "accounts", "list")["Accounts"][0]["AccountId"]
        berth_admin(node, "users", "create", "narrow", "--account", account)
        berth_admin(node, "policies", "put", "--account", account, "--user", "narrow",
                    "--name", "console", "--document", json.dumps(NARROW_POLICY))
        made = berth_admin(node, "access-keys", "create", "--user", "narrow", "--account",
                           account)["AccessKey"]
        narrow = type(admin)(made["AccessKeyId"], made["SecretAccessKey"])
        with browser_page() as (page, dialogs):
            sign_in(page, node, narrow)
            screenshot(page, "console-narrow-user")
            listed = page.inner_text("#repositories")
            assert "team-b/tool" in listed and "team-a/app" not in listed
            page.goto(f"{node.url}/console/repositories/team-a/app")
            assert "is not authorized to perform" in page.inner_text("#error")
    finally:
        node.stop()
