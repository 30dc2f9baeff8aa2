"""Settings come from the environment when asked for, with clear errors naming the variable."""

from __future__ import annotations

import pytest

from actions.storage import config
from actions.storage.crypto import Cipher, current_cipher, generate_key, use_cipher


@pytest.fixture
def project_root(tmp_path, monkeypatch: pytest.MonkeyPatch):
    """A stand-in project root, so defaults never touch the real `data/` folder."""
    monkeypatch.setattr(config, "PROJECT_ROOT", tmp_path)
    return tmp_path


def test_database_url_default_is_an_absolute_sqlite_file_in_a_created_data_folder(
        project_root):
    assert config.database_url() == f"sqlite:///{project_root / 'data' / 'retorno.db'}"
    assert (project_root / "data").is_dir()


@pytest.mark.parametrize("variable, read", [
    ("DATABASE_URL", config.database_url),
    ("TRACKER_STORE_URL", config.tracker_store_url),
])
@pytest.mark.parametrize("value, expected", [
    ("sqlite:///data/x.db", "sqlite:///{root}/data/x.db"),
    ("sqlite:////srv/retorno/x.db", "sqlite:////srv/retorno/x.db"),
    ("sqlite://", "sqlite://"),
    ("postgresql://retorno:s%40cret@db/retorno", "postgresql://retorno:s%40cret@db/retorno"),
])
def test_urls_from_the_environment_resolve_relative_sqlite_paths_against_the_project_root(
        project_root, monkeypatch, variable, read, value, expected):
    monkeypatch.setenv(variable, value)
    assert read() == expected.format(root=project_root)
    assert not (project_root / "data").exists()


def test_tracker_store_url_default_is_the_make_run_default_against_the_project_root(
        project_root):
    assert config.tracker_store_url() == f"sqlite:///{project_root / 'data' / 'tracker.db'}"


def test_data_keys_are_comma_separated_and_the_first_comes_first(monkeypatch):
    monkeypatch.setenv("RETORNO_DATA_KEYS", " new-key , old-key ,")
    assert config.data_keys() == ["new-key", "old-key"]


@pytest.mark.parametrize("variable, read, value", [
    ("RETORNO_DATA_KEYS", config.data_keys, None),
    ("RETORNO_DATA_KEYS", config.data_keys, "  "),
    ("RETORNO_DATA_KEYS", config.data_keys, " , "),
    ("RETORNO_ID_KEY", config.id_key, None),
    ("RETORNO_ID_KEY", config.id_key, "short-secret"),
])
def test_missing_or_unusable_secrets_raise_an_error_naming_the_variable(
        monkeypatch, variable, read, value):
    if value is not None:
        monkeypatch.setenv(variable, value)
    with pytest.raises(config.ConfigError, match=variable) as error:
        read()
    assert "keys new" in str(error.value)
    if value and value.strip(" ,"):
        assert value not in str(error.value)


def test_id_key_is_returned_when_long_enough(monkeypatch):
    monkeypatch.setenv("RETORNO_ID_KEY", "k" * 32)
    assert config.id_key() == "k" * 32


@pytest.mark.parametrize("variable, read, default", [
    ("RETORNO_INTAKE_RETENTION_DAYS", config.intake_retention_days, 730),
    ("RETORNO_TRANSCRIPT_RETENTION_DAYS", config.transcript_retention_days, 180),
])
@pytest.mark.parametrize("value, expected", [
    (None, "default"), ("", "default"), ("30", 30), (" 7 ", 7),
    ("0", config.ConfigError), ("-5", config.ConfigError), ("two years", config.ConfigError),
])
def test_retention_periods(monkeypatch, variable, read, default, value, expected):
    if value is not None:
        monkeypatch.setenv(variable, value)
    if expected is config.ConfigError:
        with pytest.raises(config.ConfigError, match=variable):
            read()
    else:
        assert read() == (default if expected == "default" else expected)


def test_settings_are_read_when_asked_for_not_at_import(monkeypatch):
    monkeypatch.setenv("RETORNO_INTAKE_RETENTION_DAYS", "10")
    assert config.intake_retention_days() == 10
    monkeypatch.setenv("RETORNO_INTAKE_RETENTION_DAYS", "20")
    assert config.intake_retention_days() == 20


def test_current_cipher_is_built_lazily_from_the_data_keys(monkeypatch):
    first, second = generate_key(), generate_key()
    token = Cipher([second]).encrypt("hola")
    monkeypatch.setenv("RETORNO_DATA_KEYS", f"{first},{second}")
    use_cipher(None)
    assert current_cipher().decrypt(token) == "hola"
    assert Cipher([first]).decrypt(current_cipher().encrypt("hola")) == "hola"


def test_an_invalid_data_key_is_reported_by_position_never_by_value(monkeypatch):
    monkeypatch.setenv("RETORNO_DATA_KEYS", f"{generate_key()},not-a-real-key")
    use_cipher(None)
    with pytest.raises(config.ConfigError, match="RETORNO_DATA_KEYS: data key number 2") as error:
        current_cipher()
    assert "not-a-real-key" not in str(error.value)
