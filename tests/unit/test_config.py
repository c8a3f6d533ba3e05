from pathlib import Path

import pytest

from berth.config import load_settings


def test_defaults():
    s = load_settings(flags={}, env={})
    assert (s.host, s.port, s.data_dir, s.workers) == ("127.0.0.1", 5000, Path("berth-data"), 0)
    assert s.database_url.startswith("sqlite:///") and s.database_url.endswith("metadata.db")
    assert s.storage_url.startswith("file://")


def test_precedence_flags_over_env_over_file(tmp_path):
    cfg = tmp_path / "berth.toml"
    cfg.write_text('port = 6000\nhost = "0.0.0.0"\nlog-level = "debug"\n')
    env = {"BERTH_PORT": "7000", "BERTH_CONFIG": str(cfg)}
    s = load_settings(flags={"port": 8000}, env=env)
    assert s.port == 8000 and s.host == "0.0.0.0" and s.log_level == "debug"
    assert load_settings(flags={}, env=env).port == 7000
    assert load_settings(flags={}, env={"BERTH_CONFIG": str(cfg)}).port == 6000


def test_bad_values_are_refused(tmp_path):
    with pytest.raises(ValueError, match="port"):
        load_settings(flags={}, env={"BERTH_PORT": "many"})
    cfg = tmp_path / "bad.toml"
    cfg.write_text("colour = 1\n")
    with pytest.raises(ValueError, match="colour"):
        load_settings(flags={}, env={}, config_file=cfg)


def test_round_trip_through_env():
    s = load_settings(flags={"port": 5123, "data_dir": "/tmp/x"}, env={})
    assert load_settings(flags={}, env=s.to_env()) == s


def test_booleans_and_storage_settings():
    s = load_settings(flags={}, env={})
    assert (s.storage_encrypted, s.storage_redirect, s.s3_part_size) == (False, "auto", 8 * 1024 * 1024)
    assert load_settings(flags={}, env={"BERTH_STORAGE_ENCRYPTED": "yes"}).storage_encrypted is True
    assert load_settings(flags={"storage_encrypted": True}, env={}).storage_encrypted is True
    # Worker processes get settings back from the environment unchanged.
    for value in (True, False):
        s = load_settings(flags={"storage_encrypted": value}, env={})
        assert load_settings(flags={}, env=s.to_env()).storage_encrypted is value
    with pytest.raises(ValueError, match="storage_encrypted"):
        load_settings(flags={}, env={"BERTH_STORAGE_ENCRYPTED": "perhaps"})


def test_usage_flush_seconds_from_the_file_the_environment_and_flags(tmp_path):
    assert load_settings(flags={}, env={}).usage_flush_seconds == 5.0
    cfg = tmp_path / "berth.toml"
    cfg.write_text("usage-flush-seconds = 30\n")
    assert load_settings(flags={}, env={}, config_file=cfg).usage_flush_seconds == 30.0
    env = {"BERTH_USAGE_FLUSH_SECONDS": "0.5", "BERTH_CONFIG": str(cfg)}
    s = load_settings(flags={}, env=env)
    assert s.usage_flush_seconds == 0.5 and type(s.usage_flush_seconds) is float
    assert load_settings(flags={}, env=s.to_env()) == s  # worker processes get it back
    assert load_settings(flags={"usage_flush_seconds": 2}, env=env).usage_flush_seconds == 2.0


@pytest.mark.parametrize("value", ["0", "-1", "soon", "nan", "inf", ""])
def test_usage_flush_seconds_must_be_a_positive_number(value):
    with pytest.raises(ValueError, match=r"setting 'usage_flush_seconds': .* is not a valid "
                                         r"float > 0"):
        load_settings(flags={}, env={"BERTH_USAGE_FLUSH_SECONDS": value})


def test_usage_flush_seconds_in_a_file_must_be_a_number(tmp_path):
    cfg = tmp_path / "berth.toml"
    for text in ("usage_flush_seconds = true\n", "usage_flush_seconds = 0\n"):
        cfg.write_text(text)
        with pytest.raises(ValueError, match="usage_flush_seconds"):
            load_settings(flags={}, env={}, config_file=cfg)
