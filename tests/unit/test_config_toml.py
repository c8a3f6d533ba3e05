"""berth.config: a config file that is not TOML is a ValueError naming the file (and where in
it), like any other bad setting; the TLS settings read from a file and the environment."""
from __future__ import annotations

import tomllib

import pytest

from berth.config import load_settings


@pytest.mark.parametrize("text, line", [
    ('port = 5001\nhost = "unterminated\n', 2),
    ("port = = 5001\n", 1),
    ('[server\nport = 1\n', 1),
    ('tls = "off"\n\n\ntls = "self-signed"\n', 4),  # a key given twice
])
def test_a_toml_syntax_error_names_the_file(tmp_path, text, line):
    config = tmp_path / "berth.toml"
    config.write_text(text)
    with pytest.raises(ValueError) as caught:
        load_settings(flags={}, env={}, config_file=config)
    message = str(caught.value)
    assert message.startswith(f"{config}: not valid TOML: ")
    assert f"line {line}" in message
    assert "\n" not in message
    assert isinstance(caught.value.__cause__, tomllib.TOMLDecodeError)


def test_a_syntax_error_in_the_file_named_by_the_environment(tmp_path):
    config = tmp_path / "from-env.toml"
    config.write_text("workers = [\n")
    with pytest.raises(ValueError, match=rf"^{config}: not valid TOML: "):
        load_settings(flags={}, env={"BERTH_CONFIG": str(config)})


def test_a_file_that_is_not_utf8(tmp_path):
    config = tmp_path / "latin1.toml"
    config.write_bytes('host = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(ValueError, match=rf"^{config}: not valid TOML: "):
        load_settings(flags={}, env={}, config_file=config)


def test_tls_settings_from_the_file_and_the_environment(tmp_path):
    config = tmp_path / "berth.toml"
    config.write_text('tls-cert = "/etc/berth/cert.pem"\ntls_key = "/etc/berth/key.pem"\n')
    settings = load_settings(flags={}, env={}, config_file=config)
    assert (settings.tls, settings.tls_cert, settings.tls_key) == (
        "", "/etc/berth/cert.pem", "/etc/berth/key.pem")
    settings = load_settings(flags={"tls": None}, env={"BERTH_TLS": "self-signed"})
    assert settings.tls == "self-signed"
    assert settings.to_env()["BERTH_TLS"] == "self-signed"
