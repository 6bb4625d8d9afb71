"""The human check before voting: proof of work, hosted CAPTCHAs verified server side, failing open on an outage."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from django.core import signing
from django.test import override_settings

from arena import human_check, services
from arena.errors import Forbidden
from arena.models import AdminAlert, Vote
from tests.conftest import free_port

from .conftest import post_json

SESSION = "s" * 32
pytestmark = pytest.mark.django_db


def test_a_solved_challenge_passes_once() -> None:
    with override_settings(ARENA_HUMAN_CHECK="pow", ARENA_POW_BITS=8):
        challenge = human_check.pow_challenge()
        proof = {"token": challenge["token"], "nonce": human_check.pow_solve(challenge["token"], challenge["bits"])}
        human_check.vote_verify(proof)
        with pytest.raises(Forbidden, match="already used"):
            human_check.vote_verify(proof)


@pytest.mark.parametrize("proof", [None, "x", {}, {"token": 1, "nonce": "1"}, {"token": "t", "nonce": "1"},
                                   {"token": "t", "nonce": "9" * 65}])
def test_a_missing_or_malformed_proof_is_refused(proof: Any) -> None:
    with override_settings(ARENA_HUMAN_CHECK="pow"), pytest.raises(Forbidden):
        human_check.vote_verify(proof)


def test_a_wrong_nonce_a_forged_difficulty_or_an_expired_token_is_refused() -> None:
    with override_settings(ARENA_HUMAN_CHECK="pow", ARENA_POW_BITS=12):
        token = human_check.pow_challenge()["token"]
        nonce = human_check.pow_solve(token, 12)
        wrong = str(int(nonce) + 1)
        while human_check.leading_zero_bits(__import__("hashlib").sha256(f"{token}:{wrong}".encode()).digest()) >= 12:
            wrong = str(int(wrong) + 1)
        with pytest.raises(Forbidden, match="not valid"):
            human_check.vote_verify({"token": token, "nonce": wrong})
        easy = signing.dumps({"n": "abc", "b": 0}, salt="another salt")  # not signed for this purpose
        with pytest.raises(Forbidden, match="not valid"):
            human_check.vote_verify({"token": easy, "nonce": "0"})
    with override_settings(ARENA_HUMAN_CHECK="pow", ARENA_POW_SECONDS=-1), pytest.raises(Forbidden, match="expired"):
        human_check.vote_verify({"token": token, "nonce": nonce})


def test_leading_zero_bits_are_counted_across_bytes() -> None:
    assert human_check.leading_zero_bits(bytes([0, 0, 0x1F])) == 19
    assert human_check.leading_zero_bits(bytes([0x80])) == 0 and human_check.leading_zero_bits(bytes([0, 1])) == 15


def test_with_the_check_on_a_vote_needs_a_proof_and_the_challenge_comes_from_the_api(session_client,
                                                                                      ready_battle) -> None:
    client = session_client
    with override_settings(ARENA_HUMAN_CHECK="pow", ARENA_POW_BITS=8):
        # ready_battle belongs to another session: make one of this client's
        from arena.models import Battle

        Battle.objects.filter(pk=ready_battle.pk).update(session_key=client.session.session_key)
        url = f"/api/battles/{ready_battle.uuid}/vote"
        refused = post_json(client, url, {"outcome": "a"})
        assert refused.status_code == 403 and "human check" in refused.json()["error"]
        challenge = client.get("/api/human-check").json()
        assert challenge["kind"] == "pow" and challenge["bits"] == 8
        nonce = human_check.pow_solve(challenge["token"], challenge["bits"])
        accepted = post_json(client, url, {"outcome": "a", "human_check": {"token": challenge["token"], "nonce": nonce}})
        assert accepted.status_code == 201
    assert client.get("/api/human-check").status_code == 404  # off again


def test_the_page_shows_the_hosted_widget_and_allows_its_origin(client) -> None:
    from config.middleware import content_security_policy

    with override_settings(ARENA_HUMAN_CHECK="turnstile", ARENA_HUMAN_CHECK_SITE_KEY="site-123"):
        html = client.get("/").content.decode()
        assert 'class="cf-turnstile" data-sitekey="site-123"' in html
        assert "https://challenges.cloudflare.com/turnstile/v0/api.js" in html
        assert 'data-human-check-field="cf-turnstile-response"' in html
        policy = content_security_policy(human_check.content_security_origins())
    assert "script-src 'self' https://challenges.cloudflare.com" in policy
    assert "frame-src 'self' https://challenges.cloudflare.com" in policy
    assert "frame-src" not in content_security_policy()


# ---- hosted verifiers ------------------------------------------------------------------------------------------


class Verifier:
    """A stand-in siteverify endpoint: answers what it is told, records what it got."""

    def __init__(self) -> None:
        self.answer: tuple[int, bytes] = (200, b'{"success": true}')
        self.received: list[dict[str, list[str]]] = []


@pytest.fixture
def verifier() -> Iterator[tuple[Verifier, str]]:
    state = Verifier()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            state.received.append(parse_qs(self.rfile.read(length).decode()))
            status, body = state.answer
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state, f"http://127.0.0.1:{server.server_port}/siteverify"
    server.shutdown()


@pytest.mark.parametrize("kind", ["turnstile", "hcaptcha", "recaptcha"])
def test_a_hosted_token_is_verified_with_the_secret_and_a_refusal_is_a_403(kind: str, verifier, db) -> None:
    state, url = verifier
    with override_settings(ARENA_HUMAN_CHECK=kind, ARENA_HUMAN_CHECK_SECRET="shh", ARENA_HUMAN_CHECK_VERIFY_URL=url):
        human_check.vote_verify({"token": "widget-token"})
        assert state.received[-1] == {"secret": ["shh"], "response": ["widget-token"]}
        state.answer = (200, json.dumps({"success": False, "error-codes": ["invalid-input-response"]}).encode())
        with pytest.raises(Forbidden, match="check failed"):
            human_check.vote_verify({"token": "bad-token"})
        with pytest.raises(Forbidden, match="Complete the"):
            human_check.vote_verify({"token": ""})
    assert not AdminAlert.objects.exists()


@pytest.mark.parametrize("answer", [(500, b"oops"), (200, b"not json"), (200, b'{"other": 1}')])
def test_a_verifier_in_trouble_lets_votes_through_and_alerts_the_admins_once(answer, verifier, db) -> None:
    state, url = verifier
    state.answer = answer
    with override_settings(ARENA_HUMAN_CHECK="hcaptcha", ARENA_HUMAN_CHECK_VERIFY_URL=url):
        human_check.vote_verify({"token": "t"})
        human_check.vote_verify({"token": "t"})
    alert = AdminAlert.objects.get()  # one alert, not one per vote
    assert alert.source == "human_check:hcaptcha" and "let through unchecked" in alert.message and not alert.resolved


def test_an_unreachable_verifier_fails_open(ready_battle, db) -> None:
    closed = f"http://127.0.0.1:{free_port()}/siteverify"  # nothing listens there
    with override_settings(ARENA_HUMAN_CHECK="turnstile", ARENA_HUMAN_CHECK_VERIFY_URL=closed,
                           ARENA_HUMAN_CHECK_TIMEOUT=1):
        vote, created = services.battle_vote(battle_uuid=ready_battle.uuid, session_key=SESSION, ip_hash="h",
                                             outcome="b", human_proof={"token": "t"})
    assert created and Vote.objects.filter(pk=vote.pk, counts=True).exists()
    assert "ConnectError" in AdminAlert.objects.get().message


def test_the_alerts_are_listed_for_the_admins(admin_client_, db) -> None:
    human_check.alert_raise("human_check:turnstile", "The verifier is down.")
    page = admin_client_.get("/admin/arena/adminalert/")
    assert page.status_code == 200 and b"The verifier is down." in page.content
