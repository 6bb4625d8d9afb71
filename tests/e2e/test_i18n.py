"""The pages in the voter's language, in Chromium: the picker, what it keeps, Accept-Language, the scripts' words.

One test per language picks it with the header's picker on the battle page and plays a battle in it: the page's
<html lang>, the intro, the vote buttons, the prompt box, the words the scripts write (the prompt counter, each
side's status, the reveal after the vote), then a reload and the leaderboard, still in that language. Every
page is checked for console errors, a CSP violation among them (the catalogue is a same-origin script).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from .conftest import Arena

pytestmark = [pytest.mark.e2e, pytest.mark.embedded]

MAX_PROMPT_CHARS = 20
ARENA_ENV = {"ARENA_MAX_PROMPT_CHARS": str(MAX_PROMPT_CHARS), "ARENA_MIN_VOTE_SECONDS": "0"}
NBSP = "\u00a0"


@dataclass(frozen=True)
class Language:
    code: str  # Django's (and <html lang>)
    start_in: str | None  # the browser's locale before the picker is used (None: Chromium's own, English)
    intro: str
    votes: tuple[str, str, str, str]
    placeholder: str
    send: str
    too_long: str  # the counter for 25 characters
    done: str
    reveal: re.Pattern[str]
    leaderboard: str
    leaderboard_heading: re.Pattern[str]


ENGLISH = Language(
    "en", "fr-FR", "Which answer is better?", ("A is better", "B is better", "Tie", "Both are bad"),
    "Ask anything… (Enter to send, Shift+Enter for a new line)", "Send",
    "25 / 20 characters: 5 too many, shorten the prompt to send it.", "Done",
    re.compile(r"^Model A was Demo .+; Model B was Demo .+\."), "Leaderboard", re.compile(r"^(Leaderboard|No votes yet)"))
FRENCH = Language(
    "fr", None, f"Quelle réponse est la meilleure{NBSP}?", ("A est meilleur", "B est meilleur", "Égalité",
                                                            "Les deux sont mauvais"),
    "Posez n’importe quelle question… (Entrée pour envoyer, Maj+Entrée pour aller à la ligne)", "Envoyer",
    f"25 / 20 caractères{NBSP}: 5 de trop, raccourcissez le prompt pour l’envoyer.", "Terminé",
    re.compile(r"^Le modèle A était Demo .+\s; le modèle B était Demo .+\."), "Classement",
    re.compile(r"^(Classement|Pas encore de votes)"))
CHINESE = Language(
    "zh-hans", None, "哪个回答更好？", ("A 更好", "B 更好", "平局", "两个都不好"),
    "随便问点什么……（Enter 发送，Shift+Enter 换行）", "发送",
    "25 / 20 个字符：超出 5 个，请缩短提示词后再发送。", "已完成",
    re.compile(r"^模型 A 是 Demo .+；模型 B 是 Demo .+。"), "排行榜", re.compile(r"^(排行榜|暂无投票)"))


@contextmanager
def browser_page(browser: Any, arena: Arena, *, ignore: str | None = None, **options: Any) -> Iterator[Page]:
    """A page in a new browser context (``locale=`` sets its Accept-Language) that fails the test on any console
    error or uncaught exception, as the ``page`` fixture does; ``ignore`` skips messages containing it."""
    context = browser.new_context(base_url=arena.url, **options)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    try:
        yield page
    finally:
        context.close()
    errors = [e for e in errors if ignore is None or ignore not in e]
    assert not errors, f"the page logged errors: {errors}"


def pick(page: Page, code: str) -> None:
    """Choose a language in the header's picker (its script submits the form) and wait for the page it returns."""
    page.locator("#language").select_option(code)
    expect(page.locator("html")).to_have_attribute("lang", code)
    page.wait_for_load_state("load")  # its scripts have run


def expect_page_in(page: Page, lang: Language) -> None:
    expect(page.locator("html")).to_have_attribute("lang", lang.code)
    expect(page.locator("#language")).to_have_value(lang.code)
    for name in lang.votes:
        expect(page.get_by_role("button", name=name, exact=True)).to_be_visible()
    expect(page.get_by_role("navigation").get_by_role("link", name=lang.leaderboard, exact=True)).to_be_visible()


