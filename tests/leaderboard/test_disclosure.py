"""No public page, API or export names a model that is paused (or deprecated) and never had a counted vote:
an unreleased model stays unknown; active models, and models that earned votes, appear where expected."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import URLPattern

from arena.models import ArenaModel, Battle
from leaderboard import api_urls, page_urls
from leaderboard.models import Snapshot
from leaderboard.snapshots import snapshot_refresh
from tests.factories import battle_voted, model

pytestmark = pytest.mark.django_db

UNRELEASED = "Zq Unreleased Prototype"  # paused, never battled
TRIED = "Zq Tried Side By Side"  # paused after side-by-side battles only: never in a counted vote
NEW = "Brand New Active"  # active, no votes yet
RETIRED = "Old Timer"  # deprecated after counted votes: keeps its place


@pytest.fixture
def arena() -> Snapshot:
    alpha, beta, retired = model("Alpha"), model("Beta"), model(RETIRED)
    for i in range(12):
        battle_voted(alpha, beta, "a" if i % 3 else "b", ip_hash=f"ip-{i}")
        battle_voted(retired, beta, "b", ip_hash=f"ip-{i}")
    ArenaModel.objects.filter(pk=retired.pk).update(state=ArenaModel.State.DEPRECATED)
    ArenaModel.objects.create(name=UNRELEASED, adapter_kind="demo", provider_model="pelican")
    tried = model(TRIED)
    battle_voted(tried, alpha, "a", mode=Battle.Mode.SIDE_BY_SIDE)
    ArenaModel.objects.filter(pk=tried.pk).update(state=ArenaModel.State.PAUSED)
    model(NEW)
    snapshot_refresh(rounds=20)
    return Snapshot.objects.get(view="overall")


def filled(pattern: URLPattern, snapshot: Snapshot) -> str:
    """A pattern's URL for the overall view and its snapshot."""
    path = str(pattern.pattern).replace("<str:view>", "overall").replace("<int:pk>", str(snapshot.pk))
    assert "<" not in path, path
    return "/" + path


def public_urls(snapshot: Snapshot) -> list[str]:
    """Every public GET URL that can list models: the battle page and its model list, each leaderboard page, API
    and export (all of leaderboard's URL patterns, so a new one is covered), and the exports with conversations."""
    urls = ["/", "/api/models", *(filled(p, snapshot) for p in [*page_urls.urlpatterns, *api_urls.urlpatterns])]
    return [*urls, "/exports/battles.jsonl?conversations=1",
            f"/leaderboard/snapshots/{snapshot.pk}/battles.jsonl?conversations=1"]


def body(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.getvalue().decode()


def test_no_public_url_names_a_paused_model_that_never_had_a_counted_vote(client: Client, arena: Snapshot) -> None:
    urls = public_urls(arena)
    assert len(urls) > 12
    for url in urls:
        text = body(client, url)
        # Whole names only: two letters alone turn up in random CSRF tokens (the language picker's form).
        assert UNRELEASED not in text and TRIED not in text, url


def test_active_models_and_models_that_earned_votes_are_listed_where_expected(client: Client, arena: Snapshot) -> None:
    listed = [m["name"] for m in client.get("/api/v1/models").json()["results"]]
    assert listed == ["Alpha", "Beta", NEW, RETIRED]
    assert [m["name"] for m in client.get("/api/models").json()["models"]] == ["Alpha", "Beta", NEW]
    picker = set(re.findall(r'<option value="([^"]+)"', body(client, "/")))
    assert picker == {"Alpha", "Beta", NEW}
    for url in ("/leaderboard", "/api/v1/snapshots/latest", "/leaderboard/latest/overall.csv", "/exports/battles.jsonl"):
        text = body(client, url)
        assert "Alpha" in text and RETIRED in text, url
        assert NEW not in text, url  # no votes yet: nothing to rank or export


def test_a_paused_model_appears_once_it_has_a_counted_vote(client: Client, arena: Snapshot) -> None:
    tried = ArenaModel.objects.get(name=TRIED)
    battle_voted(tried, ArenaModel.objects.get(name="Alpha"), "b")
    assert TRIED in [m["name"] for m in client.get("/api/v1/models").json()["results"]]
    assert TRIED in body(client, "/exports/battles.jsonl")
