"""A bounded, seeded fuzz of every URL the project routes: hostile input gets a clean 4xx, never a 500.

The URLs come from the resolver (a new view is fuzzed without editing this file), with sample values
for their path converters (real battles and snapshots as well as nonsense). Each of REQUESTS requests,
drawn from a fixed SEED so a run is reproducible, picks a method, a body (JSON objects of hostile
values, other JSON, garbage, deep nesting, bodies over the size limit, form and multipart bodies with
and without a boundary or in odd charsets), a query string (huge, negative, NUL, surrogate, very long
values), cookies (the owner's, another's, forged, NUL and over-long session keys, bad CSRF tokens) and
headers. Every response must be below 500 (or a deliberate 503), carry no traceback, be JSON with an
``error`` message when it is an error under the API, and a refused request must write nothing.
A failure prints the request, so it can be replayed.
"""

from __future__ import annotations

import json
import random
import re
import string
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import quote, unquote

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.converters import IntConverter, StringConverter, UUIDConverter
from django.urls.resolvers import RoutePattern

from arena.api import view_methods
from arena.models import Answer, Battle, Turn, Vote
from leaderboard.snapshots import snapshot_refresh
from tests.arena.conftest import run_turn
from tests.factories import battle_voted, model

pytestmark = pytest.mark.django_db

SEED = 20261202
REQUESTS = 2000
BODY_LIMIT = 64 * 1024  # DATA_UPLOAD_MAX_MEMORY_SIZE for the run, so that "too large" is cheap to send
BOUNDARY = "fuzzfuzzfuzz"
CONVERTER = re.compile(r"<(?:(?P<kind>[^>:]+):)?(?P<name>\w+)>")


@dataclass(frozen=True)
class Route:
    """A routed URL: its template (``/api/battles/<uuid:battle_uuid>``), its converters by name and the
    methods its view declares (None if it declares none)."""

    template: str
    converters: dict[str, Any]
    methods: tuple[str, ...] | None


