"""The public pages in the voter's language (English, 简体中文, Français), and the API that never changes with it.

The language is the picker's cookie (``set_language``), else Accept-Language, else English; the JSON API's field
names and machine values (outcomes, reasons, model names), the exports and the snapshots stay the same in every
language: only the words meant for people (pages, error messages) are translated.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from html import unescape

import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

import ratings.leaderboard as engine
from arena.models import Battle
from leaderboard import views
from leaderboard.snapshots import snapshot_refresh
from tests.arena.conftest import post_json, run_turn
from tests.leaderboard.test_snapshots import play

pytestmark = pytest.mark.django_db

FRENCH = {"HTTP_ACCEPT_LANGUAGE": "fr-FR,fr;q=0.9,en;q=0.5"}
CHINESE = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9"}
ENGLISH = {"HTTP_ACCEPT_LANGUAGE": "en-GB,en;q=0.9"}


def text_of(html: str) -> str:
    return re.sub(r"[ \t\r\n]+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()  # keeps no-break spaces


def html_lang(html: str) -> str:
    match = re.search(r'<html lang="([^"]+)"', html)
    assert match, "the page has no <html lang>"
    return match[1]


@pytest.fixture(autouse=True)
def english_afterwards() -> Iterator[None]:
    """A request leaves its language active in this thread (LocaleMiddleware activates, nothing deactivates):
    put English back, so that the tests after these read the words they expect."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


def catalogue(client: Client, headers: dict[str, str]) -> dict[str, object]:
    """The translations the script catalogue sends (``const newcatalog = {...};``)."""
    body = client.get("/i18n/catalog.js", **headers).content.decode()
    match = re.search(r"const newcatalog = (\{.*?\});\n", body, re.S)
    if match is None:  # nothing to translate (English)
        assert "django.gettext = function" in body and "newcatalog" not in body
        return {}
    found: dict[str, object] = json.loads(match[1])
    return found


@pytest.fixture
def voter(db: None) -> Client:
    """A browser that has loaded the battle page, with CSRF enforced (as tests/arena's session_client)."""
    client = Client(enforce_csrf_checks=True)
    response = client.get("/")
    assert response.status_code == 200
    client.csrf = response.cookies["csrftoken"].value  # type: ignore[attr-defined]
    return client


@pytest.fixture
def leaderboard() -> None:
    play(30)
    snapshot_refresh(rounds=10)


@pytest.mark.parametrize(("headers", "lang", "expected"), [
    (ENGLISH, "en", ["Leaderboard Overall", "Every counted vote.", "30 votes counted in this view", "About this snapshot",
                     "Stable link to this snapshot", "Rank (UB)", "95% interval", "Win rate — Overall, top 3 models"]),
    (FRENCH, "fr", ["Classement Général", "Tous les votes comptés.", "30 votes comptés dans cette vue",
                    "À propos de cet instantané", "Lien permanent vers cet instantané", "Rang (UB)",
                    "Intervalle à 95\u00a0%", "Taux de victoire — Général, les 3 meilleurs modèles"]),
    (CHINESE, "zh-hans", ["排行榜 总榜", "所有计入的投票。", "此视图计入 30 票", "关于此快照", "此快照的固定链接", "排名（UB）",
                          "95% 区间", "胜率 — 总榜，评分前 3 的模型"]),
])
def test_the_leaderboard_page_comes_in_the_language_the_browser_asks_for(client: Client, leaderboard, headers, lang,
                                                                         expected) -> None:
    response = client.get("/leaderboard", **headers)
    assert response.status_code == 200 and response["Content-Language"] == lang
    assert "Accept-Language" in response["Vary"]
    html = response.content.decode()
    assert html_lang(html) == lang
    text = text_of(html)
    for phrase in expected:
        assert phrase in text, phrase
    assert text_of(html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]).count("Labs") == 3  # model data as stored
    assert "min_vote_seconds = 2.0" in text  # numbers are written as in English: no decimal comma
    assert re.search(r'data-value="\d+\.\d{6}">\d+</td>', html)


