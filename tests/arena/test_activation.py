"""A new model starts paused and becomes active only with a passing Test of the settings it battles with."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from arena import probes
from arena.demo import DEMO_MODELS, demo_models_ensure
from arena.models import ArenaModel

from .test_admin import form

pytestmark = pytest.mark.django_db


def action(client: Client, name: str, *models: ArenaModel) -> list[str]:
    """Run an admin action on the model list; the messages it left."""
    response = client.post("/admin/arena/arenamodel/", {"action": name, "_selected_action": [m.pk for m in models]},
                           follow=True)
    return [str(m) for m in response.context["messages"]]


def after_test(model: ArenaModel) -> ArenaModel:
    """``model`` after the admin's Test ran on it, as a worker runs it."""
    probes.probe_record(model.pk, "token")
    model.refresh_from_db()
    return model


def state(model: ArenaModel) -> str:
    model.refresh_from_db()
    return model.state


def test_a_new_model_starts_paused() -> None:
    assert ArenaModel.objects.create(name="Fresh", adapter_kind="demo", provider_model="pelican").state == "paused"


def test_activate_refuses_a_model_never_tested_and_changes_nothing(admin_client_: Client, make_model) -> None:
    untested = make_model(name="Untested", state="paused")
    ready = after_test(make_model(name="Ready", state="paused"))
    messages = action(admin_client_, "activate_models", untested, ready)
    assert messages == ["Nothing was activated: a model becomes active only after a passing Test of its current "
                        "settings; run Test first. Untested: it has never been tested."]
    assert state(untested) == state(ready) == "paused"


def test_the_test_action_records_its_outcome_and_a_pass_lets_the_model_be_activated(
    admin_client_: Client, make_model, eager_celery
) -> None:
    model = make_model(name="Heron", provider_model="heron", state="paused")
    assert action(admin_client_, "test_models", model)[0].startswith("Heron: OK in ")
    model.refresh_from_db()
    assert model.tested_at is not None and model.test_ok and model.test_summary.startswith("OK in ")
    assert model.has_passing_test()
    assert action(admin_client_, "activate_models", model) == ["Activated 1 model(s)."]
    assert state(model) == "active"


def test_a_failed_test_is_recorded_and_refuses_activation(admin_client_: Client, make_model, monkeypatch) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    model = after_test(make_model(name="Claude", adapter_kind="anthropic", provider_model="claude-x",
                              key_env="NOT_SET_ANYWHERE", state="paused"))
    assert model.tested_at is not None and not model.test_ok and not model.has_passing_test()
    messages = action(admin_client_, "activate_models", model)
    assert "Claude: its last test failed (failed: ConfigurationError: the environment variable NOT_SET_ANYWHERE" in (
        messages[0])
    assert state(model) == "paused"


def test_changed_adapter_settings_need_a_new_test(admin_client_: Client, make_model) -> None:
    model = after_test(make_model(name="Pelican", state="paused"))
    model.generation = {"max_tokens": 64}
    model.save()
    assert not model.has_passing_test()
    messages = action(admin_client_, "activate_models", model)
    assert "Pelican: its connection or generation settings changed since its last test" in messages[0]
    assert state(model) == "paused"
    model.generation = {}  # back to what was tested: the pass holds again
    model.save()
    assert action(admin_client_, "activate_models", model) == ["Activated 1 model(s)."]


def test_the_form_cannot_add_a_model_active(admin_client_: Client) -> None:
    response = admin_client_.post("/admin/arena/arenamodel/add/", form(state="active"))
    assert response.status_code == 200
    errors = " ".join(response.context["adminform"].form.errors["state"])
    assert "A model becomes active only after a passing Test, and it has never been tested." in errors
    assert not ArenaModel.objects.exists()


def change(client: Client, model: ArenaModel, **overrides: Any) -> Any:
    """Post the change form with the model's fields as they are, and ``overrides``."""
    fields = {"name": model.name, "state": model.state, "adapter_kind": model.adapter_kind,
              "provider_model": model.provider_model, "generation": "{}", "timeouts": "{}",
              "options": '{"delay": 0}', "base_url": "", "key_env": "", **overrides}
    return client.post(f"/admin/arena/arenamodel/{model.pk}/change/", form(**fields))


def test_the_form_activates_only_with_a_passing_test_of_the_settings_being_saved(admin_client_: Client, make_model
                                                                                  ) -> None:
    model = after_test(make_model(name="Ibis", provider_model="ibis", state="paused"))
    changed = change(admin_client_, model, state="active", provider_model="heron")  # not what was tested
    assert changed.status_code == 200 and "changed since its last test" in " ".join(
        changed.context["adminform"].form.errors["state"])
    assert state(model) == "paused"
    assert change(admin_client_, model, state="active").status_code == 302
    assert state(model) == "active"


def test_an_active_model_keeps_its_state_when_other_fields_change_but_not_its_connection(admin_client_: Client,
                                                                                         make_model) -> None:
    model = make_model(name="Legacy")  # active from before the rule: no test recorded
    assert change(admin_client_, model, sampling_weight="2").status_code == 302
    model.refresh_from_db()
    assert model.state == "active" and model.sampling_weight == 2
    refused = change(admin_client_, model, provider_model="heron")
    assert refused.status_code == 200 and "state" in refused.context["adminform"].form.errors
    assert change(admin_client_, model, provider_model="heron", state="paused").status_code == 302


def test_the_change_page_shows_the_last_test(admin_client_: Client, make_model) -> None:
    model = make_model(name="Shown", state="paused")
    assert "Never tested." in admin_client_.get(f"/admin/arena/arenamodel/{model.pk}/change/").content.decode()
    after_test(model)
    page = admin_client_.get(f"/admin/arena/arenamodel/{model.pk}/change/").content.decode()
    assert "Passed on " in page and "OK in " in page and "run Test again" not in page
    ArenaModel.objects.filter(pk=model.pk).update(provider_model="heron")
    page = admin_client_.get(f"/admin/arena/arenamodel/{model.pk}/change/").content.decode()
    assert "settings changed since: run Test again" in page


def test_the_demo_models_are_tested_for_real_and_active() -> None:
    created = demo_models_ensure()
    assert [m.name for m in created] == [name for name, _, _ in DEMO_MODELS]
    for model in ArenaModel.objects.filter(pk__in=[m.pk for m in created]):
        assert model.state == "active" and model.has_passing_test() and model.test_summary.startswith("OK in ")
    assert demo_models_ensure() == []  # they exist: nothing is added or tested again
