"""Every adapter kind can be registered in the admin, and its "Test" action works, through the workers' code."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from arena.models import ArenaModel
from model_adapters import registry
from tests.model_adapters.wire import KEY_ENV, PROVIDERS, base_url_for
from tests.model_adapters.wire_server import Reply

from .test_admin import form


def register_and_test(client: Client, **fields: Any) -> list[str]:
    response = client.post("/admin/arena/arenamodel/add/", form(**fields))
    assert response.status_code == 302, response.context["adminform"].form.errors
    model = ArenaModel.objects.get(name=fields["name"])
    response = client.post("/admin/arena/arenamodel/", {"action": "test_models", "_selected_action": [model.pk]},
                           follow=True)
    messages = [str(m) for m in response.context["messages"]]
    assert "was added successfully" in messages[0]
    return messages[1:]


@pytest.mark.parametrize("kind", sorted(PROVIDERS))
def test_each_http_kind_registers_and_passes_the_test_action(
    admin_client_, eager_celery, wire_server, provider_key, kind
) -> None:
    wire = PROVIDERS[kind]
    wire_server.reply(Reply(parts=wire.answer(["Hi", " there", "!"])))
    messages = register_and_test(
        admin_client_, name=f"Via {kind}", adapter_kind=kind, provider_model="test-model",
        base_url=base_url_for(kind, wire_server.url), key_env=KEY_ENV, generation="{}", timeouts="{}",
    )
    assert len(messages) == 1 and messages[0].startswith(f"Via {kind}: OK in "), messages
    assert "“Hi there!”" in messages[0]
    assert provider_key not in messages[0]
    assert wire_server.requests[0].path == wire.path


def test_the_demo_kind_registers_and_passes_the_test_action(admin_client_, eager_celery) -> None:
    messages = register_and_test(admin_client_, name="My demo", adapter_kind="demo", provider_model="ibis",
                                 base_url="", key_env="", options='{"delay": 0}')
    assert messages[0].startswith("My demo: OK in ")


@pytest.mark.local_model
def test_a_local_checkpoint_registers_and_passes_the_test_action(admin_client_, eager_celery, checkpoint) -> None:
    messages = register_and_test(admin_client_, name="MAI-1-preview", adapter_kind="local",
                                 provider_model=str(checkpoint), base_url="", key_env="", generation="{}")
    assert messages[0].startswith("MAI-1-preview: OK in "), messages
    assert registry.spec_for("local").queue == "gpu"


def test_every_registered_kind_is_offered_in_the_admin(admin_client_) -> None:
    page = admin_client_.get("/admin/arena/arenamodel/add/").content.decode()
    for spec in registry.SPECS:
        assert f'value="{spec.kind}"' in page


@pytest.mark.local_model
def test_a_gpu_worker_that_asks_preloads_the_active_local_models(db, checkpoint, settings) -> None:
    from celery.signals import worker_process_init

    from model_adapters.local import CACHE

    ArenaModel.objects.create(name="MAI-1-preview", state="active", adapter_kind="local", provider_model=str(checkpoint))
    ArenaModel.objects.create(name="Retired", adapter_kind="local", provider_model="/nowhere", state="deprecated")
    CACHE.clear()
    settings.ARENA_PRELOAD_LOCAL_MODELS = False
    worker_process_init.send(sender=None)
    assert len(CACHE) == 0  # web and API workers never load weights
    settings.ARENA_PRELOAD_LOCAL_MODELS = True
    worker_process_init.send(sender=None)
    assert len(CACHE) == 1  # the active checkpoint; the deprecated one is not loaded