def test_the_pages_have_a_language_picker_that_returns_to_the_same_page(client: Client, leaderboard) -> None:
    html = client.get("/leaderboard?view=style_control&sort=votes", **FRENCH).content.decode()
    form = html.split('<form class="language-picker" id="language-picker" method="post" action="/i18n/setlang/">',
                      1)[1].split("</form>", 1)[0]
    assert 'name="csrfmiddlewaretoken"' in form
    assert 'name="next" value="/leaderboard?view=style_control&amp;sort=votes"' in form
    options = re.findall(r'<option lang="([^"]+)" value="([^"]+)"( selected)?>([^<]+)</option>', form)
    assert [(code, name, bool(selected)) for _, code, selected, name in options] == [
        ("en", "English", False), ("zh-hans", "简体中文", False), ("fr", "Français", True)]
    assert ">Changer de langue</button>" in form


def test_the_pickers_choice_is_a_cookie_that_outranks_accept_language_and_comes_back(client: Client) -> None:
    response = client.post("/i18n/setlang/", {"language": "fr", "next": "/leaderboard?view=code"}, **CHINESE)
    assert response.status_code == 302 and response["Location"] == "/leaderboard?view=code"
    cookie = response.cookies[settings.LANGUAGE_COOKIE_NAME]
    assert cookie.value == "fr" and int(cookie["max-age"]) >= 300 * 24 * 3600 and cookie["samesite"] == "Lax"
    for path in ("/", "/leaderboard"):
        html = client.get(path, **CHINESE).content.decode()
        assert html_lang(html) == "fr" and '<option lang="fr" value="fr" selected>' in html
    assert "Quelle réponse est la meilleure" in client.get("/", **CHINESE).content.decode()
    elsewhere = client.post("/i18n/setlang/", {"language": "zh-hans", "next": "https://evil.example/"})
    assert elsewhere.status_code == 302 and not elsewhere["Location"].startswith("https://evil")
    assert html_lang(client.get("/").content.decode()) == "zh-hans"


def test_an_unknown_language_falls_back_to_english(client: Client) -> None:
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9")
    assert html_lang(response.content.decode()) == "en" and "Which answer is better?" in response.content.decode()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "xx"
    assert html_lang(client.get("/", **CHINESE).content.decode()) == "zh-hans"  # a bad cookie is ignored


@pytest.mark.parametrize(("headers", "expected"), [
    (ENGLISH, "Enter a prompt."), (FRENCH, "Saisissez un prompt."), (CHINESE, "请输入提示词。")])
def test_an_api_error_message_comes_in_the_voters_language(voter: Client, headers, expected) -> None:
    response = post_json(voter, "/api/battles", {"prompt": "   "}, **headers)
    assert response.status_code == 400 and response.json() == {"error": expected}


def test_the_api_says_in_french_why_a_vote_is_refused(voter: Client, two_models) -> None:
    battle = post_json(voter, "/api/battles", {"prompt": "Bonjour"}, **FRENCH).json()
    response = post_json(voter, f"/api/battles/{battle['id']}/vote", {"outcome": "a"}, **FRENCH)
    assert response.status_code == 409
    assert response.json() == {"error": "Attendez que les deux réponses soient complètes avant de voter."}
    bad = post_json(voter, f"/api/battles/{battle['id']}/vote", {"outcome": "A"}, **FRENCH)
    assert bad.json() == {"error": "Le vote doit être l’un de ceux-ci\u00a0: a, b, tie, both_bad."}  # values as sent


def test_a_battle_and_its_vote_have_the_same_json_in_every_language(voter: Client, two_models) -> None:
    created = post_json(voter, "/api/battles", {"prompt": "Bonjour"}, **FRENCH)
    assert created.status_code == 201
    battle = created.json()
    run_turn(Battle.objects.get(uuid=battle["id"]).turns.get())
    url = f"/api/battles/{battle['id']}"
    states = [{k: v for k, v in voter.get(url, **headers).json().items() if k != "vote_counts_in"}  # a clock
              for headers in (ENGLISH, FRENCH, CHINESE)]
    assert states[0] == states[1] == states[2]
    assert states[0]["status"] == "ready" and states[0]["mode"] == "anonymous"
    votes = [post_json(voter, f"{url}/vote", {"outcome": "tie"}, **headers)
             for headers in (FRENCH, CHINESE, ENGLISH)]
    assert [v.status_code for v in votes] == [201, 200, 200]
    bodies = [v.json() for v in votes]
    assert bodies[0] == bodies[1] == bodies[2]
    assert set(bodies[0]) == {"outcome", "counts", "too_fast", "models"} and bodies[0]["outcome"] == "tie"
    assert {bodies[0]["models"]["a"]["name"], bodies[0]["models"]["b"]["name"]} == {"Alpha", "Beta"}