def routes(patterns: list[Any] | None = None, prefix: str = "", in_admin: bool = False) -> Iterator[Route]:
    """Every URL the project routes, from the resolver; of the admin only its login page."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            yield from routes(entry.url_patterns, prefix + str(entry.pattern), in_admin or entry.app_name == "admin")
        elif isinstance(entry, URLPattern) and (not in_admin or entry.name == "login"):
            assert isinstance(entry.pattern, RoutePattern), f"teach the fuzz test regex routes: {entry.pattern}"
            yield Route("/" + prefix + str(entry.pattern), dict(entry.pattern.converters), view_methods(entry.callback))


@dataclass(frozen=True)
class Sample:
    """What the fuzzed requests refer to: two browsers, each with a ready battle, and a snapshot."""

    own_session: str
    other_session: str
    csrf: str
    own_battle: str
    other_battle: str
    snapshot: int


def browser_with_battle() -> tuple[str, str, str]:
    """A browser session (key and CSRF token) that owns a battle whose first turn is answered."""
    browser = Client(enforce_csrf_checks=True)
    csrf = browser.get("/").cookies["csrftoken"].value
    response = browser.post("/api/battles", data=json.dumps({"prompt": "Hi"}), content_type="application/json",
                            HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 201, response.content
    run_turn(Battle.objects.get(uuid=response.json()["id"]).turns.get())
    return browser.cookies[settings.SESSION_COOKIE_NAME].value, csrf, response.json()["id"]


@pytest.fixture
def sample(db: Any) -> Iterator[Sample]:
    cache.clear()  # the prompt rate limit lives there
    alpha, beta = model("Alpha", options={"delay": 0}), model("Beta", options={"delay": 0})
    for i in range(12):
        battle_voted(alpha, beta, "a" if i % 3 else "b", ip_hash=f"ip-{i}")
    snapshot = snapshot_refresh(rounds=5)[0]
    own_session, csrf, own_battle = browser_with_battle()
    other_session, _, other_battle = browser_with_battle()
    yield Sample(own_session, other_session, csrf, own_battle, other_battle, snapshot.pk)
    cache.clear()


# What a request is made of. Text values are as a client would send them; query values are already
# percent-encoded, so that invalid UTF-8 ("%ED%A0%80" is a UTF-16 surrogate spelled in UTF-8) goes as it is.

TEXT = ["", " ", "\x00", "a\x00b", "\ud800", "x\udfffy", "é", "😀", "\u202e", "x" * 9000, str(10**30), "-1", "0",
        "null", "<script>alert(1)</script>", "' OR 1=1 --", "../../etc/passwd", "Traceback", "%00"]
SENSIBLE = {"prompt": ["Hi", "Tell me about rivers", "def f(): pass"], "mode": ["anonymous", "side_by_side"],
            "model_a": ["Alpha", "Beta"], "model_b": ["Beta", "Alpha"], "outcome": ["a", "b", "tie", "both_bad"]}
SENSIBLE_VALUES = [value for values in SENSIBLE.values() for value in values]
QUERY_NAMES = ["page", "per_page", "since", "view", "conversations", "deprecated", "sort", "prompt", "x%00", "%ED%A0%80"]
QUERY_VALUES = ["1", "0", "-1", "2", "20", "100", "101", "1" + "0" * 30, "-1" + "0" * 30, "9" * 5000, "0" * 5000 + "1",
                "9223372036854775807", "9223372036854775808", "%00", "1%00", "%ED%A0%80", "%FF%FE", "a" * 3000,
                "overall", "style_control", "code", "language:de", "language:%00", "yes", "maybe", "%20", "",
                "%EF%BC%91", "1.5", "1e3", "+1", "rating", "votes"]
CONTENT_TYPES = ["text/plain", "application/json; charset=utf-8", "application/json; charset=bogus", "application/xml",
                 "", "multipart/mixed", "application/x-www-form-urlencoded; charset=utf-7", "text/plain; charset=rot13"]
NOT_TEXT_CODECS = ("rot13", "base64")  # codecs Python knows that decode no text
CHARSETS = ["", "", "", "; charset=utf-8", "; charset=utf-7", "; charset=utf-16", "; charset=unicode_escape",
            "; charset=rot13", "; charset=base64"]
HEADERS: dict[str, list[str]] = {
    "HTTP_HOST": ["evil.example", "a" * 300, "testserver:99999", "[::1", "bad host!"],
    "HTTP_ACCEPT": ["application/json", "*/*", "text/html", "garbage;;q=x"],
    "HTTP_ORIGIN": ["http://testserver", "https://evil.example", "null", "é"],
    "HTTP_REFERER": ["http://testserver/", "https://evil.example/", "not a url", "é" * 50],
    "HTTP_USER_AGENT": ["x" * 4000, "é"],
    "HTTP_X_FORWARDED_FOR": ["1.2.3.4", "junk, , é", "1.2.3.4, 5.6.7.8"],
    "HTTP_ACCEPT_LANGUAGE": ["xx-YY;q=garbage,*", "de", "é" * 100],
    "HTTP_IF_NONE_MATCH": ['"abc", W/"x"', "*"],
    "HTTP_RANGE": ["bytes=0-10,99999999999999999999-"],
    "HTTP_X_CSRFTOKEN": ["garbage", "x" * 64, "é" * 32, ""],
}
METHODS = ["GET"] * 6 + ["POST"] * 6 + ["HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"]


@dataclass
class Fuzzed:
    """One request, printable so that a failure can be replayed."""

    method: str
    path: str
    query: str = ""
    body: bytes = b""
    content_type: str = "application/octet-stream"
    cookies: dict[str, str] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)
    secure: bool = False

    def __str__(self) -> str:
        shown = self.body if len(self.body) <= 200 else self.body[:200] + b"... (%d bytes)" % len(self.body)
        return (f"{self.method} {self.path}?{self.query[:300]} content_type={self.content_type!r} body={shown!r} "
                f"cookies={self.cookies!r} meta={ {k: v[:100] for k, v in self.meta.items()} !r} secure={self.secure}")


class Fuzzer:
    """Draws requests from one seeded generator."""

    def __init__(self, rng: random.Random, sample: Sample) -> None:
        self.rng, self.sample = rng, sample
        self.routes = list(routes())
        self.bodies: list[Callable[[], tuple[bytes, str]]] = [
            self.json_object, self.json_object, self.json_object, self.json_other, self.nested, self.garbage,
            self.form, self.multipart, self.multipart_without_boundary, self.too_large, self.empty,
        ]

    def request(self) -> Fuzzed:
        rng = self.rng
        route = rng.choice(self.routes)
        # Mostly a method the view takes, so that requests get past the method check to the code behind it.
        method = rng.choice(route.methods) if route.methods and rng.random() < 0.7 else rng.choice(METHODS)
        request = Fuzzed(method=method, path=self.path(route), query=self.query())
        if request.method != "GET" or rng.random() < 0.1:
            request.body, request.content_type = rng.choice(self.bodies)()
        if rng.random() < 0.1:
            request.content_type = rng.choice(CONTENT_TYPES)
        if any(codec in request.content_type for codec in NOT_TEXT_CODECS) or (
                "charset=" in request.content_type and request.query.count("&") >= 1000):
            # The test client builds a WSGIRequest, which decodes (and counts) the query string in the declared
            # charset while it is built, before any middleware can refuse it; the server's ASGI handler answers
            # those with 400 (tests/arena/test_hostile_input.py checks both over ASGI).
            request.query = ""
        request.cookies = self.browser() if rng.random() < 0.6 else self.cookies()
        if "csrftoken" in request.cookies and rng.random() < 0.8:
            request.meta["HTTP_X_CSRFTOKEN"] = request.cookies["csrftoken"]
        for name in rng.sample(sorted(HEADERS), k=rng.choice([0, 0, 1, 2, 3])):
            request.meta[name] = rng.choice(HEADERS[name])
        if rng.random() < 0.03 and request.content_type in ("application/json", "application/x-www-form-urlencoded"):
            request.meta["CONTENT_LENGTH"] = str(BODY_LIMIT * 10)  # declared too large; never read that far
        request.secure = rng.random() < 0.05
        return request

    def path(self, route: Route) -> str:
        rng = self.rng
        if rng.random() < 0.05:  # somewhere nothing is routed
            return rng.choice(["/api/", "/api/v1/", "/exports/", "/leaderboard/latest/"]) + encoded(rng.choice(TEXT)[:50])
        path = CONVERTER.sub(lambda m: self.converted(route.converters[m["name"]]), route.template)
        if rng.random() < 0.05:
            path += rng.choice(["/", "x", "/..", "%00", "%ED%A0%80"])
        return path

    def converted(self, converter: Any) -> str:
        rng, sample = self.rng, self.sample
        if isinstance(converter, UUIDConverter):
            return rng.choice([sample.own_battle, sample.own_battle, sample.other_battle,
                               str(uuid.UUID(int=rng.getrandbits(128)))])
        if isinstance(converter, IntConverter):
            return rng.choice([str(sample.snapshot), str(sample.snapshot), "0", "999999", "9" * 25, str(2**63)])
        if isinstance(converter, StringConverter):
            return rng.choice(["overall", "overall", "style_control", "code", "language:en", "nonsense", "%00",
                               "%ED%A0%80", "a" * 300, "..", "%2F"])
        return rng.choice(["a", "a/b", "%00"])

    def query(self) -> str:
        rng = self.rng
        if rng.random() < 0.4:
            return ""
        if rng.random() < 0.05:
            return rng.choice(["%%%", "&&&", "=", "a=b=c", "%00=%00", "&" * 3000])
        pairs = [(rng.choice(QUERY_NAMES), rng.choice(QUERY_VALUES)) for _ in range(rng.randint(1, 3))]
        return "&".join(f"{name}={value}" for name, value in pairs)

    def browser(self) -> dict[str, str]:
        """The cookies of one of the two real browsers."""
        session = self.rng.choice([self.sample.own_session, self.sample.own_session, self.sample.other_session])
        return {settings.SESSION_COOKIE_NAME: session, settings.CSRF_COOKIE_NAME: self.sample.csrf}

    def cookies(self) -> dict[str, str]:
        """Cookies a browser would not send: forged, malformed, missing."""
        rng, sample = self.rng, self.sample
        forged = "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(32))
        jar: dict[str, str] = {}
        session = rng.choice([sample.own_session, sample.own_session, sample.other_session, forged, "x" * 8,
                              "ab\x00cd" * 6, "a" * 100, "a" * 65, "", "é" * 40, "import:" + "0" * 32, None])
        if session is not None:
            jar[settings.SESSION_COOKIE_NAME] = session
        csrf = rng.choice([sample.csrf, sample.csrf, sample.csrf, "x" * 32, "x" * 64, "\x00" * 32, "", None])
        if csrf is not None:
            jar[settings.CSRF_COOKIE_NAME] = csrf
        return jar

    def value(self, depth: int = 0) -> Any:
        rng = self.rng
        kind = rng.randrange(8 if depth < 3 else 6)
        if kind < 2:
            return rng.choice(TEXT)
        if kind == 2:
            return rng.choice([0, -1, 1, 10**30, 2**63, -(2**63) - 1, 1.5, 1e308])
        if kind == 3:
            return rng.choice([True, False, None])
        if kind in (4, 5):
            return rng.choice(SENSIBLE_VALUES)
        if kind == 6:
            return [self.value(depth + 1) for _ in range(rng.randint(0, 3))]
        return {rng.choice(TEXT[:8]): self.value(depth + 1) for _ in range(rng.randint(0, 3))}

    def fields(self) -> dict[str, Any]:
        rng = self.rng
        chosen = rng.sample(sorted(SENSIBLE), k=rng.randint(0, len(SENSIBLE)))
        fields = {name: rng.choice(SENSIBLE[name]) if rng.random() < 0.6 else self.value() for name in chosen}
        if rng.random() < 0.2:
            fields[rng.choice(TEXT)] = self.value()
        return fields

    def json_object(self) -> tuple[bytes, str]:
        return json.dumps(self.fields()).encode(), "application/json"

    def json_other(self) -> tuple[bytes, str]:
        return self.rng.choice([b"[1, 2]", b'"text"', b"42", b"null", b"NaN", b"-Infinity", b'{"prompt": NaN}',
                                b'{"prompt": "\\u0000"}', b'{"a": 1, "a": 2}', b'{"prompt": "\xff\xfe"}']), "application/json"

    def nested(self) -> tuple[bytes, str]:
        depth = self.rng.choice([500, 5_000, 100_000])
        return self.rng.choice([b"[" * depth, b'{"prompt": ' * depth, b'{"mode": ' + b"[" * depth + b"]" * depth + b"}"]), \
            "application/json"

    def garbage(self) -> tuple[bytes, str]:
        return self.rng.randbytes(self.rng.randint(1, 300)), self.rng.choice(["application/json", *CONTENT_TYPES])

    def form(self) -> tuple[bytes, str]:
        pairs = [(encoded(k), encoded(str(v))) for k, v in self.fields().items()]
        body = "&".join(f"{k}={v}" for k, v in pairs) + self.rng.choice(["", "&%00=%ED%A0%80", "&prompt=%FF"])
        return body.encode(), "application/x-www-form-urlencoded"

    def multipart(self) -> tuple[bytes, str]:
        parts = [f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{encoded(k)}"\r\n\r\n'.encode()
                 + str(v).encode("utf-8", "surrogatepass") + b"\r\n" for k, v in self.fields().items()]
        body = b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()
        return body, f"multipart/form-data; boundary={BOUNDARY}{self.rng.choice(CHARSETS)}"

    def multipart_without_boundary(self) -> tuple[bytes, str]:
        return b"prompt=Hi", self.rng.choice(["multipart/form-data", "multipart/form-data; boundary=",
                                               "multipart/form-data; boundary=" + "x" * 100])

    def too_large(self) -> tuple[bytes, str]:
        if self.rng.random() < 0.5:
            return b'{"prompt": "' + b"a" * BODY_LIMIT + b'"}', "application/json"
        return b"prompt=" + b"a" * BODY_LIMIT, "application/x-www-form-urlencoded"

    def empty(self) -> tuple[bytes, str]:
        return b"", self.rng.choice(["application/json", "application/x-www-form-urlencoded", ""])


def encoded(text: str) -> str:
    """``text`` percent-encoded; a lone surrogate as its UTF-8 spelling, which is not valid UTF-8."""
    return quote(text, safe="", errors="surrogatepass")


def send(client: Client, request: Fuzzed) -> Any:
    client.cookies = SimpleCookie()
    for name, value in request.cookies.items():
        client.cookies[name] = value
    url = request.path + (f"?{request.query}" if request.query else "")
    return client.generic(request.method, url, data=request.body, content_type=request.content_type,
                          secure=request.secure, **request.meta)


def content(response: Any) -> bytes:
    """The whole body; a streamed one is read to the end (which is when its queries run)."""
    return b"".join(response.streaming_content) if response.streaming else bytes(response.content)


def json_path(path: str) -> bool:
    """Where every error must be JSON: the API, the exports and the leaderboard's files."""
    path = unquote(path, errors="replace")
    return path.startswith(("/api/", "/exports/")) or (
        path.startswith("/leaderboard/") and path.endswith((".csv", ".json", ".jsonl")))


