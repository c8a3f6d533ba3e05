"""berth.cli.main's command line: an unknown flag is reported with the usage of the command it
was given to; --version; a broken config file is one line naming it."""
from __future__ import annotations

import pytest

from berth import __version__
from berth.cli.main import build_parser, main, parse


def _error(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as caught:
        parse(build_parser(), argv)
    assert caught.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    return captured.err


@pytest.mark.parametrize("argv, command", [
    (["serve", "--bogus"], "berth serve"),
    (["serve", "--port", "5001", "--bogus", "x"], "berth serve"),
    (["worker", "--bogus"], "berth worker"),
    (["db", "upgrade", "--bogus"], "berth db upgrade"),
    (["admin", "accounts", "list", "--bogus"], "berth admin accounts list"),
])
def test_an_unknown_flag_shows_its_commands_usage(capsys, argv, command):
    err = _error(argv, capsys)
    lines = err.splitlines()
    assert lines[0].startswith(f"usage: {command} ")
    assert lines[-1].startswith(f"{command}: error: unrecognized arguments: --bogus")


def test_the_usage_shown_is_the_commands_own(capsys):
    serve_err = _error(["serve", "--bogus"], capsys)
    assert "--tls-cert" in serve_err and "--workers" in serve_err
    list_err = _error(["admin", "accounts", "list", "--bogus"], capsys)
    assert "--tls-cert" not in list_err and "--workers" not in list_err


def test_every_unknown_argument_is_named(capsys):
    err = _error(["serve", "--bogus", "--other=1"], capsys)
    assert err.splitlines()[-1].endswith("unrecognized arguments: --bogus --other=1")


def test_known_flags_parse(tmp_path):
    args = parse(build_parser(), ["serve", "--tls", "self-signed", "--port", "5001",
                                  "--data-dir", str(tmp_path)])
    assert (args.command, args.tls, args.port, args.data_dir) == (
        "serve", "self-signed", 5001, str(tmp_path))
    args = parse(build_parser(), ["admin", "accounts", "list"])
    assert args.command == "admin"


def test_an_unknown_top_level_command(capsys):
    err = _error(["serv"], capsys)
    assert err.splitlines()[0].startswith("usage: berth ")
    assert "invalid choice: 'serv'" in err


@pytest.mark.parametrize("argv", [["--version"], ["--version", "serve"]])
def test_version(capsys, argv):
    with pytest.raises(SystemExit) as caught:
        parse(build_parser(), argv)
    assert caught.value.code == 0
    assert capsys.readouterr().out == f"berth {__version__}\n"


def test_a_config_file_that_is_not_toml(tmp_path, capsys):
    config = tmp_path / "berth.toml"
    config.write_text('port = 5001\nhost = "unterminated\n')
    assert main(["db", "upgrade", "--config", str(config),
                 "--data-dir", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"berth: {config}: not valid TOML: ")
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "data").exists()  # nothing was done
