from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from arena.models import ArenaModel, Battle

from .conftest import run_turn


def form(**overrides: Any) -> dict[str, Any]:
    data = {
        "name": "Local Llama", "organization": "Our lab", "license": "Apache-2.0", "link": "https://example.org/llama",
        "state": "paused", "sampling_weight": "1.5", "adapter_kind": "openai", "provider_model": "llama-3-8b",
        "base_url": "http://127.0.0.1:8080/v1", "key_env": "LLAMA_KEY", "key_file": "",
        "generation": '{"max_tokens": 256, "temperature": 0.7}', "timeouts": '{"first_token": 20}', "options": "{}",
        "aliases": "Llama, Our Llama", "released_at_0": "", "released_at_1": "", "prerelease_variants": "0",
    }
    data.update(overrides)
    return data


def test_an_admin_registers_a_model_with_the_name_of_its_key_variable(admin_client_: Client) -> None:
    response = admin_client_.post("/admin/arena/arenamodel/add/", form())
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    model = ArenaModel.objects.get(name="Local Llama")
    assert model.key_env == "LLAMA_KEY" and model.generation == {"max_tokens": 256, "temperature": 0.7}
    assert model.sampling_weight == 1.5 and model.state == "paused"


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"generation": '{"max_tokens": 0}'}, "generation", "max_tokens must be a positive integer"),
        ({"generation": '{"temprature": 1}'}, "generation", "unknown generation setting(s): temprature"),
        ({"timeouts": '{"stall": -1}'}, "timeouts", "timeout stall must be positive"),
        ({"base_url": ""}, "base_url", "needs a base URL"),
        ({"base_url": "ftp://x"}, "base_url", "http:// or https://"),
        ({"base_url": "https://user:secret@example.org/v1"}, "base_url", "Do not put credentials"),
        ({"key_env": "sk-live-1234 5678"}, "key_env", "environment variable name"),
        ({"adapter_kind": "anthropic", "key_env": "", "base_url": ""}, "key_env", "needs a key"),
        ({"sampling_weight": "-1"}, "sampling_weight", "greater than or equal to 0"),
    ],
)
def test_the_model_form_explains_what_is_wrong(admin_client_: Client, overrides, field, message) -> None:
    response = admin_client_.post("/admin/arena/arenamodel/add/", form(**overrides))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert message in " ".join(errors[field])
    assert not ArenaModel.objects.exists()


def test_a_model_that_battled_cannot_be_deleted_only_deprecated(admin_client_: Client, ready_battle: Battle) -> None:
    model = ready_battle.model_a
    response = admin_client_.get(f"/admin/arena/arenamodel/{model.pk}/delete/")
    assert response.status_code == 403
    response = admin_client_.post(
        "/admin/arena/arenamodel/", {"action": "delete_selected", "_selected_action": [model.pk], "post": "yes"}
    )
    assert ArenaModel.objects.filter(pk=model.pk).exists()
    admin_client_.post("/admin/arena/arenamodel/", {"action": "deprecate_models", "_selected_action": [model.pk]})
    model.refresh_from_db()
    assert model.state == ArenaModel.State.DEPRECATED


def test_a_model_without_battles_can_be_deleted(admin_client_: Client, make_model) -> None:
    model = make_model(name="Never used")
    response = admin_client_.post(f"/admin/arena/arenamodel/{model.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not ArenaModel.objects.filter(pk=model.pk).exists()


def test_the_test_action_reports_a_working_model(admin_client_: Client, make_model, eager_celery) -> None:
    model = make_model(name="Demo", provider_model="heron")
    response = admin_client_.post(
        "/admin/arena/arenamodel/", {"action": "test_models", "_selected_action": [model.pk]}, follow=True
    )
    messages = [str(m) for m in response.context["messages"]]
    assert len(messages) == 1 and messages[0].startswith("Demo: OK in ")
    assert "output tokens" in messages[0]


def test_the_test_action_reports_a_missing_key_without_leaking_anything(
    admin_client_: Client, make_model, eager_celery, monkeypatch
) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    model = make_model(name="Claude", adapter_kind="anthropic", provider_model="claude-x", key_env="NOT_SET_ANYWHERE")
    response = admin_client_.post(
        "/admin/arena/arenamodel/", {"action": "test_models", "_selected_action": [model.pk]}, follow=True
    )
    messages = [str(m) for m in response.context["messages"]]
    assert messages == ["Claude: failed: ConfigurationError: the environment variable NOT_SET_ANYWHERE is not set"]


def test_the_admin_never_shows_a_key_value(admin_client_: Client, make_model, monkeypatch) -> None:
    monkeypatch.setenv("SECRET_FOR_TEST", "sk-very-secret-value")
    model = make_model(name="Keyed", adapter_kind="openai", base_url="http://127.0.0.1:1/v1", key_env="SECRET_FOR_TEST")
    page = admin_client_.get(f"/admin/arena/arenamodel/{model.pk}/change/").content.decode()
    assert "SECRET_FOR_TEST" in page and "sk-very-secret-value" not in page


def test_battles_and_votes_are_browsable_read_only(admin_client_: Client, ready_battle: Battle) -> None:
    run_turn  # noqa: B018 - the fixture already answered the battle
    listing = admin_client_.get("/admin/arena/battle/?status__exact=ready")
    assert listing.status_code == 200 and str(ready_battle.uuid) in listing.content.decode()
    assert admin_client_.get("/admin/arena/battle/add/").status_code == 403
    detail = admin_client_.get(f"/admin/arena/battle/{ready_battle.pk}/change/")
    assert detail.status_code == 200 and "Hello there" in detail.content.decode()
    assert admin_client_.post(f"/admin/arena/battle/{ready_battle.pk}/delete/", {"post": "yes"}).status_code == 403
