"""Hostile and malformed requests get a clean 4xx JSON error, never a 500, and write nothing.

One group per finding of the fuzz run (tests/test_fuzz.py keeps looking): nested bodies, bodies too
large, multipart without a boundary, bodies in other charsets, text the database cannot store, forged session cookies, unknown
API paths and undeclared methods.
"""

from __future__ import annotations

import json
import uuid
from http.cookies import SimpleCookie
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import AsyncClient, Client, override_settings
from django.test.utils import CaptureQueriesContext

from arena import services
from arena.models import Answer, ArenaModel, Battle, Turn, Vote
from config.asgi import application
from config.sessions import key_well_formed

from .conftest import post_json, run_turn

COOKIE = settings.SESSION_COOKIE_NAME


def rows() -> dict[str, int]:
    """How many rows each table a request could write holds."""
    return {m.__name__: m.objects.count() for m in (Battle, Turn, Answer, Vote, Session)}


def error_of(response: Any, status: int) -> str:
    """The JSON error message of a response that must have this status."""
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    message = response.json()["error"]
    assert isinstance(message, str) and message
    return message


def post_raw(client: Client, url: str, body: bytes, content_type: str, *, token: bool = True) -> Any:
    headers = {"HTTP_X_CSRFTOKEN": client.csrf} if token else {}  # type: ignore[attr-defined]
    return client.generic("POST", url, data=body, content_type=content_type, **headers)  # the bytes as they are


def client_with_session_cookie(value: str) -> Client:
    """A browser with a CSRF token whose session cookie has been replaced by ``value``."""
    client = Client(enforce_csrf_checks=True)
    client.csrf = client.get("/").cookies["csrftoken"].value  # type: ignore[attr-defined]
    client.cookies[COOKIE] = value
    return client


def ready_battle_of(client: Client) -> dict[str, Any]:
    response = post_json(client, "/api/battles", {"prompt": "Hi"})
    assert response.status_code == 201
    run_turn(Battle.objects.get(uuid=response.json()["id"]).turns.get())
    return response.json()


# 1. Nested and oversized bodies.

