"""Messages, settings, timeouts and configuration: validation and reading keys at call time."""

from __future__ import annotations

import pytest

from model_adapters import AdapterConfig, ConfigurationError, GenerationSettings, Message, Timeouts
from model_adapters.tokens import count_tokens


def test_an_unknown_role_is_rejected():
    with pytest.raises(ValueError, match="role"):
        Message("tool", "x")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "values",
    [{"max_tokens": 0}, {"temperature": 3}, {"top_p": 0}, {"stop": [""]}, {"seed": "7"}, {"colour": "red"}],
)
def test_bad_generation_settings_are_rejected_with_a_message(values):
    with pytest.raises(ValueError):
        GenerationSettings.from_mapping({"max_tokens": 10, **values})


def test_settings_from_json_accept_a_single_stop_string_and_numeric_strings():
    settings = GenerationSettings.from_mapping({"max_tokens": 5, "stop": "###", "temperature": "0.5"})
    assert settings.stop == ("###",) and settings.temperature == 0.5
    assert settings.merged({"seed": 3}).seed == 3


def test_timeouts_from_json_keep_defaults_and_reject_nonsense():
    assert Timeouts.from_mapping({"stall": "5"}) == Timeouts(stall=5.0)
    with pytest.raises(ValueError):
        Timeouts.from_mapping({"stall": -1})
    with pytest.raises(ValueError):
        Timeouts.from_mapping({"forever": 1})


def test_the_key_is_read_from_the_environment_at_call_time(monkeypatch: pytest.MonkeyPatch):
    config = AdapterConfig(model="m", key_env="ARENA_TEST_ROTATING_KEY")
    monkeypatch.setenv("ARENA_TEST_ROTATING_KEY", "first-value")
    assert config.api_key() == "first-value"
    monkeypatch.setenv("ARENA_TEST_ROTATING_KEY", "second-value")
    assert config.api_key() == "second-value"
    assert "second-value" not in repr(config)


def test_the_secret_file_is_used_when_the_variable_is_unset(monkeypatch: pytest.MonkeyPatch, tmp_path):
    monkeypatch.delenv("ARENA_TEST_UNSET_KEY", raising=False)
    secret = tmp_path / "key"
    secret.write_text("from-file\n")
    assert AdapterConfig(model="m", key_env="ARENA_TEST_UNSET_KEY", key_file=str(secret)).api_key() == "from-file"


def test_a_missing_key_names_where_it_was_looked_for(monkeypatch: pytest.MonkeyPatch, tmp_path):
    monkeypatch.delenv("ARENA_TEST_UNSET_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="ARENA_TEST_UNSET_KEY"):
        AdapterConfig(model="m", key_env="ARENA_TEST_UNSET_KEY").api_key()
    with pytest.raises(ConfigurationError, match="cannot be read"):
        AdapterConfig(model="m", key_file=str(tmp_path / "absent")).api_key()
    assert AdapterConfig(model="m").api_key(required=False) is None


def test_the_token_estimate_counts_words_punctuation_long_words_and_cjk_characters():
    assert count_tokens("Hello, world!") == 4
    assert count_tokens("internationalization") > 1
    assert count_tokens("你好世界") == 4
    assert count_tokens("") == 0
