"""``docker-credential-berth`` without a server: the protocol's input and output, the token
cache (hits, misses, the refresh margin, one entry per server and access key, its file mode),
and how a server URL becomes an endpoint and region. Tokens come from a fake minter."""
from __future__ import annotations

import base64
import io
import json
import os
import stat
from datetime import datetime, timezone
from pathlib import Path

import pytest

from berth.cli import credential_helper as ch

HOST = "127.0.0.1:5000"
DAY = 24 * 3600


class Clock:
    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeMinter:
    """Mints ``tok-<n>`` valid for ``lifetime`` seconds from the clock, as access key ``key``."""

    def __init__(self, clock: Clock, key: str = "AKIAONE", lifetime: float = 12 * 3600,
                 error: Exception | None = None):
        self.clock, self.key, self.lifetime, self.error = clock, key, lifetime, error
        self.minted: list[tuple[str, str]] = []  # (access key, server URL)

    def identity(self) -> str:
        if isinstance(self.error, ch.NotFound):
            raise self.error
        return self.key

    def mint(self, server_url: str) -> ch.Token:
        if self.error is not None:
            raise self.error
        self.minted.append((self.key, server_url))
        return ch.Token("AWS", f"tok-{len(self.minted)}-{self.key}", self.clock() + self.lifetime)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache_path(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "berth" / "docker-credentials.json"


@pytest.fixture
def minter(clock: Clock) -> FakeMinter:
    return FakeMinter(clock)


def helper_for(minter: FakeMinter, cache_path: Path, clock: Clock) -> ch.Helper:
    return ch.Helper(lambda: minter, ch.TokenCache(cache_path), clock)


@pytest.fixture
def helper(minter: FakeMinter, cache_path: Path, clock: Clock) -> ch.Helper:
    return helper_for(minter, cache_path, clock)


def call(helper: ch.Helper, action: str, stdin: str = "") -> tuple[int, str]:
    out = io.StringIO()
    code = ch.run(action, helper, io.StringIO(stdin), out)
    return code, out.getvalue()


def get(helper: ch.Helper, server: str = HOST) -> dict:
    code, out = call(helper, "get", server)
    assert code == 0, out
    assert out.endswith("\n") and out.count("\n") == 1, out
    return json.loads(out)


# -- the protocol --------------------------------------------------------------------------
def test_get_answers_the_server_url_user_and_token(helper, minter, capsys):
    answer = get(helper, HOST)
    assert answer == {"ServerURL": HOST, "Username": "AWS", "Secret": "tok-1-AKIAONE"}
    assert minter.minted == [("AKIAONE", HOST)]
    assert capsys.readouterr().err == ""


def test_get_echoes_the_url_in_the_form_it_was_given(helper, minter):
    """docker passes ``https://host/`` forms too; they share the host's cache entry."""
    assert get(helper, "https://127.0.0.1:5000/")["ServerURL"] == "https://127.0.0.1:5000/"
    assert get(helper, HOST + "\n") == {"ServerURL": HOST + "\n", "Username": "AWS",
                                        "Secret": "tok-1-AKIAONE"}
    assert len(minter.minted) == 1


def test_an_unknown_server_is_not_found(cache_path, clock, capsys):
    minter = FakeMinter(clock, error=ch.NotFound("no AWS credentials"))
    code, out = call(helper_for(minter, cache_path, clock), "get", HOST)
    assert (code, out) == (1, ch.NOT_FOUND + "\n")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no AWS credentials" in err


def test_a_failed_mint_is_not_found_and_explained_in_one_line(cache_path, clock, capsys):
    minter = FakeMinter(clock, error=RuntimeError("connection refused\nby 127.0.0.1:5000"))
    code, out = call(helper_for(minter, cache_path, clock), "get", HOST)
    assert (code, out) == (1, ch.NOT_FOUND + "\n")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "connection refused by 127.0.0.1:5000" in err
    assert not cache_path.exists()


@pytest.mark.parametrize("action", ["get", "erase"])
def test_an_empty_server_url_is_refused(helper, minter, action):
    assert call(helper, action, "  \n") == (1, ch.MISSING_URL + "\n")
    assert minter.minted == []


def test_store_is_accepted_and_ignored(helper, cache_path):
    creds = json.dumps({"ServerURL": HOST, "Username": "AWS", "Secret": "typed-in"})
    assert call(helper, "store", creds) == (0, "")
    assert not cache_path.exists()


@pytest.mark.parametrize("action", ["version", "--version"])
def test_version(helper, action):
    code, out = call(helper, action)
    assert code == 0 and out.startswith("docker-credential-berth (berth) ")


def test_an_unknown_action_fails(helper):
    code, out = call(helper, "frobnicate", HOST)
    assert code == 1 and "frobnicate" in out


def test_main_needs_exactly_one_action(capsys):
    assert ch.main([]) == 1
    assert "Usage" in capsys.readouterr().err
    assert ch.main(["version"]) == 0
    assert capsys.readouterr().out.startswith("docker-credential-berth")


# -- the cache -----------------------------------------------------------------------------
def test_a_cached_token_is_reused(helper, minter, clock):
    first = get(helper)
    clock.now += 3600
    assert get(helper) == first
    assert len(minter.minted) == 1


@pytest.mark.parametrize("lifetime, margin", [(12 * 3600, 4320), (3600, 360), (1200, 300),
                                              (30, 15), (6, 3)])
def test_the_refresh_margin(lifetime, margin):
    assert ch.refresh_margin(lifetime) == pytest.approx(margin)


@pytest.mark.parametrize("lifetime", [12 * 3600, 30])
def test_a_token_is_renewed_a_margin_before_it_expires(cache_path, clock, lifetime):
    minter = FakeMinter(clock, lifetime=lifetime)
    helper = helper_for(minter, cache_path, clock)
    start = clock.now
    first = get(helper)["Secret"]
    renew_at = start + lifetime - ch.refresh_margin(lifetime)
    clock.now = renew_at - 0.5
    assert get(helper)["Secret"] == first
    clock.now = renew_at
    second = get(helper)["Secret"]
    assert second != first and len(minter.minted) == 2
    clock.now = renew_at + 0.5  # the renewed token is cached in turn
    assert get(helper)["Secret"] == second


def test_tokens_are_kept_per_access_key(cache_path, clock):
    one, two = FakeMinter(clock, key="AKIAONE"), FakeMinter(clock, key="AKIATWO")
    as_one, as_two = helper_for(one, cache_path, clock), helper_for(two, cache_path, clock)
    assert get(as_one)["Secret"] == "tok-1-AKIAONE"
    assert get(as_two)["Secret"] == "tok-1-AKIATWO"  # not the other profile's token
    assert get(as_one)["Secret"] == "tok-1-AKIAONE"
    assert get(as_two)["Secret"] == "tok-1-AKIATWO"
    assert (len(one.minted), len(two.minted)) == (1, 1)


def test_tokens_are_kept_per_server(helper, minter):
    other = "123456789012.dkr.ecr.eu-west-1.localhost:5000"
    a = get(helper, HOST)["Secret"]
    b = get(helper, other)["Secret"]
    assert a != b
    assert get(helper, HOST)["Secret"] == a
    assert [url for _, url in minter.minted] == [HOST, other]


def test_the_cache_file_is_private(helper, cache_path):
    os.umask(0o022)
    get(helper)
    assert stat.S_IMODE(cache_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache_path.parent.stat().st_mode) == 0o700
    cache_path.chmod(0o644)  # however it was loosened, the next write makes it private again
    get(helper, "other.example:443")
    assert stat.S_IMODE(cache_path.stat().st_mode) == 0o600
    assert [p.name for p in cache_path.parent.iterdir()] == [cache_path.name]  # no temp files left


def test_the_cache_survives_across_processes(minter, cache_path, clock):
    first = get(helper_for(minter, cache_path, clock))
    assert get(helper_for(minter, cache_path, Clock(clock.now + 60))) == first
    assert len(minter.minted) == 1


def test_a_corrupt_cache_is_started_afresh(helper, minter, cache_path):
    cache_path.parent.mkdir(parents=True)
    for text in ("{not json", '{"version": 1, "entries": []}', '{"version": 99, "entries": {}}',
                 json.dumps({"version": 1, "entries": {HOST: {"AKIAONE": {"secret": 5}}}})):
        cache_path.write_text(text)
        assert get(helper)["Secret"] == f"tok-{len(minter.minted)}-AKIAONE"
    assert len(minter.minted) == 4


def test_an_unwritable_cache_still_answers(minter, tmp_path, clock, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    helper = helper_for(minter, blocker / "cache.json", clock)  # its parent is a file
    assert get(helper)["Secret"] == "tok-1-AKIAONE"
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "tok-1" not in err


def test_expired_entries_are_dropped_from_the_file(helper, clock, cache_path):
    get(helper, "a.example")
    clock.now += DAY
    get(helper, "b.example")
    entries = json.loads(cache_path.read_text())["entries"]
    assert list(entries) == ["b.example"]


# -- list and erase ------------------------------------------------------------------------
def test_list_shows_cached_servers(helper, clock):
    assert call(helper, "list") == (0, "{}\n")
    get(helper, HOST)
    get(helper, "https://berth.example")
    code, out = call(helper, "list")
    assert code == 0 and json.loads(out) == {HOST: "AWS", "https://berth.example": "AWS"}
    assert "tok-" not in out
    clock.now += DAY  # expired tokens are no credentials
    assert call(helper, "list") == (0, "{}\n")


def test_erase_forgets_the_server_for_every_key(cache_path, clock):
    one, two = FakeMinter(clock, key="AKIAONE"), FakeMinter(clock, key="AKIATWO")
    as_one, as_two = helper_for(one, cache_path, clock), helper_for(two, cache_path, clock)
    get(as_one, HOST), get(as_two, HOST), get(as_one, "other.example")
    assert call(as_one, "erase", "http://127.0.0.1:5000\n") == (0, "")
    assert json.loads(call(as_one, "list")[1]) == {"other.example": "AWS"}
    assert get(as_one, HOST)["Secret"] == "tok-3-AKIAONE"  # minted afresh
    assert get(as_two, HOST)["Secret"] == "tok-2-AKIATWO"
    assert call(as_one, "erase", "never.example") == (0, "")


def test_erase_and_list_need_no_credentials(cache_path, clock):
    def no_minter():
        raise AssertionError("list and erase must not resolve credentials")

    helper = ch.Helper(no_minter, ch.TokenCache(cache_path), clock)
    assert call(helper, "list") == (0, "{}\n")
    assert call(helper, "erase", HOST) == (0, "")


# -- server URLs, endpoints and regions ----------------------------------------------------
@pytest.mark.parametrize("server, endpoint", [
    ("127.0.0.1:5000", "http://127.0.0.1:5000"),
    ("localhost:5000", "http://localhost:5000"),
    ("123456789012.dkr.ecr.us-east-2.localhost:5000",
     "http://123456789012.dkr.ecr.us-east-2.localhost:5000"),
    ("[::1]:5000", "http://[::1]:5000"),
    ("http://berth.example:8080/v2/", "http://berth.example:8080"),
    ("berth.example", "https://berth.example"),
    ("https://Berth.Example:8443/", "https://berth.example:8443"),
    ("https://127.0.0.1:5000", "https://127.0.0.1:5000"),
    ("10.0.0.5:5000", "https://10.0.0.5:5000"),
])
def test_the_endpoint_of_a_server(server, endpoint):
    assert ch.endpoint_for(server, {}) == endpoint


@pytest.mark.parametrize("server, env, candidates", [
    ("127.0.0.1:5000", {}, ["http://127.0.0.1:5000", "https://127.0.0.1:5000"]),
    ("http://127.0.0.1:5000", {}, ["http://127.0.0.1:5000"]),
    ("https://127.0.0.1:5000", {}, ["https://127.0.0.1:5000"]),
    ("berth.example", {}, ["https://berth.example"]),
    ("127.0.0.1:5000", {"BERTH_ENDPOINT_URL": "http://127.0.0.1:5000"},
     ["http://127.0.0.1:5000"]),
])
def test_a_loopback_host_without_a_scheme_may_serve_either(server, env, candidates):
    assert ch.endpoint_candidates(server, env) == candidates


def test_the_endpoint_can_be_set():
    env = {"AWS_ENDPOINT_URL_ECR": "https://ecr-api.example/"}
    assert ch.endpoint_for(HOST, env) == "https://ecr-api.example"
    env["BERTH_ENDPOINT_URL"] = "http://10.1.2.3:5000"
    assert ch.endpoint_for(HOST, env) == "http://10.1.2.3:5000"


@pytest.mark.parametrize("server, configured, region", [
    ("123456789012.dkr.ecr.eu-west-3.localhost:5000", "us-west-2", "eu-west-3"),
    ("https://123456789012.dkr.ecr.ap-southeast-2.registry.example/", None, "ap-southeast-2"),
    ("127.0.0.1:5000", "us-west-2", "us-west-2"),
    ("12345.dkr.ecr.eu-west-3.localhost", None, "us-east-1"),
    ("berth.example", None, "us-east-1"),
])
def test_the_region_of_a_server(server, configured, region):
    assert ch.region_for(server, configured) == region


def test_default_cache_path(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert ch.default_cache_path({}) == tmp_path / "home/.cache/berth/docker-credentials.json"
    assert ch.default_cache_path({"XDG_CACHE_HOME": "/x"}) \
        == Path("/x/berth/docker-credentials.json")
    assert ch.default_cache_path({"XDG_CACHE_HOME": "/x", "BERTH_CREDENTIAL_CACHE": "/y.json"}) \
        == Path("/y.json")


def test_decode_token():
    assert ch.decode_token(base64.b64encode(b"AWS:abc:def").decode()) == ("AWS", "abc:def")
    for bad in ("%%%", base64.b64encode(b"no-colon").decode(), base64.b64encode(b":x").decode()):
        with pytest.raises(ch.HelperError) as exc:
            ch.decode_token(bad)
        assert bad not in str(exc.value)


# -- boto3 (no network: a stubbed client) --------------------------------------------------
def test_aws_minter_signs_with_the_chain_at_the_derived_endpoint(monkeypatch):
    from botocore.stub import Stubber

    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIACHAIN")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "chain-secret")
    minter = ch.AwsMinter({})
    made = {}
    real_client = minter.session.client
    expires = datetime(2031, 1, 2, 3, 4, 5, tzinfo=timezone.utc)

    def client(*args, **kwargs):
        made.update(kwargs)
        ecr = real_client(*args, **kwargs)
        stub = Stubber(ecr)
        stub.add_response("get_authorization_token", {"authorizationData": [{
            "authorizationToken": base64.b64encode(b"AWS:the-token").decode(),
            "expiresAt": expires, "proxyEndpoint": "http://x"}]}, {})
        stub.activate()
        return ecr

    monkeypatch.setattr(minter.session, "client", client)
    assert minter.identity() == "AKIACHAIN"
    token = minter.mint("123456789012.dkr.ecr.eu-west-1.localhost:5000")
    assert token == ch.Token("AWS", "the-token", expires.timestamp())
    assert made["endpoint_url"] == "http://123456789012.dkr.ecr.eu-west-1.localhost:5000"
    assert made["region_name"] == "eu-west-1"
    assert (made["aws_access_key_id"], made["aws_secret_access_key"]) \
        == ("AKIACHAIN", "chain-secret")


def test_aws_minter_without_credentials_is_not_found(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(ch.NotFound):
        ch.AwsMinter({}).identity()