@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"prompt": ' * 50_000, b'{"prompt": "Hi", "mode": ' + b"[" * 100_000])
def test_it_answers_a_deeply_nested_json_body_with_400(session_client, two_models, body) -> None:
    before = rows()
    response = post_raw(session_client, "/api/battles", body, "application/json")
    assert error_of(response, 400) == "The request body is nested too deeply."
    assert rows() == before


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
@pytest.mark.parametrize(("content_type", "body"), [
    ("application/json", json.dumps({"prompt": "a" * 2000}).encode()),
    ("application/x-www-form-urlencoded", b"prompt=" + b"a" * 2000),
])
def test_it_answers_a_body_over_the_size_limit_with_413(session_client, two_models, content_type, body) -> None:
    before = rows()
    response = post_raw(session_client, "/api/battles", body, content_type)
    assert error_of(response, 413) == "The request body is larger than the 1,000 bytes allowed."
    assert rows() == before


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_it_answers_a_body_declared_over_the_size_limit_with_413_without_reading_it(session_client, two_models) -> None:
    response = session_client.post("/api/battles", data=b'{"prompt": "Hi"}', content_type="application/json",
                                   CONTENT_LENGTH="5000000", HTTP_X_CSRFTOKEN=session_client.csrf)
    assert "larger than" in error_of(response, 413)
    assert Battle.objects.count() == 0


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_pages_keep_djangos_own_400_for_a_body_too_large(db) -> None:
    response = Client().post("/admin/login/", data=b"username=" + b"a" * 2000,
                             content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400 and response["Content-Type"].startswith("text/html")


# 2. Bodies Django cannot parse.

@pytest.mark.parametrize("content_type", ["multipart/form-data", "multipart/form-data; boundary="])
@pytest.mark.parametrize("token", [True, False])
def test_it_answers_multipart_without_a_boundary_with_400(session_client, two_models, content_type, token) -> None:
    before = rows()
    response = post_raw(session_client, "/api/battles", b"prompt=Hi", content_type, token=token)
    assert "not valid multipart/form-data" in error_of(response, 400)
    assert rows() == before


MULTIPART = (b'--B\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nHi +2AA- \\ud800\r\n'
             b'--B\r\nContent-Disposition: form-data; name="username"\r\n\r\n+2AA-\r\n'
             b'--B\r\nContent-Disposition: form-data; name="password"\r\n\r\nx\r\n--B--\r\n')


@pytest.mark.parametrize("charset", ["utf-7", "unicode_escape", "rot13", "base64", "hex", "utf-16", "bogus"])
@pytest.mark.parametrize("content_type", ["multipart/form-data; boundary=B", "application/x-www-form-urlencoded",
                                          "application/json"])
def test_it_answers_a_body_in_a_charset_other_than_utf8_with_400(session_client, two_models, charset,
                                                                  content_type) -> None:
    before = rows()
    response = post_raw(session_client, "/api/battles", MULTIPART, f"{content_type}; charset={charset}")
    assert error_of(response, 400) == f"The request is declared in charset {charset!r}; send it in UTF-8."
    assert rows() == before


@pytest.mark.parametrize("charset", ["rot13", "utf-7", "unicode_escape"])
def test_the_admin_login_answers_a_form_in_a_codec_with_a_400_page(db, charset) -> None:
    response = Client().generic("POST", "/admin/login/", data=MULTIPART,
                                content_type=f"multipart/form-data; boundary=B; charset={charset}")
    assert response.status_code == 400 and response["Content-Type"].startswith("text/html")


@pytest.mark.django_db
@pytest.mark.parametrize("charset", ["rot13", "base64", "utf-7"])
async def test_over_asgi_a_request_in_a_codec_with_a_query_string_is_a_json_400(charset) -> None:
    response = await AsyncClient().generic("GET", "/api/v1/snapshots?view=overall&page=1", data=b"x",
                                           content_type=f"text/plain; charset={charset}")
    assert error_of(response, 400) == f"The request is declared in charset {charset!r}; send it in UTF-8."


async def asgi_get(path: str, query: bytes, content_type: bytes) -> tuple[int, bytes]:
    """One GET through the server's own ASGI application, as uvicorn would deliver it."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": query, "root_path": "",
             "headers": [(b"host", b"localhost"), (b"content-type", content_type)],
             "client": ("127.0.0.1", 5000), "server": ("localhost", 80)}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await application(scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/snapshots", "/leaderboard"])
async def test_over_asgi_too_many_query_fields_with_a_declared_charset_is_a_400_not_a_crash(path) -> None:
    status, body = await asgi_get(path, b"&" * 1500 + b"a=1", b"text/plain; charset=utf-8")
    assert status == 400 and b"Traceback" not in body
    if path.startswith("/api/"):
        assert json.loads(body) == {"error": "The request has more fields or files than allowed."}


@pytest.mark.parametrize("charset", ["utf-8", "UTF8", "utf_8", "us-ascii"])
def test_a_body_declared_in_utf8_under_any_spelling_is_accepted(session_client, two_models, charset) -> None:
    response = post_raw(session_client, "/api/battles", b'{"prompt": "Hi"}', f"application/json; charset={charset}")
    assert response.status_code == 201


# 3. and 6. Text the database cannot store.

@pytest.mark.parametrize("name", ["Alpha\x00", "\x00", "Al\ud800pha"])
@pytest.mark.parametrize("side", ["model_a", "model_b"])
def test_it_refuses_a_model_name_the_database_cannot_store_without_querying_for_it(
        session_client, two_models, name, side) -> None:
    choice = {"prompt": "Hi", "mode": "side_by_side", "model_a": "Alpha", "model_b": "Beta", side: name}
    before = rows()
    with CaptureQueriesContext(connection) as queries:
        response = post_json(session_client, "/api/battles", choice)
    assert error_of(response, 400).startswith("No active model is called")
    assert not [q["sql"] for q in queries.captured_queries if "arena_arenamodel" in q["sql"] or "\x00" in q["sql"]]
    assert rows() == before


@pytest.mark.parametrize("prompt", ["\ud800", "Hi \udfff there"])
def test_it_refuses_a_prompt_with_a_lone_surrogate(session_client, two_models, prompt) -> None:
    before = rows()
    response = post_json(session_client, "/api/battles", {"prompt": prompt})
    assert error_of(response, 400) == "The prompt contains characters that cannot be stored."
    assert rows() == before


def test_it_refuses_a_follow_up_with_a_lone_surrogate(session_client, two_models) -> None:
    battle = ready_battle_of(session_client)
    before = rows()
    response = post_json(session_client, f"/api/battles/{battle['id']}/turns", {"prompt": "More \ud800"})
    assert error_of(response, 400) == "The prompt contains characters that cannot be stored."
    assert rows() == before


@pytest.mark.parametrize("outcome", [["a"], {"a": 1}, 1, None])
def test_it_refuses_a_vote_that_is_not_text(session_client, two_models, outcome) -> None:
    battle = ready_battle_of(session_client)
    response = post_json(session_client, f"/api/battles/{battle['id']}/vote", {"outcome": outcome})
    assert error_of(response, 400).startswith("The vote must be one of")
    assert Vote.objects.count() == 0


# 4. Session cookies.

def test_a_cookie_naming_no_session_does_not_reach_a_battle_stored_under_that_key(session_client, ready_battle) -> None:
    assert not Session.objects.filter(session_key=ready_battle.session_key).exists()
    forger = client_with_session_cookie(ready_battle.session_key)
    before = rows()
    assert error_of(forger.get(f"/api/battles/{ready_battle.uuid}"), 404) == "No such battle."
    assert error_of(post_json(forger, f"/api/battles/{ready_battle.uuid}/vote", {"outcome": "a"}), 404) == "No such battle."
    assert error_of(post_json(forger, f"/api/battles/{ready_battle.uuid}/turns", {"prompt": "Go on"}), 404) == "No such battle."
    assert rows() == before


def test_a_cookie_of_a_session_that_ended_no_longer_reaches_its_battle(session_client, two_models) -> None:
    battle = ready_battle_of(session_client)
    Session.objects.all().delete()  # expired and cleared, or logged out elsewhere
    assert error_of(session_client.get(f"/api/battles/{battle['id']}"), 404) == "No such battle."
    assert error_of(post_json(session_client, f"/api/battles/{battle['id']}/vote", {"outcome": "a"}), 404)
    assert Vote.objects.count() == 0


def test_a_forged_cookie_gets_a_fresh_session_instead_of_its_own_key(two_models) -> None:
    forged = "f" * 32
    client = client_with_session_cookie(forged)
    response = post_json(client, "/api/battles", {"prompt": "Hi"})
    assert response.status_code == 201
    battle = Battle.objects.get(uuid=response.json()["id"])
    assert battle.session_key != forged and key_well_formed(battle.session_key)
    assert Session.objects.filter(session_key=battle.session_key).exists()
    assert response.cookies[COOKIE].value == battle.session_key
    assert client.get(f"/api/battles/{battle.uuid}").status_code == 200  # the new session owns it


@pytest.mark.parametrize("cookie", ["abc\x00defghijklmnop", "\x00" * 32, "a" * 100, "a" * 65, "A" * 32,
                                    "import:" + "a" * 32, "é" * 32, "a" * 31])
def test_a_cookie_that_django_never_issued_is_no_session(two_models, cookie) -> None:
    client = client_with_session_cookie(cookie)
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/")
        created = post_json(client, "/api/battles", {"prompt": "Hi"})
    assert page.status_code == 200 and created.status_code == 201
    key = Battle.objects.get(uuid=created.json()["id"]).session_key
    assert key != cookie and key_well_formed(key) and Session.objects.filter(session_key=key).exists()
    assert not [q["sql"] for q in queries.captured_queries if cookie in q["sql"] or "\x00" in q["sql"]]


def test_a_battle_imported_under_a_judge_cannot_be_read_with_that_judge_as_a_cookie(ready_battle) -> None:
    Battle.objects.filter(pk=ready_battle.pk).update(session_key="import:" + "0" * 32)
    client = client_with_session_cookie("import:" + "0" * 32)
    assert client.get(f"/api/battles/{ready_battle.uuid}").status_code == 404


def test_a_refused_request_leaves_no_new_session_behind(session_client, two_models) -> None:
    del session_client.cookies[COOKIE]  # a CSRF token, but no session yet
    before = rows()
    response = post_json(session_client, "/api/battles", {"prompt": ""})
    assert error_of(response, 400) == "Enter a prompt."
    assert rows() == before and COOKIE not in response.cookies


def test_a_refused_request_keeps_the_session_it_came_with(session_client, two_models) -> None:
    key = session_client.cookies[COOKIE].value
    assert error_of(post_json(session_client, "/api/battles", {"prompt": "\ud800"}), 400)
    assert Session.objects.filter(session_key=key).exists()
    response = post_json(session_client, "/api/battles", {"prompt": "Hi"})
    assert Battle.objects.get(uuid=response.json()["id"]).session_key == key


@pytest.fixture
async def _close_thread_connections() -> Any:
    """Close the connection Django opened in the sync-to-async worker thread, so the test database can be dropped."""
    yield
    from django.db import connections

    await database_sync_to_async(connections.close_all)()


@database_sync_to_async
def battle_under_key(session_key: str) -> str:
    for name in ("Alpha", "Beta"):
        ArenaModel.objects.create(name=name, state="active", adapter_kind="demo", provider_model="pelican", options={"delay": 0})
    return str(services.battle_create(prompt="Hi", session_key=session_key, ip_hash="h").uuid)


def socket(battle_id: str, cookie: str) -> WebsocketCommunicator:
    jar: SimpleCookie = SimpleCookie()
    jar[COOKIE] = cookie  # quoted as a browser's cookie library would (a NUL becomes \000)
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost"),
               (b"cookie", jar.output(header="", attrs=[]).strip().encode("latin-1"))]
    return WebsocketCommunicator(application, f"/ws/battles/{battle_id}/", headers=headers)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("_close_thread_connections")
@pytest.mark.parametrize("cookie", ["f" * 32, "f" * 31 + "\x00", "f" * 100])
async def test_the_websocket_refuses_a_key_that_names_no_session(cookie) -> None:
    battle_id = await battle_under_key("f" * 32)  # stored under a key no session has
    ws = socket(battle_id, cookie)
    connected, code = await ws.connect()
    assert not connected and code == 4404


# 7. Unknown API paths and undeclared methods.

@pytest.mark.parametrize("url", ["/api/nope", "/api/", "/api/battles/not-a-uuid", "/api/v1/snapshots/abc",
                                 f"/api/battles/{uuid.uuid4()}/nope", "/exports/nothing.jsonl",
                                 "/leaderboard/latest/a/b.csv", "/api/battles/"])
def test_an_unknown_api_path_is_a_json_404(client, url) -> None:
    assert error_of(client.get(url), 404) == "No such API endpoint."
    assert error_of(client.post(url), 404) == "No such API endpoint."


def test_an_unknown_page_keeps_the_html_404(client, db) -> None:
    response = client.get("/nope")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(("method", "url", "allow"), [
    ("put", "/api/battles", "POST"), ("delete", "/api/battles", "POST"), ("patch", "/api/battles", "POST"),
    ("get", "/api/battles", "POST"), ("options", "/api/battles", "POST"),
    ("post", f"/api/battles/{uuid.uuid4()}", "GET"), ("delete", f"/api/battles/{uuid.uuid4()}/vote", "POST"),
    ("put", f"/api/battles/{uuid.uuid4()}/turns", "POST"), ("post", "/api/models", "GET"),
    ("post", "/api/v1/snapshots", "GET, HEAD"), ("delete", "/api/v1/snapshots/1", "GET, HEAD"),
    ("post", "/api/v1/openapi.json", "GET, HEAD"), ("post", "/exports/battles.jsonl", "GET, HEAD"),
    ("put", "/leaderboard/latest/overall.csv", "GET, HEAD"),
])
def test_an_undeclared_method_is_a_json_405_with_allow_even_without_a_csrf_token(method, url, allow, db) -> None:
    response = getattr(Client(enforce_csrf_checks=True), method)(url)
    assert "is not allowed here" in error_of(response, 405)
    assert response["Allow"] == allow


def test_a_page_answers_an_undeclared_method_with_djangos_405(db) -> None:
    response = Client(enforce_csrf_checks=True).put("/")
    assert response.status_code == 405 and response["Allow"] == "GET"


@pytest.mark.parametrize("path", ["/turns", "/vote"])
def test_the_csrf_check_still_guards_every_write(session_client, two_models, path) -> None:
    battle = ready_battle_of(session_client)
    before = rows()
    body = json.dumps({"prompt": "Go on", "outcome": "a"})
    response = session_client.post(f"/api/battles/{battle['id']}{path}", data=body, content_type="application/json")
    assert "CSRF" in error_of(response, 403)
    assert rows() == before
