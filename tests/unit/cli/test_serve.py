"""berth.cli.serve: the TLS settings checked before the port is taken, the URL the server is
reached at, and what the first start prints (how to log in and push; how to trust the CA
only when Berth made it)."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest
from cryptography import x509

from berth.cli import serve
from berth.cli.serve import announce, endpoint, first_start_text, tls_files
from berth.cli.startup import Started
from berth.config import Settings
from berth.serving.tls import SelfSigned, TlsError, TlsFiles, server_names
from tests.support.certificates import issue_pair, new_ca
from tests.support.log_records import records_of


@pytest.fixture
def pair(tmp_path) -> TlsFiles:
    ca = new_ca(tmp_path / "ca")
    files = TlsFiles(str(tmp_path / "server.crt"), str(tmp_path / "server.key"))
    issue_pair(ca, Path(files.cert), Path(files.key), ["localhost"])
    return files


# --- tls_files --------------------------------------------------------------------------


@pytest.mark.parametrize("tls", ["", "off"])
def test_no_tls(tmp_path, tls):
    assert tls_files(Settings(data_dir=tmp_path, tls=tls)) is None
    assert not (tmp_path / "tls").exists()


def test_an_unknown_tls_mode(tmp_path):
    with pytest.raises(TlsError, match=r"^tls: 'on' is not one of off, self-signed$"):
        tls_files(Settings(data_dir=tmp_path, tls="on"))


@pytest.mark.parametrize("given", ["tls_cert", "tls_key", "both"])
def test_self_signed_excludes_certificate_files(tmp_path, pair, given):
    files = {"tls_cert": pair.cert, "tls_key": pair.key}
    if given != "both":
        files = {given: files[given]}
    with pytest.raises(TlsError, match=r"^tls: self-signed and tls_cert/tls_key exclude"):
        tls_files(Settings(data_dir=tmp_path, tls="self-signed", **files))
    assert not (tmp_path / "tls").exists()  # refused before anything was made


@pytest.mark.parametrize("given", ["tls_cert", "tls_key"])
def test_a_certificate_without_its_key_or_the_reverse(tmp_path, pair, given):
    with pytest.raises(TlsError, match=r"^tls_cert and tls_key go together"):
        tls_files(Settings(data_dir=tmp_path, **{given: getattr(pair, given[4:])}))


def test_certificate_files_are_checked_now(tmp_path, pair):
    assert tls_files(Settings(data_dir=tmp_path, tls_cert=pair.cert, tls_key=pair.key)) == pair
    missing = str(tmp_path / "missing.key")
    with pytest.raises(TlsError, match=r"^tls_key: cannot read "):
        tls_files(Settings(data_dir=tmp_path, tls_cert=pair.cert, tls_key=missing))
    with pytest.raises(TlsError, match=r"^tls_cert/tls_key: "):
        tls_files(Settings(data_dir=tmp_path, tls_cert=pair.key, tls_key=pair.key))


def test_self_signed_makes_its_files_for_the_server_names(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", tls="self-signed", host="10.20.30.40",
                        domain="registry.test", regions="us-east-1,eu-west-1")
    files = tls_files(settings)
    own = SelfSigned(tmp_path / "data" / "tls")
    assert files == own.files
    assert own.ca_cert.is_file() and Path(files.key).is_file()
    cert = x509.load_pem_x509_certificate(Path(files.cert).read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    names = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)} | set(
        san.get_values_for_type(x509.DNSName))
    assert names == set(server_names("10.20.30.40", "registry.test",
                                     ("us-east-1", "eu-west-1")))
    # A second start keeps them.
    before = Path(files.cert).read_bytes()
    assert tls_files(settings) == files
    assert Path(files.cert).read_bytes() == before


# --- endpoint ---------------------------------------------------------------------------


@pytest.mark.parametrize("host, tls, url", [
    ("0.0.0.0", False, "http://127.0.0.1:5123"),
    ("", False, "http://127.0.0.1:5123"),
    ("::", True, "https://127.0.0.1:5123"),
    ("127.0.0.1", True, "https://127.0.0.1:5123"),
    ("::1", False, "http://[::1]:5123"),
    ("fd00::7", True, "https://[fd00::7]:5123"),
    ("registry.internal", False, "http://registry.internal:5123"),
])
def test_endpoint(tmp_path, pair, host, tls, url):
    assert endpoint(Settings(host=host, port=5123), pair if tls else None) == url


# --- the first start's text -------------------------------------------------------------

ACCOUNT = "210987654321"


def _text(settings: Settings, tls: TlsFiles | None) -> tuple[str, str]:
    url = endpoint(settings, tls)
    return url, first_start_text(settings, Started(ACCOUNT, True), url, tls)


def _login_lines(text: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index("Log in and push:")
    return [line.strip() for line in lines[start + 1:] if line.strip()]


@pytest.mark.parametrize("port, region", [(5123, "eu-west-1"), (8443, "ap-south-1")])
def test_first_start_text_plain_http(tmp_path, port, region):
    settings = Settings(data_dir=tmp_path / "data", port=port, default_region=region)
    url, text = _text(settings, None)
    address = f"127.0.0.1:{port}"
    credentials = (tmp_path / "data" / "admin-credentials").resolve()
    assert f"Berth is ready at {url}" in text
    assert ACCOUNT in text and f"region {region}" in text
    assert str(credentials) in text
    export, login, push = _login_lines(text)
    assert export == (f"export AWS_SHARED_CREDENTIALS_FILE={credentials} "
                      "AWS_PROFILE=berth-admin")
    assert login == (f"aws ecr get-login-password --region {region} --endpoint-url {url} | "
                     f"docker login --username AWS --password-stdin {address}")
    assert push == (f"docker tag IMAGE {address}/REPOSITORY:TAG && "
                    f"docker push {address}/REPOSITORY:TAG")
    assert "certs.d" not in text and "--ca-bundle" not in text and "trust" not in text
    assert text.endswith("\n")


def test_first_start_text_with_the_operators_certificate(tmp_path, pair):
    settings = Settings(data_dir=tmp_path / "data", port=5443, tls_cert=pair.cert,
                        tls_key=pair.key)
    url, text = _text(settings, pair)
    assert url == "https://127.0.0.1:5443"
    assert f"--endpoint-url {url} |" in text
    assert "certs.d" not in text and "--ca-bundle" not in text and "--cert-dir" not in text


def test_first_start_text_self_signed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative data dir: the text shows absolute paths
    settings = Settings(data_dir=Path("data"), port=5443, tls="self-signed",
                        default_region="us-west-2")
    files = tls_files(settings)
    url, text = _text(settings, files)
    own = SelfSigned(tmp_path / "data" / "tls")
    address = "127.0.0.1:5443"
    assert url == f"https://{address}"
    assert f"sudo cp {own.ca_cert} /etc/docker/certs.d/{address}/" in text
    assert f"--cert-dir {own.trust_dir} " in text
    assert f"/etc/containers/certs.d/{address}/" in text
    assert f"--ca-bundle {own.ca_cert}  (or AWS_CA_BUNDLE)" in text
    export, login, push = _login_lines(text)
    assert str(tmp_path / "data" / "admin-credentials") in export
    assert login == (f"aws ecr get-login-password --region us-west-2 --endpoint-url {url} "
                     f"--ca-bundle {own.ca_cert} | docker login --username AWS "
                     f"--password-stdin {address}")
    assert push.startswith(f"docker tag IMAGE {address}/REPOSITORY:TAG")
    # The trust lines come before the login lines that need them.
    assert text.index("trust the CA") < text.index("Log in and push:")
    assert own.ca_cert.is_file()  # the path shown is the file tls_files made


@pytest.mark.parametrize("first_start", [True, False])
def test_announce_prints_the_text_on_the_first_start_only(tmp_path, capsys, first_start):
    settings = Settings(data_dir=tmp_path, port=5123)
    with records_of("berth", level=logging.INFO) as records:
        announce(settings, 3, Started(ACCOUNT, first_start), None)
    out = capsys.readouterr().out
    if first_start:
        assert out == first_start_text(settings, Started(ACCOUNT, True),
                                       "http://127.0.0.1:5123", None)
    else:
        assert out == ""
    [record] = [r for r in records if r.name == "berth"]
    message = record.getMessage()
    assert "http://127.0.0.1:5123" in message and "3 workers" in message
    assert ACCOUNT in message


def test_serve_reports_a_tls_error_before_taking_the_port(tmp_path, monkeypatch):
    taken = []
    monkeypatch.setattr(serve.supervisor, "listen", lambda *a: taken.append(a))
    settings = Settings(data_dir=tmp_path, tls_cert=str(tmp_path / "missing.crt"),
                        tls_key=str(tmp_path / "missing.key"), metrics=False)
    assert serve.serve(settings) == 1
    assert taken == []
