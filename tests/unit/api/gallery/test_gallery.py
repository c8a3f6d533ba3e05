"""The public gallery over HTTP (the full app served): search by name and description, a
registry's page by its alias, a repository's page with its Markdown made safe, its tags with
platforms and sizes, and logos. Browsers see it in tests/e2e/test_ecr_public.py."""
from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
import requests
from markdown_it import MarkdownIt

from berth.api.web.pages import markdown
from tests.support.registry_images import push_image
from tests.unit.api.ecr.support import server_fixture
from tests.unit.api.ecr_public.test_ecr_public import PNG, public_client

server = server_fixture("gallery")
XSS = ('<script>alert(1)</script><img src=x onerror="alert(2)">\n\n'
       '[click](javascript:alert(3)) <a href="javascript:alert(4)">a</a>')


@pytest.fixture(scope="module")
def alias(server) -> str:
    client = public_client(server)
    client.create_repository(repositoryName="web/server", catalogData={
        "description": "A small web server", "aboutText": "# Web server\n\n" + XSS,
        "usageText": "Run `server --port 80`.\n\n| a | b |\n|---|---|\n| 1 | 2 |",
        "operatingSystems": ["Linux"], "architectures": ["x86-64"], "logoImageBlob": PNG})
    client.create_repository(repositoryName="db/store", catalogData={
        "description": "Stores <b>things</b>"})
    registry_id = server.state.iam.registry_id(server.state.iam.tenancy.public(server.account))
    push_image(server.state.registry.scoped(registry_id), "web/server", "v1")
    server.push("private/hidden", "v1")  # a private repository: never in the gallery
    return client.describe_registries()["registries"][0]["aliases"][0]["name"]


class _Elements(HTMLParser):
    def __init__(self):
        super().__init__()
        self.found: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


def unsafe_elements(html: str) -> list:
    """Elements that could run script: script, iframe, object, embed, svg, an on* handler, a
    script URL in an attribute."""
    parser = _Elements()
    parser.feed(html)
    return [(tag, attrs) for tag, attrs in parser.found
            if tag in ("script", "iframe", "object", "embed", "svg")
            or any(name.startswith("on") for name in attrs)
            or any(re.match(r"\s*(javascript|vbscript|data):", value or "", re.I)
                   for value in attrs.values())]


def get(server, path: str) -> requests.Response:
    return requests.get(server.url + path, timeout=30)


def test_search_finds_by_name_and_description_and_nothing_private(server, alias):
    everything = get(server, "/gallery")
    assert everything.status_code == 200
    assert f"{alias}/web/server" in everything.text and f"{alias}/db/store" in everything.text
    assert "private/hidden" not in everything.text
    by_description = get(server, "/gallery?q=STORES")
    assert f"{alias}/db/store" in by_description.text
    assert f"{alias}/web/server" not in by_description.text
    by_name = get(server, "/gallery?q=web+server")
    assert f"{alias}/web/server" in by_name.text and "db/store" not in by_name.text
    # A description's markup is text, escaped.
    assert "Stores &lt;b&gt;things&lt;/b&gt;" in everything.text


def test_every_page_forbids_script(server, alias):
    for path in ("/gallery", f"/gallery/{alias}", f"/gallery/{alias}/web/server"):
        answer = get(server, path)
        assert "script-src" not in answer.headers["Content-Security-Policy"]
        assert answer.headers["Content-Security-Policy"].startswith("default-src 'none'")
        assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_a_repository_page_renders_markdown_without_any_script(server, alias):
    answer = get(server, f"/gallery/{alias}/web/server")
    assert answer.status_code == 200
    html = answer.text
    assert "<h1>Web server</h1>" in html
    assert "<code>server --port 80</code>" in html and "<table>" in html
    assert unsafe_elements(html) == []
    assert "&lt;script&gt;" in html  # raw HTML in Markdown is shown as text
    assert f"docker pull public.localhost:{server.url.rsplit(':', 1)[1]}/{alias}/web/server:v1" \
        in html
    row = re.search(r"<tr><td>v1</td>(.*?)</tr>", html, re.S).group(1)
    assert "linux/amd64" in row and "sha256:" in row
    assert f'src="/gallery/_logo/{alias}/web/server"' in html


def test_logos_are_served_as_images_and_missing_pages_are_404(server, alias):
    logo = get(server, f"/gallery/_logo/{alias}/web/server")
    assert logo.status_code == 200 and logo.content == PNG
    assert logo.headers["Content-Type"] == "image/png"
    assert get(server, f"/gallery/_logo/{alias}/db/store").status_code == 404
    assert get(server, "/gallery/nosuchalias").status_code == 404
    assert get(server, f"/gallery/{alias}/no/such").status_code == 404
    assert get(server, f"/gallery/{alias}/private/hidden").status_code == 404


def test_a_registry_page_lists_its_repositories(server, alias):
    public_client(server).put_registry_catalog_data(displayName="Web Team")
    html = get(server, f"/gallery/{alias}").text
    assert "Web Team" in html and "web/server" in html and "db/store" in html


@pytest.mark.parametrize("source", [
    "<script>alert(1)</script>", "[x](javascript:alert(1))", "<img src=x onerror=alert(1)>",
    "[x](JaVaScRiPt:alert(1))", "![x](data:text/html;base64,PHNjcmlwdD4=)",
    "<a href='javascript:alert(1)'>x</a>", "<svg onload=alert(1)>",
    "[x](vbscript:msgbox(1))", "<iframe src=//evil>",
])
def test_markdown_never_carries_script(source):
    html = str(markdown(source))
    assert unsafe_elements(html) == [], html
    # The test itself can tell: Markdown rendered with no care carries the script.
    careless = MarkdownIt("commonmark", {"html": True})
    careless.validateLink = lambda url: True
    assert unsafe_elements(careless.render(source)) != []
