from __future__ import annotations

import json
import re

import pytest
from django.urls import URLPattern

from leaderboard import api_urls
from leaderboard.openapi import openapi_schema
from leaderboard.snapshots import snapshot_refresh
from tests.factories import battle_voted, model

pytestmark = pytest.mark.django_db


def play(n: int = 12) -> None:
    a, b = model("Alpha"), model("Beta")
    for i in range(n):
        battle_voted(a, b, "a" if i % 3 else "b", ip_hash=f"ip-{i}")


def error_of(response, status: int) -> str:
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    return response.json()["error"]


@pytest.mark.parametrize("url", ["/api/v1/snapshots/latest", "/leaderboard/latest/overall.csv",
                                 "/leaderboard/latest/overall.json", "/api/v1/snapshots/latest?view=code"])
def test_before_any_vote_counts_the_leaderboard_is_404_saying_so(client, url) -> None:
    model("Only model")
    assert error_of(client.get(url), 404) == "no votes have been counted yet, so there is no leaderboard"


def test_before_any_vote_counts_the_lists_are_empty_and_one_model_is_listed(client) -> None:
    model("Only model")
    assert client.get("/api/v1/snapshots").json() == {
        "count": 0, "page": 1, "per_page": 20, "next": None, "previous": None, "results": []}
    assert [m["name"] for m in client.get("/api/v1/models").json()["results"]] == ["Only model"]
    assert client.get("/exports/battles.jsonl").getvalue() == b""


def test_a_category_with_too_few_votes_is_404_with_the_threshold(client, settings) -> None:
    play()
    snapshot_refresh(rounds=20)
    message = error_of(client.get("/leaderboard/latest/code.json"), 404)
    assert message == f"no snapshot of view 'code': fewer than {settings.ARENA_CATEGORY_MIN_VOTES} counted votes in it so far"
    assert client.get("/leaderboard/latest/overall.json").status_code == 200


@pytest.mark.parametrize("url", ["/leaderboard/latest/nonsense.csv", "/api/v1/snapshots/latest?view=../etc"])
def test_an_unknown_view_is_404(client, url) -> None:
    play()
    snapshot_refresh(rounds=20)
    assert error_of(client.get(url), 404).startswith("unknown view")


@pytest.mark.parametrize("url", ["/api/v1/snapshots/999", "/leaderboard/snapshots/999.csv",
                                 "/leaderboard/snapshots/999.json", "/leaderboard/snapshots/999/battles.jsonl"])
def test_an_unknown_snapshot_is_404(client, url) -> None:
    assert error_of(client.get(url), 404) == "no snapshot 999"


@pytest.mark.parametrize(("url", "message"), [
    ("/api/v1/snapshots?page=0", "page must be at least 1, got 0"),
    ("/api/v1/snapshots?page=two", "page must be a whole number, got 'two'"),
    ("/api/v1/snapshots?per_page=500", "per_page must be between 1 and 100, got 500"),
    ("/api/v1/snapshots?view=bogus", "unknown view 'bogus'"),
    ("/exports/battles.jsonl?since=-1", "since must be at least 0, got -1"),
    ("/exports/battles.jsonl?conversations=maybe", "conversations must be 1 or 0, got 'maybe'"),
])
def test_bad_query_parameters_are_400_with_a_message(client, url, message) -> None:
    assert error_of(client.get(url), 400) == message


def test_the_api_is_read_only(client) -> None:
    play()
    snapshot = snapshot_refresh(rounds=20)[0]
    for url in ("/api/v1/snapshots", f"/api/v1/snapshots/{snapshot.pk}", "/api/v1/models", "/exports/battles.jsonl"):
        assert client.post(url).status_code == 405
    assert client.head("/api/v1/models").status_code == 200


def test_snapshots_are_listed_newest_first_in_pages_and_by_view(client) -> None:
    play()
    runs = [snapshot_refresh(rounds=20, force=True) for _ in range(3)]
    page = client.get("/api/v1/snapshots?per_page=4").json()
    assert page["count"] == 6 and len(page["results"]) == 4
    assert page["results"][0]["id"] in {s.pk for s in runs[-1]}
    assert page["next"] == "/api/v1/snapshots?per_page=4&page=2" and page["previous"] is None
    second = client.get(page["next"]).json()
    assert len(second["results"]) == 2 and second["next"] is None
    overall = client.get("/api/v1/snapshots?view=overall").json()
    assert [s["id"] for s in overall["results"]] == [run[0].pk for run in reversed(runs)]


def test_a_snapshot_has_its_metadata_and_rows(client) -> None:
    play()
    snapshot = snapshot_refresh(rounds=20, seed=9)[0]
    data = client.get(f"/api/v1/snapshots/{snapshot.pk}").json()
    assert data["snapshot"]["counts_hash"] == snapshot.counts_hash and data["snapshot"]["votes"] == 12
    assert data["snapshot"]["links"]["csv"] == f"/leaderboard/snapshots/{snapshot.pk}.csv"
    assert [(r["model"], r["battles"]) for r in data["rows"]] == [("Alpha", 12), ("Beta", 12)]
    latest = client.get("/api/v1/snapshots/latest?view=style_control").json()
    assert latest["snapshot"]["view"] == "style_control"


