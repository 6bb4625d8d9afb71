"""The admin's "Test" action: it queues one probe per model, returns at once, and a page shows each report."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.test import Client

from arena import probes
from arena.tasks import model_probe

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(monkeypatch) -> list[tuple[tuple[Any, ...], str]]:
    """The probes the action queues, recorded instead of sent: no worker runs them until the test does."""
    sent: list[tuple[tuple[Any, ...], str]] = []
    monkeypatch.setattr(model_probe, "apply_async", lambda args, queue: sent.append((tuple(args), queue)))
    return sent


def test_the_action_returns_at_once_and_queues_a_probe_for_every_selected_model(
    admin_client_: Client, make_model, queued
) -> None:
    models = [make_model(name="Fast"), make_model(name="Slow", options={"delay": 5})]
    started = time.monotonic()
    response = admin_client_.post("/admin/arena/arenamodel/",
                                  {"action": "test_models", "_selected_action": [m.pk for m in models]})
    assert time.monotonic() - started < 5  # the slow model's reply is not waited for
    assert response.status_code == 302 and response["Location"].startswith("/admin/arena/arenamodel/probes/?batch=")
    assert sorted(args[0] for args, _ in queued) == sorted(m.pk for m in models)  # all queued before any ran
    assert {queue for _, queue in queued} == {"default"}


def test_the_probe_page_waits_then_shows_each_report_as_it_arrives(admin_client_: Client, make_model, queued) -> None:
    first, second = make_model(name="Heron", provider_model="heron"), make_model(name="Ibis", provider_model="ibis")
    page_url = admin_client_.post("/admin/arena/arenamodel/", {
        "action": "test_models", "_selected_action": [first.pk, second.pk]})["Location"]

    waiting = admin_client_.get(page_url)
    body = waiting.content.decode()
    assert waiting.status_code == 200 and 'http-equiv="refresh"' in body
    assert "Heron: waiting for a worker" in body and "Ibis: waiting for a worker" in body

    model_probe(*next(args for args, _ in queued if args[0] == first.pk))  # a worker runs one probe
    partial = admin_client_.get(page_url)
    messages = [str(m) for m in partial.context["messages"]]
    assert len(messages) == 1 and messages[0].startswith("Heron: OK in ")
    assert "Ibis: waiting for a worker" in partial.content.decode()

    model_probe(*next(args for args, _ in queued if args[0] == second.pk))
    done = admin_client_.get(page_url)
    messages = sorted(str(m) for m in done.context["messages"])
    assert [m.split(":")[0] for m in messages] == ["Heron", "Ibis"] and all(" OK in " in m for m in messages)
    assert 'http-equiv="refresh"' not in done.content.decode()  # nothing left to wait for


def test_a_probe_no_worker_answers_is_reported_after_the_wait(admin_client_: Client, make_model, queued,
                                                               monkeypatch) -> None:
    model = make_model(name="Orphan")
    page_url = admin_client_.post("/admin/arena/arenamodel/", {"action": "test_models",
                                                               "_selected_action": [model.pk]})["Location"]
    later = time.time() + probes.PROBE_WAIT_SECONDS + 1
    monkeypatch.setattr(probes.time, "time", lambda: later)
    messages = [str(m) for m in admin_client_.get(page_url).context["messages"]]
    assert messages == [f"Orphan: no worker answered within {probes.PROBE_WAIT_SECONDS} s; "
                        "is a worker consuming the 'default' queue?"]


def test_an_unknown_or_expired_batch_says_so(admin_client_: Client) -> None:
    for url in ("/admin/arena/arenamodel/probes/?batch=0123456789abcdef", "/admin/arena/arenamodel/probes/?batch=../x"):
        response = admin_client_.get(url)
        assert response.status_code == 200 and "no longer kept" in response.content.decode()


def test_the_probe_page_needs_an_admin_login(client: Client) -> None:
    response = client.get("/admin/arena/arenamodel/probes/?batch=0123456789abcdef")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
