from __future__ import annotations

import json
import uuid

import pytest
from django.test import Client, override_settings

from arena.models import Battle, Vote

from .conftest import post_json, run_turn


def test_the_page_has_the_controls_a_voter_needs(session_client: Client) -> None:
    html = session_client.get("/").content.decode()
    for text in ('<label class="visually-hidden" for="prompt">Prompt</label>', ">Send</button>", ">A is better</button>",
                 ">B is better</button>", ">Tie</button>", ">Both are bad</button>", ">New round</button>"):
        assert text in html


def test_the_page_forbids_inline_scripts(session_client: Client) -> None:
    response = session_client.get("/")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert "<script>" not in response.content.decode()


def test_a_prompt_starts_a_battle_without_revealing_the_models(session_client, two_models) -> None:
    response = post_json(session_client, "/api/battles", {"prompt": "Hi"})
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "generating" and body["models"] is None
    assert body["turns"][0]["prompt"] == "Hi"
    assert "Alpha" not in response.content.decode() and "Beta" not in response.content.decode()


def test_posts_without_the_csrf_token_are_refused_with_a_json_message(session_client, two_models) -> None:
    response = session_client.post("/api/battles", data=json.dumps({"prompt": "Hi"}), content_type="application/json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]
    assert Battle.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [(b"{not json", "not valid JSON"), (b"[1, 2]", "must be a JSON object"), (b'{"prompt": ""}', "Enter a prompt.")],
)
def test_malformed_input_gets_400_with_a_message(session_client, two_models, body, message) -> None:
    response = session_client.post(
        "/api/battles", data=body, content_type="application/json", HTTP_X_CSRFTOKEN=session_client.csrf
    )
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_an_unknown_battle_is_404(session_client, two_models) -> None:
    missing = uuid.uuid4()
    assert session_client.get(f"/api/battles/{missing}").status_code == 404
    response = post_json(session_client, f"/api/battles/{missing}/vote", {"outcome": "a"})
    assert response.status_code == 404 and response.json()["error"] == "No such battle."


def test_wrong_methods_are_405(session_client) -> None:
    assert session_client.get("/api/battles").status_code == 405
    assert post_json(session_client, "/", {}).status_code == 405


def _started(client: Client) -> dict:
    response = post_json(client, "/api/battles", {"prompt": "Hi"})
    assert response.status_code == 201
    return response.json()


def test_voting_before_the_answers_are_done_is_409(session_client, two_models) -> None:
    battle = _started(session_client)
    response = post_json(session_client, f"/api/battles/{battle['id']}/vote", {"outcome": "a"})
    assert response.status_code == 409
    assert Vote.objects.count() == 0


def test_a_vote_reveals_the_names_and_repeats_return_the_same_result(session_client, two_models) -> None:
    battle = _started(session_client)
    run_turn(Battle.objects.get(uuid=battle["id"]).turns.get())
    url = f"/api/battles/{battle['id']}/vote"
    first = post_json(session_client, url, {"outcome": "both_bad"})
    assert first.status_code == 201
    assert {first.json()["models"]["a"]["name"], first.json()["models"]["b"]["name"]} == {"Alpha", "Beta"}
    repeat = post_json(session_client, url, {"outcome": "both_bad"})
    assert repeat.status_code == 200 and repeat.json() == first.json()
    other = post_json(session_client, url, {"outcome": "a"})
    assert other.status_code == 409 and "votes are final" in other.json()["error"]
    state = session_client.get(f"/api/battles/{battle['id']}").json()
    assert state["status"] == "voted" and state["vote"] == "both_bad" and state["models"] is not None


def test_a_follow_up_over_http_adds_a_turn(session_client, two_models) -> None:
    battle = _started(session_client)
    run_turn(Battle.objects.get(uuid=battle["id"]).turns.get())
    response = post_json(session_client, f"/api/battles/{battle['id']}/turns", {"prompt": "Go on"})
    assert response.status_code == 201
    assert [t["prompt"] for t in response.json()["turns"]] == ["Hi", "Go on"]


def test_another_browser_cannot_read_a_battle(session_client, two_models) -> None:
    battle = _started(session_client)
    stranger = Client()
    stranger.get("/")
    assert stranger.get(f"/api/battles/{battle['id']}").status_code == 404


def test_side_by_side_lists_active_models_and_reveals_names_up_front(session_client, two_models) -> None:
    names = [m["name"] for m in session_client.get("/api/models").json()["models"]]
    assert names == ["Alpha", "Beta"]
    choice = {"prompt": "Hi", "mode": "side_by_side", "model_a": "Beta", "model_b": "Alpha"}
    response = post_json(session_client, "/api/battles", choice)
    assert response.status_code == 201
    assert response.json()["models"]["a"]["name"] == "Beta"


def test_no_active_models_is_503_with_a_message(session_client) -> None:
    response = post_json(session_client, "/api/battles", {"prompt": "Hi"})
    assert response.status_code == 503
    assert "at least two active models" in response.json()["error"]