@pytest.mark.parametrize("path", ["/api/v1/snapshots/latest", "/api/v1/snapshots", "/api/v1/models",
                                  "/leaderboard/latest/overall.json", "/leaderboard/latest/overall.csv",
                                  "/exports/battles.jsonl", "/api/v1/openapi.json"])
def test_the_read_only_api_and_the_exports_do_not_change_with_the_language(client: Client, leaderboard, path) -> None:
    bodies = [b"".join(client.get(path, **headers)) for headers in (ENGLISH, FRENCH, CHINESE)]
    assert bodies[0] == bodies[1] == bodies[2]
    assert b"Overall" in b"".join(client.get("/api/v1/snapshots/latest", **FRENCH))  # the stored title, not a label


def test_the_script_catalogue_is_a_same_origin_script_in_the_pages_language(client: Client) -> None:
    html = client.get("/", **FRENCH).content.decode()
    position = html.index('<script src="/i18n/catalog.js" defer></script>')
    assert position < html.index('<script type="module"')  # it runs before the modules that use it
    assert "<script>" not in html and " style=" not in html
    french = client.get("/i18n/catalog.js", **FRENCH)
    assert french.status_code == 200 and french["Content-Type"].startswith("text/javascript")
    assert "script-src 'self'" in french["Content-Security-Policy"]
    french = catalogue(client, FRENCH)
    assert french["Copy code"] == "Copier le code" and french["Done"] == "Terminé"
    assert french["Vote, or ask a follow-up (%(turns)s of %(max)s turn)."] == [
        "Votez, ou posez une question de suivi (tour %(turns)s sur %(max)s)."] * 2
    assert "Retry Model %(side)s" not in french  # the scripts' strings only, not the templates' (nor the admin's)
    assert catalogue(client, ENGLISH) == {}
    assert catalogue(client, CHINESE)["Copy code"] == "复制代码"


def test_every_reason_a_side_fails_is_in_the_scripts_catalogue(client: Client) -> None:
    """A failed side shows its adapter error's user_message (stored in English); arena.js lists them for the
    catalogue, and this holds the list complete."""
    from model_adapters import errors

    def subclasses(cls: type) -> list[type]:
        return [cls, *(sub for child in cls.__subclasses__() for sub in subclasses(child))]

    messages = {cls.user_message for cls in subclasses(errors.AdapterError)}
    assert len(messages) >= 8
    french, chinese = catalogue(client, FRENCH), catalogue(client, CHINESE)
    assert all(message in french and message in chinese for message in messages), messages - french.keys()


@pytest.mark.parametrize("metadata", [
    {}, {"notes": []}, {"ci": "bootstrap", "rounds": 1000}, {"ci": "bootstrap", "rounds": 50, "reweight": "pairs"},
    {"ci": "sandwich"}, {"ci": "sandwich", "reweight": "pairs"}, {"ci": "none"}, {"ci": "none", "reweight": "pairs"},
    {"ci": "jackknife"}, {"ci": "jackknife", "reweight": "pairs"},
])
def test_the_pages_method_sentence_is_the_engines_word_for_word_in_english(metadata) -> None:
    with translation.override("fr"):
        assert views.method_description(metadata) != engine.describe_method(metadata)
    translation.activate("en")
    assert views.method_description(metadata) == engine.describe_method(metadata)


def test_the_views_titles_are_translated_by_key_and_unknown_ones_keep_their_stored_title() -> None:
    from django.utils import translation

    with translation.override("fr"):
        assert [views.view_title(key, "stored") for key in ("overall", "language:de", "someday")] == [
            "Général", "Langue\u00a0: de", "stored"]
    with translation.override("zh-hans"):
        assert views.view_title("style_control", "Style-controlled") == "风格控制"
    with translation.override("en"):
        titles = {key: views.view_title(key, "") for key in views.VIEW_TITLES}
    stored = {view.key: view.title for view in itertools.islice(engine_views(), len(views.VIEW_TITLES))}
    assert titles == stored  # English: exactly what the snapshots store


def engine_views():
    from leaderboard.rules import Rules
    from leaderboard.rules import views as rule_views

    return rule_views([], Rules.from_settings())