def rows() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (Battle, Turn, Answer, Vote, Session))


def check(request: Fuzzed, response: Any, body: bytes) -> None:
    status = response.status_code
    assert status < 500 or status == 503, f"{status} for {request}: {body[:500]!r}"
    assert b"Traceback" not in body and b'File "/' not in body, f"a traceback for {request}: {body[:500]!r}"
    if status >= 400 and json_path(request.path):
        assert response["Content-Type"] == "application/json", f"{status} not JSON for {request}: {body[:300]!r}"
        if request.method != "HEAD":
            message = json.loads(body)["error"]
            assert isinstance(message, str) and message, f"no message for {request}"


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=BODY_LIMIT,
                   PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])  # admin logins stay fast
def test_it_answers_every_fuzzed_request_without_a_server_error(sample: Sample) -> None:
    fuzzer = Fuzzer(random.Random(SEED), sample)
    client = Client(enforce_csrf_checks=True, raise_request_exception=True)
    statuses: dict[int, int] = {}
    for _ in range(REQUESTS):
        request = fuzzer.request()
        before = rows()
        try:
            response = send(client, request)
            body = content(response)
        except Exception as exc:  # noqa: BLE001 - any exception is the finding; say which request raised it
            pytest.fail(f"{type(exc).__name__}: {exc} for {request}")
        check(request, response, body)
        if response.status_code >= 400:
            assert rows() == before, f"a refused request wrote rows: {request}"
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    # The run reached the views, not only the error paths.
    assert statuses.get(200, 0) > 100 and statuses.get(201, 0) > 0 and statuses.get(400, 0) > 100, statuses


def test_it_fuzzes_every_routed_url() -> None:
    templates = {route.template for route in routes()}
    assert {"/", "/api/battles", "/api/battles/<uuid:battle_uuid>/vote", "/api/v1/snapshots",
            "/exports/battles.jsonl", "/leaderboard/latest/<str:view>.csv", "/admin/login/"} <= templates
    assert not [t for t in templates if t.startswith("/admin/") and t != "/admin/login/"]