def test_models_show_public_fields_only(client) -> None:
    model("Hosted", adapter_kind="openai", base_url="http://10.0.0.7:8080/v1", key_env="SECRET_PROVIDER_KEY",
          options={"api_key_hint": "sk-live"}, provider_model="internal-name")
    response = client.get("/api/v1/models")
    listed = response.json()["results"]
    assert listed == [{"name": "Hosted", "organization": "Hosted Labs", "license": "Apache-2.0",
                       "link": "https://example.org/hosted", "state": "active"}]
    for secret in ("10.0.0.7", "SECRET_PROVIDER_KEY", "sk-live", "internal-name", "openai"):
        assert secret not in response.content.decode()


def test_the_latest_csv_names_the_file_after_the_view_and_snapshot(client) -> None:
    play()
    snapshot = snapshot_refresh(rounds=20)[0]
    response = client.get("/leaderboard/latest/overall.csv")
    assert response["Content-Disposition"] == f'attachment; filename="leaderboard-overall-{snapshot.pk}.csv"'
    assert response.content.decode().splitlines()[0].startswith("model,rating,lower,upper,rank_ub")


def openapi_path(pattern: URLPattern) -> str:
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(pattern.pattern))


def test_the_openapi_schema_is_served_and_documents_every_path(client) -> None:
    served = client.get("/api/v1/openapi.json").json()
    assert served == openapi_schema()
    assert served["openapi"].startswith("3.1")
    assert set(served["paths"]) == {openapi_path(p) for p in api_urls.urlpatterns}
    for path, operations in served["paths"].items():
        assert "200" in operations["get"]["responses"], path


def test_the_openapi_schema_is_a_valid_openapi_document() -> None:
    schema = openapi_schema()
    text = json.dumps(schema)
    for name in re.findall(r'"#/components/schemas/(\w+)"', text):
        assert name in schema["components"]["schemas"], name
    for path, operations in schema["paths"].items():
        declared = {p["name"] for p in operations["get"].get("parameters", []) if p["in"] == "path"}
        assert declared == set(re.findall(r"{(\w+)}", path)), path
    try:
        from openapi_spec_validator import validate
    except ImportError:  # not a dependency; installed system-wide on some machines
        return
    validate(schema)


HUGE = str(10**30)


@pytest.mark.parametrize(("url", "message"), [
    (f"/api/v1/snapshots?page={HUGE}", f"page must be at most 9223372036854775807, got {HUGE}"),
    (f"/api/v1/snapshots?per_page={HUGE}", f"per_page must be between 1 and 100, got {HUGE}"),
    (f"/api/v1/snapshots?per_page=-{HUGE}", f"per_page must be between 1 and 100, got -{HUGE}"),
    (f"/exports/battles.jsonl?since={HUGE}", f"since must be at most 9223372036854775807, got {HUGE}"),
    (f"/exports/battles.jsonl?since=-{HUGE}", f"since must be at least 0, got -{HUGE}"),
    ("/exports/battles.jsonl?since=9223372036854775808", "since must be at most 9223372036854775807, got 9223372036854775808"),
    ("/api/v1/snapshots?page=" + "9" * 5000, "page must be at most 9223372036854775807, got " + "9" * 40 + "…"),
    ("/api/v1/snapshots?page=%EF%BC%91", "page must be a whole number, got '１'"),  # a full-width digit
    ("/api/v1/snapshots?page=1_0", "page must be a whole number, got '1_0'"),
    ("/api/v1/snapshots?page=%00", "page must be a whole number, got '\\x00'"),
])
def test_an_integer_out_of_the_databases_range_is_400_before_any_query(client, url, message) -> None:
    assert error_of(client.get(url), 400) == message


def test_a_page_past_the_end_is_empty_however_far_it_is(client) -> None:
    play()
    snapshots = snapshot_refresh(rounds=20)
    page = client.get("/api/v1/snapshots?page=9223372036854775807&per_page=100").json()
    assert page["count"] == len(snapshots) and page["results"] == [] and page["next"] is None
    assert page["previous"] == "/api/v1/snapshots?page=9223372036854775806&per_page=100"
    assert client.get("/exports/battles.jsonl?since=9223372036854775807").getvalue() == b""
    assert client.get("/api/v1/snapshots?page=" + "0" * 5000 + "1").json()["page"] == 1  # leading zeros are fine


@pytest.mark.parametrize("url", ["/api/v1/snapshots", "/api/v1/snapshots/1", "/api/v1/snapshots/latest",
                                 "/api/v1/models", "/api/v1/openapi.json", "/exports/battles.jsonl",
                                 "/leaderboard/latest/overall.csv", "/leaderboard/snapshots/1.json",
                                 "/leaderboard/snapshots/1/battles.jsonl"])
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete", "options"])
def test_every_other_method_is_a_json_405_naming_get_and_head(url, method) -> None:
    from django.test import Client

    response = getattr(Client(enforce_csrf_checks=True), method)(url)
    assert error_of(response, 405) == f"{method.upper()} is not allowed here; use GET or HEAD."
    assert response["Allow"] == "GET, HEAD"


@pytest.mark.parametrize("url", ["/api/v1/nope", "/api/v1/snapshots/1/rows", "/api/v2/snapshots",
                                 "/leaderboard/snapshots/x.json", "/exports/votes.jsonl"])
def test_an_unknown_api_path_is_404_in_json(client, url) -> None:
    assert error_of(client.get(url), 404) == "No such API endpoint."
