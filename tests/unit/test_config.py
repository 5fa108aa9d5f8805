import os
import stat

import pytest

from jobs.config import SETTINGS, load_settings
from jobs.errors import ConfigError


def env(tmp_path, **extra):
    return {"JOBS_HOME": str(tmp_path), **extra}


def test_defaults_and_sources(tmp_path):
    settings = load_settings(env(tmp_path))
    assert settings.db_url == f"sqlite:///{tmp_path / 'jobs.db'}"
    assert settings.sources["defaults.model"] == "default"
    assert settings.sources["home"] == "env JOBS_HOME"
    assert settings.api_key == ""


def test_environment_beats_file_and_file_beats_default(tmp_path):
    (tmp_path / "config.toml").write_text('[defaults]\nmodel = "from-file"\n[worker]\ntick = 5\n')
    settings = load_settings(env(tmp_path, JOBS_MODEL="from-env"))
    assert settings["defaults.model"] == "from-env"
    assert settings.sources["defaults.model"] == "env JOBS_MODEL"
    assert settings["worker.tick"] == 5.0
    assert settings.sources["worker.tick"].startswith("config file ")


def test_gemini_key_is_preferred_and_never_shown(tmp_path):
    settings = load_settings(
        env(tmp_path, GEMINI_API_KEY="canary-gemini", GOOGLE_API_KEY="canary-google")
    )
    assert settings.api_key == "canary-gemini"
    assert "canary" not in repr(settings)
    assert "canary" not in str(settings.redacted())
    assert settings.redacted()["api.key"] == ("(set, hidden)", "env GEMINI_API_KEY")


@pytest.mark.parametrize(
    "content, message",
    [
        ("not toml = = =", "is not valid TOML"),
        ('[defaults]\nmodle = "x"\n', "unknown setting 'defaults.modle'"),
        ("[worker]\ntick = 'soon'\n", "worker.tick from config file"),
        ("[worker]\ntick = -1\n", "must not be negative"),
        ('model = "x"\n', "must be a [section]"),
    ],
)
def test_corrupt_config_is_one_clear_error(tmp_path, content, message):
    (tmp_path / "config.toml").write_text(content)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_settings(env(tmp_path))


def test_key_in_a_world_readable_config_is_refused(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[api]\nkey = "canary-file"\n')
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="readable by others") as info:
        load_settings(env(tmp_path))
    assert "canary" not in str(info.value)
    os.chmod(path, 0o600)
    assert load_settings(env(tmp_path)).api_key == "canary-file"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_explicit_config_path_must_exist(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(env(tmp_path, JOBS_CONFIG=str(tmp_path / "nope.toml")))


def test_example_config_documents_every_setting():
    import tomllib
    from pathlib import Path

    example = tomllib.loads((Path(__file__).parents[2] / "config.example.toml").read_text())
    documented = {f"{section}.{name}" for section, table in example.items() for name in table}
    assert documented == {s.key for s in SETTINGS}
    for setting in SETTINGS:
        if setting.key not in ("api.key", "store.url", "api.base_url", "api.api_version"):
            assert example[setting.section][setting.name] == setting.default, setting.key
