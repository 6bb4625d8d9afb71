from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from arena import services
from arena.models import ArenaModel, Battle, Turn
from arena.tasks import battle_generate

_names = itertools.count(1)


@pytest.fixture(autouse=True)
def _clean_cache() -> Any:
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def make_model(db: Any) -> Callable[..., ArenaModel]:
    def make(**fields: Any) -> ArenaModel:
        defaults: dict[str, Any] = {
            "name": f"Model {next(_names)}",
            "adapter_kind": "demo",
            "provider_model": "pelican",
            "options": {"delay": 0},
            "state": ArenaModel.State.ACTIVE,  # models that battle; a new model's own default is paused
        }
        defaults.update(fields)
        return ArenaModel.objects.create(**defaults)

    return make


@pytest.fixture
def two_models(make_model: Callable[..., ArenaModel]) -> tuple[ArenaModel, ArenaModel]:
    return make_model(name="Alpha", provider_model="pelican"), make_model(name="Beta", provider_model="heron")


@pytest.fixture
def session_client(db: Any) -> Client:
    """A browser-like client with a session (it has loaded the page), CSRF enforced."""
    client = Client(enforce_csrf_checks=True)
    response = client.get("/")
    assert response.status_code == 200
    client.csrf = response.cookies["csrftoken"].value  # type: ignore[attr-defined]
    return client


def post_json(client: Client, url: str, data: Any, **extra: Any) -> Any:
    import json

    headers = {"HTTP_X_CSRFTOKEN": getattr(client, "csrf", "")}
    headers.update(extra)
    return client.post(url, data=json.dumps(data), content_type="application/json", **headers)


def run_turn(turn: Turn) -> None:
    """Generate both sides of a turn the way a worker does (the task body, run here)."""
    for side in ("a", "b"):
        battle_generate(turn.id, side)


@pytest.fixture
def ready_battle(two_models: tuple[ArenaModel, ArenaModel], django_capture_on_commit_callbacks: Any) -> Battle:
    """An anonymous battle whose first turn has been answered on both sides."""
    with django_capture_on_commit_callbacks(execute=False):
        battle = services.battle_create(prompt="Hello there", session_key="s" * 32, ip_hash="h")
    run_turn(battle.turns.get())
    battle.refresh_from_db()
    assert battle.status == Battle.Status.READY
    return battle


from tests.model_adapters.conftest import checkpoint, provider_key, wire_server  # noqa: E402, F401 - shared fixtures


@pytest.fixture
def admin_client_(db: Any) -> Client:
    from django.contrib.auth.models import User

    User.objects.create_superuser("root", "", "pw-for-tests-only")
    client = Client()
    client.force_login(User.objects.get(username="root"))  # login() has no request, which django-axes needs
    return client


@pytest.fixture
def eager_celery() -> Any:
    from config.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