@override_settings(ARENA_PROMPTS_PER_IP_PER_HOUR=3)
def test_a_client_sending_too_many_prompts_gets_429_with_a_message(session_client, two_models) -> None:
    statuses = [post_json(session_client, "/api/battles", {"prompt": f"Hi {i}"}).status_code for i in range(3)]
    assert statuses == [201, 201, 201]
    response = post_json(session_client, "/api/battles", {"prompt": "One more"})
    assert response.status_code == 429
    assert "3 prompts this hour" in response.json()["error"]
    assert Battle.objects.count() == 3
    other = Client(enforce_csrf_checks=True, REMOTE_ADDR="198.51.100.9")
    other.csrf = other.get("/").cookies["csrftoken"].value
    assert post_json(other, "/api/battles", {"prompt": "Hi"}).status_code == 201  # the limit is per client address


@override_settings(ARENA_VOTES_PER_IP_PER_HOUR=2)
def test_a_client_voting_too_often_gets_429_when_it_votes(session_client, two_models,
                                                          django_capture_on_commit_callbacks) -> None:
    ids = []
    for i in range(3):
        with django_capture_on_commit_callbacks(execute=True):  # the in-process worker answers both sides
            ids.append(post_json(session_client, "/api/battles", {"prompt": f"Hi {i}"}).json()["id"])
    for battle_id in ids:
        run_turn(Battle.objects.get(uuid=battle_id).turns.get())
    assert [post_json(session_client, f"/api/battles/{b}/vote", {"outcome": "a"}).status_code for b in ids[:2]] == [201, 201]
    response = post_json(session_client, f"/api/battles/{ids[2]}/vote", {"outcome": "a"})
    assert response.status_code == 429 and "voted 2 times this hour" in response.json()["error"]
    assert Vote.objects.count() == 2 and Battle.objects.get(uuid=ids[2]).status == "ready"  # nothing written
    assert post_json(session_client, f"/api/battles/{ids[0]}/vote", {"outcome": "a"}).status_code == 200  # a repeat


@pytest.mark.parametrize(
    ("hops", "forwarded", "expected"),
    [
        (0, "203.0.113.5", "10.0.0.1"),                          # no trusted proxy: the header is ignored
        (1, "203.0.113.5", "203.0.113.5"),                       # one proxy: the address it saw
        (1, "198.51.100.66, 203.0.113.5", "203.0.113.5"),        # a spoofed entry on the left is not trusted
        (2, "198.51.100.66, 203.0.113.5", "198.51.100.66"),      # two proxies: the outer one's view
        (2, "203.0.113.5", "10.0.0.1"),                          # fewer entries than proxies: fall back
    ],
)
def test_behind_trusted_proxies_the_client_address_comes_from_x_forwarded_for(hops, forwarded, expected) -> None:
    from django.test import RequestFactory

    from arena.views import client_ip

    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
    with override_settings(ARENA_PROXY_HOPS=hops):
        assert client_ip(request) == expected


@pytest.mark.parametrize(
    ("remote", "trusted", "expected"),
    [
        ("198.51.100.7", None, "198.51.100.7"),              # a public peer is a client, never a proxy
        ("10.0.0.1", None, "203.0.113.5"),                   # a private peer is our load balancer by default
        ("10.0.0.1", ["192.0.2.10"], "10.0.0.1"),            # unless the proxies are named and it is not one
        ("192.0.2.10", ["192.0.2.10"], "203.0.113.5"),
    ],
)
def test_only_a_trusted_proxys_x_forwarded_for_is_believed(remote, trusted, expected) -> None:
    import ipaddress

    from django.test import RequestFactory

    from arena.views import client_ip

    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR="198.51.100.66, 203.0.113.5")
    overrides = {"ARENA_PROXY_HOPS": 1}
    if trusted is not None:
        overrides["ARENA_TRUSTED_PROXIES"] = [ipaddress.ip_network(t) for t in trusted]
    with override_settings(**overrides):
        assert client_ip(request) == expected


def test_rotating_x_forwarded_for_from_outside_gets_no_fresh_rate_limit_bucket(two_models) -> None:
    with override_settings(ARENA_PROMPTS_PER_IP_PER_HOUR=2, ARENA_PROXY_HOPS=1):
        client = Client(enforce_csrf_checks=True, REMOTE_ADDR="198.51.100.7")
        client.csrf = client.get("/").cookies["csrftoken"].value
        statuses = [post_json(client, "/api/battles", {"prompt": "Hi"}, HTTP_X_FORWARDED_FOR=f"203.0.113.{i}").status_code
                    for i in range(3)]
    assert statuses == [201, 201, 429]


def test_the_arena_and_the_api_model_lists_each_have_their_own_url_name() -> None:
    from django.urls import reverse

    assert reverse("arena-models") == "/api/models"
    assert reverse("api-models") == "/api/v1/models"
