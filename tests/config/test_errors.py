"""Unhandled errors: a service that is down is a 503 with Retry-After; JSON for API clients, a page for people."""

from __future__ import annotations

import pytest
from django.db import OperationalError
from django.test import Client
from redis.exceptions import ConnectionError as RedisConnectionError

from arena import selectors

pytestmark = pytest.mark.django_db


@pytest.fixture
def client() -> Client:
    return Client(raise_request_exception=False)  # as a server does: the handler answers


def test_the_api_answers_a_database_outage_with_a_json_503(client: Client, monkeypatch) -> None:
    def down() -> list[object]:
        raise OperationalError("connection to server at 127.0.0.1, port 5432 failed: Connection refused")

    monkeypatch.setattr(selectors, "models_active", down)
    response = client.get("/api/models")
    assert response.status_code == 503 and response["Retry-After"] == "10"
    assert response["Content-Type"] == "application/json"
    assert "try again" in response.json()["error"] and "5432" not in response.content.decode()


def test_a_page_answers_a_redis_outage_with_a_plain_503_page(client: Client, monkeypatch) -> None:
    def down() -> list[object]:
        raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(selectors, "models_active", down)
    response = client.get("/")
    body = response.content.decode()
    assert response.status_code == 503 and response["Retry-After"].isdigit()
    assert response["Content-Type"].startswith("text/html") and "Briefly unavailable" in body
    assert "6379" not in body and "Traceback" not in body


def test_a_bug_is_a_plain_500_without_retry_after(client: Client, monkeypatch) -> None:
    def broken() -> list[object]:
        raise KeyError("oops")

    monkeypatch.setattr(selectors, "models_active", broken)
    response = client.get("/api/models")
    assert response.status_code == 500 and "Retry-After" not in response
    assert response.json() == {"error": "Something went wrong on our side; it has been logged."}