@pytest.mark.parametrize("lang", [ENGLISH, FRENCH, CHINESE], ids=lambda lang: lang.code)
def test_a_voter_picks_a_language_and_plays_a_battle_in_it(browser: Any, arena: Arena, lang: Language) -> None:
    options = {"locale": lang.start_in} if lang.start_in else {}
    with browser_page(browser, arena, **options) as page:
        page.goto("/")
        if lang.start_in:
            expect(page.locator("html")).to_have_attribute("lang", "fr")  # Accept-Language: the page came in French
        expect(page.locator("#language-picker button")).to_be_hidden()  # the script submits on change instead
        pick(page, lang.code)
        expect_page_in(page, lang)
        assert page.evaluate("typeof window.gettext") == "function"  # the catalogue loaded under the CSP
        expect(page.get_by_role("heading", level=1)).to_have_text(lang.intro)
        prompt = page.locator("#prompt")
        expect(prompt).to_have_attribute("placeholder", lang.placeholder)
        expect(page.locator("#prompt-count")).to_have_text(f"0 / {MAX_PROMPT_CHARS}")
        prompt.fill("x" * 25)
        expect(page.locator("#prompt-count")).to_have_text(lang.too_long)  # written by arena.js
        expect(page.get_by_role("button", name=lang.send, exact=True)).to_be_disabled()

        prompt.fill("Bonjour 你好")
        page.get_by_role("button", name=lang.send, exact=True).click()
        for side in "ab":
            expect(page.locator(f"#status-{side}")).to_have_text(lang.done, timeout=20_000)
        page.get_by_role("button", name=lang.votes[0], exact=True).click()
        expect(page.locator("#notice")).to_have_text(lang.reveal)

        page.reload()  # the choice is a cookie: the page comes back in the same language, the reveal with it
        expect_page_in(page, lang)
        expect(page.locator("#notice")).to_have_text(lang.reveal)

        page.get_by_role("navigation").get_by_role("link", name=lang.leaderboard, exact=True).click()
        expect(page).to_have_url(re.compile(r"/leaderboard$"))
        expect(page.locator("html")).to_have_attribute("lang", lang.code)
        expect(page.locator("#language")).to_have_value(lang.code)
        expect(page.get_by_role("heading", level=1)).to_have_text(lang.leaderboard_heading)


def test_accept_language_alone_picks_french(browser: Any, arena: Arena) -> None:
    with browser_page(browser, arena, locale="fr-FR") as page:
        page.goto("/")
        expect_page_in(page, FRENCH)
        expect(page.get_by_role("heading", level=1)).to_have_text(FRENCH.intro)
        page.locator("#prompt").fill("x" * 25)
        expect(page.locator("#prompt-count")).to_have_text(FRENCH.too_long)
        page.goto("/leaderboard")
        expect(page.locator("html")).to_have_attribute("lang", "fr")


def test_the_picker_works_without_javascript(browser: Any, arena: Arena) -> None:
    with browser_page(browser, arena, java_script_enabled=False) as page:
        page.goto("/leaderboard")
        page.locator("#language").select_option("zh-hans")
        expect(page.locator("html")).to_have_attribute("lang", "en")  # nothing happens until the button
        page.get_by_role("button", name="Change language").click()
        expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
        expect(page).to_have_url(re.compile(r"/leaderboard$"))  # back where the voter was
        expect(page.get_by_role("button", name="切换语言")).to_be_visible()


def test_without_the_catalogue_the_scripts_fall_back_to_english(browser: Any, arena: Arena) -> None:
    with browser_page(browser, arena, locale="fr-FR", ignore="Failed to load resource") as page:
        page.route("**/i18n/catalog.js", lambda route: route.abort())
        page.goto("/")
        expect(page.get_by_role("heading", level=1)).to_have_text(FRENCH.intro)  # the template's words: French
        page.locator("#prompt").fill("x" * 25)
        expect(page.locator("#prompt-count")).to_have_text(ENGLISH.too_long)  # the script's: its English
        page.locator("#prompt").fill("Hi")
        page.get_by_role("button", name=FRENCH.send).click()
        expect(page.locator("#status-b")).to_have_text(ENGLISH.done, timeout=20_000)


def picker_place(page: Page) -> list[float]:
    """Where the picker is on the page (not in the viewport, which scrolls)."""
    return page.evaluate("""() => { const r = document.getElementById('language').getBoundingClientRect();
                                    return [r.left + scrollX, r.top + scrollY, r.width, r.height]; }""")


def test_a_right_to_left_prompt_leaves_the_header_and_the_picker_in_place(browser: Any, arena: Arena) -> None:
    with browser_page(browser, arena, locale="fr-FR", viewport={"width": 390, "height": 844}, is_mobile=True) as page:
        page.goto("/")
        picker_before = picker_place(page)
        prompt = page.locator("#prompt")
        expect(prompt).to_have_attribute("dir", "auto")
        rtl = "مرحبا، كيف حالك؟"  # within the 20 characters this arena allows
        prompt.fill(rtl)
        assert page.evaluate("getComputedStyle(document.getElementById('prompt')).direction") == "rtl"
        assert page.evaluate("getComputedStyle(document.documentElement).direction") == "ltr"  # the page stays LTR
        page.get_by_role("button", name=FRENCH.send).click()
        expect(page.locator("#status-b")).to_have_text(FRENCH.done, timeout=20_000)
        message = page.locator("#conversation-a .msg.user").first
        expect(message).to_have_text(rtl)
        expect(message).to_have_attribute("dir", "auto")
        assert page.evaluate("getComputedStyle(document.querySelector('#conversation-a .msg.user')).direction") == "rtl"
        assert picker_place(page) == picker_before  # the header did not move
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways ({width}px)"
        box = page.locator("#language-picker").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
